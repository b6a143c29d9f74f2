"""Autoencoders and their linear theory: corruption, training, linear probes,
PCA.

Conventions: data hold one sample per **row** (``x`` is ``[n, d]``), as
PyTorch layers expect; the problem sets write the transpose, ``X = x.T``
with one sample per column. A linear autoencoder is ``x -> W2 W1 x`` with
encoder ``W1`` (``k x d``) and decoder ``W2`` (``d x k``), stored as
``encoder.weight`` and ``decoder.weight`` of :class:`Autoencoder`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import nn

from dlbook.evidence import plateaued
from dlbook.runtime import preserves_global_rng

__all__ = [
    "CORRUPTIONS",
    "Autoencoder",
    "corrupt",
    "linear_autoencoder_gd",
    "linear_autoencoder_objective",
    "linear_probe",
    "loss_plateaued",
    "principal_angles",
    "principal_directions",
    "probe_ceiling",
    "reconstruction_error",
    "regularized_optimum",
    "sweep_latent_sizes",
    "train_autoencoder",
]

CORRUPTIONS = ("none", "noise", "mask")
"""How :func:`corrupt` may damage an input: not at all, Gaussian noise, or
masking."""

Corruption = Literal["none", "noise", "mask"]
Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _check_matrix(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}"
        )
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"{name} must be a non-empty [n, d] matrix, got shape "
            f"{tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must hold floating-point numbers, got {x.dtype}"
        )
    return x


def _check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an integer, got {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def corrupt(
    x: torch.Tensor,
    mode: Corruption,
    *,
    noise_std: float = 0.5,
    mask_rate: float = 0.25,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Damage a batch for a denoising (``"noise"``) or masked (``"mask"``)
    autoencoder.

    ``"noise"`` adds independent ``N(0, noise_std**2)`` noise to every entry;
    ``"mask"`` sets every entry to zero independently with probability
    ``mask_rate`` (no rescaling); ``"none"`` returns ``x`` itself.

    Raises:
        ValueError: unknown ``mode``, ``noise_std < 0`` or ``mask_rate`` outside
            [0, 1).
    """
    if mode not in CORRUPTIONS:
        raise ValueError(f"mode must be one of {CORRUPTIONS}, got {mode!r}")
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std}")
    if not 0.0 <= mask_rate < 1.0:
        raise ValueError(f"mask_rate must lie in [0, 1), got {mask_rate}")
    if mode == "noise":
        noise = torch.randn(
            x.shape, generator=generator, dtype=x.dtype, device=x.device
        )
        return x + noise_std * noise
    if mode == "mask":
        keep = (
            torch.rand(x.shape, generator=generator, device=x.device)
            >= mask_rate
        )
        return x * keep
    return x


