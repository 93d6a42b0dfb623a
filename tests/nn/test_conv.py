"""Convolutions: what the registry's generic checks do not cover.

Causality, exact parameter counts, torch's initialisation statistics, im2col / col2im being
adjoint, weights ported from torch modules, and the fast path agreeing with the reference.
"""

import numpy as np
import pytest

from npml.nn import Conv1d, Conv2d, ConvTranspose2d, conv1d_forward
from npml.nn.conv import col2im, im2col

RNG = np.random.default_rng(15)


@pytest.mark.parametrize(("K", "dilation", "stride"), [(3, 1, 1), (3, 2, 1), (2, 4, 1), (3, 2, 2)])
def test_causal_output_ignores_future_inputs(K, dilation, stride):
    x = RNG.standard_normal((2, 3, 17))
    W = RNG.standard_normal((4, 3, K))
    y, _ = conv1d_forward(x, W, causal=True, dilation=dilation, stride=stride)
    if stride == 1:
        assert y.shape == (2, 4, 17)  # causal keeps the length
    for t in range(17):
        x2 = x.copy()
        x2[..., t + 1 :] = RNG.standard_normal(x2[..., t + 1 :].shape)  # change the future
        y2, _ = conv1d_forward(x2, W, causal=True, dilation=dilation, stride=stride)
        seen = np.arange(y.shape[-1]) * stride <= t  # outputs whose last input is <= t
        np.testing.assert_array_equal(y2[..., seen], y[..., seen])
        if t + 1 < 17 and not seen.all():
            assert not np.allclose(y2[..., ~seen], y[..., ~seen])  # the future does matter


def test_causal_receptive_field_of_stacked_dilations():
    """Dilations 1, 2, 4 with K = 2: output t sees exactly inputs t-7 .. t."""
    layers = [Conv1d(1, 1, 2, dilation=d, causal=True, rng=d, dtype=np.float64) for d in (1, 2, 4)]
    x = np.zeros((1, 1, 32))
    x[..., 10] = 1.0  # an impulse
    h, h0 = x, np.zeros_like(x)
    for layer in layers:
        h, h0 = layer(h), layer(h0)
    touched = np.flatnonzero(np.abs(h - h0)[0, 0] > 1e-12)  # where the impulse reaches
    assert touched.min() == 10 and touched.max() == 17


@pytest.mark.parametrize(
    ("make", "count"),
    [
        (lambda: Conv2d(3, 8, 3), 8 * 3 * 3 * 3 + 8),
        (lambda: Conv2d(4, 6, (3, 5), groups=2), 6 * 2 * 3 * 5 + 6),
        (lambda: Conv2d(8, 8, 3, groups=8, bias=False), 8 * 1 * 3 * 3),
        (lambda: Conv1d(5, 7, 4), 7 * 5 * 4 + 7),
        (lambda: ConvTranspose2d(4, 6, 3, groups=2), 4 * 3 * 3 * 3 + 6),
    ],
)
def test_parameter_counts_are_exact(make, count):
    m = make()
    assert m.n_params() == count


