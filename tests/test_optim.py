"""dlbook.optim: Muon against torch.optim.Muon step for step, conv kernels
against the reshaped matrix, MuonSVD against the exact polar factor, the
spectral SGD step's norm, spectral initialization, and argument checks."""

import copy
import math

import pytest
import torch
from torch import nn

from dlbook.linalg import CUBIC, svd_orthogonalize
from dlbook.optim import Muon, MuonSVD, SpectralSGD, muon, spectral_init_, spectral_sgd

# float32 tolerance for the step-for-step comparison: both sides run the same
# bfloat16 iteration; only the order of float32 additions may differ.
ATOL = 1e-6


def quadratic_loss(params, seed=0):
    """A smooth loss whose gradient changes every step."""
    g = torch.Generator().manual_seed(seed)
    targets = [torch.randn(p.shape, generator=g) for p in params]
    return lambda: sum(((p - t) ** 2 * (1 + p.abs())).sum() for p, t in zip(params, targets))


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust_lr_fn", [None, "match_rms_adamw", "spectral_unclamped"])
def test_muon_follows_torch_muon_step_for_step(nesterov, adjust_lr_fn):
    g = torch.Generator().manual_seed(1)
    shapes = [(32, 16), (16, 48), (24, 24)]
    ours_params = [torch.randn(s, generator=g).requires_grad_() for s in shapes]
    theirs_params = [p.detach().clone().requires_grad_() for p in ours_params]
    start = [p.detach().clone() for p in ours_params]
    settings = dict(lr=0.02, weight_decay=0.05, momentum=0.9, nesterov=nesterov,
                    adjust_lr_fn=adjust_lr_fn)
    ours = Muon(ours_params, **settings)
    theirs = torch.optim.Muon(theirs_params, **settings)
    loss_ours, loss_theirs = quadratic_loss(ours_params), quadratic_loss(theirs_params)
    for _ in range(10):
        for opt, loss in ((ours, loss_ours), (theirs, loss_theirs)):
            opt.zero_grad()
            loss().backward()
            opt.step()
        for a, b in zip(ours_params, theirs_params):
            torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    # the runs moved far beyond the tolerance: not two unchanged tensors compared
    for p, p0 in zip(ours_params, start):
        assert float((p.detach() - p0).abs().max()) > 1000 * ATOL


def test_conv_kernels_are_updated_as_their_matrices():
    conv = nn.Conv2d(3, 8, 3, bias=False)
    flat = nn.Parameter(conv.weight.detach().reshape(8, 27).clone())
    opt_conv = Muon([conv.weight], lr=0.1, ns_coefficients=CUBIC, ns_dtype=torch.float32)
    opt_flat = Muon([flat], lr=0.1, ns_coefficients=CUBIC, ns_dtype=torch.float32)
    grad = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        conv.weight.grad, flat.grad = grad.clone(), grad.reshape(8, 27).clone()
        opt_conv.step()
        opt_flat.step()
    torch.testing.assert_close(conv.weight.detach().reshape(8, 27), flat.detach())


def test_biases_go_to_the_fallback_and_both_step():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    before = copy.deepcopy(model)
    opt = Muon(model.parameters(), lr=0.01, fallback=lambda ps: torch.optim.SGD(ps, lr=0.5))
    assert isinstance(opt.fallback, torch.optim.SGD)
    # one group given: its matrices (for Muon), then its vectors (shared
    # with the fallback)
    assert [[p.ndim for p in g["params"]] for g in opt.param_groups] == [[2, 2], [1, 1]]
    model(torch.randn(5, 4)).sum().backward()
    bias_grad = model[0].bias.grad.clone()
    opt.step()
    torch.testing.assert_close(model[0].bias, before[0].bias - 0.5 * bias_grad)
    assert not torch.equal(model[0].weight, before[0].weight)
    opt.zero_grad()
    assert model[0].bias.grad is None and model[0].weight.grad is None
    state = opt.state_dict()
    assert "fallback" in state
    opt.load_state_dict(state)


def test_muon_svd_steps_by_the_exact_polar_factor():
    w = nn.Parameter(torch.randn(10, 7, dtype=torch.float64))
    w0 = w.detach().clone()
    grad = torch.randn(10, 7, dtype=torch.float64)
    opt = MuonSVD([w], lr=0.1, weight_decay=0.0, momentum=0.0, nesterov=False)
    w.grad = grad
    opt.step()
    expected = w0 - 0.1 * math.sqrt(10 / 7) * svd_orthogonalize(grad)
    torch.testing.assert_close(w.detach(), expected)


def test_functional_core_with_summed_momentum_gives_the_same_step():
    """The notebook's buffer B <- mu B + G and ours (an average) differ by the
    factor 1 - mu, which orthogonalization removes."""
    g1, g2 = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    w = torch.zeros(6, 4, dtype=torch.float64)
    buf = torch.zeros_like(w)
    for g in (g1, g2):
        muon([w], [g], [buf], lr=1.0, weight_decay=0.0, momentum=0.9, nesterov=False,
             orthogonalize=svd_orthogonalize)
    summed = 0.9 * g1 + g2
    expected = -math.sqrt(1.5) * (svd_orthogonalize(g1) + svd_orthogonalize(summed))
    torch.testing.assert_close(w, expected)


