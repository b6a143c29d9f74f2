"""dlbook.linalg against independent computations: SVD for norms and polar
factors, torch.optim.Muon's own Newton–Schulz, SciPy's Haar sampler, and the
scalar polynomial acting on singular values."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook.linalg import (
    CUBIC,
    QUINTIC,
    newton_schulz,
    power_iteration,
    random_orthogonal,
    svd_orthogonalize,
)

shapes = st.tuples(st.integers(1, 12), st.integers(1, 12))


def matrix(shape, seed, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- power iteration -------------------------------------------------------------


def test_power_iteration_converges_to_the_svd_norm():
    a = matrix((60, 40), 0)
    exact = torch.linalg.matrix_norm(a, ord=2)
    estimate = power_iteration(a, 3000)
    assert float(abs(estimate - exact) / exact) < 1e-8


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 30), st.integers(0, 10**6))
def test_power_iteration_never_overestimates(shape, iterations, seed):
    a = matrix(shape, seed)
    exact = float(torch.linalg.matrix_norm(a, ord=2))
    assert float(power_iteration(a, iterations, seed=seed)) <= exact * (1 + 1e-12)


def test_power_iteration_matches_the_rate_of_the_two_top_singular_values():
    """The estimate's error after k steps falls like (s2/s1)^(4k): the error of
    the Rayleigh-type quotient is quadratic in the error of the vector, which
    falls like (s2^2/s1^2)^k. Checked on a matrix with a known spectrum."""
    u = torch.from_numpy(scipy.stats.ortho_group.rvs(40, random_state=1))
    v = torch.from_numpy(scipy.stats.ortho_group.rvs(30, random_state=2))
    s = torch.linspace(1.0, 0.1, 30, dtype=torch.float64)
    s[0], s[1] = 2.0, 1.6                         # ratio 0.8
    a = u[:, :30] @ torch.diag(s) @ v.T
    errors = [2.0 - float(power_iteration(a, k, seed=3)) for k in (10, 20)]
    assert errors[1] / errors[0] == pytest.approx(0.8 ** 40, rel=0.2)


def test_power_iteration_does_not_overflow_float32():
    a = matrix((500, 500), 4, torch.float32) * 10        # ||A||^20 far above 3.4e38
    estimate = power_iteration(a, 10)
    assert torch.isfinite(estimate)
    assert float(estimate) == pytest.approx(float(torch.linalg.matrix_norm(a, ord=2)), rel=0.1)


def test_power_iteration_edge_cases_and_errors():
    assert float(power_iteration(torch.zeros(3, 4))) == 0.0
    assert float(power_iteration(torch.zeros(0, 4))) == 0.0
    assert power_iteration(torch.ones(2, 2, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="iterations"):
        power_iteration(torch.ones(2, 2), -1)
    with pytest.raises(ValueError, match=r"a must have shape \[m, n\]"):
        power_iteration(torch.ones(3))
    with pytest.raises(TypeError, match="a must be a real floating"):
        power_iteration(torch.ones(3, 3, dtype=torch.int64))


def test_power_iteration_leaves_global_random_state_alone():
    state = torch.get_rng_state()
    power_iteration(torch.ones(4, 4), seed=5)
    assert torch.equal(state, torch.get_rng_state())


# --- random orthogonal matrices -------------------------------------------------


@pytest.mark.parametrize("shape", [(7, 7), (9, 4), (4, 9), (1, 5)])
def test_random_orthogonal_is_semi_orthogonal(shape):
    q = random_orthogonal(*shape, seed=1, dtype=torch.float64)
    assert q.shape == shape
    small = min(shape)
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    torch.testing.assert_close(gram, torch.eye(small, dtype=torch.float64))
    assert float(torch.linalg.matrix_norm(q, ord=2)) == pytest.approx(1.0)


def test_random_orthogonal_is_haar_distributed():
    """The trace of a Haar orthogonal matrix has mean 0 and variance 1; its
    distribution matches SciPy's ortho_group sampler (two-sample KS test)."""
    ours = [float(torch.trace(random_orthogonal(6, seed=s, dtype=torch.float64)))
            for s in range(2000)]
    scipys = [np.trace(m) for m in scipy.stats.ortho_group.rvs(6, size=2000, random_state=0)]
    assert scipy.stats.ks_2samp(ours, scipys).pvalue > 1e-3
    assert abs(np.mean(ours)) < 0.1 and abs(np.var(ours) - 1) < 0.15


