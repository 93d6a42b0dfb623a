"""Three LLVM instructions that Numba does not expose, shared by npml's vectorised kernels.

Reinterpreting a float's bits as an integer and back (to build :math:`2^n` in the exponent
field of a polynomial exp), and ``llvm.maxnum``, whose reductions LLVM vectorises (Python's
``max`` compiles to compare + select, which it does not). Used by the FlashAttention exp2
(:mod:`npml.nn._flash_exp2`) and by the GELU and cross-entropy kernels. Plain-Python
stand-ins keep ``NUMBA_DISABLE_JIT=1`` working.
"""

from __future__ import annotations

import numba
import numpy as np

if numba.config.DISABLE_JIT:

    def _float_bits(x):
        return np.asarray(x).view(np.int32 if np.asarray(x).dtype == np.float32 else np.int64)[()]

    def _bits_float(i):
        return np.asarray(i).view(np.float32 if np.asarray(i).dtype == np.int32 else np.float64)[()]

    def _maxnum(a, b):
        return max(a, b)

else:
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    _BITS = {types.float32: types.int32, types.float64: types.int64}
    _FLOATS = {v: k for k, v in _BITS.items()}

    def _bitcast(to):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], context.get_value_type(to))

        return codegen

    @intrinsic
    def _float_bits(typingctx, x):
        if x in _BITS:
            return _BITS[x](x), _bitcast(_BITS[x])
        return None

    @intrinsic
    def _bits_float(typingctx, i):
        if i in _FLOATS:
            return _FLOATS[i](i), _bitcast(_FLOATS[i])
        return None

    @intrinsic
    def _maxnum(typingctx, a, b):
        if a != b or a not in _BITS:
            return None

        def codegen(context, builder, sig, args):
            ty = args[0].type
            fn = builder.module.declare_intrinsic(
                "llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty])
            )
            return builder.call(fn, args, fastmath=("fast",))

        return a(a, b), codegen