def test_parameter_counts_match_torch():
    torch = pytest.importorskip("torch")
    pairs = [
        (Conv2d(4, 6, (3, 5), groups=2), torch.nn.Conv2d(4, 6, (3, 5), groups=2)),
        (Conv1d(5, 7, 4, bias=False), torch.nn.Conv1d(5, 7, 4, bias=False)),
        (ConvTranspose2d(4, 6, 3, groups=2), torch.nn.ConvTranspose2d(4, 6, 3, groups=2)),
    ]
    for ours, theirs in pairs:
        assert ours.n_params() == sum(p.numel() for p in theirs.parameters())
        assert ours.W.shape == tuple(theirs.weight.shape)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: Conv2d(16, 32, 3, rng=0), lambda t: t.nn.Conv2d(16, 32, 3)),
        (lambda: Conv2d(16, 32, 3, groups=4, rng=1), lambda t: t.nn.Conv2d(16, 32, 3, groups=4)),
        (lambda: Conv1d(32, 64, 5, rng=2), lambda t: t.nn.Conv1d(32, 64, 5)),
        (lambda: ConvTranspose2d(32, 16, 4, rng=3), lambda t: t.nn.ConvTranspose2d(32, 16, 4)),
    ],
)
def test_init_statistics_match_torch(ours, theirs):
    """Kaiming-uniform with a = sqrt(5): the same bound, mean and spread as torch's."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m, t = ours(), theirs(torch)
    a, b = m.W.data, t.weight.detach().numpy()
    assert a.dtype == np.float32 and a.shape == b.shape
    bound = np.abs(b).max()  # thousands of draws: close to torch's bound
    assert 0.97 * bound <= np.abs(a).max() <= 1.03 * bound
    assert abs(a.std() - b.std()) < 0.05 * b.std()  # U(-c, c): std c / sqrt(3)
    assert abs(a.mean()) < 0.05 * b.std()
    # biases (tens of draws): within the same bound as torch's
    assert m.b.data.dtype == np.float32 and m.b.shape == tuple(t.bias.shape)
    assert np.abs(m.b.data).max() <= 1.03 * bound
    assert np.abs(t.bias.detach().numpy()).max() <= 1.03 * bound


def test_init_bound_is_one_over_sqrt_fan_in():
    m = Conv2d(6, 999, (3, 2), groups=3, rng=0)  # fan_in = 2 * 3 * 2 = 12
    bound = 1 / np.sqrt(12)
    assert np.abs(m.W.data).max() <= bound
    assert np.abs(m.W.data).max() > 0.99 * bound


def test_randomness_comes_from_rng():
    a, b = Conv2d(3, 4, 3, rng=7), Conv2d(3, 4, 3, rng=7)
    np.testing.assert_array_equal(a.W.data, b.W.data)
    assert not np.array_equal(a.W.data, Conv2d(3, 4, 3, rng=8).W.data)


@pytest.mark.parametrize(
    ("shape", "k", "s", "p", "d"),
    [((2, 3, 7, 6), (3, 2), (2, 1), ((1, 2), (0, 3)), (1, 2)), ((1, 1, 4, 4), (1, 1), (1, 1),
     ((0, 0), (0, 0)), (1, 1))],
)  # fmt: skip
def test_col2im_is_the_adjoint_of_im2col(shape, k, s, p, d):
    x = RNG.standard_normal(shape)
    cols = im2col(x, k, s, p, d)
    c = RNG.standard_normal(cols.shape)
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, col2im(c, shape, k, s, p, d)))


def test_im2col_columns_are_the_receptive_fields():
    x = np.arange(2 * 2 * 4 * 5, dtype=float).reshape(2, 2, 4, 5)
    cols = im2col(x, (2, 3), (2, 1), ((0, 0), (1, 1)), (1, 1))  # H_out 2, W_out 5
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1)))
    col = cols[:, (1 * 2 + 1) * 5 + 2]  # image b=1, output pixel (1, 2)
    np.testing.assert_array_equal(col, xp[1, :, 2:4, 2:5].ravel())


def test_modules_match_torch_modules_with_copied_weights():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    cases = [
        (torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), Conv2d(4, 6, 3, 2, 1, groups=2),
         (2, 4, 7, 6)),
        (torch.nn.Conv1d(3, 5, 3, dilation=2, padding=2), Conv1d(3, 5, 3, dilation=2, padding=2),
         (2, 3, 11)),
        (torch.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), ConvTranspose2d(4, 2, 4, 2, 1),
         (2, 4, 3, 5)),
    ]  # fmt: skip
    for t, m, shape in cases:
        t = t.double()
        m.W.data = t.weight.detach().numpy().copy()  # weights port directly
        m.b.data = t.bias.detach().numpy().copy()
        x = RNG.standard_normal(shape)
        tx = torch.tensor(x, requires_grad=True)
        ty = t(tx)
        dy = RNG.standard_normal(tuple(ty.shape))
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(m(x), ty.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(m.backward(dy), tx.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(m.W.grad, t.weight.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(m.b.grad, t.bias.grad.numpy(), atol=1e-12)


def test_float32_module_casts_float64_input():
    m = Conv2d(2, 3, 3, padding=1, rng=0)
    y = m(RNG.standard_normal((1, 2, 4, 4)))
    assert y.dtype == np.float32
    assert m.backward(np.ones_like(y)).dtype == np.float32


def test_repr_shows_the_configuration():
    assert "kernel_size=(3, 3)" in repr(Conv2d(2, 3, 3)) and "groups=1" in repr(Conv2d(2, 3, 3))
    assert "causal=True" in repr(Conv1d(2, 3, 3, causal=True))
    assert "output_padding=(1, 1)" in repr(ConvTranspose2d(2, 3, 3, 2, output_padding=1))


# ---- the fast path ---------------------------------------------------------------------------
def _twin_samples(name, dtype=np.float64):
    import npml.testing.npml_layers  # noqa: F401  (registers the entries)
    from npml.testing import registered

    (info,) = [i for i in registered() if i.name == name]
    return list(info.twin_samples(np.random.default_rng(0), np.dtype(dtype)))


def test_twin_samples_take_the_kernel_path_and_small_ones_do_not():
    from npml.nn import _conv_kernels, conv

    for s in _twin_samples("conv2d"):
        kw = s.kwargs
        cache = conv.conv2d_args(*(kw[k] for k in ("x", "W", "b", "stride", "padding",
                                                   "dilation", "groups")))[3]  # fmt: skip
        assert _conv_kernels.use_kernel(cache), s.desc
    for s in _twin_samples("conv1d"):
        _, cache = conv1d_forward(**s.kwargs)
        assert _conv_kernels.use_kernel(cache.conv), s.desc
    small = conv.conv2d_args(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), None, 1, 1, 1, 1)[3]
    assert not _conv_kernels.use_kernel(small)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_equals_reference_for_conv1d_module(dtype):
    """A causal dilated Conv1d at a kernel-path size: forward and all gradients."""
    from npml.nn import _conv_kernels

    m = Conv1d(32, 32, 3, dilation=4, causal=True, rng=0, dtype=dtype)
    x = RNG.standard_normal((6, 32, 300)).astype(dtype)
    y = m(x)
    assert _conv_kernels.use_kernel(m._cache.conv)
    dy = RNG.standard_normal(y.shape).astype(dtype)
    dx = m.backward(dy)
    ref = Conv1d(32, 32, 3, dilation=4, causal=True, rng=0, dtype=dtype)
    old = _conv_kernels.MIN_WORK
    try:
        _conv_kernels.MIN_WORK = 2**62  # everything through the reference
        y0 = ref(x)
        dx0 = ref.backward(dy)
    finally:
        _conv_kernels.MIN_WORK = old
    tol = 1e-6 if dtype == np.float32 else 1e-13  # relative to the largest entry: rounding
    for a, b in ((y, y0), (dx, dx0), (m.W.grad, ref.W.grad), (m.b.grad, ref.b.grad)):
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * np.abs(b).max())


def test_kernels_without_jit_give_the_same_numbers():
    """NUMBA_DISABLE_JIT=1 (for stepping through the kernels) runs the same loops as Python."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np; from npml.nn import conv, _conv_kernels as k\n"
        "r = np.random.default_rng(0); x = r.standard_normal((2, 6, 7, 5))\n"
        "W = r.standard_normal((4, 3, 3, 2)); b = r.standard_normal(4)\n"
        "x, W, b, c = conv.conv2d_args(x, W, b, (2, 1), 1, (1, 2), 2)\n"
        "y = k.conv2d_forward_fast(x, W, b, c); dy = r.standard_normal(y.shape)\n"
        "g = k.conv2d_backward_fast(dy, c)\n"
        "y0 = conv._conv2d_forward_reference(x, W, b, c)\n"
        "g0 = conv._conv2d_backward_reference(dy, c)\n"
        "assert np.allclose(y, y0, atol=1e-12)\n"
        "assert all(np.allclose(p, q, atol=1e-12) for p, q in zip(g, g0))\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
