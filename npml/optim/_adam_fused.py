"""The machinery behind Adam and AdamW's ``step``: flat buffers, cached views, one kernel call.

The update itself is written in :mod:`npml.optim.adam` (``_adam_reference``); this module
makes it fast for models with hundreds of tensors by calling the fused Numba kernel of
:mod:`npml.optim._adam_kernel` once per parameter group and dtype instead of running a few
NumPy operations per tensor.

Memory layout
-------------
The moments of all parameters of one group that share a dtype live in one flat buffer
(``m``, ``v`` and, for AMSGrad, ``v_max``); ``state[k]["m"]`` is a view of parameter ``k``'s
slice. Parameters and gradients stay where they are (the optimizer never rebinds
``Parameter.data``): ``step`` runs one fused kernel call per group and dtype, which reaches
every tensor through typed lists of flat views. The lists are kept between steps and patched
only where a ``data`` or ``grad`` array was replaced. A parameter whose data is not
C-contiguous is updated through a contiguous copy that is written back. Buckets of fewer
than ``PARALLEL_MIN`` elements run on one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from numba.typed import List

from npml._checks import check_bool, check_scalar
from npml._module import Parameter
from npml._threading import parallel_region
from npml.optim._adam_kernel import (
    _adam_kernel,
    _nonfinite_chunks_kernel,
    adam_scalars,
    make_chunks,
)
from npml.optim.base import Optimizer, ParamsLike

PARALLEL_MIN = 1 << 17  # elements; below this, waking worker threads costs more than the work


@contextmanager
def _threads_for(n: int) -> Iterator[None]:
    """Run the kernel on one thread when ``n`` elements are too few to share out.

    A parallel launch costs tens of microseconds on an idle machine and milliseconds on a
    busy one; a bucket of 10^5 float32 takes about 50 us on one core. (Numba's thread count
    is per calling thread, so this does not affect other threads.)
    """
    if n >= PARALLEL_MIN:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@dataclass
class _Bucket:
    """The parameters of one group with one dtype, and their flat moment buffers."""

    dtype: np.dtype
    positions: list[int]  # index j of each parameter within its group
    shapes: list[tuple[int, ...]]
    m: np.ndarray  # (N,)
    v: np.ndarray  # (N,)
    v_max: np.ndarray  # (N,) with AMSGrad, else (0,)
    amsgrad: bool  # whether v_max was allocated
    chunks: tuple[np.ndarray, ...]  # chunk_tensor, chunk_start, chunk_stop, offsets
    cache: dict[str, Any] = field(default_factory=dict)  # arrays behind the typed lists


class FusedAdam(Optimizer):
    """Everything of :class:`~npml.optim.Adam` and :class:`~npml.optim.AdamW` but the docs.

    Validation, the flat moment buffers and the fused step; ``_decoupled`` tells the two
    apart (see :mod:`npml.optim.adam` for the update).
    """

    _decoupled = False
    _state_names = ("m", "v", "v_max")

    def __init__(
        self,
        params: ParamsLike,
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
        amsgrad: bool,
    ) -> None:
        self._buckets: list[list[_Bucket]] = []
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        group["lr"] = float(check_scalar(group["lr"], "lr", low=0.0))
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas={betas!r}; expected a pair (beta1, beta2)")
        for name, b in zip(("beta1", "beta2"), betas, strict=True):
            check_scalar(b, f"betas {name}", low=0.0, high=1.0, high_inclusive=False)
        group["betas"] = (float(betas[0]), float(betas[1]))
        group["eps"] = float(check_scalar(group["eps"], "eps", low=0.0, low_inclusive=False))
        group["weight_decay"] = float(check_scalar(group["weight_decay"], "weight_decay", low=0.0))
        group["amsgrad"] = check_bool(group["amsgrad"], "amsgrad")

    # -- state layout ----------------------------------------------------------------------
    def _check_params(self, params: list[Parameter], names: list[str]) -> None:
        for p, name in zip(params, names, strict=True):
            if p.data.dtype not in (np.float32, np.float64):
                raise TypeError(
                    f"parameter {name!r} is {p.data.dtype}; {type(self).__name__} supports "
                    "float32 and float64 parameters (keep a float32 master copy for float16)"
                )

    def _init_group(self, i: int) -> None:
        group = self.param_groups[i]
        k0 = self._offset(i)
        by_dtype: dict[np.dtype, list[int]] = {}
        for j, p in enumerate(group["params"]):
            by_dtype.setdefault(p.data.dtype, []).append(j)
        buckets = []
        for dtype, positions in by_dtype.items():
            shapes = [group["params"][j].data.shape for j in positions]
            chunks = make_chunks([int(np.prod(s)) for s in shapes])
            n = int(chunks[3][-1])
            b = _Bucket(
                dtype=dtype,
                positions=positions,
                shapes=shapes,
                m=np.zeros(n, dtype),
                v=np.zeros(n, dtype),
                v_max=np.zeros(n if group["amsgrad"] else 0, dtype),
                amsgrad=group["amsgrad"],
                chunks=chunks,
            )
            offsets = chunks[3]
            for t, (j, shape) in enumerate(zip(positions, shapes, strict=True)):
                sl = slice(int(offsets[t]), int(offsets[t + 1]))
                st = {"m": b.m[sl].reshape(shape), "v": b.v[sl].reshape(shape)}
                if group["amsgrad"]:
                    st["v_max"] = b.v_max[sl].reshape(shape)
                self.state[k0 + j] = st
            buckets.append(b)
        self._buckets.append(buckets)

    def _check_param_state(
        self, groups: list[dict[str, Any]], per_param: dict[int, dict[str, np.ndarray]]
    ) -> None:
        for i, group in enumerate(groups):
            if group["amsgrad"] != self.param_groups[i]["amsgrad"]:
                raise ValueError(
                    f"state's group {i} has amsgrad={group['amsgrad']}; this optimizer's has "
                    f"amsgrad={self.param_groups[i]['amsgrad']} (the buffers differ)"
                )
            k0 = self._offset(i)
            want = {"m", "v", "v_max"} if group["amsgrad"] else {"m", "v"}
            for j in range(len(group["params"])):
                got = set(per_param.get(k0 + j, {}))
                if got != want:
                    raise ValueError(
                        f"state of parameter {group['param_names'][j]!r} (state.{k0 + j}.*) has "
                        f"buffers {sorted(got)}; expected {sorted(want)}"
                    )
                for name in ("v", "v_max"):  # averages of g^2 (and their maxima)
                    buf = per_param[k0 + j].get(name)
                    if buf is not None and (buf < 0).any():
                        raise ValueError(
                            f"state['state.{k0 + j}.{name}'] (parameter "
                            f"{group['param_names'][j]!r}) has {int((buf < 0).sum())} negative "
                            "value(s); a second moment is >= 0"
                        )

    def _load_param_state(self, k: int, arrays: dict[str, np.ndarray]) -> None:
        for name, value in arrays.items():
            self.state[k][name][...] = value  # into the flat buffers, keeping the views

    # -- the step --------------------------------------------------------------------------
    @staticmethod
    def _flat_data(b: _Bucket, t: int, d: np.ndarray, name: str, scratch: dict) -> np.ndarray:
        """A 1-D array the kernel can update for tensor ``t``'s data ``d`` (layout checked)."""
        if d.shape != b.shapes[t] or d.dtype != b.dtype:
            raise ValueError(
                f"parameter {name!r} is now {d.dtype} of shape {d.shape}; it was {b.dtype} "
                f"of shape {b.shapes[t]} when the optimizer was built"
            )
        scratch.pop(t, None)
        if d.flags.c_contiguous:
            return d.reshape(-1)  # a view: the kernel writes through it
        tmp = np.empty(d.size, d.dtype)  # strided data: the kernel works on a copy (_update)
        scratch[t] = (d, tmp)
        return tmp

    def _refresh_views(self, b: _Bucket, group: dict[str, Any], grads: list[np.ndarray]) -> None:
        """Point the kernel's typed lists at the bucket's current data and gradients.

        ``b.cache`` keeps the lists between steps with the arrays they were built from, and
        only entries whose ``data`` or ``grad`` array was replaced are patched (a typed-list
        entry costs microseconds; models reuse their gradient buffers, but a loop that
        assigns ``p.grad = g`` replaces them every step).
        """
        params, names = group["params"], group["param_names"]
        c = b.cache
        if not c:
            new: dict[str, Any] = dict(datas=[], grads=[], ps=List(), gs=List(), scratch={})
            for t, j in enumerate(b.positions):
                d, g = params[j].data, grads[j]
                new["ps"].append(self._flat_data(b, t, d, names[j], new["scratch"]))
                new["gs"].append(np.ascontiguousarray(g).reshape(-1))
                new["datas"].append(d)
                new["grads"].append(g)
            b.cache = new  # only once complete (a layout error above leaves no half cache)
            return
        datas, gs = c["datas"], c["grads"]
        for t, j in enumerate(b.positions):
            d, g = params[j].data, grads[j]
            if d is not datas[t]:
                c["ps"][t] = self._flat_data(b, t, d, names[j], c["scratch"])
                datas[t] = d
            if g is not gs[t]:
                c["gs"][t] = np.ascontiguousarray(g).reshape(-1)
                gs[t] = g

    def _check_finite(self, grads: list[list[np.ndarray]]) -> None:
        # Runs after the gradient checks and before any update (see Optimizer.step).
        for i, group in enumerate(self.param_groups):
            for b in self._buckets[i]:
                if group["amsgrad"] != b.amsgrad:
                    raise ValueError(
                        f"param_groups[{i}]['amsgrad'] was changed to {group['amsgrad']} after "
                        "the optimizer was built (its buffers were made without/with v_max); "
                        "build a new optimizer instead"
                    )
                self._refresh_views(b, group, grads[i])
                big = b.dtype.type(np.finfo(b.dtype).max)
                with _threads_for(b.m.size), parallel_region():
                    bad = _nonfinite_chunks_kernel(b.cache["gs"], *b.chunks[:3], big)  # (C,)
                if bad.any():
                    t = int(b.chunks[0][np.flatnonzero(bad)[0]])
                    n_bad = int(bad[b.chunks[0] == t].sum())
                    self._raise_nonfinite(group["param_names"][b.positions[t]], n_bad)

    def _update(self, i: int, group: dict[str, Any], grads: list[np.ndarray], step: int) -> None:
        beta1, beta2 = group["betas"]
        for b in self._buckets[i]:
            s = adam_scalars(
                group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                self._decoupled, step, b.dtype,
            )  # fmt: skip
            ps, gs = b.cache["ps"], b.cache["gs"]  # refreshed by _check_finite this step
            scratch = b.cache["scratch"].values()
            for d, tmp in scratch:
                tmp.reshape(d.shape)[...] = d
            with _threads_for(b.m.size), parallel_region():
                _adam_kernel(ps, gs, b.m, b.v, b.v_max, *b.chunks, *s, group["amsgrad"])
            for d, tmp in scratch:
                d[...] = tmp.reshape(d.shape)