class Autoencoder(nn.Module):
    """One linear layer in, one linear layer out:
    ``x -> decoder(act(encoder(x)))``.

    ``activation="relu"`` gives the (non-linear) autoencoder of the
    experiments; ``"linear"`` with ``bias=False`` is exactly the linear
    autoencoder ``W2 W1 x`` of the theory.
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        *,
        activation: Literal["relu", "linear"] = "relu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        input_dim = _check_positive_int(input_dim, "input_dim")
        latent_dim = _check_positive_int(latent_dim, "latent_dim")
        if activation not in ("relu", "linear"):
            raise ValueError(
                f"activation must be 'relu' or 'linear', got {activation!r}"
            )
        self.encoder = nn.Linear(input_dim, latent_dim, bias=bias)
        self.decoder = nn.Linear(latent_dim, input_dim, bias=bias)
        self.activation = activation

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation ``z`` of a batch ``x`` (``[n, input_dim]``)."""
        z = self.encoder(x)
        return torch.relu(z) if self.activation == "relu" else z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x``."""
        return self.decoder(self.encode(x))


loss_plateaued = plateaued
"""Whether a loss curve has flattened (:func:`dlbook.evidence.plateaued`)."""


@preserves_global_rng
def train_autoencoder(
    model: Autoencoder,
    x: torch.Tensor,
    *,
    corruption: Corruption = "none",
    noise_std: float = 0.5,
    mask_rate: float = 0.25,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 5e-4,
    optimizer: Literal["adam", "sgd"] = "adam",
    weight_decay: float = 0.0,
    seed: int = 0,
    stop_window: int | None = None,
    stop_rtol: float = 0.0,
    stop_atol: float = 0.0,
) -> list[float]:
    """Train ``model`` to reconstruct the clean ``x`` from a corrupted copy;
    return epoch losses.

    The loss is ``nn.MSELoss()`` (mean over all entries) between the output
    on the corrupted batch and the clean batch. ``weight_decay`` is the
    optimizer's coupled L2 term, i.e. it adds ``weight_decay * w`` to each
    gradient, the gradient of ``weight_decay / 2 * ||w||**2``. Shuffling and
    corruption come from a generator seeded with ``seed``.

    ``epochs`` is the number of epochs, or with ``stop_window`` set the most
    epochs: training then stops after the first epoch at which the curve of
    epoch losses is flat by :func:`loss_plateaued` (``stop_window``,
    ``stop_rtol``, ``stop_atol``). A returned list as long as ``epochs``
    therefore means the curve never flattened within the budget.

    Raises:
        TypeError: ``model`` is not an :class:`Autoencoder` or ``x`` is not a
            float tensor.
        ValueError: ``x`` does not match the model, or a setting is out of
            range.
    """
    if not isinstance(model, Autoencoder):
        raise TypeError(
            f"model must be an Autoencoder, got {type(model).__name__}"
        )
    x = _check_matrix(x, "x")
    if x.shape[1] != model.encoder.in_features:
        raise ValueError(
            f"x has {x.shape[1]} columns but the model expects "
            f"{model.encoder.in_features}"
        )
    epochs = _check_positive_int(epochs, "epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if not lr > 0 or not weight_decay >= 0:
        raise ValueError(
            f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}"
        )
    if optimizer not in ("adam", "sgd"):
        raise ValueError(
            f"optimizer must be 'adam' or 'sgd', got {optimizer!r}"
        )
    corrupt(
        x[:1], corruption, noise_std=noise_std, mask_rate=mask_rate
    )  # validates the settings
    if stop_window is not None:
        loss_plateaued(
            [], stop_window, rtol=stop_rtol, atol=stop_atol
        )  # validates the settings

    device = model.encoder.weight.device
    x = x.to(device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    opt_class = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = opt_class(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.MSELoss()
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = x[order[start : start + batch_size]]
            damaged = corrupt(
                batch.cpu(),
                corruption,
                noise_std=noise_std,
                mask_rate=mask_rate,
                generator=generator,
            ).to(device)
            loss = loss_fn(model(damaged), batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(x))
        if stop_window is not None and loss_plateaued(
            losses, stop_window, rtol=stop_rtol, atol=stop_atol
        ):
            break
    model.eval()
    return losses


@torch.no_grad()
def reconstruction_error(model: Autoencoder, x: torch.Tensor) -> float:
    """Mean squared error per entry of the model's reconstruction of the clean
    ``x``, computed in float64 (a float16 model's squared errors overflow
    above 256 and vanish below about 2.4e-4, while their mean, a Python
    float, does neither)."""
    x = _check_matrix(x, "x").to(model.encoder.weight.device)
    return float(nn.functional.mse_loss(model(x).double(), x.double()))


def linear_probe(
    model: Autoencoder,
    x_fit: torch.Tensor,
    y_fit: torch.Tensor,
    x_eval: torch.Tensor,
    y_eval: torch.Tensor,
    *,
    max_iter: int = 2_000,
) -> float:
    """Accuracy on ``(x_eval, y_eval)`` of a linear classifier fitted on frozen
    features.

    The features are ``model.encode(x)``; the classifier is scikit-learn's
    multinomial logistic regression (L2, ``C = 1``) on standardized features,
    fitted on ``(x_fit, y_fit)``; the encoder is never updated.

    Raises:
        ValueError: inputs and labels differ in length.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    for xs, ys, name in ((x_fit, y_fit, "fit"), (x_eval, y_eval, "eval")):
        _check_matrix(xs, f"x_{name}")
        if len(xs) != len(ys):
            raise ValueError(
                f"x_{name} has {len(xs)} rows but y_{name} has {len(ys)} labels"
            )
    device = model.encoder.weight.device
    with torch.no_grad():
        f_fit = model.encode(x_fit.to(device)).cpu().double().numpy()
        f_eval = model.encode(x_eval.to(device)).cpu().double().numpy()
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=max_iter)
    )
    # One BLAS thread: for problems this small, more threads only contend for
    # the cores.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # A probe that stops at max_iter is still a valid (if slightly weaker)
        # probe.
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(f_fit, np.asarray(y_fit))
        return float(probe.score(f_eval, np.asarray(y_eval)))