def test_spectral_sgd_moves_each_layer_by_the_prescribed_spectral_norm():
    weights = [torch.randn(30, 10, dtype=torch.float64), torch.randn(5, 30, dtype=torch.float64)]
    grads = [torch.randn_like(w) for w in weights]
    before = [w.clone() for w in weights]
    spectral_sgd(weights, grads, lr=0.5, num_layers=2)
    for w, w0 in zip(weights, before):
        d_out, d_in = w.shape
        step = torch.linalg.matrix_norm(w - w0, ord=2)
        assert float(step) == pytest.approx(0.5 / 2 * math.sqrt(d_out / d_in))


def test_spectral_sgd_optimizer_counts_layers_and_ignores_zero_gradients():
    model = nn.Sequential(nn.Linear(8, 16, bias=False), nn.Linear(16, 4, bias=False))
    opt = SpectralSGD(model.parameters(), lr=0.3)
    assert opt.param_groups[0]["num_layers"] == 2
    before = model[0].weight.detach().clone()
    model[0].weight.grad = torch.zeros_like(before)
    opt.step()
    assert torch.equal(model[0].weight.detach(), before)
    with pytest.raises(ValueError, match="bias=False"):
        SpectralSGD(nn.Linear(3, 3).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="num_layers"):
        SpectralSGD(model.parameters(), lr=0.1, num_layers=0)


@pytest.mark.parametrize("shape", [(20, 5), (5, 20), (8, 8)])
def test_spectral_init_has_the_prescribed_norm_and_singular_values(shape):
    w = spectral_init_(torch.empty(shape, dtype=torch.float64), seed=3)
    s = torch.linalg.svdvals(w)
    torch.testing.assert_close(s, torch.full_like(s, math.sqrt(shape[0] / shape[1])))
    assert torch.equal(w, spectral_init_(torch.empty(shape, dtype=torch.float64), seed=3))


def test_spectral_init_rejects_bad_weights():
    with pytest.raises(ValueError, match="weight"):
        spectral_init_(torch.empty(3))
    with pytest.raises(ValueError, match="weight"):
        spectral_init_(torch.empty(0, 3))
    with pytest.raises(TypeError, match="weight"):
        spectral_init_(torch.empty(3, 3, dtype=torch.int32))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-1.0), "lr"),
        (dict(momentum=1.0), "momentum"),
        (dict(momentum=-0.1), "momentum"),
        (dict(weight_decay=-1e-3), "weight_decay"),
        (dict(ns_steps=-1), "ns_steps"),
        (dict(adjust_lr_fn="bogus"), "adjust_lr_fn"),
        (dict(lr=float("nan")), "lr"),
        (dict(lr="0.01"), "lr"),
        (dict(ns_coefficients=(1.0, 2.0)), "ns_coefficients"),
        (dict(ns_coefficients="abc"), "ns_coefficients"),
        (dict(ns_coefficients=(3.0, float("inf"), 0.0)), "ns_coefficients"),
        (dict(eps=-1.0), "eps"),
        (dict(eps=float("nan")), "eps"),
        (dict(frobenius_norm=0.0), "frobenius_norm"),
        (dict(frobenius_norm=float("inf")), "frobenius_norm"),
    ],
)
def test_muon_rejects_bad_hyperparameters(kwargs, match):
    # refused at the call, by name (several of these used to fail only at
    # the first step, deep inside newton_schulz or torch)
    with pytest.raises(ValueError, match=match):
        Muon([nn.Parameter(torch.ones(2, 2))], **kwargs)
    with pytest.raises(ValueError, match=match):  # the same in a group
        Muon([{"params": [nn.Parameter(torch.ones(2, 2))], **kwargs}])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ns_dtype=torch.int32), "ns_dtype"),
        (dict(ns_dtype="bfloat16"), "ns_dtype"),
        (dict(nesterov="no"), "nesterov"),
        (dict(fallback=3), "fallback"),
    ],
)
def test_muon_rejects_arguments_of_the_wrong_type(kwargs, match):
    with pytest.raises(TypeError, match=match):
        Muon([nn.Parameter(torch.ones(2, 2))], **kwargs)


def test_muon_takes_numpy_scalars_as_numbers():
    import numpy as np

    Muon([nn.Parameter(torch.ones(2, 2))], lr=np.float32(0.01), momentum=np.float64(0.9))


def test_muon_rejects_bad_parameters():
    with pytest.raises(ValueError, match="fallback"):
        Muon(nn.Linear(3, 3).parameters())
    with pytest.raises(ValueError, match="params"):
        Muon([nn.Parameter(torch.ones(3))], fallback=lambda ps: torch.optim.SGD(ps, lr=0.1))
    with pytest.raises(TypeError, match="params"):
        Muon([nn.Parameter(torch.ones(2, 2, dtype=torch.complex64))])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_muon_on_half_precision_weights_stays_finite(dtype):
    w = nn.Parameter(torch.randn(16, 8).to(dtype))
    opt = Muon([w], lr=0.01)
    w.grad = torch.randn(16, 8).to(dtype)
    opt.step()
    assert w.dtype == dtype and torch.isfinite(w).all()


def test_muon_skips_zero_size_parameters():
    w = nn.Parameter(torch.ones(0, 4))
    opt = Muon([w], lr=0.01)
    w.grad = torch.ones(0, 4)
    opt.step()
    assert w.shape == (0, 4)
