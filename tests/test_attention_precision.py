"""dlbook.attention in half precision and at extreme values: the right number
(against a float64 reference and PyTorch's scaled_dot_product_attention) or an
error that names the cause, never a silent NaN or infinity."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook import attention as att

HALF = [torch.float16, torch.bfloat16]
# Round-off of one half-precision result relative to its float64 reference.
TOLERANCE = {torch.float16: 4e-3, torch.bfloat16: 3e-2}


def _inputs(seed, n, l, d, m, magnitude, dtype):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (magnitude * torch.randn(rows, cols, generator=generator, dtype=torch.float64)
               for rows, cols in ((n, d), (l, d), (l, m)))
    # Round to the half grid first, so the reference sees exactly the same inputs.
    return [t.to(dtype) for t in (q, k, v)]


def test_float16_scores_beyond_float16_range_give_the_finite_answer():
    """Every entry 40, D = 64: q.k = 102,400 overflows float16 before the 1/8 scale."""
    q = torch.full((1, 4, 64), 40.0, dtype=torch.float16)
    k, v = q.clone(), torch.ones(1, 4, 8, dtype=torch.float16)
    assert torch.isinf(q[0] @ k[0].T).all()                 # the raw product overflows
    ours = att.softmax_attention(q, k, v)
    reference = F.scaled_dot_product_attention(q, k, v)
    assert ours.dtype == torch.float16
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(ours, torch.ones_like(ours))
    weights = att.attention_weights(q, k)
    assert weights.dtype == torch.float16 and torch.isfinite(weights).all()


@pytest.mark.parametrize("dtype", HALF)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), l=st.integers(1, 6),
       d=st.integers(1, 16), magnitude=st.sampled_from([0.1, 1.0, 10.0, 40.0, 200.0]))
@settings(max_examples=40, deadline=None)
def test_half_precision_softmax_attention_matches_float64(dtype, seed, n, l, d, magnitude):
    q, k, v = _inputs(seed, n, l, d, 3, magnitude, dtype)
    ours = att.softmax_attention(q, k, v)
    assert ours.dtype == dtype and torch.isfinite(ours).all()
    reference = att.softmax_attention(q.double(), k.double(), v.double())
    # Weights are convex, so the output is bounded by max|v|; compare on that scale.
    scale = float(v.double().abs().max()) + 1e-12
    assert float((ours.double() - reference).abs().max()) <= TOLERANCE[dtype] * scale
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v),
                               atol=2 * TOLERANCE[dtype] * scale, rtol=0)


@pytest.mark.parametrize("dtype", HALF)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), l=st.integers(1, 40),
       d=st.integers(1, 6), magnitude=st.sampled_from([0.1, 1.0, 5.0]))
@settings(max_examples=30, deadline=None)
def test_half_precision_kernel_attention_matches_float64(dtype, seed, n, l, d, magnitude):
    q, k, v = _inputs(seed, n, l, d, 2, magnitude, dtype)
    reference = att.kernel_attention_linear(q.double(), k.double(), v.double(), att.elu_features)
    scale = float(v.double().abs().max()) + 1e-12
    for ours in (att.kernel_attention_linear(q, k, v, att.elu_features),
                 att.kernel_attention_pairwise(q, k, v, att.feature_kernel(att.elu_features))):
        assert ours.dtype == dtype and torch.isfinite(ours).all()
        assert float((ours.double() - reference).abs().max()) <= TOLERANCE[dtype] * scale


def test_long_float16_sequence_sums_do_not_overflow():
    """A sum over 10,000 keys of elu features near 10 exceeds float16's 65504."""
    q = torch.full((2, 4), 9.0, dtype=torch.float16)
    k = torch.full((10_000, 4), 9.0, dtype=torch.float16)
    v = torch.ones(10_000, 3, dtype=torch.float16)
    assert torch.isinf(att.elu_features(k).sum(dim=0)).all()   # summed in float16: inf
    out = att.kernel_attention_linear(q, k, v, att.elu_features)
    torch.testing.assert_close(out, torch.ones(2, 3, dtype=torch.float16))


def test_overflowing_kernels_raise_naming_the_overflow():
    big = torch.full((2, 4), 30.0)
    with pytest.raises(ValueError, match="softmax_kernel overflows torch.float32"):
        att.softmax_kernel(big, big)                             # exp(30 * 30 * 4 / 2)
    with pytest.raises(ValueError, match="overflows torch.float16"):
        att.quadratic_kernel(big.half(), big.half())            # (3600 + 1)^2 > 65504
    with pytest.raises(ValueError, match="not finite"):
        att.kernel_attention_pairwise(big, big, torch.ones(2, 1), lambda a, b: torch.exp(a @ b.T))
    # softmax attention itself subtracts the row maximum: the same inputs are fine.
    torch.testing.assert_close(att.softmax_attention(big, big, torch.ones(2, 1)), torch.ones(2, 1))


def test_zero_feature_size_is_refused_by_name():
    for fn in (lambda q, k, v: att.softmax_attention(q, k, v), att.argmax_attention,
               lambda q, k, v: att.attention_weights(q, k)):
        with pytest.raises(ValueError, match="feature size D >= 1, got D = 0"):
            fn(torch.zeros(2, 0), torch.zeros(3, 0), torch.zeros(3, 2))


@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_gradients_are_finite_where_float64_ones_are(dtype):
    q, k, v = (t.requires_grad_() for t in _inputs(3, 5, 7, 64, 4, 30.0, dtype))
    att.softmax_attention(q, k, v).sum().backward()
    for t in (q, k, v):
        assert t.grad is not None and t.grad.dtype == dtype and torch.isfinite(t.grad).all()
    assert math.isfinite(float(v.grad.double().sum()))


def test_float16_argmax_attention_picks_the_largest_score_past_float16_range():
    """q.k = 65,536 and 81,920 both overflow float16; the second key must still win."""
    q = torch.full((1, 16), 64.0, dtype=torch.float16)
    k = torch.stack([torch.full((16,), 64.0), torch.full((16,), 80.0)]).half()
    v = torch.tensor([[1.0], [2.0]], dtype=torch.float16)
    assert torch.isinf(q @ k.T).all()
    torch.testing.assert_close(att.argmax_attention(q, k, v), torch.tensor([[2.0]], dtype=torch.float16))
