"""Dropout on linear regression, exactly: the marginalized objective and its
minimizer.

Two conventions for the same random masks are used in the book, and every
function here takes the probability ``p`` together with ``convention``:

* ``"keep"`` (the Tikhonov chapter): every input feature is **kept** with
  probability ``p`` and zeroed otherwise, with no rescaling,
  ``x -> r * x`` with ``r ~ Bernoulli(p)``;
* ``"drop"`` (the dropout-experiments chapter, and ``torch.nn.Dropout``):
  every feature is **dropped** with probability ``p`` and the kept ones are
  scaled by ``1 / (1 - p)`` ("inverted dropout"), so the input's mean is
  unchanged.

Both are ``x -> s * r * x`` with ``r ~ Bernoulli(k)``: keep probability
``k = p, s = 1`` in the first, ``k = 1 - p, s = 1 / (1 - p)`` in the second.
Taking the expectation over ``r`` turns dropout least squares into

``E ||y - (s R * X) w||^2 = ||y - s k X w||^2 + s^2 k (1 - k) ||Gamma w||^2``,

with ``Gamma = diag(||X[:, j]||)``, a Tikhonov (generalized ridge) problem.
Design matrices are ``n x d`` with one example per row; all arithmetic is
float64.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from dlbook._checks import positive_int, positive_number
from dlbook.runtime import preserves_global_rng

__all__ = [
    "CONVENTIONS",
    "DropoutRun",
    "MarkerReport",
    "add_label_marker",
    "dropout_mlp",
    "evaluate_marker_reliance",
    "column_norms",
    "dropout_augmented_data",
    "dropout_limit",
    "dropout_minimizer",
    "dropout_minimizer_by_enumeration",
    "dropout_objective",
    "dropout_objective_by_enumeration",
    "enumerate_masks",
    "keep_probability",
    "ridge_change_of_variables",
    "tikhonov_gamma",
    "to_tikhonov_weights",
    "train_dropout_regression",
    "train_with_marker",
]

Convention = Literal["keep", "drop"]
CONVENTIONS: tuple[str, ...] = ("keep", "drop")
"""``"keep"``: ``p`` keeps a feature, no rescaling. ``"drop"``: ``p`` drops it,
kept ones scaled by ``1/(1-p)``."""

_MAX_ENUMERATED_FEATURES = 16


# -----------------------------------------------------------------------------
# validation


def _as_float_array(value: object, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy()
    elif isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
    else:
        raise TypeError(
            f"{name} must be a numpy.ndarray or torch.Tensor, got "
            f"{type(value).__name__}"
        )
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return array


def _check_problem(X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    x_arr = _as_float_array(X, "X")
    if x_arr.ndim != 2 or min(x_arr.shape) < 1:
        raise ValueError(
            f"X must be a non-empty n x d matrix, got shape {x_arr.shape}"
        )
    y_arr = _as_float_array(y, "y")
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    if y_arr.shape != (x_arr.shape[0],):
        raise ValueError(
            f"y must have one entry per row of X ({x_arr.shape[0]}), got "
            f"shape {y_arr.shape}"
        )
    return x_arr, y_arr


def _check_weights(w: object, d: int) -> np.ndarray:
    w_arr = _as_float_array(w, "w")
    if w_arr.ndim == 2 and w_arr.shape[1] == 1:
        w_arr = w_arr[:, 0]
    if w_arr.shape != (d,):
        raise ValueError(
            f"w must have one entry per column of X ({d}), got shape "
            f"{w_arr.shape}"
        )
    return w_arr


def keep_probability(
    p: float,
    convention: Convention = "keep",
    *,
    allow_no_dropout: bool = True,
    allow_all_dropped: bool = False,
) -> float:
    """The probability that a feature survives, for either convention
    (validated).

    ``p`` is a keep probability for ``"keep"`` and a drop probability for
    ``"drop"``. A keep probability of 0 (every feature always removed) is only
    meaningful for the objective (``allow_all_dropped``); the inverted-dropout
    scale ``1/(1-p)`` never exists at drop probability 1.

    Raises:
        TypeError: ``p`` is not a real number.
        ValueError: unknown ``convention``, or ``p`` outside the range where the
            requested quantity is defined.
    """
    if convention not in CONVENTIONS:
        raise ValueError(
            f"convention must be 'keep' or 'drop', got {convention!r}"
        )
    if isinstance(p, bool) or not isinstance(
        p, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"probability p must be a real number, got {type(p).__name__}"
        )
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"probability p must lie in [0, 1], got {p}")
    keep = p if convention == "keep" else 1.0 - p
    if convention == "drop" and p == 1.0:
        raise ValueError(
            "drop probability p = 1 is undefined: inverted dropout scales by "
            "1/(1 - p)"
        )
    if keep == 0.0 and not allow_all_dropped:
        raise ValueError(
            "keep probability p = 0 removes every feature: the minimizer is "
            "undefined"
        )
    if keep == 1.0 and not allow_no_dropout:
        what = (
            "keep probability p = 1"
            if convention == "keep"
            else "drop probability p = 0"
        )
        raise ValueError(
            f"{what} means no dropout; need a probability strictly inside (0, "
            "1)"
        )
    return keep


def _scale(keep: float, convention: Convention) -> float:
    return 1.0 if convention == "keep" else 1.0 / keep


# -----------------------------------------------------------------------------
# closed forms


def column_norms(X: object) -> np.ndarray:
    """Euclidean norm of every column of ``X``: the diagonal of
    ``diag(X^T X)^{1/2}``.

    Each column is scaled by a power of two to a largest entry in
    ``[0.5, 1)`` before it is squared and the norm scaled back (exact), so
    a column of entries near ``1e200`` or ``1e-200`` has its norm, not
    ``inf`` or 0 (its squares leave float64's range; the norm does not).
    """
    x_arr = _as_float_array(X, "X")
    if x_arr.ndim != 2:
        raise ValueError(f"X must be a matrix, got shape {x_arr.shape}")
    largest = np.abs(x_arr).max(axis=0, initial=0.0)
    ok = np.isfinite(largest) & (largest > 0)
    exponent = np.where(ok, np.frexp(np.where(ok, largest, 1.0))[1], 0)
    exponent = np.clip(exponent, -1021, 1021)  # 2**-e stays normal
    scaled = np.ldexp(x_arr, -exponent)
    return np.ldexp(np.sqrt((scaled**2).sum(axis=0)), exponent)


def dropout_objective(
    X: object, y: object, w: object, p: float, convention: Convention = "keep"
) -> float:
    """Expected squared error under input dropout, in closed form.

    ``E ||y - (s R * X) w||^2``
    ``= ||y - s k X w||^2 + s^2 k (1-k) sum_j ||X[:, j]||^2 w_j^2``
    with keep probability ``k`` and scale ``s`` of the ``convention`` (module
    docstring).
    """
    x_arr, y_arr = _check_problem(X, y)
    w_arr = _check_weights(w, x_arr.shape[1])
    keep = keep_probability(p, convention, allow_all_dropped=True)
    s = _scale(keep, convention)
    residual = y_arr - s * keep * (x_arr @ w_arr)
    penalty = (
        s**2
        * keep
        * (1.0 - keep)
        * float(((column_norms(x_arr) * w_arr) ** 2).sum())
    )
    return float(residual @ residual + penalty)


def dropout_minimizer(
    X: object, y: object, p: float, convention: Convention = "keep"
) -> np.ndarray:
    """Closed-form minimizer of :func:`dropout_objective` over ``w``.

    Setting the gradient to zero gives
    ``(k X^T X + (1-k) Gamma^2) w = X^T y / s``. At the no-dropout end (keep 1,
    drop 0) this is ordinary least squares, and when ``X^T X`` is singular the
    minimum-norm solution ``pinv(X) y`` is returned, the one gradient descent
    from zero reaches. Any other rank deficiency (a column of zeros) is resolved
    the same way: the minimum-norm minimizer.

    Raises:
        ValueError: keep probability 0 (nothing to learn from), or as
            :func:`keep_probability`.
    """
    x_arr, y_arr = _check_problem(X, y)
    keep = keep_probability(p, convention)
    if keep == 1.0:
        return np.linalg.pinv(x_arr) @ y_arr
    s = _scale(keep, convention)
    gram = x_arr.T @ x_arr
    lhs = keep * gram + (1.0 - keep) * np.diag(np.diag(gram))
    return np.linalg.lstsq(lhs, x_arr.T @ y_arr / s, rcond=None)[0]


def dropout_limit(X: object, y: object) -> np.ndarray:
    """Limit of the dropout minimizer as the dropout rate goes to 0 (both
    conventions).

    It is the minimizer of ``||Gamma w||`` among the least-squares solutions,
    ``Gamma^{-1} pinv(X Gamma^{-1}) y`` (zero columns of ``X`` get weight 0).
    It differs from ``pinv(X) y`` whenever the least-squares solution is not
    unique and the columns of ``X`` have different norms: the jump at rate 0.
    """
    x_arr, y_arr = _check_problem(X, y)
    norms = column_norms(x_arr)
    used = norms > 0
    w = np.zeros(x_arr.shape[1])
    scaled = x_arr[:, used] / norms[used]
    w[used] = (np.linalg.pinv(scaled) @ y_arr) / norms[used]
    return w


def tikhonov_gamma(
    X: object, p: float, convention: Convention = "keep"
) -> np.ndarray:
    """The matrix ``Gamma`` of the equivalent Tikhonov problem
    ``||y - X w||^2 + ||Gamma w||^2``.

    ``Gamma = sqrt((1-k)/k) diag(||X[:, j]||)`` for keep probability ``k``; the
    same matrix serves both conventions once the weights are mapped by
    :func:`to_tikhonov_weights`.
    """
    keep = keep_probability(p, convention)
    return math.sqrt((1.0 - keep) / keep) * np.diag(column_norms(X))


def to_tikhonov_weights(
    w: object, p: float, convention: Convention = "keep"
) -> np.ndarray:
    """Map weights learned with dropout to the solution of the Tikhonov problem.

    Keep convention: ``w = p * w_tilde`` (the usual test-time scaling by the
    keep probability). Drop convention: inverted dropout already did that
    scaling during training, so the weights are returned unchanged.
    """
    w_arr = _as_float_array(w, "w")
    keep = keep_probability(p, convention)
    return keep * w_arr if convention == "keep" else w_arr.copy()


def ridge_change_of_variables(
    X: object, gamma: object, lam: float = 1.0
) -> np.ndarray:
    """The data matrix ``X_tilde = sqrt(lam) X Gamma^{-1}`` of the equivalent
    ridge problem.

    With ``w_tilde = Gamma w / sqrt(lam)``, ``X_tilde w_tilde = X w`` and
    ``lam ||w_tilde||^2 = ||Gamma w||^2``, so the Tikhonov problem becomes ridge
    regression with penalty ``lam``. Columns are scaled, not rows.

    Raises:
        ValueError: ``gamma`` is not an invertible ``d x d`` matrix, or
            ``lam <= 0``.
    """
    x_arr = _as_float_array(X, "X")
    g_arr = _as_float_array(gamma, "gamma")
    if x_arr.ndim != 2:
        raise ValueError(f"X must be a matrix, got shape {x_arr.shape}")
    d = x_arr.shape[1]
    if g_arr.shape != (d, d):
        raise ValueError(
            f"gamma must be a {d} x {d} matrix, got shape {g_arr.shape}"
        )
    if (
        isinstance(lam, bool)
        or not isinstance(lam, (int, float, np.integer, np.floating))
        or not lam > 0
    ):
        raise ValueError(f"lam must be a positive number, got {lam!r}")
    if np.linalg.matrix_rank(g_arr) < d:
        raise ValueError(
            "gamma must be invertible (a column of X with norm 0 has no "
            "Tikhonov scale)"
        )
    return math.sqrt(float(lam)) * np.linalg.solve(g_arr.T, x_arr.T).T


# -----------------------------------------------------------------------------
# exact enumeration


def enumerate_masks(d: int) -> np.ndarray:
    """All ``2**d`` keep/drop masks of ``d`` features, one per row (1 =
    kept)."""
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"d must be an integer, got {type(d).__name__}")
    if not 1 <= d <= _MAX_ENUMERATED_FEATURES:
        raise ValueError(
            f"d must lie in [1, {_MAX_ENUMERATED_FEATURES}] to enumerate "
            f"masks, got {d}"
        )
    return np.array(list(itertools.product((0.0, 1.0), repeat=int(d))))


def dropout_augmented_data(
    X: object, y: object, p: float, convention: Convention = "keep"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row of ``X`` under every dropout mask, with the mask's probability.

    Returns ``(X_aug, y_aug, prob)`` with ``n * 2**d`` rows: row ``(i, m)`` is
    ``s * m * X[i]`` with target ``y[i]`` and weight
    ``P(m) = k**|m| (1-k)**(d-|m|)``. The dropout objective is exactly
    ``sum prob * (y_aug - X_aug w)**2``, because the loss is a sum over rows and
    each row has its own independent mask.
    """
    x_arr, y_arr = _check_problem(X, y)
    keep = keep_probability(p, convention, allow_all_dropped=True)
    s = _scale(keep, convention)
    masks = enumerate_masks(x_arr.shape[1])
    kept = masks.sum(axis=1)
    prob = keep**kept * (1.0 - keep) ** (x_arr.shape[1] - kept)
    x_aug = (s * masks[None, :, :] * x_arr[:, None, :]).reshape(
        -1, x_arr.shape[1]
    )
    y_aug = np.repeat(y_arr, len(masks))
    return x_aug, y_aug, np.tile(prob, x_arr.shape[0])


def dropout_objective_by_enumeration(
    X: object, y: object, w: object, p: float, convention: Convention = "keep"
) -> float:
    """:func:`dropout_objective` computed by summing over all masks (exact, no
    algebra)."""
    x_aug, y_aug, prob = dropout_augmented_data(X, y, p, convention)
    w_arr = _check_weights(w, x_aug.shape[1])
    residual = y_aug - x_aug @ w_arr
    return float(prob @ residual**2)


def dropout_minimizer_by_enumeration(
    X: object, y: object, p: float, convention: Convention = "keep"
) -> np.ndarray:
    """Weighted least squares on the augmented data (minimum-norm when not
    unique)."""
    keep_probability(p, convention)  # rejects keep probability 0
    x_aug, y_aug, prob = dropout_augmented_data(X, y, p, convention)
    root = np.sqrt(prob)
    return np.linalg.lstsq(root[:, None] * x_aug, root * y_aug, rcond=None)[0]


# -----------------------------------------------------------------------------
# stochastic training


@dataclass(frozen=True)
class DropoutRun:
    """What :func:`train_dropout_regression` recorded."""

    weights: np.ndarray
    """``[steps + 1, d]``: the weights before the first step and after each
    step."""
    losses: np.ndarray
    """``[steps]``: the minibatch loss (mean squared error on dropped-out
    inputs) at each step."""
    bias: np.ndarray | None
    """``[steps + 1]`` bias trajectory, or ``None`` for a model without bias."""

    def tail_mean(self, fraction: float = 0.5) -> np.ndarray:
        """Average of the weights over the last ``fraction`` of the steps
        (Polyak averaging)."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        start = int(round(len(self.weights) * (1.0 - fraction)))
        return self.weights[min(start, len(self.weights) - 1) :].mean(axis=0)


def train_dropout_regression(
    X: object,
    y: object,
    p: float,
    *,
    convention: Convention = "drop",
    lr: float = 1e-3,
    steps: int = 1000,
    batch_size: int = 1,
    optimizer: Literal["sgd", "adam"] = "sgd",
    bias: bool = False,
    seed: int = 0,
    w0: object | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> DropoutRun:
    """Train ``y ~ dropout(x) . w (+ b)`` by minibatch SGD or Adam, from ``w0``
    (default 0).

    Each step draws ``batch_size`` rows of ``X`` uniformly with replacement (for
    a single data point: that point repeated), an independent mask per row and
    feature, and takes one step on the mean squared error. ``p = 0`` with
    ``"drop"`` (or 1 with ``"keep"``) trains without dropout; the bias, when
    present, is never dropped. The gradient of a linear model is written out and
    the updates are those of ``torch.optim.SGD`` and ``torch.optim.Adam`` with
    default settings (the tests check step-for-step agreement); NumPy keeps a
    step at microseconds, so tens of thousands of steps cost well under a
    second.

    Raises:
        ValueError: a bad ``p``, ``convention``, ``optimizer``, ``steps``,
            ``batch_size`` or ``lr``, or data so large that Adam's squared
            gradients overflow float64 (which would stop the run silently).
    """
    x_arr, y_arr = _check_problem(X, y)
    keep = keep_probability(p, convention)
    if optimizer not in ("sgd", "adam"):
        raise ValueError(
            f"optimizer must be 'sgd' or 'adam', got {optimizer!r}"
        )
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        positive_int(value, name)
    positive_number(lr, "lr")
    n, d = x_arr.shape
    rng = np.random.default_rng(seed)
    scale = _scale(keep, convention)
    theta = np.zeros(d + 1)  # weights, then the bias
    theta[:d] = 0.0 if w0 is None else _check_weights(w0, d)
    active = np.ones(d + 1, dtype=bool)
    active[d] = bias
    first = np.zeros(d + 1)
    second = np.zeros(d + 1)
    beta1, beta2 = betas
    weights = np.empty((steps + 1, d))
    biases = np.zeros(steps + 1)
    losses = np.empty(steps)
    weights[0] = theta[:d]
    inputs = np.ones((batch_size, d + 1))
    # Adam's overflow is refused below, by name (so NumPy's warning is
    # not needed); SGD's divergence is a result and keeps its warning
    quiet = np.errstate(over="ignore", invalid="ignore")
    with quiet if optimizer == "adam" else contextlib.nullcontext():
        for step in range(steps):
            rows = rng.integers(n, size=batch_size)
            inputs[:, :d] = x_arr[rows]
            if keep < 1.0:
                inputs[:, :d] *= (rng.random((batch_size, d)) < keep) * scale
            residual = inputs @ (theta * active) - y_arr[rows]
            losses[step] = float(residual @ residual) / batch_size
            grad = (2.0 / batch_size) * (inputs.T @ residual) * active
            if optimizer == "sgd":
                theta -= lr * grad
            else:
                first = beta1 * first + (1.0 - beta1) * grad
                second = beta2 * second + (1.0 - beta2) * grad**2
                t = step + 1
                denom = np.sqrt(second) / math.sqrt(1.0 - beta2**t) + eps
                theta -= (lr / (1.0 - beta1**t)) * first / denom
            weights[step + 1] = theta[:d]
            biases[step + 1] = theta[d]
    if optimizer == "adam" and not np.isfinite(second).all():
        # once a squared gradient overflows, the step is lr * m / inf = 0 for
        # good (torch.optim.Adam does the same): a run that silently stopped
        raise ValueError(
            "X, y: a squared gradient overflowed float64 in Adam's second "
            "moment (a gradient above about 1e154), which stops the run; "
            "rescale X and y"
        )
    return DropoutRun(
        weights=weights, losses=losses, bias=biases if bias else None
    )


# -----------------------------------------------------------------------------
# a cheating feature


def add_label_marker(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int = 10,
    value: float = 1.0,
) -> torch.Tensor:
    """Return a copy of ``images`` with the label written into the top-left
    pixels.

    The first ``num_classes`` pixels in raster order (row 0, then row 1, ...)
    are set to 0, except pixel ``label``, set to ``value``: a feature that
    predicts the label perfectly, a shortcut a network can use instead of the
    digit itself.
    ``labels`` may be any classes (e.g. wrong ones, to test reliance on the
    marker).

    Raises:
        TypeError: ``images`` or ``labels`` is not a tensor.
        ValueError: wrong shapes, labels out of range, or too few pixels.
    """
    if not isinstance(images, torch.Tensor) or not isinstance(
        labels, torch.Tensor
    ):
        raise TypeError("images and labels must be torch tensors")
    if images.ndim != 4:
        raise ValueError(
            f"images must be [N, C, H, W], got shape {tuple(images.shape)}"
        )
    n, _, height, width = images.shape
    if labels.shape != (n,):
        raise ValueError(
            f"labels must have shape ({n},), got {tuple(labels.shape)}"
        )
    if num_classes > height * width:
        raise ValueError(
            f"an image of {height}x{width} pixels cannot hold {num_classes} "
            "marker pixels"
        )
    if labels.numel() and (
        int(labels.min()) < 0 or int(labels.max()) >= num_classes
    ):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got range "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    marked = images.clone()
    flat = marked.view(n, marked.shape[1], height * width)
    flat[:, :, :num_classes] = 0.0
    flat[torch.arange(n), :, labels] = value
    return marked


def dropout_mlp(
    in_features: int, num_classes: int = 10, p: float = 0.0, hidden: int = 256
) -> torch.nn.Sequential:
    """A one-hidden-layer ReLU classifier with PyTorch dropout (drop probability
    ``p``) on its input pixels and on its hidden units; ``p = 0`` is the plain
    network."""
    keep_probability(p, "drop")
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Dropout(p),
        torch.nn.Linear(in_features, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(p),
        torch.nn.Linear(hidden, num_classes),
    )


@preserves_global_rng
def train_with_marker(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int = 10,
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Train ``model`` with Adam and cross entropy on images that carry the
    label marker.

    Every training image gets :func:`add_label_marker` with its true label, so
    the marker predicts the label perfectly during training. Returns the mean
    training loss of every epoch.

    Raises:
        ValueError: no images, ``epochs`` or ``batch_size`` not a positive
            integer, ``lr`` not positive, or what :func:`add_label_marker`
            refuses.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        positive_int(value, name)
    positive_number(lr, "lr")
    marked = add_label_marker(images, labels, num_classes).to(device)
    if len(marked) == 0:
        raise ValueError("images is empty: nothing to train on")
    generator = torch.Generator().manual_seed(seed)
    labels = labels.to(device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(marked), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(marked), batch_size):
            batch = order[start : start + batch_size]
            loss = torch.nn.functional.cross_entropy(
                model(marked[batch]), labels[batch]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(marked))
    return history


@dataclass(frozen=True)
class MarkerReport:
    """Test accuracies of a classifier trained with the label marker (fractions
    in [0, 1])."""

    clean: float
    """on the unmodified test images"""
    marked: float
    """with the true label's marker added"""
    misleading: float
    """with a marker pointing at a wrong class, accuracy with respect to the
    true label"""
    follows_marker: float
    """with a misleading marker, the fraction of predictions equal to the
    marker's class"""


@torch.no_grad()
@preserves_global_rng
def evaluate_marker_reliance(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int = 10,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> MarkerReport:
    """How much a classifier relies on the marker: clean, marked and
    misleading-marker accuracy."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    wrong = (
        labels
        + torch.randint(1, num_classes, labels.shape, generator=generator)
    ) % num_classes
    labels_d, wrong_d = labels.to(device), wrong.to(device)

    def predict(x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                model(x[i : i + 1024].to(device)).argmax(dim=1)
                for i in range(0, len(x), 1024)
            ]
        )

    clean = predict(images)
    marked = predict(add_label_marker(images, labels, num_classes))
    misleading = predict(add_label_marker(images, wrong, num_classes))
    return MarkerReport(
        clean=float((clean == labels_d).double().mean()),
        marked=float((marked == labels_d).double().mean()),
        misleading=float((misleading == labels_d).double().mean()),
        follows_marker=float((misleading == wrong_d).double().mean()),
    )
