"""Debugging deep networks (EECS 182, Spring 2023, HW 7, Problem 6).

Three tools for the three parts of the problem:

* :func:`make_deep_net` builds the plain and residual networks of He et al.
  (2016) at any depth, fully connected or convolutional, with BatchNorm,
  LayerNorm or no normalization; :func:`weight_gradient_norms` measures the
  gradient that reaches each of their weight layers.
* :func:`accumulated_gradients` runs the gradient-accumulation recipe
  (``steps`` micro-batches, each loss divided by ``steps``, gradients summed
  by ``.backward()``); :func:`accumulation_mismatch` compares it with one
  full-batch pass on a copy of the model.
* :func:`sgd_loop` is a hand-written SGD loop whose ``zero_grad`` call can be
  left out, to reproduce the bug of part (c).

Depth counts **weight layers**, as in He et al.: a depth-``L`` network is a
stem layer, ``(L - 2) / 2`` blocks of two layers each and a linear
classifier, so depth 20 and 56 are the paper's ``6n + 2`` networks with
``n = 3`` and ``9`` (one width throughout, no down-sampling stages).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

import torch
from torch import nn

from dlbook._checks import positive_int
from dlbook.runtime import preserves_global_rng

__all__ = [
    "NORMS",
    "AccumulationCheck",
    "DeepNet",
    "LoopRecord",
    "accumulated_gradients",
    "accumulation_mismatch",
    "make_deep_net",
    "sgd_loop",
    "weight_gradient_norms",
]

Norm = Literal["batch", "layer", "none"]
NORMS: tuple[str, ...] = ("batch", "layer", "none")
"""The normalizations :func:`make_deep_net` accepts."""

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _norm_layer(norm: str, width: int, conv: bool) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(width) if conv else nn.BatchNorm1d(width)
    if norm == "layer":
        # per example, over all features (and positions, for feature maps)
        return nn.GroupNorm(1, width) if conv else nn.LayerNorm(width)
    return nn.Identity()


def _weight_layer(fan_in: int, width: int, conv: bool, bias: bool) -> nn.Module:
    if conv:
        return nn.Conv2d(fan_in, width, 3, padding=1, bias=bias)
    return nn.Linear(fan_in, width, bias=bias)


class _Block(nn.Module):
    """Two weight layers: ``relu(x + F(x))`` (residual) or ``relu(F(x))``,
    with ``F = norm . layer . relu . norm . layer``."""

    def __init__(self, width: int, norm: str, conv: bool, residual: bool):
        super().__init__()
        bias = norm == "none"
        self.residual = residual
        self.body = nn.Sequential(
            _weight_layer(width, width, conv, bias),
            _norm_layer(norm, width, conv),
            nn.ReLU(),
            _weight_layer(width, width, conv, bias),
            _norm_layer(norm, width, conv),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return torch.relu(x + out if self.residual else out)


class DeepNet(nn.Module):
    """The network of :func:`make_deep_net`: ``stem``, ``blocks``, ``head``.

    Input ``[N, C, H, W]`` (flattened first when fully connected), output
    logits ``[N, num_classes]``.
    """

    def __init__(
        self,
        depth: int,
        width: int,
        *,
        residual: bool,
        norm: str,
        in_shape: tuple[int, int, int],
        num_classes: int,
        conv: bool,
    ) -> None:
        super().__init__()
        c, h, w = in_shape
        bias = norm == "none"
        fan_in = c if conv else c * h * w
        self.depth, self.residual, self.norm, self.conv = (
            depth,
            residual,
            norm,
            conv,
        )
        self.stem = nn.Sequential(
            *([] if conv else [nn.Flatten()]),
            _weight_layer(fan_in, width, conv, bias),
            _norm_layer(norm, width, conv),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(
            *[
                _Block(width, norm, conv, residual)
                for _ in range((depth - 2) // 2)
            ]
        )
        pool = [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if conv else []
        self.head = nn.Sequential(*pool, nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.head(self.blocks(self.stem(x))))

    def weight_layers(self) -> list[nn.Module]:
        """The ``depth`` weight layers, from the input to the output."""
        return [
            m for m in self.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
        ]


def _check_in_shape(in_shape: object) -> tuple[int, int, int]:
    if not isinstance(in_shape, (tuple, list)) or len(in_shape) != 3:
        raise ValueError(
            f"in_shape must be (channels, height, width), got {in_shape!r}"
        )
    return cast(
        tuple[int, int, int],
        tuple(positive_int(s, "in_shape") for s in in_shape),
    )


@preserves_global_rng
def make_deep_net(
    depth: int,
    width: int,
    *,
    residual: bool,
    norm: str = "batch",
    in_shape: tuple[int, int, int] = (1, 8, 8),
    num_classes: int = 10,
    conv: bool = False,
    seed: int = 0,
) -> DeepNet:
    """A plain or residual network with ``depth`` weight layers.

    Layout (He et al. 2016, one stage): stem ``layer -> norm -> ReLU``; then
    ``(depth - 2) / 2`` blocks ``ReLU(x + norm(layer(ReLU(norm(layer(x))))))``
    (``residual=True``) or the same without ``x +`` (plain); then a linear
    classifier (after global average pooling when ``conv``). A layer is
    ``nn.Linear`` on the flattened image, or a 3x3 ``nn.Conv2d`` with
    padding 1 when ``conv``, all ``width`` units or channels wide. ``norm``:
    ``"batch"`` (BatchNorm, statistics over the batch), ``"layer"``
    (LayerNorm: statistics over each example's features; ``GroupNorm(1, C)``
    for feature maps) or ``"none"`` (then the layers get biases).

    Weights: He (Kaiming) normal initialization for ReLU, fan-in mode, zero
    biases, drawn with the global generators seeded by ``seed`` and restored
    afterwards. Without normalization a residual network's activations double
    in variance per block, so deep residual nets want ``norm != "none"``.

    Input ``[N, *in_shape]``, output logits ``[N, num_classes]``, float32.

    Raises:
        ValueError: ``depth`` is not an even integer >= 2; ``width``,
            ``num_classes`` or an entry of ``in_shape`` is not a positive
            integer; ``norm`` is not one of :data:`NORMS`.
        TypeError: ``residual`` or ``conv`` is not a bool.
    """
    depth = positive_int(depth, "depth")
    if depth < 2 or depth % 2:
        raise ValueError(
            f"depth must be an even integer >= 2 (stem + 2 per block + "
            f"classifier), got {depth}"
        )
    width = positive_int(width, "width")
    num_classes = positive_int(num_classes, "num_classes")
    shape = _check_in_shape(in_shape)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    for name, flag in (("residual", residual), ("conv", conv)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    model = DeepNet(
        depth,
        width,
        residual=residual,
        norm=norm,
        in_shape=shape,
        num_classes=num_classes,
        conv=conv,
    )
    for layer in model.weight_layers():
        weight = cast(torch.Tensor, layer.weight)
        nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(cast(torch.Tensor, layer.bias))
    return model


def _check_batch(
    model: object, x: object, y: object
) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model)}")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("x and y must be torch tensors")
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"x and y must hold the same number of examples along dim 0, "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if len(x) == 0:
        raise ValueError("x is empty")
    return model, x, y


def accumulated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    *,
    loss_fn: LossFn | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits and gradients from ``steps`` accumulated micro-batches.

    ``x`` ``[N, ...]`` and ``y`` ``[N]`` are split in order into ``steps``
    micro-batches of ``N / steps`` examples; each one's loss (``loss_fn``,
    default cross entropy, a mean over the micro-batch) is divided by
    ``steps`` and back-propagated, and ``.backward()`` sums the gradients.
    With ``steps=1`` this is the ordinary full-batch gradient of the mean
    loss. The model runs in the mode it is in: in train mode BatchNorm
    normalizes with each micro-batch's statistics and updates its running
    statistics once per micro-batch.

    Returns the logits ``[N, K]`` (the micro-batches' outputs, concatenated)
    and ``{name: gradient}`` for every parameter that requires a gradient
    (zeros for one the loss does not reach). The parameters' ``.grad`` are
    cleared before and after (set to ``None``).

    Raises:
        TypeError: ``model`` is not a module or ``x``/``y`` not tensors.
        ValueError: ``steps`` is not a positive integer dividing ``N``, or
            ``x`` and ``y`` disagree in length or are empty.
    """
    model, x, y = _check_batch(model, x, y)
    steps = positive_int(steps, "steps")
    if len(x) % steps:
        raise ValueError(
            f"steps={steps} must divide the batch of {len(x)} examples"
        )
    loss_fn = loss_fn or nn.functional.cross_entropy
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    for _, p in params:
        p.grad = None
    logits = []
    for xb, yb in zip(x.chunk(steps), y.chunk(steps)):
        out = model(xb)
        (loss_fn(out, yb) / steps).backward()
        logits.append(out.detach())
    grads = {
        n: p.grad.detach().clone()
        if p.grad is not None
        else torch.zeros_like(p)
        for n, p in params
    }
    for _, p in params:
        p.grad = None
    return torch.cat(logits), grads