def test_random_orthogonal_is_seeded_and_validated():
    assert torch.equal(random_orthogonal(5, seed=3), random_orthogonal(5, seed=3))
    assert not torch.equal(random_orthogonal(5, seed=3), random_orthogonal(5, seed=4))
    with pytest.raises(ValueError, match="cols"):
        random_orthogonal(3, 0)
    with pytest.raises(ValueError, match="rows"):
        random_orthogonal(-1)


# --- orthogonalization ----------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 10**6))
def test_svd_orthogonalize_is_scipys_polar_factor(shape, seed):
    a = matrix(shape, seed)
    u, _ = scipy.linalg.polar(a.numpy(), side="right")
    np.testing.assert_allclose(svd_orthogonalize(a).numpy(), u, atol=1e-8)


def test_svd_orthogonalize_drops_zero_directions():
    a = matrix((6, 1), 0) @ matrix((1, 5), 1)          # rank 1
    s = torch.linalg.svdvals(svd_orthogonalize(a))
    torch.testing.assert_close(s, torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float64))
    assert torch.equal(svd_orthogonalize(torch.zeros(3, 2)), torch.zeros(3, 2))


@pytest.mark.parametrize("shape", [(20, 20), (30, 12), (12, 30)])
def test_cubic_newton_schulz_converges_to_the_polar_factor(shape):
    a = matrix(shape, 2)
    x = newton_schulz(a, 40, coefficients=CUBIC, frobenius_norm=0.99 * math.sqrt(3))
    torch.testing.assert_close(x, svd_orthogonalize(a), atol=1e-10, rtol=0)


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 5), st.sampled_from([CUBIC, QUINTIC]), st.integers(0, 10**6))
def test_newton_schulz_applies_the_polynomial_to_each_singular_value(shape, steps, coef, seed):
    a = matrix(shape, seed)
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    s = s / torch.linalg.matrix_norm(a)              # Frobenius norm 1
    for _ in range(steps):
        s = coef[0] * s + coef[1] * s**3 + coef[2] * s**5
    expected = u @ torch.diag(s) @ vh
    torch.testing.assert_close(newton_schulz(a, steps, coefficients=coef), expected,
                               atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("coef", [QUINTIC, CUBIC, (2.0, -1.3, 0.0)])
@pytest.mark.parametrize("shape", [(64, 200), (200, 64), (48, 48)])
def test_newton_schulz_in_bfloat16_is_torchs_muon_iteration(shape, coef):
    """Bit for bit the iteration inside torch.optim.Muon, given the same
    input and coefficients (torch's runs in bfloat16 at Frobenius norm 1);
    with c = 0 ours skips a product that torch multiplies by 0."""
    from torch.optim._muon import _zeropower_via_newtonschulz

    g = matrix(shape, 0, torch.float32)
    theirs = _zeropower_via_newtonschulz(g, coef, 5, 1e-7).float()
    ours = newton_schulz(g, 5, coefficients=coef, dtype=torch.bfloat16)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, atol=0, rtol=0)


