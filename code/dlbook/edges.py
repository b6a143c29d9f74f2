"""Models and tools for the CNN inductive-bias experiments (edge images).

The two models of the EECS 182 edge-detection notebook (Fall 2025, HW 4,
Problem 6): :class:`SimpleCNN`, a two-layer convolutional network that ends
in global average pooling, and :class:`MLP`, a fully connected network on the
flattened pixels. :func:`edge_detector_kernels` are hand-designed edge
filters; :func:`freeze_edge_detectors` puts them into a CNN and freezes its
convolutions, so that only the classifier learns. :func:`fit` builds a model
from a seed and trains it with the course's optimizer (SGD, learning rate
0.01, momentum 0.9) through :func:`dlbook.train.train`; :func:`confusion`,
:func:`edge_similarity` and :func:`show_filters` read out what a trained
model does.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import nn

from dlbook._checks import positive_int
from dlbook.runtime import device as default_device
from dlbook.runtime import preserves_global_rng
from dlbook.train import History, _dataset, evaluate, train

__all__ = [
    "MLP",
    "Fit",
    "SimpleCNN",
    "confusion",
    "edge_detector_kernels",
    "edge_similarity",
    "fit",
    "freeze_edge_detectors",
    "predict",
    "show_filters",
]

Kind = Literal["cnn", "mlp", "edge-cnn"]


def _check_cnn(
    n_classes: int, kernel_size: int, pool: str, channels: int
) -> None:
    positive_int(n_classes, "n_classes")
    positive_int(channels, "channels")
    if positive_int(kernel_size, "kernel_size") % 2 == 0:
        raise ValueError(
            f"kernel_size must be odd (same padding), got {kernel_size}"
        )
    if pool not in ("max", "avg"):
        raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")


class SimpleCNN(nn.Module):
    """conv k×k (1→c) → ReLU → pool 2 → conv k×k (c→c) → ReLU → global
    average pool → linear (c→n_classes).

    Both convolutions pad by ``k // 2`` with reflected pixels, so a feature
    map keeps its size; ``pool`` chooses 2×2 max or average pooling. Input
    ``[N, 1, H, W]`` (H, W ≥ 2 and large enough to reflect ``k // 2``
    pixels: ``k // 2 < H / 2``), output logits ``[N, n_classes]``. The
    course's model is the default: ``c = 3``, ``k = 7``, max pooling.

    Raises:
        ValueError: ``kernel_size`` is not a positive odd integer, ``pool``
            is not ``"max"`` or ``"avg"``, or a size is not positive.
    """

    def __init__(
        self,
        n_classes: int = 3,
        *,
        kernel_size: int = 7,
        pool: Literal["max", "avg"] = "max",
        channels: int = 3,
    ) -> None:
        super().__init__()
        _check_cnn(n_classes, kernel_size, pool, channels)
        k, c = kernel_size, channels
        self.conv1 = nn.Conv2d(1, c, k, padding=k // 2, padding_mode="reflect")
        self.pool = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(c, c, k, padding=k // 2, padding_mode="reflect")
        self.fc = nn.Linear(channels, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features ``[N, c]`` that the classifier sees."""
        x = self.pool(torch.relu(self.conv1(x)))
        return torch.relu(self.conv2(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class MLP(nn.Module):
    """flatten → linear (H·W→50) → ReLU → linear (50→10) → ReLU → linear
    (10→n_classes).

    Input ``[N, 1, H, W]`` or ``[N, H·W]``, output logits ``[N, n_classes]``.
    The course's model is the default (28×28 inputs, hidden sizes 50, 10).

    Raises:
        ValueError: a size is not a positive integer.
    """

    def __init__(
        self,
        n_classes: int = 3,
        *,
        n_inputs: int = 28 * 28,
        hidden: tuple[int, ...] = (50, 10),
    ) -> None:
        super().__init__()
        sizes = [positive_int(n_inputs, "n_inputs")]
        sizes += [positive_int(h, "hidden") for h in hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(
            nn.Linear(sizes[-1], positive_int(n_classes, "n_classes"))
        )
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def edge_detector_kernels(kernel_size: int = 7) -> torch.Tensor:
    """Three hand-designed edge detectors, float32 ``[3, 1, k, k]``.

    Prewitt filters grown to ``k × k``: ``-1`` on the rows above the centre,
    ``+1`` below it and ``0`` on the centre row, so that a dark-to-bright
    step going down the image gives a positive response (channel 0, for
    horizontal edges); its transpose (channel 1, vertical edges); and the
    same on the two sides of the main diagonal (channel 2, diagonal edges).
    A step of contrast ``c`` across a horizontal edge gives at most
    ``c · k (k - 1) / 2`` in channel 0.

    Raises:
        ValueError: ``kernel_size`` is not an odd integer ≥ 3.
    """
    if positive_int(kernel_size, "kernel_size") < 3 or kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be an odd integer >= 3, got {kernel_size}"
        )
    centre = kernel_size // 2
    rows, cols = torch.meshgrid(
        torch.arange(kernel_size), torch.arange(kernel_size), indexing="ij"
    )
    horizontal = torch.sign(rows - centre).float()
    diagonal = torch.sign(rows - cols).float()
    return torch.stack([horizontal, horizontal.T, diagonal]).unsqueeze(1)


def freeze_edge_detectors(model: SimpleCNN) -> SimpleCNN:
    """Load the edge detectors into ``model`` and freeze its convolutions.

    ``conv1`` gets :func:`edge_detector_kernels` (zero bias); ``conv2``
    passes each channel through unchanged (a centred one, zero bias), so the
    classifier sees the average (pooled, rectified) response of each
    detector. Only ``model.fc`` keeps ``requires_grad``. Changes ``model``
    in place and returns it.

    Raises:
        TypeError: ``model`` is not a :class:`SimpleCNN`.
        ValueError: ``model`` does not have three channels.
    """
    if not isinstance(model, SimpleCNN):
        raise TypeError(
            f"model must be a SimpleCNN, got {type(model).__name__}"
        )
    channels, _, k, _ = model.conv1.weight.shape
    if channels != 3:
        raise ValueError(f"model must have 3 channels, got {channels}")
    with torch.no_grad():
        model.conv1.weight.copy_(edge_detector_kernels(k))
        model.conv1.bias.zero_()  # type: ignore[union-attr]
        model.conv2.weight.zero_()
        for c in range(channels):
            model.conv2.weight[c, c, k // 2, k // 2] = 1.0
        model.conv2.bias.zero_()  # type: ignore[union-attr]
    for layer in (model.conv1, model.conv2):
        for parameter in layer.parameters():
            parameter.requires_grad_(False)
    return model


@dataclass
class Fit:
    """A model trained by :func:`fit`.

    ``model`` is the trained model (in eval mode), ``initial`` a copy of it
    before training, ``history`` the per-epoch record of
    :func:`dlbook.train.train` (``len(history.train_loss)`` epochs ran).
    The next four fields are the loss and accuracy of the trained model on
    the whole training and validation data, measured after training;
    ``fitted`` says whether the stopping rule of :func:`fit` was met (always
    ``True`` without one).
    """

    model: nn.Module
    initial: nn.Module
    history: History
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    fitted: bool

    @property
    def epochs(self) -> int:
        """The number of epochs trained."""
        return len(self.history.train_loss)


def _make(kind: str, n_classes: int, model_args: dict[str, Any]) -> nn.Module:
    if kind == "mlp":
        return MLP(n_classes, **model_args)
    if kind == "cnn":
        return SimpleCNN(n_classes, **model_args)
    if kind == "edge-cnn":
        return freeze_edge_detectors(SimpleCNN(n_classes, **model_args))
    raise ValueError(f"kind must be 'cnn', 'mlp' or 'edge-cnn', got {kind!r}")


def _check_fit(lr: float, momentum: float, until_loss: float | None) -> None:
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    if until_loss is not None and not until_loss > 0:
        raise ValueError(f"until_loss must be positive, got {until_loss}")


@contextlib.contextmanager
def _native_cpu_convolutions(dev: torch.device) -> Iterator[None]:
    """On the CPU, run convolutions through PyTorch's own kernels instead of
    oneDNN's, and restore the setting afterwards.

    For these tiny networks (three channels, minibatches of 8) oneDNN's fixed
    cost per call is most of a training step: without it a SimpleCNN step on
    two cores takes about 1.6 ms instead of 2.1 ms. Other devices are left
    alone.
    """
    if dev.type != "cpu":
        yield
        return
    previous = torch.backends.mkldnn.set_flags(False)[0]
    try:
        yield
    finally:
        torch.backends.mkldnn.set_flags(previous)


@preserves_global_rng
def fit(
    kind: Kind,
    train_data: tuple[torch.Tensor, torch.Tensor],
    val_data: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    n_classes: int = 3,
    lr: float = 1e-2,
    momentum: float = 0.9,
    batch_size: int = 8,
    until_loss: float | None = None,
    check_every: int = 5,
    seed: int = 0,
    device: torch.device | str | None = None,
    track: bool = False,
    **model_args: Any,
) -> Fit:
    """Build a ``kind`` model from ``seed`` and train it on ``train_data``.

    ``kind`` is ``"cnn"`` (:class:`SimpleCNN`), ``"mlp"`` (:class:`MLP`) or
    ``"edge-cnn"`` (a SimpleCNN with :func:`freeze_edge_detectors`: only the
    classifier trains; since the features are then fixed, it is trained on
    them directly, which takes the same steps faster). ``model_args`` go to
    the model (``kernel_size``, ``pool``, …). Training is
    :func:`dlbook.train.train` with SGD (``lr``, ``momentum``; the course's
    0.01 and 0.9 by default) on shuffled
    minibatches of ``batch_size``, for ``epochs`` epochs, or, with
    ``until_loss``, until the training data is fitted: every ``check_every``
    epochs the model is evaluated on the whole training set, and training
    stops once it classifies every training image correctly with a mean loss
    below ``until_loss`` (``epochs`` is then the maximum). One optimizer
    (and its momentum) runs throughout. With ``track`` the history also
    records the validation loss and accuracy after every epoch. The result
    depends on ``seed`` alone (initialization and shuffling); global random
    state is left alone.

    Raises:
        ValueError: unknown ``kind``, a size that is not a positive integer,
            a learning rate or ``until_loss`` that is not positive, momentum
            outside [0, 1), or a bad model argument.
        TypeError: data that :func:`dlbook.train.train` refuses.
    """
    _check_fit(lr, momentum, until_loss)
    # refused here, by name, rather than after training
    _dataset(train_data, "train_data")
    _dataset(val_data, "val_data")
    epochs = positive_int(epochs, "epochs")
    chunk = epochs if until_loss is None else check_every
    chunk = positive_int(chunk, "check_every")
    model = _make(kind, n_classes, model_args)
    initial = copy.deepcopy(model)
    dev = torch.device(device) if device is not None else default_device()
    with _native_cpu_convolutions(dev):
        model.to(dev)
        learner, train_in, val_in = model, train_data, val_data
        if isinstance(model, SimpleCNN) and kind == "edge-cnn":
            # Frozen convolutions make the features fixed: training the classifier
            # on them gives the same steps without recomputing the convolutions.
            learner = model.fc
            train_in = (_features(model, train_data[0], dev), train_data[1])
            val_in = (_features(model, val_data[0], dev), val_data[1])
        optimizer = torch.optim.SGD(
            [p for p in learner.parameters() if p.requires_grad],
            lr=lr,
            momentum=momentum,
        )
        history, done, fitted = History(), 0, until_loss is None
        while done < epochs:
            part = train(
                learner,
                train_in,
                val_data=val_in if track else None,
                epochs=min(chunk, epochs - done),
                batch_size=batch_size,
                optimizer=lambda _: optimizer,
                seed=int(
                    np.random.SeedSequence([seed, done]).generate_state(1)[0]
                ),
                device=dev,
                progress=False,
            )
            for name, values in vars(part).items():
                getattr(history, name).extend(values)
            done += len(part.train_loss)
            if until_loss is not None:
                loss, accuracy = evaluate(learner, train_in)
                if accuracy == 1.0 and loss < until_loss:
                    fitted = True
                    break
        model.eval()
        train_loss, train_accuracy = evaluate(model, train_data)
        val_loss, val_accuracy = evaluate(model, val_data)
        return Fit(
            model,
            initial,
            history,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            fitted,
        )


@torch.no_grad()
def _features(
    model: SimpleCNN, images: torch.Tensor, dev: torch.device
) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError("train_data and val_data must hold two tensors")
    chunks = [model.features(x.to(dev)).cpu() for x in images.split(1024)]
    return torch.cat(chunks)


@torch.no_grad()
def predict(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 1024
) -> torch.Tensor:
    """Predicted class indices (int64 ``[N]``) of ``model`` for ``images``.

    The model is evaluated in eval mode on its own device; the answer is on
    the CPU.

    Raises:
        TypeError: ``images`` is not a tensor.
        ValueError: ``batch_size`` is not a positive integer.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a tensor, got {type(images).__name__}")
    positive_int(batch_size, "batch_size")
    parameter = next(model.parameters(), None)
    dev = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    out = [
        model(chunk.to(dev)).argmax(dim=1).cpu()
        for chunk in images.split(batch_size)
    ]
    model.train(was_training)
    return torch.cat(out)


def confusion(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], n_classes: int
) -> np.ndarray:
    """Confusion matrix ``[n_classes, n_classes]`` (int64) of ``model`` on
    ``data``.

    Entry ``[i, j]`` counts the images of true class ``i`` predicted as
    class ``j`` (rows: truth; scikit-learn's convention, with every class
    listed even if absent).

    Raises:
        TypeError: ``data`` is not a pair of tensors.
        ValueError: a label lies outside ``0..n_classes-1``.
    """
    if not (
        isinstance(data, tuple)
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        raise TypeError("data must be a pair of tensors (images, labels)")
    images, labels = data
    n = positive_int(n_classes, "n_classes")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n):
        raise ValueError(f"labels must lie in 0..{n - 1}")
    predicted = predict(model, images)
    return confusion_matrix(
        labels.cpu().numpy(), predicted.numpy(), labels=list(range(n))
    ).astype(np.int64)


def edge_similarity(kernels: torch.Tensor) -> torch.Tensor:
    """How much each kernel looks like each hand-made edge detector.

    ``kernels`` is ``[c, 1, k, k]`` or ``[c, k, k]`` with odd ``k >= 3``; the
    result, ``[c, 3]`` (float32), holds the absolute cosine similarity
    ``|<W, E>| / (|W| |E|)`` between kernel ``W`` and each of the three
    detectors ``E`` of :func:`edge_detector_kernels` (horizontal, vertical,
    diagonal), so the sign of a filter does not matter: 1 for a scaled copy
    (or negative copy) of a detector, near 0 for an unrelated kernel. A zero
    kernel gives 0.

    Raises:
        ValueError: ``kernels`` has the wrong shape or an even kernel size.
    """
    w = kernels.detach().cpu().double()
    if w.ndim == 4 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError(
            "kernels must be [c, 1, k, k] or [c, k, k], got shape "
            f"{tuple(kernels.shape)}"
        )
    detectors = edge_detector_kernels(w.shape[-1])[:, 0].flatten(1).double()
    detectors = detectors / detectors.norm(dim=1, keepdim=True)
    # in float64, each kernel divided by its largest entry first: the norm of
    # a kernel of any finite scale neither overflows nor underflows
    flat = w.flatten(1)
    peak = flat.abs().amax(dim=1, keepdim=True)
    flat = flat / torch.where(peak > 0, peak, 1.0)
    norms = flat.norm(dim=1, keepdim=True)
    cosine = (flat @ detectors.T).abs() / torch.where(norms > 0, norms, 1.0)
    return cosine.float()


def show_filters(
    axes: Any, kernels: torch.Tensor, *, label: str | None = None
) -> None:
    """Draw each ``k × k`` kernel of ``kernels`` (``[c, 1, k, k]`` or
    ``[c, k, k]``) on one of ``axes``, with a symmetric blue-white-red scale
    per kernel (white is 0).

    Raises:
        ValueError: fewer axes than kernels, or a bad shape.
    """
    w = kernels.detach().cpu().float()
    if w.ndim == 4:
        w = w[:, 0]
    if w.ndim != 3:
        raise ValueError(
            f"kernels must be [c, 1, k, k] or [c, k, k], got {tuple(w.shape)}"
        )
    axes = list(np.ravel(axes))
    if len(axes) < len(w):
        raise ValueError(f"need {len(w)} axes, got {len(axes)}")
    for c, (ax, kernel) in enumerate(zip(axes, w)):
        scale = float(kernel.abs().max()) or 1.0
        ax.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_title(f"{label} {c}" if label else f"filter {c}", fontsize=9)
