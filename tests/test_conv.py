"""dlbook.conv against independent references: SciPy's convolve/correlate,
NumPy's convolve and padding, torch.nn.functional.conv1d/conv2d and pooling,
real nn.Conv2d/MaxPool2d modules, and autograd."""

import numpy as np
import pytest
import scipy.signal as ss
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

from dlbook import conv

DTYPE = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def torch_correlate2d(x, w, stride, padding, mode):
    """PyTorch's conv2d (a correlation) on one channel, padding done by F.pad."""
    ph, pw = padding
    x4 = x[None, None]
    if mode == "circular":
        x4 = F.pad(x4, (pw, pw, ph, ph), mode="circular")
    else:
        x4 = F.pad(x4, (pw, pw, ph, ph))
    return F.conv2d(x4, w[None, None], stride=stride)[0, 0]


# --- 2-D correlation and convolution ---------------------------------------

geometry_2d = st.fixed_dictionaries({
    "h": st.integers(1, 9), "w": st.integers(1, 9),
    "kh": st.integers(1, 5), "kw": st.integers(1, 5),
    "sh": st.integers(1, 4), "sw": st.integers(1, 4),
    "ph": st.integers(0, 4), "pw": st.integers(0, 4),
    "mode": st.sampled_from(conv.PADDING_MODES),
    "seed": st.integers(0, 1000),
})


@given(geometry_2d)
def test_correlate2d_matches_torch_conv2d(g):
    assume(g["kh"] <= g["h"] + 2 * g["ph"] and g["kw"] <= g["w"] + 2 * g["pw"])
    if g["mode"] == "circular":          # torch's circular pad needs p <= n
        assume(g["ph"] <= g["h"] and g["pw"] <= g["w"])
    x, w = rand(g["h"], g["w"], seed=g["seed"]), rand(g["kh"], g["kw"], seed=g["seed"] + 1)
    stride, padding = (g["sh"], g["sw"]), (g["ph"], g["pw"])
    ours = conv.correlate2d(x, w, stride=stride, padding=padding, padding_mode=g["mode"])
    torch.testing.assert_close(ours, torch_correlate2d(x, w, stride, padding, g["mode"]))


@given(geometry_2d)
def test_convolve2d_matches_scipy_after_padding_and_subsampling(g):
    assume(g["kh"] <= g["h"] + 2 * g["ph"] and g["kw"] <= g["w"] + 2 * g["pw"])
    rng = np.random.default_rng(g["seed"])
    x, h = rng.normal(size=(g["h"], g["w"])), rng.normal(size=(g["kh"], g["kw"]))
    pad_mode = "wrap" if g["mode"] == "circular" else "constant"   # any p, also p > n
    xp = np.pad(x, ((g["ph"],) * 2, (g["pw"],) * 2), mode=pad_mode)
    want = ss.convolve2d(xp, h, mode="valid")[:: g["sh"], :: g["sw"]]
    ours = conv.convolve2d(x, h, stride=(g["sh"], g["sw"]), padding=(g["ph"], g["pw"]),
                           padding_mode=g["mode"])
    assert isinstance(ours, np.ndarray)
    np.testing.assert_allclose(ours, want, atol=1e-12)
    want_corr = ss.correlate2d(xp, h, mode="valid")[:: g["sh"], :: g["sw"]]
    np.testing.assert_allclose(
        conv.correlate2d(x, h, stride=(g["sh"], g["sw"]), padding=(g["ph"], g["pw"]),
                         padding_mode=g["mode"]), want_corr, atol=1e-12)


@pytest.mark.parametrize("shape, kernel", [((5, 5), (3, 3)), ((4, 7), (2, 5)), ((1, 6), (1, 6))])
def test_full_and_valid_modes_match_scipy(shape, kernel):
    rng = np.random.default_rng(1)
    x, h = rng.normal(size=shape), rng.normal(size=kernel)
    np.testing.assert_allclose(conv.convolve2d(x, h, padding="full"), ss.convolve2d(x, h))
    np.testing.assert_allclose(conv.convolve2d(x, h, padding="valid"),
                               ss.convolve2d(x, h, mode="valid"))
    np.testing.assert_allclose(conv.correlate2d(x, h, padding="full"), ss.correlate2d(x, h))
    np.testing.assert_allclose(conv.convolve2d(x, h), conv.correlate2d(x, h[::-1, ::-1]))