def _relative_max(a: torch.Tensor, b: torch.Tensor) -> float:
    # in float64: a - b of two float16 logits near +-6e4 overflows float16
    a, b = a.double(), b.double()
    scale = float(b.abs().max()) if b.numel() else 0.0
    diff = float((a - b).abs().max()) if b.numel() else 0.0
    return diff / scale if scale > 0 else diff


@dataclass
class AccumulationCheck:
    """What :func:`accumulation_mismatch` measured (dimensionless ratios).

    Each field is ``max |accumulated - full| / max |full|`` over all entries:
    of the logits, of all parameter gradients together, and of all floating
    buffers together (BatchNorm's running statistics; 0 without buffers).
    """

    batch_size: int
    steps: int
    logits: float
    gradients: float
    buffers: float


def accumulation_mismatch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    *,
    loss_fn: LossFn | None = None,
) -> AccumulationCheck:
    """Compare ``steps`` accumulated micro-batches with one full batch.

    Runs :func:`accumulated_gradients` with ``steps`` and with ``1`` on two
    deep copies of ``model`` (which is left untouched), in the model's mode,
    and reports the largest relative differences of the logits, the
    gradients and the floating-point buffers afterwards.

    Raises:
        TypeError, ValueError: as :func:`accumulated_gradients`.
    """
    model, x, y = _check_batch(model, x, y)
    full_model, acc_model = copy.deepcopy(model), copy.deepcopy(model)
    logits_full, grads_full = accumulated_gradients(
        full_model, x, y, 1, loss_fn=loss_fn
    )
    logits_acc, grads_acc = accumulated_gradients(
        acc_model, x, y, steps, loss_fn=loss_fn
    )

    def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
        if not tensors:
            return torch.zeros(0)
        return torch.cat([t.reshape(-1).double() for t in tensors])

    def floating_buffers(m: nn.Module) -> list[torch.Tensor]:
        return [b for b in m.buffers() if b.is_floating_point()]

    return AccumulationCheck(
        batch_size=len(x) // steps,
        steps=steps,
        logits=_relative_max(logits_acc, logits_full),
        gradients=_relative_max(
            flat(list(grads_acc.values())), flat(list(grads_full.values()))
        ),
        buffers=_relative_max(
            flat(floating_buffers(acc_model)),
            flat(floating_buffers(full_model)),
        ),
    )


