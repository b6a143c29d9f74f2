"""The downloadable archives of the full profile: fetched once, checked, or
stood in for by small generated ones.

The full profile reads three archives through torchvision's own loaders from
``DLBOOK_DATA`` (:func:`dlbook.data.vision.data_root`): CIFAR-10 and
CIFAR-100 (the python pickle versions, about 170 MB each) and MNIST (four
IDX files, about 55 MB unpacked). A chapter never downloads: before a full
build, ``python -m dlbook.data fetch`` downloads them once and torchvision
checks each file against its published MD5 sum; ``python -m dlbook.data
check`` says what is missing.

The rehearsal of the full profile (``make rehearse``) runs without them:
:func:`write_stand_ins` writes small archives of random images in the same
on-disk formats, with a manifest (``STAND-IN.json``) giving their MD5 sums,
and the loaders read such a folder only in a rehearsal.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import pickle
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ARCHIVES",
    "Archive",
    "FETCH_COMMAND",
    "STAND_IN_MANIFEST",
    "fetch",
    "missing",
    "stand_in_sums",
    "write_stand_ins",
]

FETCH_COMMAND = "python -m dlbook.data fetch"
"""The command that downloads and checks every archive of the full profile."""

STAND_IN_MANIFEST = "STAND-IN.json"
"""The file that marks a folder of rehearsal stand-ins (and holds their MD5
sums)."""


@dataclass(frozen=True)
class Archive:
    """One downloadable data set: its torchvision class and what it holds."""

    name: str  #: the key, as chapters' loaders name it
    title: str  #: as a reader knows it
    torchvision_class: str  #: the class in ``torchvision.datasets``
    folder: str  #: where its files lie under the data root
    size: str  #: download size, for the messages


ARCHIVES: dict[str, Archive] = {
    a.name: a
    for a in (
        Archive(
            "cifar10", "CIFAR-10", "CIFAR10", "cifar-10-batches-py", "163 MB"
        ),
        Archive(
            "cifar100", "CIFAR-100", "CIFAR100", "cifar-100-python", "161 MB"
        ),
        Archive("mnist", "MNIST", "MNIST", "MNIST/raw", "12 MB packed"),
    )
}
"""The archives the full profile reads, by name."""


def _names(names: list[str] | None) -> list[str]:
    if names is None:
        return list(ARCHIVES)
    unknown = sorted(set(names) - set(ARCHIVES))
    if unknown:
        raise ValueError(
            f"names: unknown archive(s) {unknown}; known: {sorted(ARCHIVES)}"
        )
    return list(names)


def _root(root: pathlib.Path | str | None) -> pathlib.Path:
    from dlbook.data.vision import data_root

    return data_root() if root is None else pathlib.Path(root).expanduser()


def _torchvision_class(archive: Archive) -> Any:
    try:
        import torchvision
    except ImportError as error:
        from dlbook._extras import missing_extra

        raise missing_extra(error, "vision", archive.title) from error
    return getattr(torchvision.datasets, archive.torchvision_class)


def missing(
    names: list[str] | None = None, root: pathlib.Path | str | None = None
) -> list[str]:
    """The archives (of ``names``, default all) that are not in ``root``
    (default ``DLBOOK_DATA``) as torchvision would read them: absent,
    incomplete, failing their MD5 check, or rehearsal stand-ins.

    Raises:
        ValueError: an unknown name.
    """
    folder = _root(root)
    if (folder / STAND_IN_MANIFEST).is_file():
        return _names(names)
    absent = []
    for name in _names(names):
        cls = _torchvision_class(ARCHIVES[name])
        try:
            for train in (True, False):
                cls(root=str(folder), train=train, download=False)
        except RuntimeError:
            absent.append(name)
    return absent


def fetch(
    names: list[str] | None = None, root: pathlib.Path | str | None = None
) -> list[str]:
    """Download the archives (of ``names``, default all) that ``root``
    (default ``DLBOOK_DATA``) lacks; torchvision checks every file against
    its published MD5 sum. Returns the names it downloaded.

    Raises:
        ValueError: an unknown name, or ``root`` holds rehearsal stand-ins.
        RuntimeError: a download failed or a file failed its check.
    """
    folder = _root(root)
    if (folder / STAND_IN_MANIFEST).is_file():
        raise ValueError(
            f"root: {folder} holds rehearsal stand-ins, not data; "
            "fetch into another folder"
        )
    wanted = missing(names, folder)
    for name in wanted:
        cls = _torchvision_class(ARCHIVES[name])
        for train in (True, False):
            cls(root=str(folder), train=train, download=True)
    still = missing(wanted, folder)
    if still:
        raise RuntimeError(f"after the download, still missing: {still}")
    return wanted


def _md5(path: pathlib.Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_cifar(
    folder: pathlib.Path,
    splits: dict[str, int],
    label_key: str,
    num_classes: int,
    rng: np.random.Generator,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in splits.items():
        labels = rng.integers(0, num_classes, n)
        entry: dict[str, Any] = {
            "batch_label": split,
            "filenames": [f"stand_in_{i}.png" for i in range(n)],
            # rows: the red, green and blue planes of an image in turn
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: labels.tolist(),
        }
        if label_key == "fine_labels":
            entry["coarse_labels"] = (labels // 5).tolist()
        (folder / split).write_bytes(pickle.dumps(entry, protocol=2))


def _write_idx(path: pathlib.Path, array: np.ndarray) -> None:
    """MNIST's IDX format: a big-endian header, then unsigned bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_stand_ins(
    root: pathlib.Path | str,
    *,
    n_train: int = 1000,
    n_test: int = 200,
    seed: int = 0,
) -> pathlib.Path:
    """Write small stand-ins for every archive into ``root``, in the official
    on-disk formats, and the manifest that marks them as stand-ins.

    Each holds ``n_train`` training and ``n_test`` test images of uniform
    random pixels with uniform random labels (CIFAR: ``n_train`` split over
    the five training batches of CIFAR-10); they exercise the loaders and the
    models' shapes, and nothing can be learned from them. Draws from its own
    generator. Returns ``root``.

    Raises:
        ValueError: ``n_train`` is not a positive multiple of 5 or ``n_test``
            is not positive.
    """
    if n_train < 5 or n_train % 5:
        raise ValueError(
            f"n_train must be a positive multiple of 5, got {n_train}"
        )
    if n_test < 1:
        raise ValueError(f"n_test must be positive, got {n_test}")
    folder = pathlib.Path(root).expanduser()
    rng = np.random.default_rng(seed)
    batch = n_train // 5
    cifar10 = folder / ARCHIVES["cifar10"].folder
    _write_cifar(
        cifar10,
        {
            **{f"data_batch_{i}": batch for i in range(1, 6)},
            "test_batch": n_test,
        },
        "labels",
        10,
        rng,
    )
    names10 = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    (cifar10 / "batches.meta").write_bytes(
        pickle.dumps({"label_names": names10}, protocol=2)
    )
    cifar100 = folder / ARCHIVES["cifar100"].folder
    _write_cifar(
        cifar100, {"train": n_train, "test": n_test}, "fine_labels", 100, rng
    )
    meta = {
        "fine_label_names": [f"class_{i}" for i in range(100)],
        "coarse_label_names": [f"superclass_{i}" for i in range(20)],
    }
    (cifar100 / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    mnist = folder / ARCHIVES["mnist"].folder
    mnist.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(
            mnist / f"{split}-images-idx3-ubyte",
            rng.integers(0, 256, (n, 28, 28)),
        )
        _write_idx(mnist / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))
    sums = {
        str(path.relative_to(folder)): _md5(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != STAND_IN_MANIFEST
    }
    manifest = {
        "what": "rehearsal stand-ins: random images, not data",
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
        "md5": sums,
    }
    (folder / STAND_IN_MANIFEST).write_text(json.dumps(manifest, indent=1))
    return folder


def stand_in_sums(root: pathlib.Path) -> dict[str, str] | None:
    """The MD5 sums of the stand-ins in ``root`` by relative path, or
    ``None`` when ``root`` holds no stand-ins."""
    path = pathlib.Path(root) / STAND_IN_MANIFEST
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text())["md5"])
