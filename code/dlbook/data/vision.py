"""Image classification data: real handwritten digits, offline first.

The quick profile uses scikit-learn's 8x8 digits, which ship inside the
scikit-learn wheel (1,797 images, no download). The full profile uses MNIST
through torchvision's own loader, cached under ``DLBOOK_DATA`` (default
``~/.cache/dlbook``); without a cache and without a network the loader stops
with a message that says how to fetch the files.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dlbook._extras import missing_extra
from dlbook.runtime import profile

__all__ = [
    "ImageDataset",
    "data_root",
    "handwritten_digits",
    "load_torchvision",
]


@dataclass(frozen=True)
class ImageDataset:
    """A train/test split of images (float32 ``[N, C, H, W]`` in [0, 1]) and
    int64 labels."""

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
    """Open a torchvision data set from the cache, downloading it only if it is
    missing.

    Raises:
        RuntimeError: the files are not cached and cannot be downloaded; the
            message names the folder and the command that fills it.
    """
    root = data_root() if root is None else root
    try:
        return dataset_class(root=str(root), train=train, download=False)
    except RuntimeError:
        pass
    try:
        return dataset_class(root=str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types
        name = dataset_class.__name__
        raise RuntimeError(
            f"{name} is not cached under {root} and could not be downloaded "
            f"({exc}). On a machine with internet access run\n  python -c "
            f"\"import torchvision; torchvision.datasets.{name}('{root}', "
            f'download=True)"\nand copy {root} here, or point DLBOOK_DATA at '
            "a folder that holds it."
        ) from exc


def handwritten_digits(
    *,
    full: bool | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    root: pathlib.Path | None = None,
) -> ImageDataset:
    """Handwritten digits for classification: MNIST (full) or scikit-learn's 8x8
    digits (quick).

    ``full=None`` follows the run profile. For the 8x8 digits, ``seed`` and
    ``test_fraction`` fix a stratified split; MNIST keeps its official split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"test_fraction must lie in (0, 1), got {test_fraction}"
        )
    if full is None:
        full = profile() == "full"
    if full:
        try:
            import torchvision
        except ImportError as error:
            raise missing_extra(
                error, "vision", "MNIST (the full profile)"
            ) from error

        train = load_torchvision(
            torchvision.datasets.MNIST, train=True, root=root
        )
        test = load_torchvision(
            torchvision.datasets.MNIST, train=False, root=root
        )
        return ImageDataset(
            name="MNIST (28x28, official 60,000/10,000 split)",
            x_train=(train.data.float() / 255.0).unsqueeze(1),
            y_train=train.targets.long(),
            x_test=(test.data.float() / 255.0).unsqueeze(1),
            y_test=test.targets.long(),
            num_classes=10,
            is_stand_in=False,
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
        name="scikit-learn 8x8 digits (quick-profile stand-in for MNIST)",
        x_train=torch.from_numpy(x_tr),
        y_train=torch.from_numpy(y_tr).long(),
        x_test=torch.from_numpy(x_te),
        y_test=torch.from_numpy(y_te).long(),
        num_classes=10,
        is_stand_in=True,
    )
