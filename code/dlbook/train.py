"""One small training and evaluation loop for the book's classifiers.

:func:`train` runs minibatch training for a number of epochs and records a
:class:`History` (loss, accuracy and wall time per epoch, on the training data
and optionally on validation data). It is deterministic given ``seed`` (the
shuffling and any dropout draw from generators seeded by it, and the caller's
global random state is left alone), runs on :func:`dlbook.runtime.device` by
default, and shows a progress bar only in an interactive terminal, so a book
build stays quiet.

Data is a pair of tensors ``(inputs, labels)`` or any map-style
``torch.utils.data.Dataset`` of such pairs; labels are class indices (int64).
A pair of tensors (or a ``TensorDataset`` of two) is sliced one minibatch at
a time; any other dataset goes through a ``DataLoader``, one sample at a
time. Both give the same minibatches. The loss and accuracy of each batch
stay on the device until the end of the epoch, so a step does not wait for
the device.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from dlbook._checks import positive_int
from dlbook.runtime import device as default_device
from dlbook.runtime import preserves_global_rng

__all__ = ["History", "OptimizerFactory", "evaluate", "train"]

Data = tuple[torch.Tensor, torch.Tensor] | Dataset
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
"""Makes the optimizer from the model's parameters, e.g.
``lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9)``."""


@dataclass
class History:
    """Per-epoch records of :func:`train` (one entry per epoch).

    ``train_loss`` is the mean loss over the epoch's minibatches (the usual
    running loss); ``train_accuracy`` is measured on those same batches.
    ``val_loss`` and ``val_accuracy`` are measured after the epoch on the
    validation data (empty without it). ``seconds`` is the wall time of each
    epoch, evaluation included.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def _dataset(data: object, name: str) -> Dataset:
    if isinstance(data, Dataset):
        if not hasattr(data, "__len__"):
            raise TypeError(f"{name} must be a map-style Dataset with a length")
        if len(cast(Sized, data)) == 0:
            raise ValueError(f"{name} is empty")
        return data
    if isinstance(data, tuple) and len(data) == 2:
        inputs, labels = data
        if not isinstance(inputs, torch.Tensor) or not isinstance(
            labels, torch.Tensor
        ):
            raise TypeError(f"{name} must hold two tensors (inputs, labels)")
        if labels.dtype != torch.long or labels.ndim != 1:
            raise TypeError(
                f"{name} labels must be a 1-D int64 tensor of class indices, "
                f"got {labels.dtype} with shape {tuple(labels.shape)}"
            )
        if len(inputs) != len(labels):
            raise ValueError(
                f"{name} has {len(inputs)} inputs but {len(labels)} labels"
            )
        if len(labels) == 0:
            raise ValueError(f"{name} is empty")
        return TensorDataset(inputs, labels)
    raise TypeError(
        f"{name} must be a (inputs, labels) pair of tensors or a "
        f"torch Dataset, got {type(data).__name__}"
    )


def _batches(
    dataset: Dataset, batch_size: int, order: torch.Tensor | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The minibatches of ``dataset`` with the samples in ``order`` (indices;
    ``None``: in sequence), ``batch_size`` at a time, the last one shorter."""
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        inputs, labels = dataset.tensors
        if order is None:
            yield from zip(inputs.split(batch_size), labels.split(batch_size))
        else:
            for idx in order.split(batch_size):
                yield inputs[idx], labels[idx]
        return
    sampler = None if order is None else order.tolist()
    yield from DataLoader(dataset, batch_size=batch_size, sampler=sampler)


def _sum(values: list[torch.Tensor], sizes: list[int]) -> float:
    """``sum(value * size)`` over the batches, in batch order, in Python
    floats: one transfer from the device for the whole list."""
    return sum(v * n for v, n in zip(torch.stack(values).tolist(), sizes))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Data,
    *,
    batch_size: int = 512,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy (fraction correct) of ``model`` on ``data``.

    The model is put in eval mode for the pass and returned to its previous
    mode. ``loss_fn`` defaults to cross entropy on the logits.

    Raises:
        TypeError, ValueError: ``data`` is not a dataset or a matching
            (inputs, int64 labels) pair, or ``batch_size`` is not positive.
    """
    dataset = _dataset(data, "data")
    batch_size = positive_int(batch_size, "batch_size")
    loss_fn = loss_fn or nn.functional.cross_entropy
    dev = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    losses, hits, sizes = [], [], []
    for inputs, labels in _batches(dataset, batch_size):
        inputs, labels = inputs.to(dev), labels.to(dev)
        logits = model(inputs)
        losses.append(loss_fn(logits, labels))
        hits.append((logits.argmax(dim=1) == labels).sum())
        sizes.append(len(labels))
    model.train(was_training)
    count = sum(sizes)
    return _sum(losses, sizes) / count, int(torch.stack(hits).sum()) / count


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@preserves_global_rng
def train(
    model: nn.Module,
    train_data: Data,
    *,
    epochs: int,
    val_data: Data | None = None,
    optimizer: OptimizerFactory | None = None,
    batch_size: int = 64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs of shuffled minibatches.

    ``optimizer`` makes the optimizer from the parameters (default: SGD with
    learning rate 0.01); ``loss_fn`` defaults to cross entropy on the logits.
    The model is moved to ``device`` (default :func:`dlbook.runtime.device`)
    and left there, in eval mode. ``progress=None`` shows a bar only when
    standard error is a terminal.

    Raises:
        TypeError, ValueError: bad data (see :func:`evaluate`), or ``epochs``
            or ``batch_size`` not a positive integer.
    """
    dataset = _dataset(train_data, "train_data")
    val = None if val_data is None else _dataset(val_data, "val_data")
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    dev = torch.device(device) if device is not None else default_device()
    model.to(dev)
    loss_fn = loss_fn or nn.functional.cross_entropy
    make = optimizer or (lambda params: torch.optim.SGD(params, lr=0.01))
    opt = make(model.parameters())
    generator = torch.Generator().manual_seed(seed)
    n = len(cast(Sized, dataset))
    show = sys.stderr.isatty() if progress is None else progress
    history = History()
    for _ in _epochs(epochs, show):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator)
        losses, hits, sizes = [], [], []
        for inputs, labels in _batches(dataset, batch_size, order):
            inputs, labels = inputs.to(dev), labels.to(dev)
            # Before the forward pass: the last step's gradients are freed
            # (set to None) before the activations of this one are saved.
            opt.zero_grad()
            logits = model(inputs)
            loss = loss_fn(logits, labels)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            hits.append((logits.detach().argmax(dim=1) == labels).sum())
            sizes.append(len(labels))
        history.train_loss.append(_sum(losses, sizes) / n)
        history.train_accuracy.append(int(torch.stack(hits).sum()) / n)
        if val is not None:
            val_loss, val_accuracy = evaluate(
                model, val, loss_fn=loss_fn, device=dev
            )
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_accuracy)
        history.seconds.append(time.perf_counter() - start)
    model.eval()
    return history


def _epochs(epochs: int, show: bool) -> Iterable[int]:
    """``range(epochs)``, wrapped in a tqdm progress bar when ``show``."""
    if not show:
        return range(epochs)
    from tqdm.auto import tqdm

    return tqdm(range(epochs), desc="epochs", leave=False)
