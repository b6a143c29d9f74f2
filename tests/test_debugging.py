"""dlbook.debugging: the deep networks' layout, gradient accumulation against
full-batch autograd and closed forms (LayerNorm passes, BatchNorm does not),
the hand-written SGD loop against momentum 1 and the quadratic closed form,
and argument errors."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlbook.debugging import (
    NORMS,
    accumulated_gradients,
    accumulation_mismatch,
    make_deep_net,
    sgd_loop,
    weight_gradient_norms,
)

DIVISORS_32 = [1, 2, 4, 8, 16, 32]


pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(n=32, seed=0, shape=(1, 8, 8), dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=generator, dtype=dtype)
    y = torch.randint(0, 10, (n,), generator=generator)
    return x, y


def _full_batch_grads(model, x, y):
    """Independent reference: autograd of the mean loss over the batch."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


# --- make_deep_net -----------------------------------------------------------


@pytest.mark.parametrize("depth", [2, 4, 20, 56])
@pytest.mark.parametrize("conv", [False, True])
def test_depth_counts_weight_layers(depth, conv):
    net = make_deep_net(depth, 4, residual=True, conv=conv)
    layers = net.weight_layers()
    assert len(layers) == depth
    assert len(net.blocks) == (depth - 2) // 2
    kinds = [type(layer) for layer in layers]
    expected_body = nn.Conv2d if conv else nn.Linear
    assert kinds[:-1] == [expected_body] * (depth - 1) and kinds[-1] is nn.Linear
    assert net(torch.rand(3, 1, 8, 8)).shape == (3, 10)


def test_plain_and_residual_share_parameters_and_differ_by_the_shortcut():
    res = make_deep_net(6, 5, residual=True, norm="layer", seed=3)
    plain = make_deep_net(6, 5, residual=False, norm="layer", seed=3)
    for (n1, p1), (n2, p2) in zip(res.named_parameters(), plain.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)
    x = torch.rand(4, 1, 8, 8)
    h = res.stem(x)
    block = res.blocks[0]
    assert torch.allclose(block(h), torch.relu(h + block.body(h)))
    assert torch.allclose(plain.blocks[0](h), torch.relu(plain.blocks[0].body(h)))


@pytest.mark.parametrize("norm", NORMS)
def test_norm_layers_and_biases(norm):
    net = make_deep_net(4, 6, residual=False, norm=norm, conv=False)
    kinds = {type(m) for m in net.modules()}
    if norm == "batch":
        assert nn.BatchNorm1d in kinds
    elif norm == "layer":
        assert nn.LayerNorm in kinds
    else:
        assert not kinds & {nn.BatchNorm1d, nn.LayerNorm}
    hidden = net.weight_layers()[:-1]
    assert all((layer.bias is not None) == (norm == "none") for layer in hidden)


def test_he_initialization_variance():
    net = make_deep_net(4, 400, residual=False, norm="none", seed=1)
    weight = net.weight_layers()[1].weight
    # He normal, fan-in 400: variance 2 / 400
    assert abs(float(weight.detach().var()) * 400 / 2 - 1) < 0.05
    assert float(net.weight_layers()[1].bias.detach().abs().max()) == 0.0


def test_seeded_and_deterministic():
    a = make_deep_net(6, 5, residual=True, seed=7)
    b = make_deep_net(6, 5, residual=True, seed=7)
    c = make_deep_net(6, 5, residual=True, seed=8)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"depth": 0}, ValueError, "depth"),
        ({"depth": 1}, ValueError, "depth"),
        ({"depth": 5}, ValueError, "depth"),
        ({"depth": 2.0}, ValueError, "depth"),
        ({"width": 0}, ValueError, "width"),
        ({"norm": "group"}, ValueError, "norm"),
        ({"residual": 1}, TypeError, "residual"),
        ({"conv": "yes"}, TypeError, "conv"),
        ({"in_shape": (8, 8)}, ValueError, "in_shape"),
        ({"in_shape": (1, 0, 8)}, ValueError, "in_shape"),
        ({"num_classes": 0}, ValueError, "num_classes"),
    ],
)
def test_make_deep_net_rejects_bad_arguments(kwargs, error, match):
    args = {"depth": 4, "width": 3, "residual": True, **kwargs}
    with pytest.raises(error, match=match):
        make_deep_net(**args)


# --- gradient accumulation ---------------------------------------------------


