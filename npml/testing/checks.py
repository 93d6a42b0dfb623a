"""The generic checks that run over every :class:`~npml.testing.LayerInfo`.

Each takes an entry and one of its samples and raises ``AssertionError`` when the layer
fails; tests parametrize them over :func:`~npml.testing.registered`. The one call pattern
they share is :func:`run`: forward, then backward of a given ``dout``, returning the output
and every gradient by name (inputs under their argument names, a module's parameters under
their dotted names).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from npml.testing._gradient import numerical_gradient, relative_error
from npml.testing._registry import ErrorInput, LayerInfo, Sample

GRAD_TOL = 1e-6  # float64 relative error of a gradient check
ZERO_TOL = 1e-8  # |gradient| below which a declared-zero gradient counts as zero


def expect(ok: Any, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``ok`` (an ``assert`` that ``python -O`` keeps)."""
    if not ok:
        raise AssertionError(message)


def forward(info: LayerInfo, sample: Sample) -> tuple[Any, Any]:
    """The forward pass of ``sample``: ``(out, cache)`` (a module keeps its own cache)."""
    if info.module:
        fwd = info.forward or (lambda m, **kw: m.forward(**kw))
        return fwd(sample.module, **sample.kwargs), None
    return info.forward(**sample.kwargs)


def backward(info: LayerInfo, sample: Sample, dout: Any, cache: Any) -> dict[str, Any]:
    """Gradients of the last forward of ``sample`` by name (see the module docstring)."""
    if info.module:
        m = sample.module
        m.zero_grad()
        result = (info.backward or (lambda m_, d: m_.backward(d)))(m, dout)
    else:
        result = info.backward(dout, cache)
    if not info.grad_names:
        expect(result is None, f"{info.name}: backward returned {type(result).__name__}")
        result = ()
    elif len(info.grad_names) == 1:
        result = (result,)
    result = tuple(result)
    expect(
        len(result) == len(info.grad_names),
        f"{info.name}: backward returned {len(result)} gradients for {info.grad_names}",
    )
    grads = {}
    for name, g in zip(info.grad_names, result, strict=True):
        given = sample.kwargs.get(name)
        expect((g is None) == (given is None), f"{info.name}: gradient of {name} vs its input")
        if g is not None:
            grads[name] = g
    if info.module:
        for name, p in sample.module.named_parameters():
            expect(name not in grads, f"{info.name}: parameter {name} shadows an input")
            grads[name] = p.grad.copy()
    return grads


def wrt(info: LayerInfo, sample: Sample) -> dict[str, np.ndarray]:
    """The arrays the gradients of :func:`backward` belong to, by the same names."""
    arrays = {n: sample.kwargs[n] for n in info.grad_names if sample.kwargs.get(n) is not None}
    if info.module:
        arrays.update((name, p.data) for name, p in sample.module.named_parameters())
    return arrays


def random_dout(out: Any, rng: np.random.Generator) -> Any:
    """An upstream gradient shaped and typed like ``out`` (a float for a scalar loss)."""
    if np.ndim(out) == 0:
        return float(rng.uniform(0.5, 1.5))
    out = np.asarray(out)
    return rng.standard_normal(out.shape).astype(out.dtype)


def run(info: LayerInfo, sample: Sample, rng: np.random.Generator) -> tuple[Any, Any, dict]:
    """Forward, a random ``dout``, backward: returns ``(out, dout, grads)``."""
    out, cache = forward(info, sample)
    dout = random_dout(out, rng)
    return out, dout, backward(info, sample, dout, cache)


# ---- (a) gradients ----------------------------------------------------------------------
def check_gradients(info: LayerInfo, sample: Sample, rng: np.random.Generator) -> dict:
    """Every gradient agrees with centred differences (float64 samples); returns the errors.

    Gradients declared in ``sample.zero_grads`` must be zero, analytically and numerically.
    """
    out, dout, grads = run(info, sample, rng)
    arrays = wrt(info, sample)
    expect(set(grads) == set(arrays), f"{info.name}: gradients {set(grads)} vs {set(arrays)}")

    def f(_: np.ndarray) -> Any:
        return forward(info, sample)[0]

    errors = {}
    for name, x in arrays.items():
        expect(x.dtype == np.float64, f"{info.name}: gradient check of {name} needs float64")
        numeric = numerical_gradient(f, x, None if np.ndim(out) == 0 else dout)
        if np.ndim(out) == 0:
            numeric *= dout
        g = np.asarray(grads[name])
        expect(g.shape == x.shape, f"{info.name}: d{name} has shape {g.shape}, not {x.shape}")
        if name in sample.zero_grads:
            expect(np.abs(g).max(initial=0) < 1e-12, f"{info.name}: d{name} should be 0")
            expect(np.abs(numeric).max(initial=0) < ZERO_TOL, f"{info.name}: {name} matters")
            continue
        errors[name] = relative_error(g, numeric)
    bad = {n: e for n, e in errors.items() if not e < GRAD_TOL}
    expect(not bad, f"{info.name} [{sample.desc}]: relative errors {bad}")
    return errors


# ---- (b) dtypes -------------------------------------------------------------------------
def check_dtype(info: LayerInfo, sample: Sample, dtype: Any, rng: np.random.Generator) -> None:
    """Output and every gradient keep the sample's float dtype."""
    out, _, grads = run(info, sample, rng)
    dtype = np.dtype(dtype)
    if np.ndim(out) > 0:
        expect(np.asarray(out).dtype == dtype, f"{info.name}: out is {np.asarray(out).dtype}")
    for name, g in grads.items():
        expect(np.asarray(g).dtype == dtype, f"{info.name}: d{name} is {np.asarray(g).dtype}")


