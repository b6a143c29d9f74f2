"""dlbook.attention against independent references: PyTorch's fused
scaled_dot_product_attention, the kernel evaluated directly, autograd, and
loops written here."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlbook import attention as att

DTYPE = torch.float64


def qkv(batch=(2,), n=5, length=7, d=4, m=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*batch, n, d, generator=gen, dtype=DTYPE),
            torch.randn(*batch, length, d, generator=gen, dtype=DTYPE),
            torch.randn(*batch, length, m, generator=gen, dtype=DTYPE))


def attention_by_loops(q, k, v, sim):
    """Equation (9) of the problem, one query and one key at a time."""
    out = torch.zeros(q.shape[0], v.shape[1], dtype=q.dtype)
    for i in range(q.shape[0]):
        weights = torch.stack([sim(q[i], k[j]) for j in range(k.shape[0])])
        out[i] = (weights[:, None] * v).sum(0) / weights.sum()
    return out


# --- softmax attention -------------------------------------------------------

@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
def test_softmax_attention_matches_sdpa(batch):
    q, k, v = qkv(batch=batch)
    torch.testing.assert_close(att.softmax_attention(q, k, v),
                               F.scaled_dot_product_attention(q, k, v))


def test_softmax_attention_with_boolean_mask_matches_sdpa():
    q, k, v = qkv(batch=(2,), n=6, length=6)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    torch.testing.assert_close(att.softmax_attention(q, k, v, mask=causal),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True))
    gen = torch.Generator().manual_seed(1)
    random_mask = torch.rand(2, 6, 6, generator=gen) > 0.5
    random_mask[..., 0] = True
    torch.testing.assert_close(att.softmax_attention(q, k, v, mask=random_mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=random_mask))


def test_softmax_attention_custom_scale_matches_sdpa():
    q, k, v = qkv()
    torch.testing.assert_close(att.softmax_attention(q, k, v, scale=0.3),
                               F.scaled_dot_product_attention(q, k, v, scale=0.3))


def test_softmax_attention_matches_loops_and_weights_are_stochastic():
    q, k, v = qkv(batch=())
    sim = lambda a, b: torch.exp(a @ b / math.sqrt(a.shape[0]))
    torch.testing.assert_close(att.softmax_attention(q, k, v), attention_by_loops(q, k, v, sim))
    weights = att.attention_weights(q, k)
    assert (weights > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(5, dtype=DTYPE))


def test_softmax_kernel_in_generic_form_is_softmax_attention():
    q, k, v = qkv()
    torch.testing.assert_close(att.kernel_attention_pairwise(q, k, v, att.softmax_kernel),
                               att.softmax_attention(q, k, v))


# --- argmax attention --------------------------------------------------------

def test_argmax_attention_worked_example():
    q = torch.tensor([[1.0, 1.0, 2.0]])
    k = torch.tensor([[1.0, 2, 0], [0, 3, 4], [5, 0, 0], [0, 0, 1]])
    v = torch.tensor([[2.0, 0, 1], [1, 4, 3], [0, -1, 4], [1, 0, -1]])
    assert att.argmax_attention(q, k, v).tolist() == [[1.0, 4.0, 3.0]]


def test_argmax_attention_picks_best_key_and_ties_go_first():
    q, k, v = qkv(batch=())
    best = (q @ k.T).argmax(-1)
    torch.testing.assert_close(att.argmax_attention(q, k, v), v[best])
    tie_k = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=DTYPE)
    tie_v = torch.tensor([[1.0], [2.0]], dtype=DTYPE)
    assert att.argmax_attention(torch.ones(1, 2, dtype=DTYPE), tie_k, tie_v).item() == 1.0


def test_argmax_attention_passes_no_gradient_to_queries_and_keys():
    q, k, v = (t.requires_grad_() for t in qkv())
    out = att.argmax_attention(q, k, v)
    grad_q, grad_k, grad_v = torch.autograd.grad(out.square().sum(), (q, k, v),
                                                 allow_unused=True, materialize_grads=True)
    assert torch.count_nonzero(grad_q) == 0 and torch.count_nonzero(grad_k) == 0
    assert torch.count_nonzero(grad_v) > 0
    # softmax attention, by contrast, does pass gradient to q and k
    soft_q, soft_k = torch.autograd.grad(att.softmax_attention(q, k, v).square().sum(), (q, k))
    assert torch.count_nonzero(soft_q) > 0 and torch.count_nonzero(soft_k) > 0


def test_low_temperature_softmax_tends_to_argmax():
    q, k, v = qkv(batch=())
    hard = att.argmax_attention(q, k, v)
    errors = [float((att.softmax_attention(q, k, v, scale=1 / t) - hard).abs().max())
              for t in (1.0, 0.01, 0.001)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6


# --- kernel attention --------------------------------------------------------

vectors = st.integers(1, 6).flatmap(lambda d: st.tuples(
    arrays("float64", d, elements=st.floats(-3, 3)), arrays("float64", d, elements=st.floats(-3, 3))))


@given(vectors)
def test_quadratic_features_reproduce_the_kernel(pair):
    x, y = (torch.from_numpy(a) for a in pair)
    phi_x, phi_y = att.quadratic_features(x), att.quadratic_features(y)
    assert phi_x.shape == (att.quadratic_feature_dim(x.shape[0]),)
    torch.testing.assert_close(phi_x @ phi_y, (x @ y + 1) ** 2, rtol=1e-10, atol=1e-10)


def test_quadratic_features_match_sympy_style_expansion_and_batch():
    x = torch.tensor([2.0, 3.0], dtype=DTYPE)
    r2 = math.sqrt(2)
    expected = torch.tensor([1, 2 * r2, 3 * r2, 4, 9, 6 * r2], dtype=DTYPE)
    torch.testing.assert_close(att.quadratic_features(x), expected)
    batch = torch.randn(3, 4, 5, dtype=DTYPE)
    phi = att.quadratic_features(batch)
    assert phi.shape == (3, 4, 21)
    torch.testing.assert_close(phi[1, 2], att.quadratic_features(batch[1, 2]))


@pytest.mark.parametrize("features, kernel", [
    (att.quadratic_features, att.quadratic_kernel),
    (att.elu_features, att.feature_kernel(att.elu_features)),
])
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_linear_and_pairwise_kernel_attention_agree(features, kernel, batch):
    q, k, v = qkv(batch=batch, n=6, length=9)
    pairwise = att.kernel_attention_pairwise(q, k, v, kernel)
    torch.testing.assert_close(att.kernel_attention_linear(q, k, v, features), pairwise)
    if not batch:
        sim = lambda a, b: kernel(a[None], b[None])[0, 0]
        torch.testing.assert_close(pairwise, attention_by_loops(q, k, v, sim))


@given(arrays("float64", (4, 3), elements=st.floats(-50, 50)))
def test_elu_features_are_strictly_positive(x):
    assert (att.elu_features(torch.from_numpy(x)) > 0).all()


def test_kernel_attention_gradients_agree():
    q, k, v = (t.requires_grad_() for t in qkv(batch=()))
    grads_pair = torch.autograd.grad(
        att.kernel_attention_pairwise(q, k, v, att.quadratic_kernel).sum(), (q, k, v))
    grads_lin = torch.autograd.grad(
        att.kernel_attention_linear(q, k, v, att.quadratic_features).sum(), (q, k, v))
    for a, b in zip(grads_pair, grads_lin):
        torch.testing.assert_close(a, b)


def test_vanishing_denominator_is_reported():
    q = torch.tensor([[1.0, 0.0]], dtype=DTYPE)
    k = torch.tensor([[-1.0, 0.0]], dtype=DTYPE)           # q.k = -1, so (q.k + 1)^2 = 0
    v = torch.ones(1, 1, dtype=DTYPE)
    for call in (lambda: att.kernel_attention_pairwise(q, k, v, att.quadratic_kernel),
                 lambda: att.kernel_attention_linear(q, k, v, att.quadratic_features)):
        with pytest.raises(ValueError, match="denominator"):
            call()


# --- memory accounting ------------------------------------------------------

def test_autograd_saved_bytes_of_softmax_attention():
    n, d, m = 32, 4, 3
    q, k, v = (torch.randn(n, c, requires_grad=True) for c in (d, d, m))
    saved = att.autograd_saved_bytes(att.softmax_attention, q, k, v)
    assert saved == 4 * (n * n + 2 * n * d + n * m)      # Q, K, V and the weights
    assert att.autograd_saved_bytes(att.softmax_attention, q.detach(), k.detach(), v.detach()) == 0


@pytest.mark.parametrize("n, d, m", [(1, 1, 1), (17, 3, 5), (64, 8, 8)])
def test_autograd_saved_bytes_of_linear_attention(n, d, m):
    q, k, v = (torch.randn(n, c, requires_grad=True) for c in (d, d, m))
    c_dim, pairs = att.quadratic_feature_dim(d), d * (d + 1) // 2
    saved = att.autograd_saved_bytes(
        lambda a, b, c: att.kernel_attention_linear(a, b, c, att.quadratic_features), q, k, v)
    # Q, K, V, phi(Q), phi(K), U, z, numerators, denominators + the feature map's index tensors
    expected = 4 * (n * (2 * d + 2 * m + 2 * c_dim + 1) + c_dim * (m + 1)) + 40 * pairs
    assert saved == expected


# --- invalid input ----------------------------------------------------------

@pytest.mark.parametrize("args, error, message", [
    ((torch.ones(2, 3), torch.ones(4, 2), torch.ones(4, 1)), ValueError, "feature size D"),
    ((torch.ones(2, 3), torch.ones(4, 3), torch.ones(5, 1)), ValueError, "number of rows L"),
    ((torch.ones(2, 3), torch.ones(0, 3), torch.ones(0, 1)), ValueError, "at least one row"),
    ((torch.ones(1, 2, 3), torch.ones(2, 4, 3), torch.ones(2, 4, 1)), ValueError, "leading"),
    ((torch.ones(3), torch.ones(4, 3), torch.ones(4, 1)), ValueError, "shape"),
    (([[1.0]], torch.ones(1, 1), torch.ones(1, 1)), TypeError, "q must be a torch.Tensor"),
    ((torch.ones(1, 1), torch.ones(1, 1, dtype=torch.int64), torch.ones(1, 1)), TypeError,
     "k must have a floating-point dtype"),
    ((torch.ones(1, 1), torch.ones(1, 1), torch.ones(1, 1, dtype=DTYPE)), TypeError, "share a dtype"),
])
@pytest.mark.parametrize("fn", [
    att.softmax_attention, att.argmax_attention,
    lambda q, k, v: att.kernel_attention_linear(q, k, v, att.elu_features),
    lambda q, k, v: att.kernel_attention_pairwise(q, k, v, att.quadratic_kernel),
])
def test_invalid_shapes_and_types(fn, args, error, message):
    with pytest.raises(error, match=message):
        fn(*args)


def test_invalid_mask_scale_and_callables():
    q, k, v = qkv(batch=(), n=3, length=4)
    with pytest.raises(TypeError, match="mask must be a boolean"):
        att.softmax_attention(q, k, v, mask=torch.ones(3, 4))
    with pytest.raises(ValueError, match="does not broadcast"):
        att.softmax_attention(q, k, v, mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="no key to attend"):
        att.softmax_attention(q, k, v, mask=torch.zeros(3, 4, dtype=torch.bool))
    for bad in (0.0, -1.0, True, "1"):
        with pytest.raises(ValueError, match="scale must be a positive number"):
            att.softmax_attention(q, k, v, scale=bad)
    with pytest.raises(TypeError, match="kernel must be callable"):
        att.kernel_attention_pairwise(q, k, v, "quadratic")
    with pytest.raises(TypeError, match="feature_map must be callable"):
        att.kernel_attention_linear(q, k, v, None)
    with pytest.raises(TypeError, match="feature_map must be callable"):
        att.feature_kernel(3)
    with pytest.raises(ValueError, match="kernel returned shape"):
        att.kernel_attention_pairwise(q, k, v, lambda a, b: a @ a.T)
    with pytest.raises(ValueError, match="same feature size"):
        att.kernel_attention_linear(q, k, v, lambda x: x[..., : x.shape[0] % 3 + 1] if x.shape[0] == 3 else x)
    with pytest.raises(TypeError, match="callable"):
        att.autograd_saved_bytes(None)


@pytest.mark.parametrize("bad", [0, -2, 2.0, True])
def test_quadratic_feature_dim_rejects_bad_d(bad):
    with pytest.raises(ValueError, match="positive integer"):
        att.quadratic_feature_dim(bad)


@pytest.mark.parametrize("fn", [att.quadratic_features, att.elu_features])
def test_feature_maps_reject_bad_input(fn):
    with pytest.raises(TypeError, match="floating-point"):
        fn(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="floating-point"):
        fn([1.0, 2.0])


def test_quadratic_features_reject_empty_vectors():
    with pytest.raises(ValueError, match="non-empty last dimension"):
        att.quadratic_features(torch.ones(3, 0))


def test_softmax_jacobian_matches_autograd():
    scores = torch.randn(3, 5, dtype=DTYPE)
    weights = torch.softmax(scores, -1)
    for row in range(3):
        expected = torch.autograd.functional.jacobian(lambda s: torch.softmax(s, -1), scores[row])
        torch.testing.assert_close(att.softmax_jacobian(weights)[row], expected)
    with pytest.raises(TypeError, match="floating-point"):
        att.softmax_jacobian(torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="at least one dimension"):
        att.softmax_jacobian(torch.tensor(1.0))


@given(arrays("float32", (4, 3), elements=st.floats(-80, 80, width=32)))
def test_elu_features_stay_positive_in_float32(x):
    phi = att.elu_features(torch.from_numpy(x))
    assert (phi > 0).all()
    torch.testing.assert_close(phi, F.elu(torch.from_numpy(x)) + 1, rtol=1e-6, atol=1e-7)


def test_single_head_attention_modes_share_weights_and_match_functions():
    torch.manual_seed(0)
    layer = att.SingleHeadAttention(5, 4, 3)
    xq, xc = torch.randn(2, 6, 5), torch.randn(2, 7, 5)
    q, k, v = layer.w_q(xq), layer.w_k(xc), layer.w_v(xc)
    torch.testing.assert_close(layer(xq, xc), F.scaled_dot_product_attention(q, k, v))
    layer.mode = "argmax"
    torch.testing.assert_close(layer(xq, xc), att.argmax_attention(q, k, v))
    layer(xq, xc).sum().backward()
    assert layer.w_q.weight.grad is None and layer.w_k.weight.grad is None
    assert torch.count_nonzero(layer.w_v.weight.grad) > 0
    cold = att.SingleHeadAttention(5, 4, 3, temperature=0.5)
    cold.load_state_dict(layer.state_dict())
    torch.testing.assert_close(cold(xq, xc), F.scaled_dot_product_attention(q, k, v, scale=1 / (0.5 * 2)))


@pytest.mark.parametrize("kwargs, message", [
    ({"d_in": 0, "d_k": 2, "d_v": 2}, "d_in must be a positive integer"),
    ({"d_in": 2, "d_k": 2.5, "d_v": 2}, "d_k must be a positive integer"),
    ({"d_in": 2, "d_k": 2, "d_v": 2, "mode": "hard"}, "mode must be one of"),
    ({"d_in": 2, "d_k": 2, "d_v": 2, "temperature": 0}, "temperature must be a positive"),
])
def test_single_head_attention_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        att.SingleHeadAttention(**kwargs)