def probe_ceiling(
    encoder_weight: Array, rotation: Array, n_informative: int, scale: float
) -> float:
    """Best accuracy of any linear probe on ``z = W1 x`` for
    :func:`~dlbook.data.synthetic.autoencoder_data`.

    In the generator's population, ``x = Q.T h`` (one sample per column) with
    ``h ~ N(0, D)``, ``D = diag(scale**2, ..., 1, ...)``, and the label is the
    sign of
    ``t = 1.T h[:n_informative]``. ``z`` and ``t`` are jointly Gaussian, so the
    best classifier from ``z`` is the sign of ``E[t | z]`` and it is right with
    probability ``1 - arccos(rho) / pi``, where ``rho`` is the correlation of
    ``t`` with its best linear prediction from ``z``.

    Raises:
        ValueError: the shapes of ``encoder_weight`` (``k x d``) and
            ``rotation`` (``d x d``) do not match, or ``n_informative`` is out
            of range.
    """
    w1, q = (
        _as_float64(encoder_weight, "encoder_weight"),
        _as_float64(rotation, "rotation"),
    )
    d = q.shape[0]
    if q.shape != (d, d) or w1.shape[1] != d:
        raise ValueError(
            f"need encoder_weight [k, d] and rotation [d, d], got {w1.shape} "
            f"and {q.shape}"
        )
    if not 1 <= n_informative <= d:
        raise ValueError(
            f"n_informative must lie in [1, {d}], got {n_informative}"
        )
    variances = np.ones(d)
    variances[:n_informative] = scale**2
    cov_x = q.T @ (variances[:, None] * q)  # Cov(x) for x = Q.T h
    cov_h_t = np.where(np.arange(d) < n_informative, scale**2, 0.0)  # Cov(h, t)
    cov_z = w1 @ cov_x @ w1.T
    cov_z_t = w1 @ q.T @ cov_h_t
    explained = float(cov_z_t @ np.linalg.pinv(cov_z, hermitian=True) @ cov_z_t)
    rho = np.sqrt(np.clip(explained / (n_informative * scale**2), 0.0, 1.0))
    return float(1.0 - np.arccos(rho) / np.pi)


@preserves_global_rng
def sweep_latent_sizes(
    x_train: torch.Tensor,
    x_fit: torch.Tensor,
    y_fit: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    latent_sizes: list[int],
    corruptions: tuple[str, ...] = CORRUPTIONS,
    activation: Literal["relu", "linear"] = "linear",
    device: torch.device | None = None,
    seed: int = 0,
    **train_kwargs: Any,
) -> tuple[list[dict], dict[tuple[str, int], Autoencoder]]:
    """Train one autoencoder per (corruption, latent size) and score it before
    and after.

    Each model starts from the same seeded initialization for a given latent
    size, so "untrained" and "trained" differ only by training. Returns one
    row per model (``corruption``, ``latent``, ``reconstruction`` = test MSE
    per entry on clean inputs, ``probe_untrained``, ``probe_trained``, and the
    training curve ``losses``: one mean training loss per epoch run) and the
    trained models keyed by ``(corruption, latent)``. ``train_kwargs`` go to
    :func:`train_autoencoder`; the probe is fitted on ``(x_fit, y_fit)`` and
    scored on ``(x_test, y_test)``.
    """
    rows, models = [], {}
    for corruption in corruptions:
        for latent in latent_sizes:
            torch.manual_seed(seed)
            model = Autoencoder(x_train.shape[1], latent, activation=activation)
            if device is not None:
                model = model.to(device)
            untrained = linear_probe(model, x_fit, y_fit, x_test, y_test)
            losses = train_autoencoder(
                model,
                x_train,
                corruption=corruption,  # type: ignore[arg-type]
                seed=seed,
                **train_kwargs,
            )
            rows.append(
                {
                    "corruption": corruption,
                    "latent": latent,
                    "reconstruction": reconstruction_error(model, x_test),
                    "probe_untrained": untrained,
                    "probe_trained": linear_probe(
                        model, x_fit, y_fit, x_test, y_test
                    ),
                    "losses": losses,
                }
            )
            models[(corruption, latent)] = model
    return rows, models


