"""Every seeded function of dlbook leaves the caller's random state alone.

A function with a ``seed`` argument must give the same result for the same
seed whatever the global generators hold, and must leave Python's, NumPy's
and torch's global states exactly as it found them. Every such public
function is found by introspection and must have a cheap call below, so a new
seeded function cannot escape the check.
"""

import importlib
import inspect
import json
import pkgutil
import random
import tempfile

import numpy as np
import pytest
import torch

import dlbook
from dlbook import runtime


def _seeded_functions():
    found = {}
    for info in pkgutil.walk_packages(dlbook.__path__, "dlbook."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:          # an extra that is not installed
            continue
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (inspect.isfunction(obj) and obj.__module__ == module.__name__
                    and "seed" in inspect.signature(obj).parameters and name != "seed_everything"):
                found[f"{module.__name__}.{name}"] = obj
    return found


# Each entry builds a call's inputs (which may draw from the global generators,
# e.g. a model's initialization) and returns the call itself, to be checked.

def _tiny_autoencoder_call(fn, seed):
    from dlbook.autoencoders import Autoencoder

    x = torch.randn(12, 6, generator=torch.Generator().manual_seed(1))
    if fn.__name__ == "train_autoencoder":
        torch.manual_seed(0)
        model = Autoencoder(6, 2)
        return lambda: fn(model, x, corruption="noise", epochs=1, batch_size=4, seed=seed)
    y = (x[:, 0] > 0).long()
    return lambda: fn(x, x, y, x, y, latent_sizes=[2], corruptions=("none", "mask"),
                      seed=seed, epochs=1, batch_size=4)[0]


def _tiny_molecule_call(fn, seed):
    from dlbook.molecules import MoleculeGNN, mol_to_graph

    graphs = [mol_to_graph(smiles) for smiles in ("CCO", "c1ccccc1", "CC(=O)O", "CCN")]
    targets = np.array([0.1, -1.0, 0.5, 0.2])
    torch.manual_seed(0)
    model = MoleculeGNN()
    return lambda: fn(model, graphs[:3], targets[:3], graphs[3:], targets[3:], epochs=1,
                      batch_size=2, seed=seed)


def _tiny_marker_call(fn, seed):
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(16) % 10
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    kwargs = {"epochs": 1, "batch_size": 8} if fn.__name__ == "train_with_marker" else {}
    return lambda: fn(model, images, labels, seed=seed, **kwargs)


def _tiny_train_call(fn, seed):
    inputs = torch.rand(16, 4, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(16) % 2
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5),
                                torch.nn.Linear(8, 2))
    return lambda: fn(model, (inputs, labels), epochs=2, batch_size=4, seed=seed,
                      device="cpu").train_loss


CALLS = {
    "dlbook.autoencoders.train_autoencoder": _tiny_autoencoder_call,
    "dlbook.autoencoders.sweep_latent_sizes": _tiny_autoencoder_call,
    "dlbook.conv.sample_weight_gradients": lambda f, s: lambda: f(4, 2, trials=3, seed=s),
    "dlbook.data.random_graphs.random_graph": lambda f, s: lambda: f(6, 0.5, seed=s),
    "dlbook.data.random_graphs.random_edge_index": lambda f, s: lambda: f(50, 4, seed=s),
    "dlbook.data.random_graphs.random_regular_edge_index": lambda f, s: lambda: f(6, 2, seed=s),
    "dlbook.data.random_graphs.random_regular_graph": lambda f, s: lambda: f(6, 2, seed=s),
    "dlbook.data.solubility.train_validation_split": lambda f, s: lambda: f(10, seed=s),
    "dlbook.data.synthetic.autoencoder_data": lambda f, s: lambda: f(50, dim=8, n_informative=3,
                                                                     seed=s),
    "dlbook.data.vision.digits_8x8": lambda f, s: lambda: f(seed=s),
    "dlbook.data.edges.edge_images": lambda f, s: lambda: f(2, n_classes=5, seed=s),
    "dlbook.data.edges.pixel_permutation": lambda f, s: lambda: f(4, seed=s),
    "dlbook.edges.fit": lambda f, s: lambda: f(
        "cnn", (torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(4)),
                torch.arange(6) % 3), (torch.zeros(3, 1, 12, 12), torch.arange(3)),
        epochs=2, batch_size=2, seed=s, device="cpu", kernel_size=3),
    "dlbook.data.archives.write_stand_ins": lambda f, s: lambda: json.loads(
        (f(tempfile.mkdtemp(), n_train=5, n_test=1, seed=s) / "STAND-IN.json").read_text())["md5"],
    "dlbook.linalg.power_iteration": lambda f, s: lambda: f(torch.ones(5, 4), 3, seed=s),
    "dlbook.linalg.random_orthogonal": lambda f, s: lambda: f(5, 3, seed=s),
    "dlbook.optim.spectral_init_": lambda f, s: lambda: f(torch.empty(5, 3), seed=s),
    "dlbook.models.make_cnn": lambda f, s: lambda: list(f(1, 3, image_size=8, seed=s).parameters()),
    "dlbook.models.make_mlp": lambda f, s: lambda: list(f(1, 3, image_size=8, seed=s).parameters()),
    "dlbook.models.make_muon_cnn": lambda f, s: lambda: list(f(1, 3, image_size=8, seed=s).parameters()),
    "dlbook.graphs.message_passing.is_permutation_invariant": lambda f, s: lambda: f(
        lambda own, msgs: own + msgs.sum(0), torch.zeros(2),
        torch.arange(16.0).reshape(8, 2), trials=3, seed=s),
    "dlbook.molecules.train_molecule_gnn": _tiny_molecule_call,
    "dlbook.regularization.evaluate_marker_reliance": _tiny_marker_call,
    "dlbook.regularization.train_dropout_regression": lambda f, s: lambda: f(
        np.array([[10.0, 1.0]]), np.array([11.0]), 0.5, steps=5, seed=s),
    "dlbook.regularization.train_with_marker": _tiny_marker_call,
    "dlbook.train.train": _tiny_train_call,
    "dlbook.debugging.make_deep_net": lambda f, s: lambda: list(
        f(4, 3, residual=True, seed=s).parameters()),
    "dlbook.debugging.sgd_loop": lambda f, s: lambda: f(
        importlib.import_module("dlbook.debugging").make_deep_net(
            2, 4, residual=False, in_shape=(1, 2, 2), num_classes=2, seed=0),
        torch.rand(8, 1, 2, 2, generator=torch.Generator().manual_seed(5)),
        torch.arange(8) % 2, lr=0.1, batch_size=4, steps=3, seed=s),
}
SEEDED = _seeded_functions()