def test_convolve2d_is_not_correlate2d_for_an_asymmetric_kernel():
    x = np.arange(1, 26).reshape(5, 5)
    h = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    assert (conv.convolve2d(x, h) == -40).all()
    assert (conv.correlate2d(x, h) == 40).all()


def test_autograd_through_correlate2d_matches_conv2d():
    x, w = rand(6, 7, seed=2).requires_grad_(), rand(3, 2, seed=3).requires_grad_()
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    upstream = rand(3, 4, seed=4)
    (conv.correlate2d(x, w, stride=2, padding=1, padding_mode="circular") * upstream).sum().backward()
    (torch_correlate2d(x2, w2, (2, 2), (1, 1), "circular") * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(w.grad, w2.grad)
    assert torch.autograd.gradcheck(
        lambda a, b: conv.convolve2d(a, b, stride=(1, 2), padding=(2, 1)), (x, w))


def test_integer_complex_and_half_inputs():
    x = np.arange(12).reshape(3, 4)
    w = np.array([[1, -1]])
    y = conv.correlate2d(x, w)
    assert y.dtype.kind == "i" and (y == -1).all()
    rng = np.random.default_rng(0)
    xc = rng.normal(size=(5, 6)) + 1j * rng.normal(size=(5, 6))
    np.testing.assert_allclose(conv.convolve2d(xc, w, padding="full"), ss.convolve2d(xc, w))
    xh, wh = rand(16, 16, seed=5).half(), rand(5, 5, seed=6).half()
    yh = conv.correlate2d(xh, wh)
    assert yh.dtype == torch.float16
    exact = conv.correlate2d(xh.double(), wh.double())
    torch.testing.assert_close(yh.double(), exact, atol=1e-2, rtol=1e-3)
    with pytest.raises(ValueError, match="overflows"):
        conv.correlate2d(torch.full((4, 4), 6e4).half(), torch.ones(2, 2).half())


def test_kinds_are_kept_and_lists_follow_the_other_argument():
    assert isinstance(conv.correlate2d([[1, 2], [3, 4]], [[1]]), np.ndarray)
    out = conv.correlate2d(torch.ones(3, 3), [[1.0, 2.0]])
    assert isinstance(out, torch.Tensor) and out.shape == (3, 2)
    assert isinstance(conv.convolve1d(np.ones(4), np.ones(2)), np.ndarray)


# --- 1-D ---------------------------------------------------------------------

@given(n=st.integers(1, 15), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 5),
       mode=st.sampled_from(conv.PADDING_MODES), seed=st.integers(0, 1000))
def test_1d_matches_torch_conv1d(n, k, s, p, mode, seed):
    assume(k <= n + 2 * p)
    if mode == "circular":
        assume(p <= n)
    x, w = rand(n, seed=seed), rand(k, seed=seed + 7)
    x3 = F.pad(x[None, None], (p, p), mode="circular" if mode == "circular" else "constant")
    want = F.conv1d(x3, w[None, None], stride=s)[0, 0]
    torch.testing.assert_close(conv.correlate1d(x, w, stride=s, padding=p, padding_mode=mode), want)
    want_flip = F.conv1d(x3, w.flip(0)[None, None], stride=s)[0, 0]
    torch.testing.assert_close(conv.convolve1d(x, w, stride=s, padding=p, padding_mode=mode),
                               want_flip)


def test_circular_1d_matches_nn_conv1d_module():
    layer = nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular", bias=False).double()
    x = rand(9, seed=8)
    torch.testing.assert_close(
        conv.correlate1d(x, layer.weight[0, 0].detach(), padding=1, padding_mode="circular"),
        layer(x[None, None])[0, 0].detach())


