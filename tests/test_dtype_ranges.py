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
from hypothesis import example, given, settings
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