def weight_gradient_norms(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: LossFn | None = None,
) -> list[float]:
    """Frobenius norm of the loss gradient of each weight layer's weight.

    One forward and backward pass on ``(x, y)`` in the model's mode; the
    weight layers (``nn.Linear`` and ``nn.Conv2d``) are listed in the order
    the model registers them, from the input to the output for a
    :class:`DeepNet`. The parameters' ``.grad`` are cleared afterwards.

    Raises:
        TypeError, ValueError: ``model`` is not a module, or ``x``/``y`` are
            not tensors of the same, non-zero length.
    """
    model, x, y = _check_batch(model, x, y)
    layers = [
        m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    _, grads = accumulated_gradients(model, x, y, 1, loss_fn=loss_fn)
    by_id = dict(model.named_parameters())
    names = {id(p): n for n, p in by_id.items()}
    # the norm in float64: a float16 gradient's norm can pass 65504 (or its
    # squares underflow) while every entry, and the float answer, fits
    return [
        float(torch.linalg.vector_norm(grads[names[id(layer.weight)]].double()))
        for layer in layers
    ]


@dataclass
class LoopRecord:
    """Per-step records of :func:`sgd_loop`.

    ``loss`` is each minibatch's loss before its step; ``grad_norm`` the norm
    of all ``.grad`` buffers together when the step is taken (the direction
    SGD actually moves along, divided by the learning rate).
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)


@preserves_global_rng
def sgd_loop(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    batch_size: int,
    steps: int,
    zero_grad: bool = True,
    momentum: float = 0.0,
    loss_fn: LossFn | None = None,
    seed: int = 0,
) -> LoopRecord:
    """Plain SGD written out by hand, with or without ``zero_grad``.

    Each step draws a minibatch of ``batch_size`` examples of ``x`` ``[N,
    ...]``, ``y`` ``[N]`` (a fresh shuffle every epoch, from a generator
    seeded by ``seed``), computes ``loss_fn`` (default cross entropy), calls
    ``optimizer.zero_grad()`` only if ``zero_grad``, then ``backward()`` and
    ``optimizer.step()`` with ``torch.optim.SGD(lr=lr, momentum=momentum)``.
    Without ``zero_grad`` every step adds its gradient to all earlier ones,
    so the update is ``-lr`` times the running sum of past gradients: the
    same iterates as ``zero_grad=True, momentum=1``. Trains ``model`` in
    place (train mode) on the device of ``x`` (the model must already be
    there).

    Raises:
        TypeError: ``model``, ``x``, ``y`` of the wrong kind.
        ValueError: ``lr`` not a positive finite number, ``momentum`` not
            in ``[0, 1]``; ``batch_size`` or ``steps`` not a positive
            integer, or ``batch_size`` larger than ``N``.
    """
    model, x, y = _check_batch(model, x, y)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"lr must be a number, got {type(lr).__name__}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(
            f"momentum must be a number, got {type(momentum).__name__}"
        )
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    batch_size = positive_int(batch_size, "batch_size")
    steps = positive_int(steps, "steps")
    if batch_size > len(x):
        raise ValueError(
            f"batch_size={batch_size} exceeds the {len(x)} examples"
        )
    loss_fn = loss_fn or nn.functional.cross_entropy
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    per_epoch = len(x) // batch_size
    record = LoopRecord()
    model.train()
    optimizer.zero_grad()
    order = torch.randperm(len(x), generator=generator)
    for step in range(steps):
        if step % per_epoch == 0 and step > 0:
            order = torch.randperm(len(x), generator=generator)
        start = (step % per_epoch) * batch_size
        idx = order[start : start + batch_size].to(x.device)
        loss = loss_fn(model(x[idx]), y[idx])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        squares = torch.stack([(g.double() ** 2).sum() for g in grads])
        record.grad_norm.append(float(squares.sum().sqrt()))
        record.loss.append(float(loss.detach()))
        optimizer.step()
    return record