def test_one_step_is_the_full_batch_autograd_gradient():
    net = make_deep_net(4, 6, residual=True, norm="batch", seed=2).double().train()
    x, y = _batch()
    reference = _full_batch_grads(net, x, y)
    logits, grads = accumulated_gradients(net, x, y, 1)
    assert all(torch.allclose(g, r, rtol=1e-12, atol=1e-14)
               for g, r in zip(grads.values(), reference))
    assert torch.allclose(logits, net(x))
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("steps", DIVISORS_32)
def test_layernorm_accumulation_equals_full_batch(steps, conv):
    net = make_deep_net(6, 6, residual=True, norm="layer", conv=conv, seed=0)
    net = net.double().train()
    x, y = _batch()
    reference = _full_batch_grads(net, x, y)
    logits, grads = accumulated_gradients(net, x, y, steps)
    for g, r in zip(grads.values(), reference):
        assert torch.allclose(g, r, rtol=1e-10, atol=1e-13)
    assert torch.allclose(logits, net(x), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("steps", [2, 4, 8, 16])
def test_batchnorm_accumulation_differs_from_full_batch(steps, conv):
    net = make_deep_net(6, 6, residual=True, norm="batch", conv=conv, seed=0)
    net = net.double().train()
    x, y = _batch()
    check = accumulation_mismatch(net, x, y, steps)
    assert check.gradients > 1e-3 and check.logits > 1e-3 and check.buffers > 1e-3
    # in eval mode BatchNorm is a per-example function: it passes
    assert accumulation_mismatch(net.eval(), x, y, steps).gradients < 1e-12


def test_batchnorm_batch_of_one_fails_for_fully_connected_layers():
    net = make_deep_net(4, 6, residual=True, norm="batch", seed=0).double().train()
    x, y = _batch()
    with pytest.raises(ValueError):
        accumulated_gradients(net, x, y, 32)


@given(
    steps=st.sampled_from(DIVISORS_32),
    seed=st.integers(0, 2**16),
    dim=st.integers(1, 5),
)
def test_accumulated_gradient_matches_least_squares_closed_form(steps, seed, dim):
    # a linear model, MSE loss: the gradient is 2/N X^T (X w - y)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(32, dim, generator=generator, dtype=torch.float64)
    target = torch.randn(32, generator=generator, dtype=torch.float64)
    model = nn.Linear(dim, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, dim, generator=generator,
                                       dtype=torch.float64))
    w = model.weight.detach().reshape(-1)
    mse = lambda out, t: ((out.reshape(-1) - t) ** 2).mean()  # noqa: E731
    _, grads = accumulated_gradients(model, x, target, steps, loss_fn=mse)
    closed = 2 / 32 * x.T @ (x @ w - target)
    assert torch.allclose(grads["weight"].reshape(-1), closed, rtol=1e-10, atol=1e-12)


@settings(max_examples=20)
@given(steps=st.sampled_from(DIVISORS_32), seed=st.integers(0, 50))
def test_no_norm_accumulation_passes_for_any_seed(steps, seed):
    net = make_deep_net(4, 5, residual=False, norm="none", seed=seed).double()
    x, y = _batch(seed=seed)
    check = accumulation_mismatch(net, x, y, steps)
    assert check.gradients < 1e-11 and check.logits < 1e-12 and check.buffers == 0


def test_accumulation_mismatch_leaves_the_model_alone():
    net = make_deep_net(4, 6, residual=True, norm="batch", conv=True, seed=0)
    net = net.double().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    check = accumulation_mismatch(net, *_batch(), 4)
    assert (check.batch_size, check.steps) == (8, 4)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize(
    "steps, error, match",
    [(3, ValueError, "divide"), (0, ValueError, "steps"), (64, ValueError, "divide"),
     (2.0, ValueError, "steps")],
)
def test_accumulated_gradients_rejects_bad_steps(steps, error, match):
    net = make_deep_net(2, 3, residual=False).double()
    with pytest.raises(error, match=match):
        accumulated_gradients(net, *_batch(), steps)


def test_accumulated_gradients_rejects_bad_data():
    net = make_deep_net(2, 3, residual=False).double()
    x, y = _batch()
    with pytest.raises(ValueError, match="same number"):
        accumulated_gradients(net, x, y[:-1], 1)
    with pytest.raises(TypeError, match="tensors"):
        accumulated_gradients(net, x, y.tolist(), 1)
    with pytest.raises(TypeError, match="model"):
        accumulated_gradients(lambda t: t, x, y, 1)
    with pytest.raises(ValueError, match="empty"):
        accumulated_gradients(net, x[:0], y[:0], 1)


def test_weight_gradient_norms_match_autograd():
    net = make_deep_net(6, 5, residual=True, norm="layer", seed=4).double()
    x, y = _batch()
    norms = weight_gradient_norms(net, x, y)
    weights = [layer.weight for layer in net.weight_layers()]
    loss = nn.functional.cross_entropy(net(x), y)
    expected = [float(g.norm()) for g in torch.autograd.grad(loss, weights)]
    assert np.allclose(norms, expected, rtol=1e-12)
    assert len(norms) == 6