def _states():
    return random.getstate(), np.random.get_state(), torch.get_rng_state().clone()


def _assert_same_states(before, after, name):
    assert before[0] == after[0], f"{name} changed Python's global random state"
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(before[1], after[1])), \
        f"{name} changed NumPy's global random state"
    assert torch.equal(before[2], after[2]), f"{name} changed torch's global generator"


def test_every_seeded_function_has_a_call_here():
    assert set(SEEDED) <= set(CALLS), sorted(set(SEEDED) - set(CALLS))
    assert "dlbook.autoencoders.train_autoencoder" in SEEDED


def _as_comparable(result):
    if isinstance(result, torch.Tensor):
        return result.detach().double().numpy()
    if isinstance(result, np.ndarray) or np.isscalar(result):
        return result
    if isinstance(result, (list, tuple)):
        return [_as_comparable(item) for item in result]
    if isinstance(result, dict):
        return {key: _as_comparable(value) for key, value in result.items()}
    if hasattr(result, "__dataclass_fields__"):
        return {key: _as_comparable(getattr(result, key)) for key in result.__dataclass_fields__
                if key != "seconds"}                     # wall time is not seeded
    return repr(result)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_seeded_function_leaves_global_states_alone_and_ignores_them(name):
    if name not in SEEDED:
        pytest.skip(f"{name} is not importable here (extra not installed)")
    fn, call = SEEDED[name], CALLS[name]
    results = []
    for global_seed in (0, 12345):
        thunk = call(fn, 7)               # inputs are built from fixed seeds ...
        runtime.seed_everything(global_seed)
        before = _states()
        results.append(_as_comparable(thunk()))
        after = _states()                 # ... and the call leaves every global state as it was
        _assert_same_states(before, after, name)
    # The same seed gives the same result whatever the global generators held.
    np.testing.assert_equal(results[0], results[1])


def test_global_rng_preserved_restores_all_three_generators():
    runtime.seed_everything(3)
    before = _states()
    with runtime.global_rng_preserved():
        random.random(), np.random.rand(), torch.rand(1)
        runtime.seed_everything(99)
    _assert_same_states(before, _states(), "global_rng_preserved")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    runtime.seed_everything(3)
    assert expected == (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_decorator_seeds_from_the_argument_and_refuses_functions_without_seed():
    @runtime.preserves_global_rng
    def draw(n, *, seed=0):
        return torch.rand(n), float(np.random.rand()), random.random()

    first, second = draw(3, seed=5), draw(3, seed=5)
    assert torch.equal(first[0], second[0]) and first[1:] == second[1:]
    assert not torch.equal(draw(3, seed=6)[0], first[0])
    with pytest.raises(TypeError, match="has no seed parameter"):
        runtime.preserves_global_rng(lambda n: n)
