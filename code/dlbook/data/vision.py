"""Image classification data: real handwritten digits, offline first.

Each loader returns what its name says, in every profile:
:func:`mnist` reads MNIST through torchvision's own loader, cached under
``DLBOOK_DATA`` (default ``~/.cache/dlbook``) by ``python -m dlbook.data
fetch``, never downloading (without the files it stops with a message that
names that command); :func:`digits_8x8` reads scikit-learn's 8x8 digits,
which ship inside the scikit-learn wheel (1,797 images, no download). A
chapter that lets a small set stand in for a large one in its quick profile
says so in its own code, with :func:`stand_in`, which names the substitute
in the data set's ``name``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dlbook._extras import missing_extra
from dlbook.runtime import rehearsal

__all__ = [
    "ImageDataset",
    "data_root",
    "digits_8x8",
    "is_stand_in",
    "load_torchvision",
    "mnist",
    "stand_in",
]


@dataclass(frozen=True)
class ImageDataset:
    """A train/test split of images (float32 ``[N, C, H, W]`` in [0, 1]) and
    int64 labels. ``is_stand_in`` is true for data that stands in for
    another set: the rehearsal's random archives, or a set a chapter passed
    through :func:`stand_in`; ``name`` then says for what."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    is_stand_in: bool


def data_root() -> pathlib.Path:
    """Where downloadable data sets are cached: ``$DLBOOK_DATA`` or
    ``~/.cache/dlbook``."""
    return pathlib.Path(
        os.environ.get("DLBOOK_DATA", "~/.cache/dlbook")
    ).expanduser()


def load_torchvision(
    dataset_class: Any, *, train: bool, root: pathlib.Path | None = None
) -> Any:
    """Open a torchvision data set from ``root`` (default :func:`data_root`);
    never downloads.

    The archives are fetched once, before a full build, by
    ``python -m dlbook.data fetch`` (:mod:`dlbook.data.archives`). A folder
    of rehearsal stand-ins (:func:`dlbook.data.archives.write_stand_ins`) is
    read in a rehearsal only, with the MD5 sums of its manifest.

    Raises:
        RuntimeError: the files are missing or fail torchvision's check, or
            ``root`` holds stand-ins outside a rehearsal; the message names
            the folder and the command that fills it.
    """
    from dlbook.data.archives import FETCH_COMMAND, stand_in_sums

    root = data_root() if root is None else pathlib.Path(root)
    name = dataset_class.__name__
    sums = stand_in_sums(root)
    if sums is not None:
        if not rehearsal():
            raise RuntimeError(
                f"{root} holds the rehearsal's random stand-ins, not {name}: "
                f"point DLBOOK_DATA at the real archives ({FETCH_COMMAND})"
            )
        dataset_class = _checked_against(dataset_class, sums)
    try:
        return dataset_class(root=str(root), train=train, download=False)
    except RuntimeError as exc:
        raise RuntimeError(
            f"{name} is not under {root}, or its files fail their check "
            f"({exc}). Chapters never download: fetch the archives once "
            f"with\n  DLBOOK_DATA={root} {FETCH_COMMAND}\n(on a machine with "
            "internet access, then copy the folder here), or point "
            "DLBOOK_DATA at a folder that holds them."
        ) from exc


def is_stand_in(root: pathlib.Path | None = None) -> bool:
    """Whether ``root`` (default :func:`data_root`) holds the rehearsal's
    stand-in archives rather than real data."""
    from dlbook.data.archives import stand_in_sums

    return stand_in_sums(data_root() if root is None else root) is not None


def _checked_against(dataset_class: Any, sums: dict[str, str]) -> Any:
    """``dataset_class`` with the MD5 sums torchvision checks (CIFAR's
    ``train_list``, ``test_list`` and ``meta``) replaced by ``sums``."""
    if not hasattr(dataset_class, "train_list"):
        return dataset_class  # MNIST checks only that its files exist
    folder = dataset_class.base_folder

    def listed(entries: list[list[str]]) -> list[list[str]]:
        return [[f, sums.get(f"{folder}/{f}", "")] for f, _ in entries]

    return type(
        dataset_class.__name__,
        (dataset_class,),
        {
            "train_list": listed(dataset_class.train_list),
            "test_list": listed(dataset_class.test_list),
            "meta": {
                **dataset_class.meta,
                "md5": sums.get(f"{folder}/{dataset_class.meta['filename']}"),
            },
        },
    )


def mnist(*, root: pathlib.Path | None = None) -> ImageDataset:
    """MNIST: the official 60,000/10,000 split of 28x28 handwritten digits,
    images ``[N, 1, 28, 28]`` float32 in [0, 1], labels int64 in 0..9.

    Read by ``torchvision.datasets.MNIST`` from ``root`` (default
    :func:`data_root`), never downloaded (``python -m dlbook.data fetch``
    fetches it once).

    Raises:
        ImportError: torchvision is missing (the ``vision`` extra).
        RuntimeError: the files are not under ``root``; the message names the
            folder and the fetch command.
    """
    try:
        import torchvision
    except ImportError as error:
        raise missing_extra(error, "vision", "MNIST") from error

    train = load_torchvision(torchvision.datasets.MNIST, train=True, root=root)
    test = load_torchvision(torchvision.datasets.MNIST, train=False, root=root)
    rehearsing = is_stand_in(root)
    return ImageDataset(
        name=(
            "MNIST rehearsal stand-in (random 28x28 images in the "
            "official format)"
            if rehearsing
            else "MNIST (28x28, official 60,000/10,000 split)"
        ),
        x_train=(train.data.float() / 255.0).unsqueeze(1),
        y_train=train.targets.long(),
        x_test=(test.data.float() / 255.0).unsqueeze(1),
        y_test=test.targets.long(),
        num_classes=10,
        is_stand_in=rehearsing,
    )


def digits_8x8(*, seed: int = 0, test_fraction: float = 0.25) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images of 10 classes,
    shipped inside scikit-learn): images ``[N, 1, 8, 8]`` float32 in [0, 1],
    labels int64 in 0..9, in a stratified split fixed by ``seed`` with
    ``test_fraction`` of the images held out for testing.

    Raises:
        ValueError: ``test_fraction`` is not in (0, 1).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"test_fraction must lie in (0, 1), got {test_fraction}"
        )
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(
        images,
        digits.target,
        test_size=test_fraction,
        random_state=seed,
        stratify=digits.target,
    )
    return ImageDataset(
        name="scikit-learn 8x8 digits",
        x_train=torch.from_numpy(x_tr),
        y_train=torch.from_numpy(y_tr).long(),
        x_test=torch.from_numpy(x_te),
        y_test=torch.from_numpy(y_te).long(),
        num_classes=10,
        is_stand_in=False,
    )


def stand_in(data: ImageDataset, original: str) -> ImageDataset:
    """``data`` marked as standing in for the set named ``original`` (e.g. the
    8x8 digits for CIFAR-10 in a chapter's quick profile): the same tensors,
    ``is_stand_in`` true, and a name that says so, e.g. "scikit-learn 8x8
    digits (quick-profile stand-in for CIFAR-10)".

    Raises:
        TypeError: ``data`` is not an :class:`ImageDataset` or ``original``
            is not a non-empty string.
    """
    if not isinstance(data, ImageDataset):
        raise TypeError(
            f"data must be an ImageDataset, got {type(data).__name__}"
        )
    if not isinstance(original, str) or not original.strip():
        raise TypeError("original must name the data set stood in for")
    return dataclasses.replace(
        data,
        name=f"{data.name} (quick-profile stand-in for {original})",
        is_stand_in=True,
    )