# --- the SGD loop with and without zero_grad ---------------------------------


def _digit_like(n=60, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=generator)
    y = torch.randint(0, 3, (n,), generator=generator)
    return x, y


def test_missing_zero_grad_is_momentum_one():
    x, y = _digit_like()
    kw = dict(lr=0.01, batch_size=20, steps=12, seed=3)
    nets = [make_deep_net(4, 8, residual=False, norm="none", in_shape=(1, 4, 4),
                          num_classes=3, seed=0) for _ in range(3)]
    bug = sgd_loop(nets[0], x, y, zero_grad=False, **kw)
    heavy = sgd_loop(nets[1], x, y, momentum=1.0, **kw)
    plain = sgd_loop(nets[2], x, y, **kw)
    assert np.allclose(bug.loss, heavy.loss, rtol=1e-6)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    assert not np.allclose(bug.loss, plain.loss)


def test_zero_grad_loop_is_plain_sgd():
    # the first step from the same start: theta - lr * full-batch gradient
    x, y = _digit_like(n=20)
    net = make_deep_net(4, 8, residual=False, norm="none", in_shape=(1, 4, 4),
                        num_classes=3, seed=0)
    start = [p.detach().clone() for p in net.parameters()]
    grads = torch.autograd.grad(nn.functional.cross_entropy(net(x), y),
                                list(net.parameters()))
    sgd_loop(net, x, y, lr=0.1, batch_size=20, steps=1)
    for p, p0, g in zip(net.parameters(), start, grads):
        assert torch.allclose(p, p0 - 0.1 * g, atol=1e-7)


@settings(max_examples=30)
@given(
    eta_h=st.floats(0.05, 3.9),
    w0=st.floats(-3.0, 3.0).filter(lambda v: abs(v) > 1e-3),
)
def test_quadratic_without_zero_grad_follows_the_closed_form(eta_h, w0):
    h, steps = 2.0, 40
    lr = eta_h / h
    one = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        one.weight.fill_(w0)
    quad = lambda out, t: 0.5 * h * (out**2).mean()  # noqa: E731
    record = sgd_loop(one, torch.ones(1, 1, dtype=torch.float64),
                      torch.zeros(1, dtype=torch.float64), lr=lr, batch_size=1,
                      steps=steps, zero_grad=False, loss_fn=quad)
    phi = math.acos(1 - eta_h / 2)
    t = np.arange(steps)
    w = w0 * np.cos((t + 0.5) * phi) / math.cos(phi / 2)
    assert np.allclose(record.loss, 0.5 * h * w**2, rtol=1e-7, atol=1e-10)
    # never above the amplitude |w0| / sqrt(1 - eta h / 4)
    bound = abs(w0) / math.sqrt(1 - eta_h / 4)
    assert np.all(np.sqrt(2 * np.array(record.loss) / h) <= bound * (1 + 1e-9))


def test_grad_norm_records_the_buffer():
    x, y = _digit_like()
    net = make_deep_net(2, 4, residual=False, norm="none", in_shape=(1, 4, 4),
                        num_classes=3, seed=0)
    record = sgd_loop(net, x, y, lr=1e-9, batch_size=60, steps=5, zero_grad=False)
    # with a negligible step the same full-batch gradient is added each time
    ratios = np.array(record.grad_norm) / record.grad_norm[0]
    assert np.allclose(ratios, np.arange(1, 6), rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr"),
        ({"momentum": 1.5}, ValueError, "momentum"),
        ({"momentum": None}, TypeError, "momentum"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 61}, ValueError, "batch_size"),
        ({"steps": 0}, ValueError, "steps"),
    ],
)
def test_sgd_loop_rejects_bad_arguments(kwargs, error, match):
    x, y = _digit_like()
    net = make_deep_net(2, 4, residual=False, in_shape=(1, 4, 4), num_classes=3)
    args = {"lr": 0.1, "batch_size": 10, "steps": 2, **kwargs}
    with pytest.raises(error, match=match):
        sgd_loop(net, x, y, **args)


def test_quadratic_at_eta_h_four_grows_linearly():
    h, steps, w0 = 1.0, 30, 0.5
    one = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        one.weight.fill_(w0)
    quad = lambda out, t: 0.5 * h * (out**2).mean()  # noqa: E731
    record = sgd_loop(one, torch.ones(1, 1, dtype=torch.float64),
                      torch.zeros(1, dtype=torch.float64), lr=4.0 / h, batch_size=1,
                      steps=steps, zero_grad=False, loss_fn=quad)
    t = np.arange(steps)
    w = (1 + 2 * t) * (-1.0) ** t * w0
    assert np.allclose(record.loss, 0.5 * h * w**2, rtol=1e-9)
