"""dlbook.regularization against independent references: brute-force enumeration of
every n x d dropout mask (written here), Monte Carlo, scikit-learn's Ridge, and
PyTorch's own optimizers and dropout."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.linear_model import Ridge

from dlbook import regularization as reg

CONVENTIONS = ("keep", "drop")


@st.composite
def small_problems(draw, max_n=3, max_d=3):
    """A small regression problem with no all-zero column (so the minimizer is unique for p in (0,1))."""
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    values = st.floats(-4, 4, allow_nan=False, width=64).map(lambda v: round(v, 3))
    X = draw(arrays(np.float64, (n, d), elements=values))
    X[:, np.abs(X).sum(axis=0) < 0.5] += 1.0  # keep every column away from zero
    y = draw(arrays(np.float64, (n,), elements=values))
    w = draw(arrays(np.float64, (d,), elements=values))
    return X, y, w


probabilities = st.floats(0.05, 0.95)


def objective_over_all_masks(X, y, w, p, convention):
    """E ||y - (s R * X) w||^2 by listing every R in {0,1}^{n x d} (2**(n*d) terms)."""
    n, d = X.shape
    keep = p if convention == "keep" else 1 - p
    scale = 1.0 if convention == "keep" else 1 / keep
    total = 0.0
    for bits in itertools.product((0, 1), repeat=n * d):
        R = np.array(bits, dtype=float).reshape(n, d)
        prob = keep ** R.sum() * (1 - keep) ** (n * d - R.sum())
        residual = y - (scale * R * X) @ w
        total += prob * residual @ residual
    return total


@given(small_problems(), probabilities, st.sampled_from(CONVENTIONS))
def test_closed_form_objective_equals_full_mask_enumeration(problem, p, convention):
    X, y, w = problem
    brute = objective_over_all_masks(X, y, w, p, convention)
    closed = reg.dropout_objective(X, y, w, p, convention)
    rowwise = reg.dropout_objective_by_enumeration(X, y, w, p, convention)
    assert closed == pytest.approx(brute, rel=1e-10, abs=1e-10)
    assert rowwise == pytest.approx(brute, rel=1e-10, abs=1e-10)


@given(small_problems(max_n=4, max_d=4), probabilities, st.sampled_from(CONVENTIONS))
def test_closed_form_minimizer_equals_enumeration(problem, p, convention):
    X, y, _ = problem
    closed = reg.dropout_minimizer(X, y, p, convention)
    enumerated = reg.dropout_minimizer_by_enumeration(X, y, p, convention)
    np.testing.assert_allclose(closed, enumerated, rtol=1e-10, atol=1e-10)
    # It is a minimum: the gradient of the enumerated objective vanishes there.
    x_aug, y_aug, prob = reg.dropout_augmented_data(X, y, p, convention)
    gradient = -2 * x_aug.T @ (prob * (y_aug - x_aug @ closed))
    assert np.abs(gradient).max() <= 1e-8 * max(1.0, np.abs(x_aug.T @ (prob * y_aug)).max())


@given(small_problems(max_n=4, max_d=4), probabilities)
def test_conventions_differ_by_the_keep_probability(problem, q):
    X, y, _ = problem
    w_drop = reg.dropout_minimizer(X, y, q, "drop")
    w_keep = reg.dropout_minimizer(X, y, 1 - q, "keep")
    np.testing.assert_allclose(w_drop, (1 - q) * w_keep, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(reg.to_tikhonov_weights(w_keep, 1 - q, "keep"),
                               reg.to_tikhonov_weights(w_drop, q, "drop"), rtol=1e-9, atol=1e-10)


@given(small_problems(max_n=5, max_d=4), probabilities, st.sampled_from(CONVENTIONS))
def test_tikhonov_and_ridge_give_the_dropout_solution(problem, p, convention):
    X, y, _ = problem
    w = reg.to_tikhonov_weights(reg.dropout_minimizer(X, y, p, convention), p, convention)
    gamma = reg.tikhonov_gamma(X, p, convention)
    tikhonov = np.linalg.solve(X.T @ X + gamma.T @ gamma, X.T @ y)
    np.testing.assert_allclose(w, tikhonov, rtol=1e-9, atol=1e-9)
    lam = 0.7
    X_tilde = reg.ridge_change_of_variables(X, gamma, lam)
    w_tilde = Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(X_tilde, y).coef_
    np.testing.assert_allclose(np.sqrt(lam) * np.linalg.solve(gamma, w_tilde), tikhonov,
                               rtol=1e-7, atol=1e-8)
    norms = reg.column_norms(X_tilde)
    np.testing.assert_allclose(norms, norms[0], rtol=1e-12)


def test_single_point_numbers():
    X, y = np.array([[10.0, 1.0]]), np.array([11.0])
    np.testing.assert_allclose(reg.dropout_minimizer(X, y, 0.5, "drop"), [11 / 30, 11 / 3])
    np.testing.assert_allclose(reg.dropout_minimizer(X, y, 0.0, "drop"), [110 / 101, 11 / 101])
    np.testing.assert_allclose(reg.dropout_limit(X, y), [0.55, 5.5])


@given(small_problems(max_n=2, max_d=4), st.sampled_from(CONVENTIONS))
def test_small_rate_limit_is_min_gamma_norm_solution(problem, convention):
    X, y, _ = problem
    limit = reg.dropout_limit(X, y)
    tiny = 1e-7
    p = tiny if convention == "drop" else 1 - tiny
    w = reg.to_tikhonov_weights(reg.dropout_minimizer(X, y, p, convention), p, convention)
    np.testing.assert_allclose(w, limit, rtol=1e-4, atol=1e-4)
    # The limit fits the data as well as least squares does ...
    ls = np.linalg.pinv(X) @ y
    np.testing.assert_allclose(X @ limit, X @ ls, atol=1e-8)
    # ... and has the smallest Gamma-norm among those fits.
    norms = reg.column_norms(X)
    assert np.linalg.norm(norms * limit) <= np.linalg.norm(norms * ls) + 1e-9


def test_no_dropout_end_is_least_squares_and_discontinuous():
    X, y = np.array([[10.0, 1.0]]), np.array([11.0])
    at_zero = reg.dropout_minimizer(X, y, 0.0, "drop")
    near_zero = reg.dropout_minimizer(X, y, 1e-9, "drop")
    np.testing.assert_allclose(at_zero, reg.dropout_minimizer(X, y, 1.0, "keep"))
    assert np.abs(near_zero - at_zero).max() > 4  # the jump at rate 0


def test_overdetermined_limit_is_continuous():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    np.testing.assert_allclose(reg.dropout_minimizer(X, y, 1e-9, "drop"),
                               reg.dropout_minimizer(X, y, 0.0, "drop"), atol=1e-7)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_monte_carlo_objective_within_standard_error(convention):
    rng = np.random.default_rng(1)
    X, y, w = rng.normal(size=(6, 4)), rng.normal(size=6), rng.normal(size=4)
    p = 0.3
    keep = p if convention == "keep" else 1 - p
    scale = 1.0 if convention == "keep" else 1 / keep
    draws = 40_000
    R = rng.random((draws, *X.shape)) < keep
    residual = y - np.einsum("tnd,d->tn", scale * R * X, w)
    samples = (residual**2).sum(axis=1)
    exact = reg.dropout_objective(X, y, w, p, convention)
    standard_error = samples.std(ddof=1) / np.sqrt(draws)
    assert abs(samples.mean() - exact) < 4 * standard_error


def test_drop_convention_matches_torch_dropout_statistics():
    torch.manual_seed(0)
    x = torch.arange(1.0, 5.0, dtype=torch.float64).repeat(50_000, 1)
    dropped = torch.nn.functional.dropout(x, p=0.25, training=True)
    # Inverted dropout: kept entries are scaled by 1/(1-p), so the mean is unchanged.
    kept = dropped[dropped != 0] / x[dropped != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.75))
    assert float((dropped == 0).double().mean()) == pytest.approx(0.25, abs=0.005)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("bias", [False, True])
def test_trainer_matches_torch_optimizers_without_dropout(optimizer, bias):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=5)
    run = reg.train_dropout_regression(X, y, 0.0, convention="drop", lr=0.01, steps=30,
                                       batch_size=5, optimizer=optimizer, bias=bias, seed=3)
    # Replay the same row draws with torch's optimizers.
    draw = np.random.default_rng(3)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    params = [w, b] if bias else [w]
    opt = torch.optim.SGD(params, lr=0.01) if optimizer == "sgd" else torch.optim.Adam(params, lr=0.01)
    for step in range(30):
        rows = draw.integers(5, size=5)
        pred = torch.from_numpy(X[rows]) @ w + (b if bias else 0.0)
        loss = torch.mean((pred - torch.from_numpy(y[rows])) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert loss.item() == pytest.approx(run.losses[step], rel=1e-9)
        np.testing.assert_allclose(w.detach().numpy(), run.weights[step + 1], rtol=1e-9, atol=1e-12)
    if bias:
        assert run.bias[-1] == pytest.approx(b.item(), rel=1e-9)


def test_gradient_descent_from_zero_reaches_min_norm_solution():
    X, y = np.array([[10.0, 1.0]]), np.array([11.0])
    run = reg.train_dropout_regression(X, y, 0.0, lr=1e-3, steps=500)
    np.testing.assert_allclose(run.weights[-1], [110 / 101, 11 / 101], rtol=1e-10)


@pytest.mark.parametrize("convention,p", [("drop", 0.5), ("keep", 0.6)])
def test_dropout_sgd_converges_to_closed_form(convention, p):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(8, 3)) * np.array([2.0, 1.0, 0.5])
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=8)
    run = reg.train_dropout_regression(X, y, p, convention=convention, lr=5e-3, steps=10_000,
                                       batch_size=16, seed=5)
    target = reg.dropout_minimizer(X, y, p, convention)
    np.testing.assert_allclose(run.tail_mean(0.5), target, atol=0.05 * np.abs(target).max())


def test_tail_mean_and_masks():
    assert reg.enumerate_masks(2).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    run = reg.DropoutRun(weights=np.arange(10.0)[:, None], losses=np.zeros(9), bias=None)
    assert run.tail_mean(0.5)[0] == pytest.approx(7.0)
    with pytest.raises(ValueError, match="fraction"):
        run.tail_mean(0.0)


def test_label_marker():
    images = torch.rand(3, 1, 8, 8)
    labels = torch.tensor([0, 9, 4])
    marked = reg.add_label_marker(images, labels)
    flat = marked.view(3, 64)
    assert flat[:, :10].argmax(dim=1).tolist() == [0, 9, 4]
    assert (flat[:, :10].sum(dim=1) == 1).all()
    assert torch.equal(flat[:, 10:], images.view(3, 64)[:, 10:])
    assert not torch.equal(images, marked)  # a copy, input untouched


# ----------------------------------------------------------------------------- invalid input

X1, Y1 = np.array([[10.0, 1.0]]), np.array([11.0])


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_probability_out_of_range_raises(p, convention):
    with pytest.raises(ValueError, match="must lie in"):
        reg.dropout_objective(X1, Y1, [1.0, 1.0], p, convention)


def test_undefined_ends_raise():
    with pytest.raises(ValueError, match="1/\\(1 - p\\)"):
        reg.dropout_objective(X1, Y1, [1.0, 1.0], 1.0, "drop")
    with pytest.raises(ValueError, match="minimizer is undefined"):
        reg.dropout_minimizer(X1, Y1, 0.0, "keep")
    with pytest.raises(ValueError, match="minimizer is undefined"):
        reg.dropout_minimizer_by_enumeration(X1, Y1, 0.0, "keep")
    # No dropout: Gamma = 0 (ordinary least squares), and no ridge form exists.
    assert not reg.tikhonov_gamma(X1, 0.0, "drop").any()
    assert not reg.tikhonov_gamma(X1, 1.0, "keep").any()
    with pytest.raises(ValueError, match="gamma must be invertible"):
        reg.ridge_change_of_variables(X1, reg.tikhonov_gamma(X1, 0.0, "drop"))
    # keep probability 0 is fine for the objective: nothing is predicted.
    assert reg.dropout_objective(X1, Y1, [1.0, 1.0], 0.0, "keep") == pytest.approx(121.0)


def test_bad_types_and_shapes_raise():
    with pytest.raises(TypeError, match="probability p must be a real number"):
        reg.dropout_minimizer(X1, Y1, "0.5")
    with pytest.raises(TypeError, match="probability p must be a real number"):
        reg.dropout_minimizer(X1, Y1, True)
    with pytest.raises(ValueError, match="convention must be"):
        reg.dropout_minimizer(X1, Y1, 0.5, "inverted")
    with pytest.raises(TypeError, match="X must be"):
        reg.dropout_minimizer("X", Y1, 0.5)
    with pytest.raises(ValueError, match="n x d matrix"):
        reg.dropout_minimizer(np.ones(3), Y1, 0.5)
    with pytest.raises(ValueError, match="one entry per row"):
        reg.dropout_minimizer(X1, np.ones(2), 0.5)
    with pytest.raises(ValueError, match="one entry per column"):
        reg.dropout_objective(X1, Y1, np.ones(3), 0.5)
    with pytest.raises(ValueError, match="finite"):
        reg.dropout_minimizer(np.array([[np.nan, 1.0]]), Y1, 0.5)
    with pytest.raises(ValueError, match="d must lie in"):
        reg.enumerate_masks(0)
    with pytest.raises(TypeError, match="d must be an integer"):
        reg.enumerate_masks(2.0)
    with pytest.raises(ValueError, match="gamma must be a 2 x 2"):
        reg.ridge_change_of_variables(X1, np.eye(3))
    with pytest.raises(ValueError, match="gamma must be invertible"):
        reg.ridge_change_of_variables(X1, np.diag([1.0, 0.0]))
    with pytest.raises(ValueError, match="lam must be a positive"):
        reg.ridge_change_of_variables(X1, np.eye(2), lam=0.0)


def test_trainer_rejects_bad_settings():
    with pytest.raises(ValueError, match="optimizer must be"):
        reg.train_dropout_regression(X1, Y1, 0.5, optimizer="rmsprop")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        reg.train_dropout_regression(X1, Y1, 0.5, steps=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        reg.train_dropout_regression(X1, Y1, 0.5, batch_size=2.5)
    with pytest.raises(ValueError, match="lr must be a positive"):
        reg.train_dropout_regression(X1, Y1, 0.5, lr=-1.0)
    with pytest.raises(ValueError, match="1/\\(1 - p\\)"):
        reg.train_dropout_regression(X1, Y1, 1.0)


def test_label_marker_rejects_bad_input():
    with pytest.raises(TypeError, match="torch tensors"):
        reg.add_label_marker(np.zeros((1, 1, 8, 8)), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        reg.add_label_marker(torch.zeros(1, 8, 8), torch.tensor([0]))
    with pytest.raises(ValueError, match="labels must have shape"):
        reg.add_label_marker(torch.zeros(2, 1, 8, 8), torch.tensor([0]))
    with pytest.raises(ValueError, match="cannot hold"):
        reg.add_label_marker(torch.zeros(1, 1, 3, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="labels must lie"):
        reg.add_label_marker(torch.zeros(1, 1, 8, 8), torch.tensor([10]))


def test_training_with_the_marker_refuses_empty_data_and_bad_lr_at_the_call():
    # an empty set used to train "an epoch" and divide by zero
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.raises(ValueError, match="images is empty"):
        reg.train_with_marker(model, torch.zeros(0, 1, 8, 8),
                              torch.zeros(0, dtype=torch.long), epochs=1)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        reg.train_with_marker(model, torch.zeros(2, 1, 8, 8),
                              torch.zeros(2, dtype=torch.long), lr=0.0)


def test_torch_input_accepted():
    w = reg.dropout_minimizer(torch.tensor([[10.0, 1.0]]), torch.tensor([11.0]), 0.5, "drop")
    np.testing.assert_allclose(w, [11 / 30, 11 / 3])


def test_marker_experiment_runs_and_reports_fractions():
    torch.manual_seed(0)
    images = torch.rand(40, 1, 8, 8)
    labels = torch.arange(40) % 10
    model = reg.dropout_mlp(64, 10, p=0.5, hidden=16)
    history = reg.train_with_marker(model, images, labels, epochs=30, batch_size=20, lr=1e-2)
    assert len(history) == 30 and history[-1] < history[0]
    report = reg.evaluate_marker_reliance(model, images, labels)
    for value in (report.clean, report.marked, report.misleading, report.follows_marker):
        assert 0.0 <= value <= 1.0
    assert report.marked > 0.9  # the marker alone identifies the class
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        reg.train_with_marker(model, images, labels, epochs=0)
    with pytest.raises(ValueError, match="must lie in"):
        reg.dropout_mlp(64, 10, p=1.5)