@given(n=st.integers(1, 12), k=st.integers(1, 12), seed=st.integers(0, 100))
def test_full_1d_convolution_is_numpy_and_scipy_convolve(n, k, seed):
    rng = np.random.default_rng(seed)
    x, h = rng.normal(size=n), rng.normal(size=k)
    np.testing.assert_allclose(conv.convolve1d(x, h, padding="full"), np.convolve(x, h))
    np.testing.assert_allclose(conv.convolve1d(x, h, padding="full"), ss.convolve(x, h))
    if k <= n:
        np.testing.assert_allclose(conv.convolve1d(x, h), ss.convolve(x, h, mode="valid"))


def test_rect_through_geometric_filter_closed_form():
    n = np.arange(20)
    y = conv.convolve1d(np.ones(7), 0.5 ** n, padding="full")[:20]
    closed = np.where(n <= 6, 2 - 0.5 ** n, 127 * 0.5 ** n)
    np.testing.assert_allclose(y, closed)


# --- invalid input -----------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: conv.correlate2d(np.ones((2, 2)), np.ones((3, 3))), ValueError,
     "kernel w is larger than the padded input x"),
    (lambda: conv.convolve2d(np.ones((2, 2)), np.ones((3, 1))), ValueError, "kernel h"),
    (lambda: conv.correlate1d(np.ones(2), np.ones(5), padding=1), ValueError, "larger"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), stride=0), ValueError, "stride"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), stride=(1, 0)), ValueError,
     "stride"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), stride=True), TypeError, "stride"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), stride=1.5), TypeError, "stride"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), stride=(1, 1, 1)), ValueError,
     "stride"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), padding=-1), ValueError,
     "padding"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), padding="same"), ValueError,
     "padding"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), padding_mode="reflect"),
     ValueError, "padding_mode"),
    (lambda: conv.correlate1d(np.ones(3), np.ones(2), padding=(1, 1)), TypeError, "single ints"),
    (lambda: conv.correlate2d(np.ones(3), np.ones((2, 2))), ValueError, "x must be 2-D"),
    (lambda: conv.correlate2d(np.ones((3, 3, 1)), np.ones((2, 2))), ValueError, "x must be 2-D"),
    (lambda: conv.correlate1d(np.ones(3), np.ones((2, 2))), ValueError, "w must be 1-D"),
    (lambda: conv.convolve2d(np.ones((3, 3)), np.ones(2)), ValueError, "h must be 2-D"),
    (lambda: conv.correlate2d(np.ones((0, 3)), np.ones((1, 1))), ValueError, "x has a zero-size"),
    (lambda: conv.correlate1d(np.ones(3), np.ones(0)), ValueError, "w has a zero-size"),
    (lambda: conv.correlate2d(np.ones((3, 3)), torch.ones(2, 2)), TypeError, "same kind"),
    (lambda: conv.correlate2d(torch.ones(3, 3), np.ones((2, 2))), TypeError, "same kind"),
    (lambda: conv.correlate2d(np.ones((3, 3), bool), np.ones((2, 2))), TypeError, "x must hold"),
    (lambda: conv.correlate2d(np.array([["a"]]), np.ones((1, 1))), TypeError, "x must hold"),
    (lambda: conv.weight_gradient(np.ones((5, 5)), np.ones((2, 2)), 3), ValueError,
     r"dy must have the forward output's shape \(3, 3\)"),
    (lambda: conv.weight_gradient(np.ones((5, 5)), np.ones((3, 3)), 0), ValueError,
     "kernel_size"),
    (lambda: conv.weight_gradient(np.ones((2, 2)), np.ones((1, 1)), 3), ValueError, "larger"),
])
def test_invalid_input_is_refused_with_a_named_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_enough_padding_admits_a_large_kernel():
    assert conv.correlate2d(np.ones((2, 2)), np.ones((3, 3)), padding=1).shape == (2, 2)
    assert conv.correlate2d(np.ones((2, 2)), np.ones((4, 4)), padding=1).shape == (1, 1)