def _as_float64(a: object, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray or torch.Tensor, got "
            f"{type(a).__name__}"
        )
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(
            f"{name} must be a non-empty 2-D matrix, got shape {a.shape}"
        )
    if not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def principal_angles(a: Array, b: Array) -> Array:
    """Principal angles (radians, ascending) between the column spaces of ``a``
    and ``b``.

    With orthonormal bases ``Qa``, ``Qb``, the cosines are the singular values
    of ``Qa.T @ Qb``; small angles are taken from the sines (singular values of
    ``Qb - Qa Qa.T Qb``), which stay accurate where ``arccos`` loses digits
    (Björck and Golub's method). Returns ``min(rank a, rank b)`` angles, in
    the kind of ``a``.

    Raises:
        ValueError: ``a`` and ``b`` have different numbers of rows, or either
            has rank 0.
    """
    a64, b64 = _as_float64(a, "a"), _as_float64(b, "b")
    if a64.shape[0] != b64.shape[0]:
        raise ValueError(
            f"a and b must have the same number of rows, got {a64.shape[0]} "
            f"and {b64.shape[0]}"
        )
    qa, qb = _orthonormal_basis(a64, "a"), _orthonormal_basis(b64, "b")
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa
    cosines = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1.0, 1.0)
    sines = np.clip(
        np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False), -1.0, 1.0
    )
    angles = np.where(
        cosines**2 > 0.5, np.arcsin(np.sort(sines)), np.arccos(cosines)
    )
    angles = np.sort(angles)
    return torch.from_numpy(angles) if isinstance(a, torch.Tensor) else angles


def _orthonormal_basis(a: np.ndarray, name: str) -> np.ndarray:
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    rank = int(
        (s > s.max(initial=0.0) * max(a.shape) * np.finfo(float).eps).sum()
    )
    if rank == 0:
        raise ValueError(f"{name} has rank 0: it spans no subspace")
    return u[:, :rank]


def principal_directions(x: Array, k: int) -> tuple[Array, Array]:
    """Top-``k`` principal directions (``[d, k]``, orthonormal) and variances of
    the rows of ``x``.

    The variances are the top eigenvalues of the covariance ``xc.T @ xc / n``
    of the centred data (``1/n`` as in the problem sets), in descending order.

    Raises:
        ValueError: ``k`` is not in [1, d].
    """
    x64 = _as_float64(x, "x")
    k = _check_positive_int(k, "k")
    if k > x64.shape[1]:
        raise ValueError(
            f"k must be at most the dimension d={x64.shape[1]}, got {k}"
        )
    centred = x64 - x64.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    # (s / sqrt(n))**2, not s**2 / n: s**2 can overflow where the variance
    # fits float64
    directions, variances = vt[:k].T, np.square(s[:k] / math.sqrt(len(x64)))
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(directions), torch.from_numpy(variances)
    return directions, variances


def linear_autoencoder_objective(
    w1: Array, w2: Array, x: Array, lam: float = 0.0
) -> float:
    """``(1/n) ||X - W2 W1 X||_F**2 + lam (||W1||_F**2 + ||W2||_F**2)`` with
    ``X = x.T``.

    The data are used as given (centre them first for the PCA setting).

    Raises:
        ValueError: the shapes do not chain (``w1`` is ``k x d``, ``w2`` is
            ``d x k``,
            ``x`` is ``n x d``) or ``lam < 0``.
    """
    w1_, w2_, x_ = (
        _as_float64(w1, "w1"),
        _as_float64(w2, "w2"),
        _as_float64(x, "x"),
    )
    d, k = x_.shape[1], w1_.shape[0]
    if w1_.shape != (k, d) or w2_.shape != (d, k):
        raise ValueError(
            f"need w1 [k, {d}] and w2 [{d}, k], got {w1_.shape} and {w2_.shape}"
        )
    if not lam >= 0:
        raise ValueError(f"lam must be non-negative, got {lam}")
    residual = x_.T - w2_ @ (w1_ @ x_.T)
    data_term = float((residual**2).sum()) / len(x_)
    return data_term + lam * float((w1_**2).sum() + (w2_**2).sum())


