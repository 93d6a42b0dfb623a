"""Properties of upsampling, pooling, group norm and the timestep embedding that the registry's
generic checks (gradients, dtypes, torch oracles, refused inputs) do not cover."""

import numpy as np
import pytest

from npml.nn import (
    AvgPool2d,
    GroupNorm,
    MaxPool2d,
    TimeEmbedding,
    Upsample,
    avg_pool2d_backward,
    avg_pool2d_forward,
    group_norm_backward,
    group_norm_forward,
    layer_norm_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    sinusoidal_positions,
    timestep_embedding,
    upsample_backward,
    upsample_forward,
)


@pytest.fixture
def rng():
    return np.random.default_rng(20261202)


# ---- group norm ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 6, 3, 5), (1, 4, 7), (3, 5, 2, 2)])
def test_one_group_is_layer_norm_over_channels_and_space(shape, rng):
    x = rng.standard_normal(shape)
    y, _ = group_norm_forward(x, 1)
    D = int(np.prod(shape[1:]))
    want, _ = layer_norm_forward(x.reshape(shape[0], D), np.ones(D), np.zeros(D))
    np.testing.assert_allclose(y, want.reshape(shape), rtol=1e-12, atol=1e-12)
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    np.testing.assert_allclose(y, F.layer_norm(torch.tensor(x), shape[1:]).numpy(), atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 6, 3, 5), (1, 4, 7)])
def test_one_group_per_channel_is_instance_norm(shape, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape) * 3.0 - 1.0
    gn = GroupNorm(shape[1], shape[1], dtype=np.float64)
    want = torch.nn.functional.instance_norm(torch.tensor(x), eps=1e-5).numpy()
    np.testing.assert_allclose(gn(x), want, atol=1e-12)


def test_group_norm_is_per_sample(rng):
    """Nothing is shared across the batch: a sample's output ignores the others."""
    x = rng.standard_normal((3, 4, 5, 5))
    y, _ = group_norm_forward(x, 2)
    y1, _ = group_norm_forward(x[1:2], 2)
    np.testing.assert_allclose(y[1:2], y1, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm_huge_inputs_stay_finite_and_scale_invariant(dtype, rng):
    x = rng.standard_normal((2, 4, 3, 3)).astype(dtype)
    # squares, and so the variance, overflow; the group sums (18 entries) still do not: where
    # they do (max / 4), layer norm's rescaling still gives the right rows, but its NumPy path
    # lets a RuntimeWarning ("invalid value") escape, which this suite turns into an error
    big = np.finfo(dtype).max / 64
    tiny_eps = float(np.finfo(dtype).tiny)
    y_big, cache = group_norm_forward(x * big, 2, eps=1e-5)
    y_ref, _ = group_norm_forward(x, 2, eps=tiny_eps)  # eps / big^2 is below any float
    assert np.isfinite(y_big).all()
    np.testing.assert_allclose(y_big, y_ref, rtol=1e-4 if dtype == np.float32 else 1e-10)
    dx, _, _ = group_norm_backward(np.ones_like(x), cache)
    assert np.isfinite(dx).all()


def test_group_norm_of_constant_groups_is_the_shift(rng):
    x = np.full((2, 4, 3, 3), 7.5)
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    y, cache = group_norm_forward(x, 2, gamma, beta)
    np.testing.assert_allclose(y, np.broadcast_to(beta[:, None, None], x.shape), atol=1e-12)
    dx, dgamma, _ = group_norm_backward(rng.standard_normal(x.shape), cache)
    assert np.isfinite(dx).all()
    np.testing.assert_allclose(dgamma, 0.0, atol=1e-12)


def test_group_norm_module_parameters_and_dtype():
    gn = GroupNorm(2, 6)
    assert gn.n_params() == 12 and gn.gamma.data.dtype == np.float32
    assert GroupNorm(3, 6, affine=False).n_params() == 0
    y = gn(np.ones((1, 6, 4)))  # float64 input, float32 module
    assert y.dtype == np.float32
    assert repr(GroupNorm(3, 6, affine=False)) == (
        "GroupNorm(num_groups=3, num_channels=6, eps=1e-05, affine=False, dtype=float32)"
    )


# ---- pooling ------------------------------------------------------------------------------
def test_max_pool_ties_send_the_gradient_to_the_first_maximum_as_torch():
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 2, 4, 6))
    x[0, 1, 1, 1] = x[0, 1, 0, 1] = 1.0  # a tie in one window of the second channel
    y, cache = max_pool2d_forward(x, 2)
    dout = np.arange(1.0, 1.0 + y.size).reshape(y.shape)
    dx = max_pool2d_backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).backward(torch.tensor(dout))
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    assert dx[0, 0, 0, 0] == dout[0, 0, 0, 0] and dx[0, 1, 0, 1] == dout[0, 1, 0, 0]


