"""dlbook.optim.Muon is one optimizer to every PyTorch tool: every parameter
is in ``param_groups`` with its group's options, so schedulers, GradScaler,
state dicts and added groups reach the fallback's parameters too. Each test
compares with what plain ``torch.optim`` optimizers do with the same groups."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlbook.optim import Muon, MuonSVD, SpectralSGD


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))


def _backward(model, seed=0, scaler=None):
    g = torch.Generator().manual_seed(seed)
    loss = model(torch.randn(5, 4, generator=g)).pow(2).sum()
    (loss if scaler is None else scaler.scale(loss)).backward()


def _adamw(groups):
    return torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.0)


def _sgd(groups):
    return torch.optim.SGD(groups, lr=0.5)


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_every_parameter_is_in_param_groups_once():
    model = _net()
    opt = Muon(model.parameters(), fallback=_adamw)
    listed = [p for g in opt.param_groups for p in g["params"]]
    assert len(listed) == len(set(listed)) == 4
    assert set(listed) == set(model.parameters())
    kinds = {p.ndim: g["use_muon"] for g in opt.param_groups for p in g["params"]}
    assert kinds == {2: True, 1: False}
    # the fallback's groups are the very dicts in param_groups
    assert all(any(f is g for g in opt.param_groups) for f in opt.fallback.param_groups)


def test_a_scheduler_that_sets_lr_to_zero_stops_every_parameter():
    # the case: LambdaLR(opt, lambda s: 0.0) then one step left the
    # weights but moved the biases (the fallback's lr was untouched)
    model = _net()
    before = copy.deepcopy(model)
    opt = Muon(model.parameters(), lr=0.02, fallback=_adamw)
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.0)
    _backward(model)
    opt.step()
    assert _same(model, before)


def test_group_options_hold_for_the_fallback_too():
    # the case: lr 0 in the first group must freeze a.bias as well,
    # as torch.optim.AdamW given the same groups freezes its whole group
    a, b = nn.Linear(4, 4), nn.Linear(4, 2)
    a0, b0 = copy.deepcopy(a), copy.deepcopy(b)
    opt = Muon(
        [{"params": a.parameters(), "lr": 0.0, "weight_decay": 0.0},
         {"params": b.parameters(), "lr": 0.02}],
        fallback=_adamw,
    )
    b(a(torch.randn(3, 4))).sum().backward()
    opt.step()
    assert torch.equal(a.weight, a0.weight) and torch.equal(a.bias, a0.bias)
    assert not torch.equal(b.weight, b0.weight)
    assert not torch.equal(b.bias, b0.bias)
    # the second group's lr (0.02) reached AdamW's bias: one Adam step moves
    # each entry by lr (sign of the gradient) when weight decay is 0
    fallback_group = next(g for g in opt.fallback.param_groups if g["params"][0] is b.bias)
    assert fallback_group["lr"] == 0.02
    torch.testing.assert_close((b.bias - b0.bias).abs(), torch.full((2,), 0.02))


def test_constructor_options_stay_with_their_own_optimizer():
    # Muon's lr does not leak into the fallback, nor the fallback's into Muon
    model = _net()
    opt = Muon(model.parameters(), lr=0.05, fallback=lambda g: torch.optim.SGD(g, lr=0.5))
    lrs = {g["use_muon"]: g["lr"] for g in opt.param_groups}
    assert lrs == {True: 0.05, False: 0.5}


def test_grad_scaler_unscales_the_fallback_gradients():
    # with a plain SGD fallback an unscaled gradient would step 1024x too far
    runs = []
    for scale in (None, 1024.0):
        model = _net()
        opt = Muon(model.parameters(), lr=0.02, fallback=_sgd)
        if scale is None:
            _backward(model)
            opt.step()
        else:
            scaler = torch.amp.GradScaler("cpu", init_scale=scale)
            _backward(model, scaler=scaler)
            scaler.step(opt)
            scaler.update()
        runs.append(model)
    for p, q in zip(runs[0].parameters(), runs[1].parameters()):
        torch.testing.assert_close(p, q)


def test_clipping_by_group_reaches_the_biases():
    model = _net()
    opt = Muon(model.parameters(), fallback=_sgd)
    _backward(model)
    for group in opt.param_groups:
        torch.nn.utils.clip_grad_norm_(group["params"], 1e-3)
    assert all(
        p.grad.norm() <= 1e-3 * (1 + 1e-5) for g in opt.param_groups for p in g["params"]
    )


@pytest.mark.parametrize("kind", [Muon, MuonSVD])
def test_state_dict_round_trip_continues_the_same_run(kind):
    def make(model):
        return kind(model.parameters(), lr=0.02, fallback=_adamw)

    def steps(model, opt, seeds):
        for seed in seeds:
            model.zero_grad()
            _backward(model, seed=seed)
            opt.step()

    straight = _net()
    steps(straight, make(straight), range(3))

    resumed = _net()
    opt = make(resumed)
    steps(resumed, opt, range(2))
    fresh = make(resumed)
    fresh.load_state_dict(copy.deepcopy(opt.state_dict()))
    steps(resumed, fresh, [2])
    assert _same(straight, resumed)
    # after loading, the groups are shared again: a scheduler reaches both
    assert all(any(f is g for g in fresh.param_groups) for f in fresh.fallback.param_groups)
    torch.optim.lr_scheduler.LambdaLR(fresh, lambda step: 0.0)
    before = copy.deepcopy(resumed)
    _backward(resumed, seed=3)
    fresh.step()
    assert _same(resumed, before)


def test_an_added_group_is_split_as_the_constructor_splits():
    a, b = nn.Linear(3, 3), nn.Linear(3, 2)
    opt = Muon(a.parameters(), fallback=_sgd)
    opt.add_param_group({"params": b.parameters(), "lr": 0.0})
    assert len(opt.param_groups) == 4
    assert len(opt.fallback.param_groups) == 2
    b0 = copy.deepcopy(b)
    b(a(torch.randn(2, 3))).sum().backward()
    opt.step()
    assert torch.equal(b.weight, b0.weight) and torch.equal(b.bias, b0.bias)


def test_an_added_group_without_a_fallback_is_refused_like_the_constructor():
    opt = Muon(nn.Linear(3, 3, bias=False).parameters())
    with pytest.raises(ValueError, match="params: 1 parameter.*fallback"):
        opt.add_param_group({"params": nn.Linear(3, 2).parameters()})
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(2, 2))], "lr": -1.0})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([nn.Parameter(torch.ones(2, 2))])


def test_use_muon_routes_a_group_and_is_checked():
    emb, head = nn.Embedding(10, 4), nn.Linear(4, 3)
    opt = Muon(
        [{"params": emb.parameters(), "use_muon": False}, {"params": head.parameters()}],
        fallback=_adamw,
    )
    assert [g["use_muon"] for g in opt.param_groups] == [False, True, False]
    assert opt.fallback.param_groups[0]["params"] == [emb.weight]
    with pytest.raises(ValueError, match="use_muon=True"):
        Muon([{"params": head.parameters(), "use_muon": True}], fallback=_adamw)


def test_named_parameters_are_accepted_as_in_torch_optim():
    model = _net()
    opt = Muon(model.named_parameters(), fallback=_adamw)
    names = [n for g in opt.param_groups for n in g["param_names"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())
    _backward(model)
    opt.step()


def test_a_fallback_that_copies_its_groups_is_refused():
    class Copying(torch.optim.SGD):
        def add_param_group(self, group):
            super().add_param_group(dict(group))

    with pytest.raises(TypeError, match="fallback must keep the parameter-group dicts"):
        Muon(_net().parameters(), fallback=lambda g: Copying(g, lr=0.1))


def test_loading_a_state_saved_without_a_fallback_is_refused():
    with_bias = Muon(_net().parameters(), fallback=_adamw)
    without = Muon(nn.Linear(4, 6, bias=False).parameters())
    with pytest.raises(ValueError, match="state_dict"):
        with_bias.load_state_dict(without.state_dict())


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(
        st.sampled_from([(3,), (4, 3), (2, 3, 3), (5,), (3, 4)]), min_size=1, max_size=6
    ),
    cuts=st.lists(st.booleans(), min_size=6, max_size=6),
    frozen=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_any_grouping_lists_every_parameter_and_honours_lr(shapes, cuts, frozen):
    # split the parameters into groups at random; a group with lr 0 must not
    # move, whatever the kinds of parameter in it, and every other must
    torch.manual_seed(0)
    params = [nn.Parameter(torch.randn(s)) for s in shapes]
    groups, current = [], []
    for p, cut in zip(params, cuts):
        current.append(p)
        if cut:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    if not any(p.ndim >= 2 for p in params):
        return  # Muon refuses this (tested elsewhere)
    spec = [
        {"params": g, "lr": 0.0 if frozen[i] else 0.05, "weight_decay": 0.0}
        for i, g in enumerate(groups)
    ]
    opt = Muon(spec, fallback=lambda g: torch.optim.SGD(g, lr=0.3))
    listed = [p for g in opt.param_groups for p in g["params"]]
    assert len(listed) == len(params) and set(listed) == set(params)
    before = [p.detach().clone() for p in params]
    sum((p**2).sum() for p in params).backward()
    opt.step()
    group_of = {id(p): i for i, g in enumerate(groups) for p in g}
    for p, b in zip(params, before):
        assert torch.equal(p, b) == frozen[group_of[id(p)]], p.shape


def test_spectral_sgd_checks_an_added_group_as_its_constructor():
    opt = SpectralSGD(nn.Linear(3, 3, bias=False).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="only 2-D weights"):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(3))]})
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(2, 2))], "lr": -0.1})
    with pytest.raises(ValueError, match="num_layers"):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(2, 2))], "num_layers": 0})
    w = nn.Parameter(torch.ones(2, 2))
    opt.add_param_group({"params": [w], "lr": 0.0})
    w.grad = torch.eye(2)
    opt.step()
    assert torch.equal(w, torch.ones(2, 2))  # its own lr, 0, held
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["num_layers"] == 1