def regularized_optimum(x: Array, k: int, lam: float) -> tuple[Array, Array]:
    """A global minimizer ``(W1, W2)`` of :func:`linear_autoencoder_objective`.

    ``W2 = U_k diag(sqrt(max(0, 1 - lam / s_i)))`` and ``W1 = W2.T``, where
    ``s_i`` and ``U_k`` are the top-``k`` variances and directions of the
    centred ``x`` (:func:`principal_directions`); the data term is evaluated
    on the centred data. For ``lam = 0`` this is ``W1 = U_k.T``, ``W2 = U_k``.
    Every other minimizer is ``(R.T W1, W2 R)`` for an orthogonal ``R``
    (for ``lam > 0``; for ``lam = 0`` any invertible ``R``).

    Raises:
        ValueError: ``lam < 0`` or ``k`` out of range.
    """
    if not lam >= 0:
        raise ValueError(f"lam must be non-negative, got {lam}")
    directions, variances = principal_directions(_as_float64(x, "x"), k)
    singular = np.sqrt(np.clip(1.0 - lam / variances, 0.0, None))
    w2 = directions * singular
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(w2.T.copy()), torch.from_numpy(w2)
    return w2.T.copy(), w2


def linear_autoencoder_gd(
    cov: Array,
    w1: Array,
    w2: Array,
    *,
    lr: float,
    steps: int,
    record_every: int = 1,
) -> list[tuple[Array, Array]]:
    """Plain gradient descent on the linear-autoencoder loss
    ``tr((I - W2 W1) S (I - W2 W1).T)``.

    ``S = cov`` is the covariance ``X X.T / n`` of the centred data, so the
    loss equals :func:`linear_autoencoder_objective` and depends on the data
    only through ``S``; the steps use the closed-form gradients
    ``-2 W2.T (I - W2 W1) S`` (for ``W1``) and ``-2 (I - W2 W1) S W1.T`` (for
    ``W2``), in float64, on the device of ``cov`` when it is a tensor. Returns
    the pairs ``(W1, W2)`` at step 0 and after every ``record_every``-th
    step (and after the last), in the kind of ``cov``; the inputs are not
    changed.

    Raises:
        ValueError: shapes do not chain, ``cov`` is not square, ``lr <= 0`` or
            ``steps``/``record_every`` below 1.
    """
    s_, a, b = (
        _as_float64(cov, "cov"),
        _as_float64(w1, "w1"),
        _as_float64(w2, "w2"),
    )
    d, k = s_.shape[0], a.shape[0]
    if s_.shape != (d, d) or a.shape != (k, d) or b.shape != (d, k):
        raise ValueError(
            f"need cov [d, d], w1 [k, d] and w2 [d, k], got {s_.shape}, "
            f"{a.shape}, {b.shape}"
        )
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    steps = _check_positive_int(steps, "steps")
    record_every = _check_positive_int(record_every, "record_every")
    device = (
        cov.device if isinstance(cov, torch.Tensor) else torch.device("cpu")
    )
    s_t, w1_t, w2_t = (torch.from_numpy(m).to(device) for m in (s_, a, b))
    eye = torch.eye(d, dtype=torch.float64, device=device)
    record = [(w1_t, w2_t)]
    for step in range(1, steps + 1):
        hs = (eye - w2_t @ w1_t) @ s_t
        grad_w1, grad_w2 = -2 * w2_t.T @ hs, -2 * hs @ w1_t.T
        w1_t, w2_t = w1_t - lr * grad_w1, w2_t - lr * grad_w2
        if step % record_every == 0 or step == steps:
            record.append((w1_t, w2_t))
    if isinstance(cov, torch.Tensor):
        return record
    return [(p.cpu().numpy(), q.cpu().numpy()) for p, q in record]
