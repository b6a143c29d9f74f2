"""dlbook.autoencoders and dlbook.data.synthetic against independent references:
SciPy's subspace angles, NumPy's eigendecomposition, autograd gradients, and
the closed-form optimum of the (regularized) linear autoencoder."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import subspace_angles

from dlbook import autoencoders as ae
from dlbook.data import AutoencoderData, autoencoder_data

# ---------------------------------------------------------------- synthetic data


def test_autoencoder_data_shapes_splits_and_types():
    data = autoencoder_data(1_000, seed=0)
    assert isinstance(data, AutoencoderData) and data.dim == 100
    assert [len(t) for t in (data.x_train, data.x_val, data.x_test)] == [700, 200, 100]
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert set(torch.cat([data.y_train, data.y_val, data.y_test]).tolist()) <= {0, 1}
    assert data.rotation.shape == (100, 100)


def test_autoencoder_data_label_rule_and_variances():
    data = autoencoder_data(4_000, dim=30, n_informative=5, scale=10.0, seed=3)
    q = data.rotation.double()
    np.testing.assert_allclose((q @ q.T).numpy(), np.eye(30), atol=1e-6)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        h = x.double() @ q.T                                   # undo the rotation
        assert torch.equal((h[:, :5].sum(1) > 0).long(), y)
    h = data.x_train.double() @ q.T
    std = h.std(0)
    assert torch.all((std[:5] > 9) & (std[:5] < 11)) and torch.all((std[5:] > 0.9) & (std[5:] < 1.1))
    # The rotation hides the structure: no raw coordinate has the informative variance.
    assert float(data.x_train.double().std(0).max()) < 9


def test_autoencoder_data_is_seeded():
    a, b, c = autoencoder_data(300, seed=1), autoencoder_data(300, seed=1), autoencoder_data(300, seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.rotation, b.rotation)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_samples": 10.5}, TypeError, "n_samples must be an integer"),
    ({"dim": 1}, ValueError, "dim must be at least 2"),
    ({"n_informative": 0}, ValueError, "n_informative"),
    ({"n_informative": 101}, ValueError, "n_informative"),
    ({"scale": 0.0}, ValueError, "scale must be positive"),
    ({"fractions": (0.5, 0.5)}, ValueError, "fractions"),
    ({"fractions": (0.7, 0.2, 0.2)}, ValueError, "fractions"),
    ({"n_samples": 5}, ValueError, "empty split"),
])
def test_autoencoder_data_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        autoencoder_data(**{"n_samples": 100, **kwargs})


# ---------------------------------------------------------------- corruption


def test_masking_zeroes_the_requested_fraction():
    x = torch.ones(400, 250)
    g = torch.Generator().manual_seed(0)
    masked = ae.corrupt(x, "mask", mask_rate=0.25, generator=g)
    assert set(masked.unique().tolist()) == {0.0, 1.0}               # no rescaling
    assert abs(float((masked == 0).float().mean()) - 0.25) < 0.01    # 100,000 draws: sd 0.0014


def test_noise_has_the_requested_std_and_zero_mean():
    x = torch.full((400, 250), 3.0)
    noisy = ae.corrupt(x, "noise", noise_std=0.5, generator=torch.Generator().manual_seed(1))
    diff = noisy - x
    assert abs(float(diff.std()) - 0.5) < 0.01 and abs(float(diff.mean())) < 0.01


def test_no_corruption_and_seeded_corruption():
    x = torch.randn(10, 4)
    assert ae.corrupt(x, "none") is x
    a = ae.corrupt(x, "noise", generator=torch.Generator().manual_seed(5))
    b = ae.corrupt(x, "noise", generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "blur"}, "mode must be one of"),
    ({"mode": "noise", "noise_std": -1.0}, "noise_std"),
    ({"mode": "mask", "mask_rate": 1.0}, "mask_rate"),
])
def test_corrupt_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ae.corrupt(torch.zeros(2, 2), **kwargs)


# ---------------------------------------------------------------- model, training, probe


def test_autoencoder_shapes_and_linear_mode():
    model = ae.Autoencoder(7, 3, activation="linear", bias=False)
    x = torch.randn(5, 7)
    assert model.encode(x).shape == (5, 3) and model(x).shape == (5, 7)
    w1, w2 = model.encoder.weight, model.decoder.weight
    torch.testing.assert_close(model(x), x @ (w2 @ w1).T)
    relu = ae.Autoencoder(7, 3)
    assert (relu.encode(x) >= 0).all()


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((0, 3), {}, ValueError, "input_dim must be at least 1"),
    ((4, 2.0), {}, TypeError, "latent_dim must be an integer"),
    ((4, 2), {"activation": "tanh"}, ValueError, "activation"),
])
def test_autoencoder_rejects_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ae.Autoencoder(*args, **kwargs)


def test_training_lowers_the_loss_and_is_seeded():
    data = autoencoder_data(600, dim=10, n_informative=3, seed=0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = ae.Autoencoder(10, 3, activation="linear")
        before = ae.reconstruction_error(model, data.x_test)
        losses = ae.train_autoencoder(model, data.x_train, corruption="mask", epochs=5, lr=1e-2)
        runs.append(losses)
        assert len(losses) == 5 and losses[-1] < losses[0]
        assert ae.reconstruction_error(model, data.x_test) < before
    assert runs[0] == runs[1]


def test_loss_plateaued_compares_window_means():
    assert not ae.loss_plateaued([5.0, 4.0, 3.0], 2)                     # shorter than two windows
    assert ae.loss_plateaued([9.0, 3.0, 2.0, 2.0, 2.0, 2.0], 2)          # only the last 4 count
    assert not ae.loss_plateaued([4.0, 4.0, 3.0, 3.0], 2, rtol=0.3)      # drop 1 > 0.3 * 3
    assert ae.loss_plateaued([4.0, 4.0, 3.0, 3.0], 2, rtol=0.34)         # drop 1 <= 0.34 * 3
    assert ae.loss_plateaued([1e-3, 1e-3, 0.0, 0.0], 2, atol=1e-3)       # absolute floor
    assert not ae.loss_plateaued([0.0, 0.0, 1.0, 1.0], 2, rtol=0.5)      # a rise is not flat either
    assert ae.loss_plateaued(np.array([2.0, 1.0, 1.0, 2.0]), 2)          # noisy but equal means
    with pytest.raises(ValueError, match="window must be at least 1"):
        ae.loss_plateaued([1.0], 0)
    with pytest.raises(ValueError, match="rtol >= 0"):
        ae.loss_plateaued([1.0], 1, rtol=-1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        ae.loss_plateaued(np.ones((2, 2)), 1)


def test_training_stops_once_the_curve_is_flat():
    data = autoencoder_data(600, dim=10, n_informative=3, seed=0)
    torch.manual_seed(0)
    full = ae.train_autoencoder(ae.Autoencoder(10, 3, activation="linear"), data.x_train,
                                epochs=60, lr=1e-2)
    torch.manual_seed(0)
    stopped = ae.train_autoencoder(ae.Autoencoder(10, 3, activation="linear"), data.x_train,
                                   epochs=60, lr=1e-2, stop_window=3, stop_rtol=0.01)
    # It stops at the first epoch where the rule holds, and the epochs it ran match the full run.
    first = next(e for e in range(1, 61) if ae.loss_plateaued(full[:e], 3, rtol=0.01))
    assert len(stopped) == first < 60 and stopped == full[:first]
    with pytest.raises(ValueError, match="rtol >= 0"):
        ae.train_autoencoder(ae.Autoencoder(10, 3), data.x_train, stop_window=3, stop_rtol=-0.1)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"x": torch.zeros(5, 4)}, ValueError, "columns but the model expects"),
    ({"x": torch.zeros(5, 3, dtype=torch.int64)}, TypeError, "floating-point"),
    ({"x": np.zeros((5, 3))}, TypeError, "x must be a torch.Tensor"),
    ({"epochs": 0}, ValueError, "epochs must be at least 1"),
    ({"lr": 0.0}, ValueError, "lr > 0"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
    ({"corruption": "blur"}, ValueError, "mode must be one of"),
])
def test_training_rejects_bad_arguments(kwargs, error, match):
    model = ae.Autoencoder(3, 2)
    args = {"x": torch.zeros(5, 3), **kwargs}
    with pytest.raises(error, match=match):
        ae.train_autoencoder(model, **args)
    with pytest.raises(TypeError, match="model must be an Autoencoder"):
        ae.train_autoencoder(torch.nn.Linear(3, 3), torch.zeros(5, 3))


def test_linear_probe_matches_sklearn_on_identity_features():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = autoencoder_data(1_000, dim=8, n_informative=2, seed=0)
    model = ae.Autoencoder(8, 8, activation="linear", bias=False)
    with torch.no_grad():
        model.encoder.weight.copy_(torch.eye(8))
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000))
    reference.fit(data.x_val.double().numpy(), data.y_val.numpy())
    expected = reference.score(data.x_test.double().numpy(), data.y_test.numpy())
    got = ae.linear_probe(model, data.x_val, data.y_val, data.x_test, data.y_test)
    assert got == pytest.approx(expected) and got > 0.95      # the label is linear in x
    with pytest.raises(ValueError, match="x_fit has 200 rows but y_fit has 3"):
        ae.linear_probe(model, data.x_val, data.y_val[:3], data.x_test, data.y_test)


# ---------------------------------------------------------------- principal angles and PCA


@st.composite
def subspace_pair(draw):
    m = draw(st.integers(2, 8))
    p, q = draw(st.integers(1, m)), draw(st.integers(1, m))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, p)), rng.standard_normal((m, q))


@given(subspace_pair())
def test_principal_angles_match_scipy(pair):
    a, b = pair
    # atol ~ sqrt(machine eps): where two subspaces intersect (a true angle of 0), SciPy
    # can return ~1.5e-8 while the sine-based formula here returns ~1e-16.
    np.testing.assert_allclose(ae.principal_angles(a, b), np.sort(subspace_angles(a, b)), atol=5e-8)


def test_principal_angles_are_accurate_for_tiny_angles_and_torch_in_torch_out():
    rng = np.random.default_rng(0)
    a = np.linalg.qr(rng.standard_normal((6, 2)))[0]
    b = a + 1e-9 * rng.standard_normal((6, 2))
    np.testing.assert_allclose(ae.principal_angles(a, b), np.sort(subspace_angles(a, b)), rtol=1e-4)
    assert ae.principal_angles(a, b).max() < 1e-8            # arccos alone would give ~1e-8 noise
    got = ae.principal_angles(torch.from_numpy(a), torch.from_numpy(b))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(ae.principal_angles(np.eye(3)[:, :1], np.eye(3)[:, 1:]), [np.pi / 2] * 1)


@pytest.mark.parametrize("a, b, error, match", [
    (np.zeros((3, 1)), np.eye(3), ValueError, "a has rank 0"),
    (np.eye(3), np.eye(4), ValueError, "same number of rows"),
    (np.zeros(3), np.eye(3), ValueError, "2-D"),
    ([[1.0]], np.eye(1), TypeError, "numpy.ndarray or torch.Tensor"),
])
def test_principal_angles_reject_bad_input(a, b, error, match):
    with pytest.raises(error, match=match):
        ae.principal_angles(a, b)


def test_principal_directions_match_numpy_eigh():
    data = autoencoder_data(2_000, dim=12, n_informative=3, seed=4)
    x = data.x_train.double().numpy()
    directions, variances = ae.principal_directions(x, 4)
    centred = x - x.mean(0)
    evals, evecs = np.linalg.eigh(centred.T @ centred / len(x))
    np.testing.assert_allclose(variances, evals[::-1][:4], rtol=1e-10)
    assert ae.principal_angles(directions, evecs[:, ::-1][:, :4]).max() < 1e-8
    with pytest.raises(ValueError, match="k must be at most"):
        ae.principal_directions(x, 13)


def test_trained_linear_autoencoder_spans_the_top_principal_subspace():
    torch.manual_seed(0)
    data = autoencoder_data(3_000, dim=20, n_informative=4, scale=5.0, seed=0)
    x = data.x_train - data.x_train.mean(0)
    model = ae.Autoencoder(20, 4, activation="linear", bias=False)
    ae.train_autoencoder(model, x, epochs=30, lr=1e-2)
    top, _ = ae.principal_directions(x.double().numpy(), 4)
    decoder = model.decoder.weight.detach().double().numpy()
    encoder_rows = model.encoder.weight.detach().double().numpy().T
    assert np.degrees(ae.principal_angles(decoder, top)).max() < 2.0
    assert np.degrees(ae.principal_angles(encoder_rows, top)).max() < 2.0


# ---------------------------------------------------------------- linear-autoencoder theory


def test_objective_gradients_match_autograd_and_vanish_at_the_optimum():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 6)) * np.array([5, 4, 3, 1, 0.5, 0.2])
    x -= x.mean(0)
    for lam in (0.0, 0.3):
        w1, w2 = (torch.tensor(w, requires_grad=True) for w in ae.regularized_optimum(x, 2, lam))
        xt = torch.from_numpy(x)
        loss = ((xt.T - w2 @ w1 @ xt.T) ** 2).sum() / len(x) + lam * ((w1**2).sum() + (w2**2).sum())
        assert float(loss.detach()) == pytest.approx(
            ae.linear_autoencoder_objective(w1.detach(), w2.detach(), x, lam))
        loss.backward()
        assert float(w1.grad.abs().max()) < 1e-10 and float(w2.grad.abs().max()) < 1e-10


def test_regularized_optimum_beats_random_factorizations_and_has_closed_form_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5)) * np.array([3.0, 2.0, 1.0, 0.5, 0.1])
    lam = 0.5
    w1, w2 = ae.regularized_optimum(x, 2, lam)
    _, s = ae.principal_directions(x, 2)
    np.testing.assert_allclose(np.linalg.svd(w2, compute_uv=False), np.sqrt(1 - lam / s))
    np.testing.assert_allclose(w1, w2.T)
    best = ae.linear_autoencoder_objective(w1, w2, x - x.mean(0), lam)
    r = np.linalg.qr(rng.standard_normal((2, 2)))[0]             # orthogonal symmetry
    assert ae.linear_autoencoder_objective(r.T @ w1, w2 @ r, x - x.mean(0), lam) == pytest.approx(best)
    for _ in range(20):
        p1 = w1 + 0.05 * rng.standard_normal(w1.shape)
        p2 = w2 + 0.05 * rng.standard_normal(w2.shape)
        assert ae.linear_autoencoder_objective(p1, p2, x - x.mean(0), lam) > best
    big = ae.regularized_optimum(x, 2, lam=100.0)[1]            # lam above every variance
    assert np.allclose(big, 0.0)


def test_linear_autoencoder_gd_matches_autograd_steps_and_finds_the_top_subspace():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 6)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5, 0.2])
    x -= x.mean(0)
    cov = x.T @ x / len(x)
    w1, w2 = 0.1 * rng.standard_normal((2, 6)), 0.1 * rng.standard_normal((6, 2))
    # Three steps by hand with autograd on the objective itself.
    a, b = torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)
    xt = torch.from_numpy(x)
    for _ in range(3):
        loss = ((xt.T - b @ a @ xt.T) ** 2).sum() / len(x)
        ga, gb = torch.autograd.grad(loss, (a, b))
        with torch.no_grad():
            a, b = (a - 0.01 * ga).requires_grad_(), (b - 0.01 * gb).requires_grad_()
    record = ae.linear_autoencoder_gd(cov, w1, w2, lr=0.01, steps=3)
    assert len(record) == 4 and np.array_equal(record[0][0], w1)
    np.testing.assert_allclose(record[-1][0], a.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(record[-1][1], b.detach().numpy(), rtol=1e-10)
    # Run long enough, it reaches the top-2 principal subspace; torch in, torch out.
    record = ae.linear_autoencoder_gd(torch.from_numpy(cov), torch.from_numpy(w1),
                                      torch.from_numpy(w2), lr=0.02, steps=3_000, record_every=1_000)
    assert len(record) == 4 and isinstance(record[-1][1], torch.Tensor)
    top, _ = ae.principal_directions(x, 2)
    assert ae.principal_angles(record[-1][1].numpy(), top).max() < 1e-4   # radians
    with pytest.raises(ValueError, match="need cov"):
        ae.linear_autoencoder_gd(cov, w1.T, w2, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="lr must be positive"):
        ae.linear_autoencoder_gd(cov, w1, w2, lr=0.0, steps=1)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        ae.linear_autoencoder_gd(cov, w1, w2, lr=0.1, steps=0)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ae.linear_autoencoder_objective(np.zeros((2, 3)), np.zeros((3, 3)), np.zeros((4, 3))),
     ValueError, "need w1"),
    (lambda: ae.linear_autoencoder_objective(np.zeros((2, 3)), np.zeros((3, 2)), np.zeros((4, 3)), -1.0),
     ValueError, "lam must be non-negative"),
    (lambda: ae.regularized_optimum(np.zeros((4, 3)), 2, -0.1), ValueError, "lam must be non-negative"),
    (lambda: ae.principal_directions(np.zeros((4, 3)), 0), ValueError, "k must be at least 1"),
])
def test_theory_functions_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_probe_ceiling_against_monte_carlo_and_limits():
    rng = np.random.default_rng(0)
    data = autoencoder_data(200, dim=12, n_informative=4, scale=3.0, seed=1)
    q = data.rotation.double().numpy()
    assert ae.probe_ceiling(np.eye(12), q, 4, 3.0) == pytest.approx(1.0)
    w1 = rng.standard_normal((3, 12))
    ceiling = ae.probe_ceiling(w1, q, 4, 3.0)
    # Monte Carlo: draw the population, regress t on z by least squares, score sign agreement.
    h = rng.standard_normal((400_000, 12)) * np.where(np.arange(12) < 4, 3.0, 1.0)
    t = h[:, :4].sum(1)
    z = (h @ q) @ w1.T
    coef = np.linalg.lstsq(z, t, rcond=None)[0]
    assert np.mean(np.sign(z @ coef) == np.sign(t)) == pytest.approx(ceiling, abs=3e-3)
    assert 0.5 < ceiling < 1.0
    with pytest.raises(ValueError, match="need encoder_weight"):
        ae.probe_ceiling(np.eye(3), q, 4, 3.0)
    with pytest.raises(ValueError, match="n_informative"):
        ae.probe_ceiling(np.eye(12), q, 13, 3.0)


def test_sweep_latent_sizes_rows_and_shared_initialization():
    data = autoencoder_data(600, dim=10, n_informative=3, seed=0)
    rows, models = ae.sweep_latent_sizes(data.x_train, data.x_val, data.y_val, data.x_test, data.y_test,
                                         latent_sizes=[2, 12], corruptions=("none", "mask"),
                                         epochs=2, lr=1e-2)
    expected = [("none", 2), ("none", 12), ("mask", 2), ("mask", 12)]
    assert [(r["corruption"], r["latent"]) for r in rows] == expected
    assert set(models) == {("none", 2), ("none", 12), ("mask", 2), ("mask", 12)}
    # Same seed, same latent size: the untrained encoders are identical across corruptions.
    assert rows[0]["probe_untrained"] == rows[2]["probe_untrained"]
    assert all(0.0 <= r["probe_trained"] <= 1.0 and r["reconstruction"] > 0 for r in rows)
    assert all(len(r["losses"]) == 2 for r in rows)
