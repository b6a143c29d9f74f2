"""Image classifiers for the MLP-versus-CNN comparison (6.S898 HW 2, 6–8)
and the Muon experiments (EECS 182, Fall 2025, HW 6, P6).

:func:`make_mlp` flattens the image and applies ``depth`` fully connected
layers of ``width`` units; :func:`make_cnn` extracts features with
convolutions (3x3, padding 1, ReLU, a 2x2 max pool after every second one)
and classifies them with a small MLP; :func:`make_muon_cnn` is the course's
CNN for the Muon comparison (three convolutions, each pooled, then a
dropout MLP). All take images ``[N, C, H, W]`` and return logits
``[N, num_classes]``, and all build their weights from their own ``seed``,
leaving the caller's global random state alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlbook._checks import positive_int
from dlbook.runtime import preserves_global_rng

__all__ = [
    "count_multiply_adds",
    "count_parameters",
    "make_cnn",
    "make_mlp",
    "make_muon_cnn",
]


def _check_shape(
    in_channels: object, image_size: object, num_classes: object
) -> tuple[int, int, int]:
    return (
        positive_int(in_channels, "in_channels"),
        positive_int(image_size, "image_size"),
        positive_int(num_classes, "num_classes"),
    )


def _mlp_layers(sizes: Sequence[int]) -> list[nn.Module]:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU between."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return layers


@preserves_global_rng
def make_mlp(
    in_channels: int = 3,
    num_classes: int = 100,
    *,
    image_size: int = 32,
    width: int = 128,
    depth: int = 3,
    seed: int = 0,
) -> nn.Sequential:
    """A multilayer perceptron on flattened images.

    ``depth`` counts the fully connected (weight) layers: ``depth=3`` is
    ``C*H*W -> width -> width -> num_classes`` with a ReLU after each hidden
    layer. Input ``[N, in_channels, image_size, image_size]``, output logits
    ``[N, num_classes]``. PyTorch's default initialization, drawn with the
    global generators seeded by ``seed`` and restored afterwards.

    Raises:
        ValueError: a size, ``width`` or ``depth`` is not a positive integer.
    """
    c, s, k = _check_shape(in_channels, image_size, num_classes)
    w, d = positive_int(width, "width"), positive_int(depth, "depth")
    sizes = [c * s * s] + [w] * (d - 1) + [k]
    return nn.Sequential(nn.Flatten(), *_mlp_layers(sizes))


@preserves_global_rng
def make_cnn(
    in_channels: int = 3,
    num_classes: int = 100,
    *,
    image_size: int = 32,
    channels: Sequence[int] = (32, 32, 64, 64),
    width: int = 128,
    mlp_depth: int = 3,
    seed: int = 0,
) -> nn.Sequential:
    """A CNN feature extractor followed by an MLP classifier.

    One convolution per entry of ``channels`` (3x3, padding 1, so the size is
    kept; each followed by a ReLU), with a 2x2 max pool after every second
    one; then the feature map is flattened and passed through ``mlp_depth``
    linear layers (``width`` hidden units, ReLU between). The defaults are
    the problem's four convolutional and three MLP layers; on 32x32 CIFAR
    images the feature map entering the MLP is ``64 x 8 x 8``. Input
    ``[N, in_channels, image_size, image_size]``, output logits
    ``[N, num_classes]``. Weights from PyTorch's default initialization,
    drawn with the global generators seeded by ``seed`` and restored
    afterwards.

    Raises:
        ValueError: a size or channel count is not a positive integer,
            ``channels`` is empty, or the pools would shrink the image below
            one pixel.
    """
    c, s, k = _check_shape(in_channels, image_size, num_classes)
    widths = _check_channels(channels, s)
    w, d = positive_int(width, "width"), positive_int(mlp_depth, "mlp_depth")
    side = s // 2 ** (len(widths) // 2)  # after the max pools
    return nn.Sequential(
        *_conv_layers([c, *widths]),
        nn.Flatten(),
        *_mlp_layers([widths[-1] * side**2] + [w] * (d - 1) + [k]),
    )


@preserves_global_rng
def make_muon_cnn(
    in_channels: int = 3,
    num_classes: int = 10,
    *,
    image_size: int = 32,
    seed: int = 0,
) -> nn.Sequential:
    """The CNN of the course's Muon notebook (EECS 182, Fall 2025, HW 6).

    Three 3x3 convolutions (padding 1) with 32, 64 and 128 channels, each
    followed by a ReLU and a 2x2 max pool; then flatten, ``Linear(128 *
    (image_size // 8)**2, 512)``, ReLU, ``Dropout(0.5)`` and ``Linear(512,
    num_classes)``. On 32x32 CIFAR images the flattened feature map has
    2048 entries, as in the course; on 8x8 digits it has 128. Input
    ``[N, in_channels, image_size, image_size]``, output logits
    ``[N, num_classes]``. Weights from PyTorch's default initialization,
    drawn with the global generators seeded by ``seed`` and restored
    afterwards (dropout in training draws from the caller's generator).

    Raises:
        ValueError: a size is not a positive integer, or ``image_size`` is
            below 8 (three pools need at least 8 pixels).
    """
    c, s, k = _check_shape(in_channels, image_size, num_classes)
    if s < 8:
        raise ValueError(
            f"image_size {s} is too small for 3 2x2 max pools (needs at "
            "least 8)"
        )
    layers: list[nn.Module] = []
    for c_in, c_out in zip([c, 32, 64], [32, 64, 128]):
        layers += [
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(128 * (s // 8) ** 2, 512),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, k),
    )


def _check_channels(channels: object, image_size: int) -> list[int]:
    if not isinstance(channels, Sequence) or isinstance(channels, (str, bytes)):
        raise ValueError("channels must be a non-empty sequence of integers")
    widths = [positive_int(n, "channels entries") for n in channels]
    pools = len(widths) // 2
    if not widths:
        raise ValueError("channels must be a non-empty sequence of integers")
    if image_size < 2**pools:
        raise ValueError(
            f"image_size {image_size} is too small for {pools} 2x2 max pools "
            f"(needs at least {2**pools})"
        )
    return widths


def _conv_layers(channels: Sequence[int]) -> list[nn.Module]:
    """3x3 convolutions (padding 1) with ReLU; a 2x2 max pool after every
    second one."""
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
    return layers


def count_parameters(model: nn.Module) -> int:
    """The number of trainable scalars (weights and biases) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_multiply_adds(
    model: nn.Module, input_shape: Sequence[int]
) -> dict[str, int]:
    """Multiply-adds of one forward pass of one input, per weight layer.

    ``input_shape`` is one input's shape, e.g. ``(3, 32, 32)``. A
    ``Conv2d`` costs (output elements) x (input channels per group) x
    (kernel height x width); a ``Linear`` costs (output elements) x
    (input features). Biases, activations and pooling are not counted.
    Returns ``{layer name: count}`` in the order the layers run.

    Raises:
        ValueError: ``input_shape`` has a non-positive entry.
    """
    shape = tuple(int(n) for n in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(
            f"input_shape must hold positive sizes, got {tuple(input_shape)}"
        )
    counts: dict[str, int] = {}

    def hook(name: str, layer: nn.Module, out: torch.Tensor) -> None:
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            per_output = layer.in_channels // layer.groups * kh * kw
        else:
            per_output = layer.in_features  # type: ignore[assignment]
        counts[name] = counts.get(name, 0) + out.numel() * int(per_output)

    handles = [
        layer.register_forward_hook(
            lambda m, _, out, name=name: hook(name, m, out)
        )
        for name, layer in model.named_modules()
        if isinstance(layer, (nn.Conv2d, nn.Linear))
    ]
    parameter = next(model.parameters(), None)
    where = parameter.device if parameter is not None else "cpu"
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *shape), device=where))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return counts