# --- the weight gradient -----------------------------------------------------

@given(geometry_2d)
def test_weight_gradient_matches_autograd_of_conv2d(g):
    assume(g["kh"] <= g["h"] + 2 * g["ph"] and g["kw"] <= g["w"] + 2 * g["pw"])
    if g["mode"] == "circular":
        assume(g["ph"] <= g["h"] and g["pw"] <= g["w"])
    x = rand(g["h"], g["w"], seed=g["seed"])
    w = rand(g["kh"], g["kw"], seed=g["seed"] + 1).requires_grad_()
    stride, padding = (g["sh"], g["sw"]), (g["ph"], g["pw"])
    y = torch_correlate2d(x, w, stride, padding, g["mode"])
    dy = rand(*y.shape, seed=g["seed"] + 2)
    (y * dy).sum().backward()
    ours = conv.weight_gradient(x, dy, (g["kh"], g["kw"]), stride=stride, padding=padding,
                                padding_mode=g["mode"])
    torch.testing.assert_close(ours, w.grad)


def test_weight_gradient_at_stride_one_is_the_correlation_of_x_with_dy():
    rng = np.random.default_rng(3)
    x, dy = rng.normal(size=(8, 8)), rng.normal(size=(6, 6))
    np.testing.assert_allclose(conv.weight_gradient(x, dy, 3), ss.correlate2d(x, dy, mode="valid"))


def test_sample_weight_gradients_moments_and_seed():
    n, k, trials = 10, 3, 4000
    draws = conv.sample_weight_gradients(n, k, trials=trials, sigma_x=0.5, sigma_g=2.0, seed=1)
    assert draws.shape == (trials, k, k) and draws.dtype == torch.float64
    theory = (n - k + 1) ** 2 * 0.5**2 * 2.0**2
    assert abs(float(draws.var()) / theory - 1) < 0.06
    assert abs(float(draws.mean())) < 4 * (theory / draws.numel()) ** 0.5
    assert torch.equal(draws, conv.sample_weight_gradients(n, k, trials=trials, sigma_x=0.5,
                                                           sigma_g=2.0, seed=1))
    assert not torch.equal(draws, conv.sample_weight_gradients(n, k, trials=trials, sigma_x=0.5,
                                                               sigma_g=2.0, seed=2))


@pytest.mark.parametrize("dist", conv.DISTRIBUTIONS)
def test_each_distribution_has_mean_zero_and_the_given_variance(dist):
    # k = n: one output, dw[a, b] = dy * x[a, b], a product of two draws
    draws = conv.sample_weight_gradients(3, 3, trials=20000, x_distribution=dist,
                                         grad_distribution=dist, sigma_x=2.0, sigma_g=1.5, seed=0)
    assert abs(float(draws.mean())) < 0.05
    assert abs(float(draws.var()) / (2.0 * 1.5) ** 2 - 1) < 0.05


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 3, "k": 4, "trials": 5}, ValueError, "k <= n"),
    ({"n": 3, "k": 0, "trials": 5}, ValueError, "k <= n"),
    ({"n": 3, "k": 2, "trials": 1}, ValueError, "trials"),
    ({"n": 3.0, "k": 2, "trials": 5}, TypeError, "n must be an int"),
    ({"n": 3, "k": 2, "trials": 5, "x_distribution": "cauchy"}, ValueError, "x_distribution"),
    ({"n": 3, "k": 2, "trials": 5, "sigma_g": 0.0}, ValueError, "sigma_g"),
])
def test_sample_weight_gradients_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        conv.sample_weight_gradients(**kwargs)


# --- shapes, parameters, receptive fields ---------------------------------

