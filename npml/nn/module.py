"""``Parameter`` and ``Module`` live on the ground floor, :mod:`npml._module`; this name is
kept so that ``from npml._module import Module`` keeps working."""

from npml._module import Module, Parameter, load_npz, save_npz

__all__ = ["Module", "Parameter", "load_npz", "save_npz"]