@pytest.mark.parametrize(
    ("forward", "backward"),
    [(avg_pool2d_forward, avg_pool2d_backward), (max_pool2d_forward, max_pool2d_backward)],
)
def test_pooling_drops_the_rows_that_fill_no_window(forward, backward, rng):
    x = rng.standard_normal((2, 3, 7, 5))
    y, cache = forward(x, 2)
    assert y.shape == (2, 3, 3, 2)
    dx = backward(np.ones_like(y), cache)
    assert not dx[:, :, 6, :].any() and not dx[:, :, :, 4].any()
    np.testing.assert_allclose(dx.sum(), y.size)  # each output's gradient lands once in total


def test_avg_pool_is_the_window_mean(rng):
    x = rng.standard_normal((1, 2, 4, 6))
    y, _ = avg_pool2d_forward(x, (2, 3))
    np.testing.assert_allclose(y[0, 1, 1, 0], x[0, 1, 2:4, 0:3].mean())


def test_pool_modules_repr_and_no_parameters():
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=None)"
    assert AvgPool2d((2, 3), stride=(2, 3)).n_params() == 0


# ---- upsampling ---------------------------------------------------------------------------
def test_nearest_with_an_integer_factor_repeats_pixels(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    y, _ = upsample_forward(x, (2, 3))
    np.testing.assert_array_equal(y, x.repeat(2, axis=2).repeat(3, axis=3))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsampling_keeps_constants_and_same_size_is_identity(mode, rng):
    y, _ = upsample_forward(np.full((1, 2, 3, 4), 2.5), size=(7, 9), mode=mode)
    np.testing.assert_allclose(y, 2.5, rtol=1e-14)
    x = rng.standard_normal((1, 2, 3, 4))
    np.testing.assert_array_equal(upsample_forward(x, 1, mode=mode)[0], x)


def test_bilinear_align_corners_keeps_the_corner_pixels(rng):
    x = rng.standard_normal((2, 1, 3, 4))
    y, _ = upsample_forward(x, size=(8, 11), mode="bilinear", align_corners=True)
    for i, j in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        np.testing.assert_allclose(y[:, :, i, j], x[:, :, i, j], rtol=1e-13)


@pytest.mark.parametrize(
    ("shape", "factors"), [((2, 3, 4, 5), (2, 2)), ((1, 2, 3, 4), (3, 1)), ((2, 3, 7), (4,))]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nearest_repeat_path_equals_the_matrix_product(shape, factors, dtype, rng):
    """Integer-factor nearest upsampling copies pixels; the 0/1 matrices are its definition."""
    from npml.nn import upsample

    x = rng.standard_normal(shape).astype(dtype)
    y, cache = upsample_forward(x, factors)
    assert cache.repeat == factors
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = upsample_backward(dy, cache)
    want_y, want_dx = x, dy
    for axis, A in enumerate(cache.A, start=2):
        want_y = upsample._apply(A, want_y, axis)
        want_dx = upsample._apply(A.T, want_dx, axis)
    np.testing.assert_array_equal(y, want_y)
    tol = 1e-6 if dtype == np.float32 else 1e-14  # sums of 4 terms of order 1, in two orders
    np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol)
    assert y.dtype == dx.dtype == dtype


def test_upsample_backward_is_the_adjoint(rng):
    """<A x, dy> = <x, A^T dy>: the backward is the transposed linear map."""
    x = rng.standard_normal((2, 3, 4, 5))
    y, cache = upsample_forward(x, size=(9, 7), mode="bilinear")
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(np.sum(y * dy), np.sum(x * upsample_backward(dy, cache)))


def test_upsample_module_repr():
    assert repr(Upsample(2)) == (
        "Upsample(scale_factor=2, size=None, mode='nearest', align_corners=False)"
    )
    m = Upsample(size=(4, 4), mode="bilinear", align_corners=True)
    assert repr(m) == (
        "Upsample(scale_factor=None, size=(4, 4), mode='bilinear', align_corners=True)"
    )


# ---- timestep embedding -------------------------------------------------------------------
@pytest.mark.parametrize("dim", [2, 8, 64])
def test_timestep_embedding_is_a_column_permutation_of_the_position_code(dim):
    t = np.arange(50)
    e = timestep_embedding(t, dim)
    pe = sinusoidal_positions(50, dim)  # sin at even, cos at odd columns
    np.testing.assert_allclose(e[:, : dim // 2], pe[:, 0::2], atol=1e-12)
    np.testing.assert_allclose(e[:, dim // 2 :], pe[:, 1::2], atol=1e-12)


def test_timestep_embedding_layout_flip_odd_dim_and_scalars():
    e = timestep_embedding(np.array([0.0, 2.5]), 7)
    assert e.shape == (2, 7) and e.dtype == np.float64
    np.testing.assert_array_equal(e[0], [0, 0, 0, 1, 1, 1, 0])  # sin 0, cos 0, the odd zero
    assert not e[:, -1].any()
    flipped = timestep_embedding(np.array([0.0, 2.5]), 7, flip_sin_to_cos=True)
    np.testing.assert_array_equal(flipped[:, :3], e[:, 3:6])
    np.testing.assert_array_equal(flipped[:, 3:6], e[:, :3])
    np.testing.assert_allclose(timestep_embedding(2.5, 7), e[1])  # a scalar t: shape (dim,)
    np.testing.assert_allclose(e[1, 0], np.sin(2.5))  # omega_0 = 1
    np.testing.assert_allclose(e[1, 2], np.sin(2.5 * 10000.0 ** (-2 / 3)))  # omega_2 = P^(-2/h)


def test_timestep_embedding_refuses_bad_arguments():
    with pytest.raises(ValueError, match="dim"):
        timestep_embedding(np.ones(3), 0)
    with pytest.raises(ValueError, match="t contains"):
        timestep_embedding(np.array([1.0, np.nan]), 4)
    with pytest.raises(TypeError, match="t="):
        timestep_embedding("10", 4)
    with pytest.raises(ValueError, match="max_period"):
        timestep_embedding(np.ones(3), 4, max_period=-1.0)
    with pytest.raises(TypeError, match="flip_sin_to_cos"):
        timestep_embedding(np.ones(3), 4, flip_sin_to_cos="yes")


def test_time_embedding_module_shapes_parameters_and_backward(rng):
    m = TimeEmbedding(16, 32, d_out=24, rng=0)
    assert m.n_params() == 16 * 32 + 32 + 32 * 24 + 24
    y = m(np.array([0, 10, 999]))
    assert y.shape == (3, 24) and y.dtype == np.float32
    assert m.backward(np.ones_like(y)) is None  # no gradient with respect to t
    assert {n for n, p in m.named_parameters() if p.grad is not None} == {
        "lin1.W", "lin1.b", "lin2.W", "lin2.b",
    }  # fmt: skip
    assert repr(m).startswith("TimeEmbedding(\n  dim=16, d_hidden=32, d_out=24")