@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3), c=st.integers(1, 4), f=st.integers(1, 5), bias=st.booleans())
def test_output_size_and_parameter_count_match_real_conv2d(n, k, s, p, d, c, f, bias):
    assume(d * (k - 1) + 1 <= n + 2 * p)
    layer = nn.Conv2d(c, f, k, stride=s, padding=p, dilation=d, bias=bias)
    out = layer(torch.zeros(1, c, n, n + 1))
    assert out.shape == (1, f, conv.output_size(n, k, stride=s, padding=p, dilation=d),
                         conv.output_size(n + 1, k, stride=s, padding=p, dilation=d))
    assert conv.conv2d_parameter_count(c, f, k, bias=bias) == sum(
        q.numel() for q in layer.parameters())


def test_parameter_count_rectangular_kernel():
    layer = nn.Conv2d(3, 4, (2, 5))
    assert conv.conv2d_parameter_count(3, 4, (2, 5)) == sum(q.numel() for q in layer.parameters())


@given(n=st.integers(2, 30), k=st.integers(1, 6), s=st.integers(1, 6))
def test_output_size_matches_max_pool(n, k, s):
    assume(k <= n)
    out = nn.MaxPool2d(k, stride=s)(torch.zeros(1, 1, n, n))
    assert out.shape[-1] == conv.output_size(n, k, stride=s)


layer_spec = st.tuples(st.sampled_from(["conv", "max", "avg"]), st.integers(1, 4),
                       st.integers(1, 2))


@given(st.lists(layer_spec, min_size=1, max_size=4))
def test_receptive_field_formula_matches_the_measured_mask(spec):
    layers, channels = [], 1
    for kind, k, s in spec:
        if kind == "conv":
            layers += [nn.Conv2d(channels, 2, k, stride=s), nn.ReLU()]
            channels = 2
        elif kind == "max":
            layers.append(nn.MaxPool2d(k, stride=s))
        else:
            layers.append(nn.AvgPool2d(k, stride=s))
    model = nn.Sequential(*layers)
    r, jump = conv.receptive_field(model)
    assert (r, jump) == conv.receptive_field([(k, s) for _, k, s in spec])
    size = r + 2 * jump + 2
    mask = conv.receptive_field_mask(model, size, size, position=(0, 0))
    rows, cols = np.nonzero(mask.numpy())
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (r, r)
    assert (rows.min(), cols.min()) == (0, 0)
    # the span is filled unless a layer with a kernel > 1 reads units whose
    # fields (side r_l, spaced j_l) leave gaps: r_l < j_l
    filled, r_l, j_l = True, 1, 1
    for _, k, s in spec:
        filled &= k == 1 or r_l >= j_l
        r_l, j_l = r_l + (k - 1) * j_l, j_l * s
    assert bool(mask.sum() == r * r) == filled


def test_receptive_field_of_stacked_3x3_convs_is_2L_plus_1():
    for depth in range(1, 6):
        model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(depth)])
        assert conv.receptive_field(model) == (2 * depth + 1, 1)
        mask = conv.receptive_field_mask(model, 15, 15)
        assert mask.sum() == (2 * depth + 1) ** 2


def test_receptive_field_counts_dilation_and_refuses_unknown_layers():
    assert conv.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2))) == (5, 1)
    with pytest.raises(TypeError, match="found Linear"):
        conv.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Linear(3, 3)))
    with pytest.raises(TypeError, match="sign-preserving"):
        conv.receptive_field_mask(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Sigmoid()), 5, 5)
    with pytest.raises(ValueError, match="not square"):
        conv.receptive_field(nn.Sequential(nn.Conv2d(1, 1, (3, 1))))
    with pytest.raises(ValueError, match="outside the output"):
        conv.receptive_field_mask(nn.Sequential(nn.Conv2d(1, 1, 3)), 5, 5, position=(3, 0))
    with pytest.raises(ValueError, match="at least 1"):
        conv.receptive_field([(0, 1)])
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv.output_size(2, 3)
    with pytest.raises(ValueError, match="stride"):
        conv.output_size(5, 3, stride=0)


