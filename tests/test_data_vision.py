"""The digits loaders: scikit-learn's 8x8 digits, and MNIST read by torchvision from
files written here in the official IDX format (no download)."""

import struct
import urllib.error

import numpy as np
import pytest
import torch

from dlbook.data import handwritten_digits, load_torchvision
from dlbook.data.vision import data_root


def test_quick_digits_are_the_sklearn_set_split_stratified():
    data = handwritten_digits(full=False, seed=0)
    assert data.is_stand_in and "stand-in" in data.name
    assert data.x_train.shape[1:] == (1, 8, 8) and data.x_train.dtype == torch.float32
    assert len(data.x_train) + len(data.x_test) == 1797
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1.0
    train_share = torch.bincount(data.y_train, minlength=10) / len(data.y_train)
    test_share = torch.bincount(data.y_test, minlength=10) / len(data.y_test)
    assert torch.allclose(train_share, test_share, atol=0.02)
    again = handwritten_digits(full=False, seed=0)
    assert torch.equal(again.x_test, data.x_test)
    assert not torch.equal(handwritten_digits(full=False, seed=1).y_test, data.y_test)


def test_quick_digits_follow_the_profile(monkeypatch):
    monkeypatch.setenv("DLBOOK_PROFILE", "quick")
    assert handwritten_digits().is_stand_in


def write_idx(path, array):
    """Write an array in MNIST's IDX format (big-endian header, unsigned bytes)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_full_digits_read_mnist_files_in_the_official_format(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (12, 28, 28)), "t10k": rng.integers(0, 256, (5, 28, 28))}
    labels = {"train": rng.integers(0, 10, 12), "t10k": rng.integers(0, 10, 5)}
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", images[split])
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels[split])
    data = handwritten_digits(full=True, root=tmp_path)
    assert not data.is_stand_in and data.x_train.shape == (12, 1, 28, 28)
    np.testing.assert_allclose(data.x_test[:, 0].numpy(), images["t10k"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y_train.numpy(), labels["train"])


def test_missing_data_is_never_downloaded_and_names_the_fetch_command(tmp_path):
    calls = []

    class MNIST:  # stands in for the torchvision class: no files
        def __init__(self, root, train, download):
            calls.append(download)
            raise RuntimeError("Dataset not found")

    with pytest.raises(RuntimeError, match=r"(?s)not under .*python -m dlbook.data fetch"):
        load_torchvision(MNIST, train=True, root=tmp_path)
    assert calls == [False]


def test_data_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("DLBOOK_DATA")
    assert data_root().name == "dlbook"


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_rejects_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        handwritten_digits(full=False, test_fraction=fraction)
