"""Issue 20, kind 3: where the answer fits the dtype, the result does too.

Every function here was given inputs whose exact answer is representable in
the dtype but whose intermediates (a norm, a square, a product, a window's
sum, an int8 partial sum, a walk count) were not. Each example's right value
is a test, and per family a property: scaling the input by a power of two
scales the answer as the mathematics says (Newton–Schulz: not at all), in
float16, bfloat16 and float32.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dlbook import conv
from dlbook.linalg import CUBIC, QUINTIC, newton_schulz, power_iteration
from dlbook.optim import Muon

HALVES = (torch.float16, torch.bfloat16)
LOW = (torch.float16, torch.bfloat16, torch.float32)


def gaussian(*shape, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype)


# --- Newton–Schulz: the example ------------------------------------


def test_loss_scaled_gradient_in_float16_is_orthogonalized():
    """The issue's example: G = randn(64, 32) * 2000 has Frobenius norm about
    9e4 > 65504; casting first made the float16 norm inf and the result 0."""
    g = gaussian(64, 32) * 2000
    assert float(torch.linalg.matrix_norm(g)) > torch.finfo(torch.float16).max
    ours = newton_schulz(g, dtype=torch.float16)
    assert torch.isfinite(ours).all() and ours.abs().max() > 0.1
    # the float64 iteration on G / 2000, cast: agrees to float16's precision
    # amplified by five quintic steps
    exact = newton_schulz((g / 2000).double()).float()
    torch.testing.assert_close(ours, exact, atol=2e-2, rtol=0)
    # and the float16 iteration on G / 2000 itself, up to the rounding of
    # G / 2000 (not a power of two)
    torch.testing.assert_close(
        ours, newton_schulz(g / 2000, dtype=torch.float16), atol=2e-2, rtol=0
    )
    # with a power of two in place of 2000 the results are the same bits
    assert torch.equal(
        newton_schulz(g * 2048, dtype=torch.float16),
        newton_schulz(g, dtype=torch.float16),
    )


def test_float16_input_whose_norm_overflows_and_tiny_input():
    """g itself in float16 (entries fit, the norm does not); and a float32 g
    of entries near 1e-6 whose squares underflow float16."""
    g = gaussian(64, 32) * 2000
    ours = newton_schulz(g.half())
    assert ours.dtype == torch.float16 and torch.isfinite(ours).all()
    reference = newton_schulz(g.half().double() / 2000).half()
    torch.testing.assert_close(ours, reference, atol=2e-2, rtol=0)
    tiny = gaussian(64, 32, seed=1) * 1e-6  # norm 4.5e-5 > eps; squares 0
    assert float((tiny.half() ** 2).sum()) == 0
    ours = newton_schulz(tiny, dtype=torch.float16)
    torch.testing.assert_close(
        ours, newton_schulz(tiny * 2**20, dtype=torch.float16), atol=0, rtol=0
    )
    torch.testing.assert_close(
        ours, newton_schulz(tiny.double()).float(), atol=2e-2, rtol=0
    )


def test_muon_with_float16_iteration_steps_a_loss_scaled_gradient():
    """The same path through dlbook.optim.Muon(ns_dtype=torch.float16): a
    gradient multiplied by 2**11 (a loss scale) moves the weight exactly as
    the unscaled gradient does (the update is the polar factor)."""
    start = gaussian(64, 32, seed=2)
    grad = gaussian(64, 32, seed=3) * 1000
    moved = []
    for scale in (1.0, 2.0**11):
        w = torch.nn.Parameter(start.clone())
        opt = Muon([w], lr=0.02, ns_dtype=torch.float16)
        w.grad = grad * scale
        opt.step()
        moved.append(w.detach() - start)
    assert float(moved[1].abs().max()) > 1e-3  # the weight moved
    assert torch.equal(moved[0], moved[1])


def test_zero_and_below_eps_inputs_keep_eps_semantics():
    """eps still bounds the norm g is divided by (zeros stay zeros, and a
    matrix of norm below eps is divided by eps, as before)."""
    assert torch.equal(newton_schulz(torch.zeros(4, 3)), torch.zeros(4, 3))
    g = gaussian(8, 4, dtype=torch.float64)
    small = g / torch.linalg.matrix_norm(g) * 1e-9  # norm 1e-9 < eps = 1e-7
    ours = newton_schulz(small, 0)
    torch.testing.assert_close(ours, small / 1e-7)


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(-28, 60),
    dtype=st.sampled_from(LOW),
    coef=st.sampled_from([QUINTIC, CUBIC]),
    batched=st.booleans(),
    seed=st.integers(0, 50),
)
def test_newton_schulz_ignores_a_power_of_two_scale(k, dtype, coef, batched, seed):
    """Scaling g (float32, norm about 45 * 2**k, so at least eps and finite)
    by 2**k leaves the result unchanged, bit for bit, in every precision."""
    shape = (2, 24, 16) if batched else (24, 16)
    g = gaussian(*shape, seed=seed)
    norm = 0.99 * math.sqrt(3) if coef == CUBIC else 1.0
    one = newton_schulz(g, coefficients=coef, frobenius_norm=norm, dtype=dtype)
    scaled = newton_schulz(
        g * 2.0**k, coefficients=coef, frobenius_norm=norm, dtype=dtype
    )
    assert torch.equal(one, scaled)


# --- power iteration ---------------------------------------------------------


def test_power_iteration_float16_whose_square_overflows():
    """||a||_2 about 2.6e4 fits float16, ||a||_2**2 does not: NaN before."""
    for a in (gaussian(64, 32) * 2000, gaussian(64, 32) * 1e-3):
        # the second: a a^T u (about 1e-5) loses its digits to float16's
        # subnormals
        a = a.half()
        exact = torch.linalg.matrix_norm(a.double(), ord=2)
        ours = power_iteration(a, 60)
        assert ours.dtype == torch.float16 and torch.isfinite(ours)
        assert abs(float(ours) / float(exact) - 1) < 2e-3


@settings(max_examples=40, deadline=None)
@given(k=st.integers(-40, 40), dtype=st.sampled_from(LOW), seed=st.integers(0, 50))
@example(k=12, dtype=torch.float16, seed=0)
@example(k=-40, dtype=torch.float32, seed=0)
def test_power_iteration_scales_with_a_power_of_two(k, dtype, seed):
    """||2**k a|| = 2**k ||a||, exactly, while 2**k a fits the dtype exactly
    (float16: norm about 8 * 2**k below 65504, entries above its smallest
    normal number 2**-14)."""
    if dtype == torch.float16:
        k = k % 17 - 4  # -4 .. 12
    a = gaussian(20, 12, seed=seed).to(dtype)
    assert torch.equal(power_iteration(a * 2.0**k), power_iteration(a) * 2.0**k)


# --- convolution ----------------------------------------------------------


def test_correlation_whose_products_overflow_but_sum_cancels():
    """1e20 * 1e20 - 1e20 * 1e20 = 0 fits float32; NaN before."""
    x, w = torch.tensor([[1e20, 1e20]]), torch.tensor([[1e20, -1e20]])
    assert torch.equal(conv.correlate2d(x, w), torch.zeros(1, 1))
    assert np.array_equal(conv.correlate2d(x.numpy(), w.numpy()), [[0.0]])
    xb, wb = x.bfloat16() * 1e15, w.bfloat16() * 1e15  # beyond float32 too
    assert torch.equal(conv.correlate2d(xb, wb), torch.zeros(1, 1).bfloat16())
    big = torch.tensor([1e300, 1e300], dtype=torch.float64)
    assert float(conv.correlate1d(big, torch.tensor([1e10, -1e10]).double())) == 0
    with pytest.raises(ValueError, match="overflows torch.float32"):
        conv.correlate2d(x, w.abs())  # 2e40 does not fit float32



@pytest.mark.parametrize("dtype", HALVES)
def test_half_correlation_passes_nan_and_inf_through_like_conv2d(dtype):
    """A NaN or inf in float16/bfloat16 input was refused for tensors ('a
    non-finite value in the float32 accumulation') and passed through for
    NumPy float16; F.conv2d passes it through. Now both do, where conv2d."""
    x = gaussian(6, 6, seed=4)
    x[2, 2], x[4, 0] = float("nan"), float("inf")
    w = gaussian(3, 3, seed=5)
    ours = conv.correlate2d(x.to(dtype), w.to(dtype))
    reference = torch.nn.functional.conv2d(
        x.to(dtype)[None, None].float(), w.to(dtype)[None, None].float()
    )[0, 0].to(dtype)
    assert ours.dtype == dtype
    assert torch.equal(ours.isnan(), reference.isnan())
    assert torch.equal(ours.isinf(), reference.isinf())
    if dtype == torch.float16:  # NumPy's float16 gives the same
        theirs = conv.correlate2d(x.half().numpy(), w.half().numpy())
        assert np.array_equal(np.isnan(theirs), reference.isnan().numpy())

def test_integer_correlation_sums_in_int64_and_refuses_what_does_not_fit():
    """int8 sums used to wrap: 100 + 100 + 100 gave 44."""
    x8, w8 = np.array([[100, 100, -100]], np.int8), np.ones((1, 3), np.int8)
    assert conv.correlate2d(x8, w8).tolist() == [[100]]
    for x, w in ((np.full((1, 3), 100, np.int8), w8),
                 (torch.full((1, 3), 100, dtype=torch.int8),
                  torch.ones(1, 3, dtype=torch.int8))):
        with pytest.raises(ValueError, match="overflows"):
            conv.correlate2d(x, w)
    with pytest.raises(ValueError, match="int64"):
        conv.correlate1d(np.full(3, 2**40), np.full(3, 2**40))
    minus = torch.tensor([[-128, 5]], dtype=torch.int8)
    assert conv.correlate2d(minus, torch.ones(1, 1, dtype=torch.int8)).tolist() == [[-128, 5]]


def test_weight_gradient_whose_products_overflow():
    """Both entries are 1e40 - 1e40 = 0: NaN in float32 before."""
    x = torch.tensor([[1e20, 1e20, 1e20]])
    dy = torch.tensor([[1e20, -1e20]])
    assert torch.equal(conv.weight_gradient(x, dy, (1, 2)), torch.zeros(1, 2))
    assert np.array_equal(
        conv.weight_gradient(x.numpy(), dy.numpy(), (1, 2)), np.zeros((1, 2))
    )


def test_average_pool_whose_window_sum_overflows():
    for dtype, value in ((torch.bfloat16, 3e38), (torch.float32, 3e38),
                         (torch.float64, 1.7e308)):
        x = torch.full((4, 4), value, dtype=dtype)
        out = conv.avg_pool2d(x)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, x[:2, :2])


@settings(max_examples=40, deadline=None)
@given(kx=st.integers(-30, 30), kw=st.integers(-30, 30),
       dtype=st.sampled_from(LOW), seed=st.integers(0, 50))
def test_correlation_scales_with_powers_of_two(kx, kw, dtype, seed):
    """correlate(2**a x, 2**b w) = 2**(a + b) correlate(x, w), bit for bit,
    wherever the answer fits (float16 keeps |a|, |b| small: its range is
    2**-24 to 2**16)."""
    if dtype == torch.float16:
        kx, kw = kx % 5 - 2, kw % 5 - 2
    x = gaussian(9, 9, seed=seed).to(dtype)
    w = gaussian(3, 3, seed=seed + 1).to(dtype)
    base = conv.correlate2d(x, w, padding=1)
    scaled = conv.correlate2d(x * 2.0**kx, w * 2.0**kw, padding=1)
    assert torch.equal(scaled, base * 2.0 ** (kx + kw))


# --- graphs ----------------------------------------------------------------


def test_linear_gnn_counts_do_not_wrap_around_int64():
    """30-step walks on K10 number about 4.2e27: linear_gnn returned int64
    counts wrapped around (8.9e18); now exact integers as count_walks."""
    from dlbook.graphs import count_walks, linear_gnn

    a = np.ones((10, 10), dtype=np.int64) - np.eye(10, dtype=np.int64)
    counts = linear_gnn(a, 30)
    assert counts[0, 0] == 9**30 // 10 + 1  # (9**30 + 9) / 10 closed walks
    assert (counts == count_walks(a, 30).T).all()
    with pytest.raises(OverflowError, match="k=30"):
        linear_gnn(torch.from_numpy(a), 30)
    assert linear_gnn(torch.from_numpy(a), 5).dtype == torch.int64



def test_propagate_integer_sums_are_exact():
    """Sum aggregation over two in-neighbours holding 2**62: int64 wrapped to
    -2**63; uint64 2**62 + 1 went through float64 (9.223372036854776e18);
    int8 100 + 100 wrapped to -56. Each now equals the Python-integer sum."""
    from dlbook.graphs import propagate

    a = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0]])  # 0 -> 2, 1 -> 2
    for dtype, value in ((np.int64, 2**62), (np.uint64, 2**62 + 1), (np.int8, 100)):
        feats = np.array([[value], [value], [0]], dtype=dtype)
        out = propagate(a, feats)
        assert int(out[2, 0]) == 2 * value, dtype  # exact, no wrap-around
        assert int(out[0, 0]) == 0
    # torch has no big integers: a sum beyond int64 is refused by name
    with pytest.raises(OverflowError, match="features"):
        propagate(torch.from_numpy(a), torch.full((3, 1), 2**62))
    small = propagate(torch.from_numpy(a), torch.full((3, 1), 2**61))
    assert small.dtype == torch.int64 and int(small[2, 0]) == 2**62


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), bits=st.integers(1, 63))
@example(seed=0, bits=63)
def test_propagate_integer_sums_match_python_integers(seed, bits):
    """On random digraphs with features up to 2**bits, every sum equals the
    sum of Python integers over the in-neighbours."""
    from dlbook.graphs import propagate

    rng = np.random.default_rng(seed)
    a = (rng.random((6, 6)) < 0.5).astype(np.int64)
    feats = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=(6, 2),
                         endpoint=True, dtype=np.int64)
    out = propagate(a, feats)
    for j in range(6):
        for c in range(2):
            want = sum(int(feats[i, c]) for i in range(6) if a[i, j])
            assert int(out[j, c]) == want


def test_propagate_bfloat16_tensor_features():
    """bfloat16 features raised TypeError (NumPy has no bfloat16); float32
    holds every bfloat16, so the sums equal the float32 ones."""
    from dlbook.graphs import propagate

    a = torch.tensor([[0, 1, 1], [1, 0, 1], [0, 0, 0]])
    h = gaussian(3, 4, seed=3).bfloat16()
    for aggregation in ("sum", "max"):
        got = propagate(a, h, aggregation=aggregation)
        want = propagate(a, h.float(), aggregation=aggregation)
        torch.testing.assert_close(got.float(), want.float(), atol=0, rtol=1e-2)

def _star(n):
    """Edges from nodes 1..n-1 into node 0."""
    return torch.stack([torch.arange(1, n), torch.zeros(n - 1, dtype=torch.long)])


def test_means_whose_sums_overflow():
    """Three neighbours at 4e4 (float16) or 1.5e38 (bfloat16, float32): the
    mean fits, the sum behind it did not (inf before)."""
    from dlbook.graphs import mean_aggregate_generic, scatter_aggregate, sum_aggregate

    edges = _star(4)
    for dtype, value in ((torch.float16, 4e4), (torch.bfloat16, 1.5e38),
                         (torch.float32, 1.5e38)):
        h = torch.tensor([[0.0], [value], [value], [value]]).to(dtype)
        for out in (scatter_aggregate(edges, h, "mean"),
                    mean_aggregate_generic(edges, h)):
            assert out.dtype == dtype
            torch.testing.assert_close(out[0], h[1])
    cancel = torch.tensor([[0.0], [6e4], [6e4], [-6e4]]).half()
    assert float(sum_aggregate(edges, cancel)[0, 0]) == 6e4


def test_approx_max_power_with_large_or_small_powers():
    """(h + C)**p = 6**50 overflows float32 (the max, 3, fits), and
    (2C)**50 with C = 3e-3 underflows it (the result was -C, not the max)."""
    from dlbook.graphs import approx_max_aggregate

    edges = _star(3)
    h = torch.tensor([[0.0], [-3.0], [3.0]])
    out = approx_max_aggregate(edges, h, 50.0, method="power", bound=3.0)
    assert float(out[0, 0]) == 3.0
    small = approx_max_aggregate(edges, h * 1e-3, 50.0, method="power", bound=3.1e-3)
    assert abs(float(small[0, 0]) - 3e-3) < 1e-4
    half = approx_max_aggregate(edges, h.half(), 20.0, method="power", bound=3.0)
    assert half.dtype == torch.float16 and float(half[0, 0]) == 3.0


def test_approx_max_logsumexp_many_neighbours_in_float16():
    """30,000 neighbours at 0.5 with t = 2: each exp(1) fits float16, their
    sum (8e4) did not; the answer 0.5 + log(30000) / 2 = 5.65 does."""
    from dlbook.graphs import approx_max_aggregate

    h = torch.full((30001, 1), 0.5).half()
    out = approx_max_aggregate(_star(30001), h, 2.0)
    assert abs(float(out[0, 0]) - (0.5 + math.log(30000) / 2)) < 1e-2
    # float32, t |h| = 78.5: each exp fits, 30000 of them (3.7e38) do not;
    # refused by name (inf before)
    with pytest.raises(ValueError, match="30000 neighbours"):
        approx_max_aggregate(_star(30001), h.float() * 157, 1.0)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(-5, 126), dtype=st.sampled_from(LOW), seed=st.integers(0, 50))
@example(k=15, dtype=torch.float16, seed=0)
@example(k=126, dtype=torch.bfloat16, seed=0)
def test_mean_aggregation_scales_with_a_power_of_two(k, dtype, seed):
    """mean(h) = 2**8 mean(2**-8 h) bit for bit, for 8 neighbours with
    values in [2**(k-1), 2**k): their sum passes the dtype's range from
    k = 13 (float16) or 126 (bfloat16, float32) on, the mean never."""
    from dlbook.graphs import scatter_aggregate

    if dtype == torch.float16:
        k = k % 21 - 5  # -5 .. 15
    edges = _star(9)
    unit = 0.5 + torch.rand(9, 2, generator=torch.Generator().manual_seed(seed)) / 2
    h = (unit.double() * 2.0**k).to(dtype)
    assert torch.isfinite(h).all()
    mean = scatter_aggregate(edges, h, "mean")
    assert torch.equal(mean, scatter_aggregate(edges, h * 2.0**-8, "mean") * 2.0**8)
    assert torch.isfinite(mean).all()


# --- attention, debugging, regularization ---------------------------------


def test_argmax_attention_with_scores_beyond_float32():
    """q . k of 1e40 and 2e40 were both inf (a tie won by the first key);
    1e-60 and 2e-60 both 0."""
    from dlbook.attention import argmax_attention

    v = torch.tensor([[1.0], [2.0]])
    for size in (1e20, 1e-30):
        q = torch.tensor([[size, 0.0]])
        k = torch.tensor([[size, 0.0], [2 * size, 0.0]])
        assert float(argmax_attention(q, k, v)) == 2.0


def test_weight_gradient_norms_of_a_float16_model():
    """Entries 4000 fit float16, their norm 4000 * sqrt(300) = 69282 not."""
    from dlbook.debugging import weight_gradient_norms

    layer = torch.nn.Linear(1, 300, bias=False).half()
    x, y = torch.tensor([[4000.0]]).half(), torch.zeros(1, dtype=torch.long)
    norms = weight_gradient_norms(layer, x, y, loss_fn=lambda out, _: out.sum())
    assert norms == pytest.approx([4000 * math.sqrt(300)], rel=1e-6)


def test_column_norms_of_huge_and_tiny_columns():
    from dlbook.regularization import column_norms

    x = np.array([[3e200, 3e-200, 3.0], [4e200, 4e-200, 4.0]])
    np.testing.assert_allclose(column_norms(x), [5e200, 5e-200, 5.0], rtol=1e-15)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(-900, 900), seed=st.integers(0, 50))
def test_column_norms_scale_with_a_power_of_two(k, seed):
    from dlbook.regularization import column_norms

    x = np.random.default_rng(seed).normal(size=(6, 3))
    assert np.array_equal(column_norms(np.ldexp(x, k)), np.ldexp(column_norms(x), k))


def test_reconstruction_error_of_a_float16_model():
    """Errors of 400 square to 160000 > 65504: inf before; the mean squared
    error is a Python float and fits."""
    from dlbook.autoencoders import Autoencoder, reconstruction_error

    model = Autoencoder(4, 2, activation="linear", bias=False)
    with torch.no_grad():  # reconstructs 0: the error is x itself
        model.encoder.weight.zero_()
        model.decoder.weight.zero_()
    model = model.half()
    assert reconstruction_error(model, torch.full((3, 4), 400.0).half()) == 160000.0



@pytest.mark.parametrize("k", [-500, 0, 500, 510])
def test_principal_variances_scale_with_a_power_of_two(k):
    """Singular values of x * 2**510 (n = 1000) square beyond float64 (inf
    variances before) while the variances, about 2**1020, fit."""
    from dlbook.autoencoders import principal_directions

    x = np.random.default_rng(0).normal(size=(1000, 5))
    _, base = principal_directions(x, 3)
    _, scaled = principal_directions(np.ldexp(x, k), 3)
    assert np.isfinite(scaled).all()
    np.testing.assert_allclose(scaled, np.ldexp(base, 2 * k), rtol=1e-12)


def test_dropout_regression_refuses_an_adam_run_that_overflowed():
    """Data near 1e160 give gradients whose squares leave float64 in Adam's
    second moment; the step became m / inf = 0 and the run stopped silently
    (torch.optim.Adam does the same). Refused by name; data near 1e70
    (squared gradients near 1e280) still train, to the same weights."""
    from dlbook.regularization import train_dropout_regression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    runs = [train_dropout_regression(x * scale, y * scale, p=0.0, optimizer="adam",
                                     steps=50, lr=1e-2, seed=0)
            for scale in (1.0, 1e70)]
    assert runs[1].losses[-1] < runs[1].losses[0]
    np.testing.assert_allclose(runs[1].weights, runs[0].weights, rtol=1e-6)
    with pytest.raises(ValueError, match="X, y"):
        train_dropout_regression(x * 1e160, y * 1e160, p=0.0, optimizer="adam",
                                 steps=5, seed=0)

@settings(max_examples=30, deadline=None)
@given(k=st.integers(-140, 100), dtype=st.sampled_from(LOW), seed=st.integers(0, 50))
@example(k=-140, dtype=torch.float32, seed=0)
def test_svd_polar_factor_ignores_a_power_of_two_scale(k, dtype, seed):
    """U V^T of 2**k g is U V^T of g, bit for bit, down into float32's
    subnormal numbers (k = -140: entries near 1e-42, where LAPACK's SVD of
    the unscaled matrix lost about 3% before)."""
    from dlbook.linalg import svd_orthogonalize

    if dtype == torch.float16:
        k = k % 21 - 6  # entries stay normal float16 numbers
    g = gaussian(8, 5, seed=seed).to(dtype)
    scaled = (g.double() * 2.0**k).to(torch.float32 if k < -120 else dtype)
    ours = svd_orthogonalize(scaled).to(dtype)
    if k < -120:  # subnormal: the input kept few bits; close, not equal
        exact = svd_orthogonalize(scaled.double() * 2.0**-k)
        torch.testing.assert_close(ours.double(), exact, atol=5e-3, rtol=0)
    else:
        assert torch.equal(ours, svd_orthogonalize(g))


def test_integer_neighbourhood_sums_do_not_wrap():
    """int8 neighbours 100, 100, 101: the mean (100) fits int8, the sum
    (301) does not; scatter_aggregate's mean was 15, sum_aggregate 45."""
    from dlbook.graphs import mean_aggregate_generic, scatter_aggregate, sum_aggregate

    edges = _star(4)
    h = torch.tensor([[0], [100], [100], [101]], dtype=torch.int8)
    mean = scatter_aggregate(edges, h, "mean")
    assert mean.dtype == torch.int8 and int(mean[0, 0]) == 100
    assert float(mean_aggregate_generic(edges, h)[0, 0]) == pytest.approx(301 / 3)
    with pytest.raises(ValueError, match="overflows torch.int8"):
        sum_aggregate(edges, h)
    assert int(sum_aggregate(edges, h.long())[0, 0]) == 301
    with pytest.raises(ValueError, match="int64"):
        sum_aggregate(edges, torch.full((4, 1), 2**62))


# --- optimizers and the edge measures (the lead's files) ---------------------


def test_spectral_sgd_steps_a_float16_gradient_whose_norm_overflows():
    """A float16 gradient times 1e4: its spectral norm (about 4e4 x the
    matrix's) left float16 when cast back, so the step was grad / inf = 0."""
    from dlbook.optim import spectral_sgd

    for dtype in LOW:
        w = torch.zeros(8, 4, dtype=dtype)
        grad = (gaussian(8, 4) * 1e4).to(dtype)
        spectral_sgd([w], [grad], lr=1.0, num_layers=1)
        moved = float(torch.linalg.matrix_norm(w.float(), ord=2))
        assert moved == pytest.approx(math.sqrt(8 / 4), rel=1e-2), dtype


@given(k=st.integers(-60, 60), dtype=st.sampled_from(LOW), seed=st.integers(0, 50))
@settings(max_examples=40, deadline=None)
def test_spectral_sgd_step_ignores_a_power_of_two_scale(k, dtype, seed):
    from dlbook.optim import spectral_sgd

    grad = gaussian(6, 5, seed=seed).to(dtype)
    # only where the scaled gradient holds the same bits (no entry lost to
    # the subnormal range or overflow): then the step must not change at all
    assume(torch.equal(grad * 2.0**k / 2.0**k, grad))
    steps = []
    for scale in (1.0, 2.0**k):
        w = torch.zeros(6, 5, dtype=dtype)
        spectral_sgd([w], [grad * scale], lr=0.5, num_layers=2)
        steps.append(w)
    assert torch.equal(steps[0], steps[1])


@pytest.mark.parametrize("scale", [1e20, 1e-24, 1e-40])
def test_edge_similarity_of_huge_and_tiny_kernels(scale):
    """float32 norms of kernels x1e20 overflowed (cosines 0) and of x1e-24
    underflowed ("cosines" of 2e6); a cosine ignores the kernel's scale."""
    from dlbook.edges import edge_similarity

    kernels = gaussian(3, 1, 7, 7, seed=2)
    ours = edge_similarity(kernels * scale)
    torch.testing.assert_close(ours, edge_similarity(kernels), atol=1e-6, rtol=1e-5)
    assert float(ours.max()) <= 1.0
