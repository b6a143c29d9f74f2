"""The digits loaders: scikit-learn's 8x8 digits, and MNIST read by torchvision from
files written here in the official IDX format (no download). Each returns what its
name says in every profile; a stand-in is named by the chapter, with stand_in."""

import struct
import urllib.error

import numpy as np
import pytest
import torch

from dlbook.data import digits_8x8, load_torchvision, mnist, stand_in
from dlbook.data.vision import data_root


def test_the_8x8_digits_are_the_sklearn_set_split_stratified():
    data = digits_8x8(seed=0)
    assert not data.is_stand_in and data.name == "scikit-learn 8x8 digits"
    assert data.x_train.shape[1:] == (1, 8, 8) and data.x_train.dtype == torch.float32
    assert len(data.x_train) + len(data.x_test) == 1797
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1.0
    train_share = torch.bincount(data.y_train, minlength=10) / len(data.y_train)
    test_share = torch.bincount(data.y_test, minlength=10) / len(data.y_test)
    assert torch.allclose(train_share, test_share, atol=0.02)
    again = digits_8x8(seed=0)
    assert torch.equal(again.x_test, data.x_test)
    assert not torch.equal(digits_8x8(seed=1).y_test, data.y_test)


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_loaders_return_what_their_names_say_in_every_profile(profile, monkeypatch, tmp_path):
    # the case: cifar10() on a CPU machine quietly returned the 8x8
    # digits; now the profile never changes what a loader returns
    monkeypatch.setenv("DLBOOK_PROFILE", profile)
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))  # empty: nothing to read
    assert digits_8x8().name == "scikit-learn 8x8 digits"
    from dlbook.data import cifar10, cifar100
    for loader in (mnist, cifar10, cifar100):
        with pytest.raises(RuntimeError, match="python -m dlbook.data fetch"):
            loader()


def test_a_stand_in_is_named_by_its_caller():
    data = stand_in(digits_8x8(seed=0), "CIFAR-10")
    assert data.is_stand_in
    assert data.name == "scikit-learn 8x8 digits (quick-profile stand-in for CIFAR-10)"
    assert torch.equal(data.x_train, digits_8x8(seed=0).x_train)
    with pytest.raises(TypeError, match="ImageDataset"):
        stand_in(digits_8x8().x_train, "CIFAR-10")
    with pytest.raises(TypeError, match="original"):
        stand_in(digits_8x8(), "")


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
    data = mnist(root=tmp_path)
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
        digits_8x8(test_fraction=fraction)
