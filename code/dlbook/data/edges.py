"""Synthetic edge images for the CNN inductive-bias experiments.

:func:`edge_images` draws the data set of the EECS 182 edge-detection
notebook (Fall 2025, HW 4, Problem 6; Spring 2023, Problem 4): small
grayscale images of background noise, some crossed by one bright straight
band. The class is the band's orientation: ``horizontal``, ``vertical`` or
``none`` (no band), and in the five-class variant also ``diagonal`` and
``both`` (a horizontal and a vertical band). Every image comes from a local
generator seeded by ``seed``; global random state is never touched.

Options reproduce the notebook's experiments: restricting the band
positions (a domain shift between training and validation data) and
scrambling the pixels with one fixed permutation (:func:`pixel_permutation`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "EDGE_CLASSES",
    "FIVE_EDGE_CLASSES",
    "EdgeImages",
    "edge_images",
    "permute_pixels",
    "pixel_permutation",
]

EDGE_CLASSES = ("horizontal", "vertical", "none")
"""The three classes, in label order."""

FIVE_EDGE_CLASSES = ("horizontal", "vertical", "none", "diagonal", "both")
"""The five classes of the larger problem, in label order (the first three
are :data:`EDGE_CLASSES`)."""


@dataclass(frozen=True)
class EdgeImages:
    """Edge images with their labels and how each was drawn.

    ``images`` is float32 ``[N, 1, size, size]`` with values in ``[0, 1]``;
    ``labels`` int64 ``[N]``, indices into ``classes``. The remaining fields
    describe each image before any pixel permutation is applied to them as
    well: ``band_mask`` (bool ``[N, size, size]``, the band pixels),
    ``intensity`` (float32 ``[N]``, the band's brightness, 0 without a band)
    and ``widths`` / ``offsets`` (int64 ``[N, 2]``: the width in pixels and
    the first row, column or diagonal of the first and second band, 0 where
    there is none; the first band of ``both`` is the horizontal one).
    ``permutation`` is the pixel permutation applied, or ``None``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    band_mask: torch.Tensor
    intensity: torch.Tensor
    widths: torch.Tensor
    offsets: torch.Tensor
    permutation: torch.Tensor | None

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(images, labels)``, the pair :func:`dlbook.train.train` takes."""
        return self.images, self.labels

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _interval(
    value: object, name: str, *, low: float, high: float
) -> tuple[float, float]:
    """``(a, b)`` with ``low <= a < b <= high``, or a ValueError naming
    ``name``."""
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not all(
            isinstance(v, int | float | np.integer | np.floating)
            and not isinstance(v, bool)
            for v in value
        )
    ):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not low <= a < b <= high:
        raise ValueError(
            f"{name} must satisfy {low} <= low < high <= {high}, got {value!r}"
        )
    return a, b


def _check(
    n_per_class: object,
    n_classes: object,
    size: object,
    widths: object,
    positions: object,
) -> None:
    if not isinstance(n_per_class, int | np.integer) or (
        isinstance(n_per_class, bool) or n_per_class < 1
    ):
        raise ValueError(
            f"n_per_class must be a positive integer, got {n_per_class!r}"
        )
    if isinstance(n_classes, bool) or n_classes not in (3, 5):
        raise ValueError(f"n_classes must be 3 or 5, got {n_classes!r}")
    if (
        not isinstance(size, int | np.integer)
        or isinstance(size, bool)
        or size < 8
    ):
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    side = int(size)
    pair = _int_pair(widths)
    if pair is None or not 1 <= pair[0] <= pair[1] <= side // 4:
        raise ValueError(
            "widths must be a pair of integers (low, high) with 1 <= low <= "
            f"high <= size // 4 = {side // 4}, got {widths!r}"
        )
    if positions is None:
        return
    if n_classes != 3:
        raise ValueError(
            "positions applies to the three-class problem only (a diagonal "
            "band has no row or column range)"
        )
    where = _int_pair(positions)
    if (
        where is None
        or not 0 <= where[0] < where[1] <= side
        or where[1] - where[0] < pair[1]
    ):
        raise ValueError(
            "positions must be a pair of integers (first, stop) with 0 <= "
            f"first < stop <= size = {side} and room for the widest band "
            f"({pair[1]} pixels), got {positions!r}"
        )


def _int_pair(value: object) -> tuple[int, int] | None:
    """``value`` as a pair of Python ints, or None if it is not one."""
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(_is_int(v) for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


def _check_permutation(permutation: object, n_pixels: int) -> torch.Tensor:
    if not isinstance(permutation, torch.Tensor | np.ndarray):
        raise TypeError(
            "permutation must be a 1-D integer tensor or array, got "
            f"{type(permutation).__name__}"
        )
    perm = torch.as_tensor(permutation)
    if perm.dtype.is_floating_point or perm.dtype in (
        torch.bool,
        torch.complex64,
        torch.complex128,
    ):
        raise ValueError(
            f"permutation must hold integers, got dtype {perm.dtype}"
        )
    perm = perm.to(torch.int64)
    if perm.shape != (n_pixels,) or not torch.equal(
        torch.sort(perm).values, torch.arange(n_pixels)
    ):
        raise ValueError(
            f"permutation must be a permutation of 0..{n_pixels - 1} "
            f"(one entry per pixel), got shape {tuple(perm.shape)}"
        )
    return perm


def pixel_permutation(size: int = 28, *, seed: int = 0) -> torch.Tensor:
    """A random permutation of the ``size * size`` pixel indices (int64).

    Drawn from a local generator seeded by ``seed``, so the same seed gives
    the same permutation: use one for training and validation data alike.

    Raises:
        ValueError: ``size`` is not a positive integer.
    """
    if not _is_int(size) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.permutation(int(size) ** 2).astype(np.int64))


def permute_pixels(
    images: torch.Tensor, permutation: torch.Tensor
) -> torch.Tensor:
    """Move pixel ``permutation[j]`` of every image to position ``j``.

    ``images`` is ``[..., H, W]``; the result has the same shape and holds
    ``images.flatten(-2)[..., permutation]`` reshaped back.

    Raises:
        TypeError: ``images`` is not a tensor, or ``permutation`` is not an
            integer tensor or array.
        ValueError: ``permutation`` is not a permutation of the ``H * W``
            pixel indices.
    """
    if not isinstance(images, torch.Tensor) or images.ndim < 2:
        raise TypeError("images must be a tensor of shape [..., H, W]")
    height, width = images.shape[-2:]
    perm = _check_permutation(permutation, height * width)
    flat = images.flatten(-2)[..., perm.to(images.device)]
    return flat.reshape(images.shape)


def _band(
    kind: str, size: int, width: int, offset: int, flip: bool
) -> np.ndarray:
    """Boolean ``[size, size]`` mask of one band."""
    rows, cols = np.indices((size, size))
    if kind == "horizontal":
        coordinate = rows
    elif kind == "vertical":
        coordinate = cols
    else:  # diagonal: width counted along a row
        coordinate = (cols + rows - (size - 1)) if flip else (cols - rows)
    return (coordinate >= offset) & (coordinate < offset + width)


def edge_images(
    n_per_class: int,
    *,
    n_classes: int = 3,
    size: int = 28,
    widths: tuple[int, int] = (1, 4),
    intensity: tuple[float, float] = (0.25, 1.0),
    background: tuple[float, float] = (0.0, 0.2),
    positions: tuple[int, int] | None = None,
    permutation: torch.Tensor | None = None,
    seed: int = 0,
) -> EdgeImages:
    """``n_per_class`` noisy images of each class, in random order.

    Every pixel starts as background noise, independent ``U(background)``.
    An image of class ``horizontal`` (``vertical``) then gets one band of
    ``w`` full rows (columns) set to one brightness ``U(intensity)``, with
    the width ``w`` uniform on the integers ``widths[0]..widths[1]`` and the
    first row (column) uniform over the places where the band fits: anywhere
    in the image, or inside rows (columns) ``positions[0]`` to
    ``positions[1] - 1`` when ``positions`` is given. ``none`` is noise only.
    With ``n_classes=5`` there are also ``diagonal`` (a band at +45 or -45
    degrees, equally likely, ``w`` pixels wide along a row and passing within
    ``size // 4`` pixels of the centre) and ``both`` (a horizontal and a
    vertical band of the same brightness, widths drawn independently).
    Finally, with ``permutation``, the pixels of every image are rearranged
    by :func:`permute_pixels`.

    The course's setup is the default: 28x28 pixels, widths 1-4, brightness
    ``U(0.25, 1)`` on ``U(0, 0.2)`` noise. The classes are exactly balanced.

    Raises:
        ValueError: ``n_per_class`` is not a positive integer, ``n_classes``
            is not 3 or 5, ``size`` is below 8, ``widths``, ``intensity``,
            ``background`` or ``positions`` is not a valid range (see above;
            ``positions`` needs room for the widest band and the three-class
            problem), or ``permutation`` is not a permutation of the pixels.
        TypeError: ``permutation`` is not an integer tensor or array.
    """
    _check(n_per_class, n_classes, size, widths, positions)
    band_lo, band_hi = _interval(intensity, "intensity", low=0.0, high=1.0)
    bg_lo, bg_hi = _interval(background, "background", low=0.0, high=1.0)
    perm = (
        None
        if permutation is None
        else _check_permutation(permutation, size * size)
    )
    classes = EDGE_CLASSES if n_classes == 3 else FIVE_EDGE_CLASSES
    first, stop = (0, size) if positions is None else positions
    rng = np.random.default_rng(seed)

    labels = rng.permutation(np.repeat(np.arange(n_classes), n_per_class))
    n = len(labels)
    images = rng.uniform(bg_lo, bg_hi, size=(n, size, size))
    masks = np.zeros((n, size, size), dtype=bool)
    brightness = np.zeros(n)
    band_widths = np.zeros((n, 2), dtype=np.int64)
    band_offsets = np.zeros((n, 2), dtype=np.int64)
    for i, label in enumerate(labels):
        kind = classes[label]
        if kind == "none":
            continue
        parts = ("horizontal", "vertical") if kind == "both" else (kind,)
        for j, part in enumerate(parts):
            w = int(rng.integers(widths[0], widths[1] + 1))
            if part == "diagonal":
                flip = bool(rng.integers(2))
                reach = size // 4
                offset = int(rng.integers(-reach, reach - w + 2))
            else:
                flip = False
                offset = int(rng.integers(first, stop - w + 1))
            masks[i] |= _band(part, size, w, offset, flip)
            band_widths[i, j], band_offsets[i, j] = w, offset
        brightness[i] = rng.uniform(band_lo, band_hi)
        images[i][masks[i]] = brightness[i]

    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    if perm is not None:
        x = permute_pixels(x, perm)
    return EdgeImages(
        images=x,
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=classes,
        band_mask=torch.from_numpy(masks),
        intensity=torch.from_numpy(brightness.astype(np.float32)),
        widths=torch.from_numpy(band_widths),
        offsets=torch.from_numpy(band_offsets),
        permutation=perm,
    )
