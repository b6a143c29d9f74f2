"""CIFAR-10 and CIFAR-100 for image classification, offline first.

:func:`cifar10` and :func:`cifar100` read CIFAR-10 or CIFAR-100 (Krizhevsky,
2009: 10 classes with 5,000 training and 1,000 test images each, or 100
classes with 500 and 100, all 32x32 colour images) through torchvision's own
loader, from the python version of the archive (``cifar-10-batches-py/``,
``cifar-100-python/``) cached under ``DLBOOK_DATA`` (default
``~/.cache/dlbook``) by ``python -m dlbook.data fetch``. They never download,
and without the files they stop with a message that names that command.
They return CIFAR in every profile: a chapter whose quick profile uses a
smaller set says so in its own code (:func:`dlbook.data.vision.stand_in`).
"""

from __future__ import annotations

import pathlib

import numpy as np
import torch

from dlbook._extras import missing_extra
from dlbook.data.vision import ImageDataset, is_stand_in, load_torchvision

__all__ = ["cifar10", "cifar100"]


def cifar10(*, root: pathlib.Path | None = None) -> ImageDataset:
    """CIFAR-10: the official split, 50,000 training and 10,000 test images
    ``[N, 3, 32, 32]`` (float32 in [0, 1], channels red, green, blue) with
    labels int64 in 0..9, read by ``torchvision.datasets.CIFAR10`` from
    ``root`` (default :func:`dlbook.data.vision.data_root`), never downloaded.

    Raises:
        ImportError: torchvision is missing (the ``vision`` extra).
        RuntimeError: the files are not under the data root; the message
            names the folder and the fetch command.
    """
    return _cifar("CIFAR10", root)


def cifar100(*, root: pathlib.Path | None = None) -> ImageDataset:
    """CIFAR-100: as :func:`cifar10`, with the 100 fine labels (int64 in
    0..99), read by ``torchvision.datasets.CIFAR100``.

    Raises:
        ImportError: torchvision is missing (the ``vision`` extra).
        RuntimeError: the files are not under the data root; the message
            names the folder and the fetch command.
    """
    return _cifar("CIFAR100", root)


def _cifar(name: str, root: pathlib.Path | None) -> ImageDataset:
    title = name.replace("CIFAR", "CIFAR-")
    try:
        import torchvision
    except ImportError as error:
        raise missing_extra(error, "vision", title) from error

    splits = [
        load_torchvision(
            getattr(torchvision.datasets, name), train=t, root=root
        )
        for t in (True, False)
    ]
    (x_train, y_train), (x_test, y_test) = (_tensors(s) for s in splits)
    rehearsing = is_stand_in(root)
    return ImageDataset(
        name=(
            f"{title} rehearsal stand-in (random 32x32 images in the "
            "official format)"
            if rehearsing
            else f"{title} (32x32 colour, official 50,000/10,000 split)"
        ),
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(splits[0].classes),
        is_stand_in=rehearsing,
    )


def _tensors(split: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, 3, 32, 32]`` in [0, 1] and labels of a torchvision CIFAR
    split (which holds ``data`` as uint8 ``[N, 32, 32, 3]``)."""
    data = np.asarray(getattr(split, "data"), dtype=np.uint8)
    images = torch.from_numpy(data).permute(0, 3, 1, 2).float() / 255.0
    labels = torch.as_tensor(np.asarray(getattr(split, "targets")))
    return images.contiguous(), labels.long()