def test_receptive_field_mask_leaves_the_model_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    before = [q.detach().clone() for q in model.parameters()]
    conv.receptive_field_mask(model, 7, 7)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


# --- pooling -----------------------------------------------------------------

pool_case = st.fixed_dictionaries({
    "h": st.integers(1, 9), "w": st.integers(1, 9), "k": st.integers(1, 4),
    "s": st.one_of(st.none(), st.integers(1, 3)), "lead": st.sampled_from([(), (2,), (2, 3)]),
    "seed": st.integers(0, 1000),
})


@given(pool_case)
def test_pooling_values_and_gradients_match_torch(c):
    assume(c["k"] <= min(c["h"], c["w"]))
    x = rand(*c["lead"], c["h"], c["w"], seed=c["seed"])
    for ours, ref in ((conv.max_pool2d, F.max_pool2d), (conv.avg_pool2d, F.avg_pool2d)):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya = ours(a, c["k"], c["s"])
        x4 = b.reshape(-1, 1, c["h"], c["w"])
        yb = ref(x4, c["k"], c["s"]).reshape(ya.shape)
        torch.testing.assert_close(ya, yb)
        dy = rand(*ya.shape, seed=c["seed"] + 1)
        (ya * dy).sum().backward()
        (yb * dy).sum().backward()
        torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("k, s", [(2, 2), (3, 2), (3, 1), (2, 3)])
def test_pooling_passes_gradcheck(k, s):
    x = rand(2, 7, 8, seed=11).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: conv.max_pool2d(z, k, s), (x,))
    assert torch.autograd.gradcheck(lambda z: conv.avg_pool2d(z, k, s), (x,))


def test_max_pool_ties_go_to_the_first_maximum_like_torch():
    x = torch.zeros(1, 4, 6, dtype=DTYPE, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    conv.max_pool2d(x, 2).sum().backward()
    F.max_pool2d(x2, 2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    assert x.grad[0, ::2, ::2].eq(1).all() and x.grad.sum() == 6


def test_max_pool_gradient_of_the_2x2_example():
    x = torch.tensor([[4.0, 1.0], [2.0, 3.0]], requires_grad=True)
    conv.max_pool2d(x).backward(torch.tensor([[5.0]]))
    assert x.grad.tolist() == [[5.0, 0.0], [0.0, 0.0]]
    xa = torch.tensor([[4.0, 1.0], [2.0, 3.0]], requires_grad=True)
    conv.avg_pool2d(xa).backward(torch.tensor([[5.0]]))
    assert xa.grad.tolist() == [[1.25, 1.25], [1.25, 1.25]]


def test_pooling_float32_and_nan_like_torch():
    x = rand(3, 6, 6, seed=3).float()
    torch.testing.assert_close(conv.max_pool2d(x, 3, 3), F.max_pool2d(x, 3, 3))
    y = torch.tensor([[[1.0, float("nan")], [0.0, 2.0]]])
    assert torch.isnan(conv.max_pool2d(y)).all() and torch.isnan(F.max_pool2d(y, 2)).all()


@pytest.mark.parametrize("call, error, match", [
    (lambda: conv.max_pool2d(np.ones((4, 4))), TypeError, "x must be a torch.Tensor"),
    (lambda: conv.max_pool2d(torch.ones(4, 4, dtype=torch.long)), TypeError, "floating"),
    (lambda: conv.avg_pool2d(torch.ones(4)), ValueError, "x must have shape"),
    (lambda: conv.avg_pool2d(torch.ones(0, 4, 4)), ValueError, "zero-size"),
    (lambda: conv.max_pool2d(torch.ones(4, 4), 0), ValueError, "kernel_size"),
    (lambda: conv.max_pool2d(torch.ones(4, 4), 2, 0), ValueError, "stride"),
    (lambda: conv.max_pool2d(torch.ones(4, 4), 2.0), TypeError, "kernel_size"),
    (lambda: conv.avg_pool2d(torch.ones(3, 5), 4), ValueError, "larger than the input x"),
])
def test_pooling_refuses_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
