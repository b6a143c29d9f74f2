"""CIFAR-10 and CIFAR-100 for image classification, offline first.

The full profile reads CIFAR-10 or CIFAR-100 (Krizhevsky, 2009: 10 classes
with 5,000 training and 1,000 test images each, or 100 classes with 500 and
100, all 32x32 colour images) through torchvision's own loader, from the
python version of the archive (``cifar-10-batches-py/``,
``cifar-100-python/``) cached under
``DLBOOK_DATA`` (default ``~/.cache/dlbook``) by ``python -m dlbook.data
fetch``; it never downloads, and without the files it stops with a message
that names that command. The quick
profile uses scikit-learn's 8x8 handwritten digits as a stand-in (1,797
grey-scale images of 10 classes, shipped inside scikit-learn), and says so
in the data set's name.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch

from dlbook._extras import missing_extra
from dlbook.data.vision import (
    ImageDataset,
    handwritten_digits,
    is_stand_in,
    load_torchvision,
)
from dlbook.runtime import profile

__all__ = ["cifar10", "cifar100"]


def cifar10(
    *,
    full: bool | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    root: pathlib.Path | None = None,
) -> ImageDataset:
    """CIFAR-10 (full) or its quick-profile stand-in, scikit-learn's digits.

    As :func:`cifar100`, with the ten classes of CIFAR-10 (labels 0..9) read
    by ``torchvision.datasets.CIFAR10``: 50,000 training and 10,000 test
    images ``[N, 3, 32, 32]``, float32 in [0, 1].

    Raises:
        ValueError: ``test_fraction`` is not in (0, 1).
        ImportError: full profile without torchvision (the ``vision`` extra).
        RuntimeError: full profile and the files are not under the data
            root; the message names the folder and the fetch command.
    """
    return _cifar("CIFAR10", full, seed, test_fraction, root)


def cifar100(
    *,
    full: bool | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    root: pathlib.Path | None = None,
) -> ImageDataset:
    """CIFAR-100 (full) or its quick-profile stand-in, scikit-learn's digits.

    ``full=None`` follows the run profile. Full: the official split, 50,000
    training and 10,000 test images ``[N, 3, 32, 32]`` (float32 in [0, 1],
    channels red, green, blue) with their fine labels (int64 in 0..99), read
    by ``torchvision.datasets.CIFAR100`` from ``root`` (default
    :func:`dlbook.data.vision.data_root`), never downloaded (``python -m dlbook.data fetch``
    fetches it once). Quick: :func:`dlbook.data.vision.handwritten_digits` with
    ``seed`` and ``test_fraction`` (a stratified split of ``[N, 1, 8, 8]``
    images, 10 classes), named as the stand-in it is; ``seed`` and
    ``test_fraction`` do not affect the official CIFAR split.

    Raises:
        ValueError: ``test_fraction`` is not in (0, 1).
        ImportError: full profile without torchvision (the ``vision`` extra).
        RuntimeError: full profile and the files are not under the data
            root; the message names the folder and the fetch command.
    """
    return _cifar("CIFAR100", full, seed, test_fraction, root)


def _cifar(
    name: str,
    full: bool | None,
    seed: int,
    test_fraction: float,
    root: pathlib.Path | None,
) -> ImageDataset:
    title = name.replace("CIFAR", "CIFAR-")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"test_fraction must lie in (0, 1), got {test_fraction}"
        )
    if full is None:
        full = profile() == "full"
    if not full:
        digits = handwritten_digits(
            full=False, seed=seed, test_fraction=test_fraction
        )
        return dataclasses.replace(
            digits,
            name=f"scikit-learn 8x8 digits (quick-profile stand-in for "
            f"{title})",
        )
    try:
        import torchvision
    except ImportError as error:
        raise missing_extra(
            error, "vision", f"{title} (the full profile)"
        ) from error

    splits = [
        load_torchvision(
            getattr(torchvision.datasets, name), train=t, root=root
        )
        for t in (True, False)
    ]
    (x_train, y_train), (x_test, y_test) = (_tensors(s) for s in splits)
    stand_in = is_stand_in(root)
    return ImageDataset(
        name=(
            f"{title} rehearsal stand-in (random 32x32 images in the "
            "official format)"
            if stand_in
            else f"{title} (32x32 colour, official 50,000/10,000 split)"
        ),
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(splits[0].classes),
        is_stand_in=stand_in,
    )


def _tensors(split: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, 3, 32, 32]`` in [0, 1] and labels of a torchvision CIFAR
    split (which holds ``data`` as uint8 ``[N, 32, 32, 3]``)."""
    data = np.asarray(getattr(split, "data"), dtype=np.uint8)
    images = torch.from_numpy(data).permute(0, 3, 1, 2).float() / 255.0
    labels = torch.as_tensor(np.asarray(getattr(split, "targets")))
    return images.contiguous(), labels.long()