# ---- (c), (d) oracle and twin -----------------------------------------------------------
def _agree(name: str, what: str, got: Any, want: Any, tol: float) -> None:
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(want), rtol=tol, atol=tol, err_msg=f"{name}: {what}"
    )


def check_against(
    info: LayerInfo, sample: Sample, other: Callable, tol: float, rng: np.random.Generator
) -> bool:
    """Output and gradients agree with ``other(sample, dout)`` (an oracle or a twin).

    Returns False when ``other`` returned None (it cannot express this sample).
    """
    out, dout, grads = run(info, sample, rng)
    expected = other(sample, dout)
    if expected is None:
        return False
    want_out, want_grads = expected
    _agree(info.name, "output", out, want_out, tol)
    expect(want_grads, f"{info.name}: the reference returned no gradients")
    for name, want in want_grads.items():
        _agree(info.name, f"gradient of {name}", grads[name], want, tol)
    return True


# ---- (e) refused inputs -----------------------------------------------------------------
def _replace(sample: Sample, name: str, value: Any) -> Sample:
    kwargs = dict(sample.kwargs)
    kwargs[name] = value
    return Sample(kwargs, sample.desc, sample.module, sample.zero_grads)


def error_inputs(info: LayerInfo, rng: np.random.Generator, dtype: Any) -> Iterator[ErrorInput]:
    """The entry's declared bad inputs, then the generic classes built from its first sample.

    Generic classes: a NaN, a complex array and a string in each of ``checked_inputs``, and a
    non-bool in each of ``flags``.
    """
    yield from info.error_inputs(rng, dtype)
    first = next(iter(info.samples(rng, dtype)))

    def call(s: Sample) -> Callable[[], Any]:
        return lambda: forward(info, s)

    for name in info.checked_inputs:
        x = np.array(first.kwargs[name], dtype=dtype, copy=True)
        x.flat[x.size // 2] = np.nan
        yield ErrorInput(name, call(_replace(first, name, x)), ValueError, "non-finite", "NaN")
        z = x.astype(np.complex128)
        z.flat[x.size // 2] = 1j
        yield ErrorInput(name, call(_replace(first, name, z)), ValueError, "Complex", "complex")
        yield ErrorInput(name, call(_replace(first, name, "abc")), TypeError, None, "str")
    for name in info.flags:
        for value in ("no", 1, None):
            bad = call(_replace(first, name, value))
            match = rf"^{re.escape(name)}=.*expected True or False"
            yield ErrorInput(name, bad, TypeError, match, f"flag {value!r}")


def check_numpy_bools_are_flags(info: LayerInfo, rng: np.random.Generator) -> None:
    """Each of ``info.flags`` accepts a ``numpy.bool_`` (NumPy's bool is a bool)."""
    first = next(iter(info.samples(rng, np.float64)))
    for name in info.flags:
        forward(info, _replace(first, name, np.bool_(bool(first.kwargs.get(name, False)))))


def check_error_input(bad: ErrorInput) -> None:
    """``bad.call()`` raises ``bad.error`` whose message names ``bad.arg`` (and matches)."""
    try:
        bad.call()
    except bad.error as err:
        message = str(err)
    else:
        raise AssertionError(f"{bad.desc}: no {bad.error.__name__} for a bad {bad.arg}")
    expect(
        re.search(rf"(?<![\w.]){re.escape(bad.arg)}\b", message),
        f"{bad.desc}: the message does not name {bad.arg!r}: {message!r}",
    )
    if bad.match is not None:
        expect(re.search(bad.match, message), f"{bad.desc}: {message!r} !~ {bad.match!r}")


# ---- (f) dout shapes --------------------------------------------------------------------
def wrong_douts(shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Wrong ``dout`` shapes that a backward could silently accept, where they exist.

    ``"permuted"``: the same size in another order; ``"leading 1"``: ``(1, *shape[1:])``,
    which broadcasts over the first axis; ``"trailing"``: the last axis alone, which
    broadcasts over all the others.
    """
    wrong = {}
    if len(set(shape)) > 1:
        perm = shape[::-1] if shape[::-1] != shape else shape[1:] + shape[:1]
        wrong["permuted"] = perm
    if shape and shape[0] > 1:
        wrong["leading 1"] = (1, *shape[1:])
    if len(shape) >= 2 and shape[-1:] != shape:
        wrong["trailing"] = shape[-1:]
    return wrong


def check_wrong_dout(
    info: LayerInfo, sample: Sample, kind: str, rng: np.random.Generator
) -> tuple[int, ...] | None:
    """A ``dout`` of the ``kind`` of :func:`wrong_douts` raises ``ValueError`` naming it.

    Returns the shape tried, or None when the output has no such wrong shape.
    """
    out, cache = forward(info, sample)
    shape = wrong_douts(np.shape(out)).get(kind)
    if shape is None:
        return None
    dout = rng.standard_normal(shape).astype(np.asarray(out).dtype)
    bad = ErrorInput(
        info.dout_name,
        lambda: backward(info, sample, dout, cache),
        ValueError,
        rf"^{re.escape(info.dout_name)}\b.*{re.escape(str(shape))}.*expected",  # given, wanted
        f"{info.name}: {kind} {info.dout_name} {shape} for output {np.shape(out)}",
    )
    check_error_input(bad)
    return shape
