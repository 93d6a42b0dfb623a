"""What npml's estimators share: scikit-learn's parameter protocol.

An estimator stores each constructor argument unchanged, under the argument's own name,
and validates it in ``fit`` (scikit-learn's convention). Its parameters can then be read
from the constructor's signature, which gives ``get_params``, ``set_params`` and a
``repr`` for free, and lets ``sklearn.base.clone`` and grid searches work on npml models.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from npml._checks import check_bool

E = TypeVar("E", bound="Estimator")


def constructor_params(cls: type) -> list[str]:
    """The names of ``cls.__init__``'s arguments, ``self`` and ``*args``/``**kwargs`` aside.

    Shared by :class:`Estimator` and :class:`npml.kernels.Kernel`: both store each argument
    under its own name, so these names are their parameters.
    """
    params = inspect.signature(cls.__init__).parameters.values()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in params if p.name != "self" and p.kind not in variadic]


class Estimator:
    """Mixin: ``get_params``, ``set_params`` and ``__repr__`` from ``__init__``'s signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        return constructor_params(cls)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, by name.

        ``deep`` is accepted for scikit-learn's sake; nested objects (a GP's kernel) are
        returned as they are, not expanded into ``kernel__...`` entries.
        """
        check_bool(deep, "deep")
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: E, **params: Any) -> E:
        """Set constructor arguments (checked at the next ``fit``); returns ``self``.

        Raises
        ------
        ValueError
            For a name that is not a constructor argument.
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{name!r} is not a parameter of {type(self).__name__}; expected one of {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