def three_product_newton_schulz(g, steps, coef, norm, dtype):
    """The iteration that always forms (X X^T)^2, as torch.optim.Muon does
    and dlbook did before it skipped that product when c = 0."""
    a, b, c = coef
    mm = torch.addmm if g.ndim == 2 else torch.baddbmm
    tall = g.shape[-2] > g.shape[-1]
    x = (g.mT if tall else g).to(dtype)
    x = x / (torch.linalg.matrix_norm(x, keepdim=True).clamp_min(1e-7) / norm)
    for _ in range(steps):
        gram = x @ x.mT
        poly = mm(gram, gram, gram, beta=b, alpha=c)
        x = mm(x, poly, x, beta=a, alpha=1.0)
    return (x.mT if tall else x).to(g.dtype)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((40, 90), torch.float64), ((90, 40), torch.float32), ((40, 90), torch.bfloat16),
     ((90, 40), torch.float16), ((3, 90, 40), torch.float64), ((3, 40, 90), torch.float32)],
)
@pytest.mark.parametrize("coef", [CUBIC, (2.0, -1.3, 0.0), QUINTIC])
def test_skipping_the_zero_quintic_term_changes_no_bit(shape, dtype, coef):
    """Without (X X^T)^2 the result is bit for bit what the three-product
    iteration gives where torch computes c * (X X^T)^2 = 0 correctly: 2-D in
    every precision, batched in float32 and float64."""
    g = matrix(shape, 3, torch.float32)
    norm = 0.99 * math.sqrt(3) if coef == CUBIC else 1.0
    ours = newton_schulz(g, 5, coefficients=coef, frobenius_norm=norm, dtype=dtype)
    three = three_product_newton_schulz(g, 5, coef, norm, dtype)
    torch.testing.assert_close(ours, three, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("coef", [CUBIC, QUINTIC])
def test_batched_low_precision_newton_schulz_is_the_slices_iteration(coef, dtype):
    """Batched in bfloat16/float16, each slice gets the 2-D iteration bit for
    bit. (torch 2.14's CPU baddbmm in these dtypes returns the bias
    unscaled when alpha = 0, for square batches of 3 from 12 x 12 up among
    the sizes 1 to 17, 31, 32 and 40 we tried, so the three-product form of
    the cubic diverged here; skipping the product avoids the call.)"""
    g = matrix((3, 40, 90), 3, torch.float32)
    norm = 0.99 * math.sqrt(3) if coef == CUBIC else 1.0
    batched = newton_schulz(g, 5, coefficients=coef, frobenius_norm=norm, dtype=dtype)
    for i in range(3):
        one = newton_schulz(g[i], 5, coefficients=coef, frobenius_norm=norm, dtype=dtype)
        torch.testing.assert_close(batched[i], one, atol=0, rtol=0)
    assert float(torch.linalg.matrix_norm(batched.float(), ord=2).max()) < 1.5


@pytest.mark.parametrize(
    ("coef", "products"),
    [(QUINTIC, 3), ((1.0, 0.0, 0.5), 3), (CUBIC, 2), ((2.0, -1.3, 0.0), 2), ((1.5, 0.0, 0.0), 0)],
)
@pytest.mark.parametrize("shape", [(24, 70), (70, 24), (2, 24, 70)])
def test_newton_schulz_counts_two_products_per_step_without_quintic_term(
    shape, coef, products
):
    """FLOPs as FlopCounterMode counts them (2 per multiply-add): X X^T and
    (X X^T) X cost 2 s^2 l each on the s x l wide orientation, (X X^T)^2
    costs 2 s^3; with c = 0 that last product is not formed."""
    from torch.utils.flop_counter import FlopCounterMode

    g = matrix(shape, 0, torch.float32)
    s, l = min(shape[-2:]), max(shape[-2:])
    batch = g.numel() // (s * l)
    per_product = {"gram": 2 * s * s * l, "square": 2 * s**3, "apply": 2 * s * s * l}
    used = {3: ("gram", "square", "apply"), 2: ("gram", "apply"), 0: ()}[products]
    steps = 4
    with FlopCounterMode(display=False) as counter:
        newton_schulz(g, steps, coefficients=coef)
    expected = steps * batch * sum(per_product[k] for k in used)
    assert counter.get_total_flops() == expected


def test_newton_schulz_batches_and_keeps_dtype_and_shape():
    g = matrix((3, 8, 5), 1)
    batched = newton_schulz(g, 3)
    for i in range(3):
        torch.testing.assert_close(batched[i], newton_schulz(g[i], 3))
    half = newton_schulz(g[0].half(), 3, dtype=torch.float32)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (3, 3)])
def test_newton_schulz_zero_and_empty_inputs_give_zeros(shape):
    out = newton_schulz(torch.zeros(shape))
    assert out.shape == shape and torch.equal(out, torch.zeros(shape))


def test_newton_schulz_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        newton_schulz(torch.ones(2, 2), -1)
    with pytest.raises(ValueError, match="coefficients"):
        newton_schulz(torch.ones(2, 2), coefficients=(1.0, 2.0))
    with pytest.raises(ValueError, match="frobenius_norm"):
        newton_schulz(torch.ones(2, 2), frobenius_norm=0.0)
    with pytest.raises(ValueError, match="g must have shape"):
        newton_schulz(torch.ones(4))
    with pytest.raises(TypeError, match="g must be a torch.Tensor"):
        newton_schulz(np.ones((2, 2)))
