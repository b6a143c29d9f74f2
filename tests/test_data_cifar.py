"""The CIFAR-100 loader: the digits stand-in, and CIFAR-100 read by torchvision's own
loader from a small archive written here in the official on-disk format (the python
pickle version), in a temporary DLBOOK_DATA, with downloads disabled."""

import hashlib
import pickle
import sys
import urllib.error

import numpy as np
import pytest
import torch

from dlbook.data.cifar import cifar10, cifar100

torchvision = pytest.importorskip("torchvision")
CIFAR100 = torchvision.datasets.CIFAR100


def write_cifar100(root, n_train=12, n_test=5, seed=0):
    """Write cifar-100-python/{train,test,meta} as the official archive holds them:
    pickled dicts with ``data`` (uint8 [N, 3072], the red, green and blue planes of
    each image in turn, rows top to bottom), ``fine_labels`` and ``coarse_labels``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    images, labels = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        images[split] = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels[split] = rng.integers(0, 100, n)
        entry = {
            "filenames": [f"image_{i}.png" for i in range(n)],
            "batch_label": f"{split}ing batch 1 of 1",
            "fine_labels": labels[split].tolist(),
            "coarse_labels": (labels[split] // 5).tolist(),
            "data": images[split].reshape(n, 3072),
        }
        (folder / split).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {
        "fine_label_names": [f"class_{i}" for i in range(100)],
        "coarse_label_names": [f"superclass_{i}" for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return images, labels


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download fails as it would offline."""

    def refuse(self):
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(CIFAR100, "download", refuse)


@pytest.fixture
def archive(tmp_path, monkeypatch, no_download):
    """A generated archive in a temporary DLBOOK_DATA; torchvision checks the
    files against their MD5 sums, so its class is given the sums of ours."""
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    images, labels = write_cifar100(tmp_path)
    folder = tmp_path / "cifar-100-python"
    monkeypatch.setattr(CIFAR100, "train_list", [["train", md5(folder / "train")]])
    monkeypatch.setattr(CIFAR100, "test_list", [["test", md5(folder / "test")]])
    monkeypatch.setattr(CIFAR100, "meta", {**CIFAR100.meta, "md5": md5(folder / "meta")})
    return images, labels


def test_cifar100_reads_the_official_format(archive):
    images, labels = archive
    data = cifar100()                  # root from DLBOOK_DATA
    assert not data.is_stand_in and data.name.startswith("CIFAR-100")
    assert data.num_classes == 100
    assert data.x_train.shape == (12, 3, 32, 32) and data.x_test.shape == (5, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    # channel-first planes, scaled to [0, 1], image order and labels kept
    np.testing.assert_allclose(data.x_train.numpy(), images["train"] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(data.x_test.numpy(), images["test"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y_train.numpy(), labels["train"])
    np.testing.assert_array_equal(data.y_test.numpy(), labels["test"])
    # the red plane of image 0 is the first 1024 bytes of its row, read row by row
    red = data.x_train[0, 0].reshape(-1).numpy() * 255.0
    np.testing.assert_allclose(red, images["train"][0].reshape(-1)[:1024], atol=1e-4)


def test_an_explicit_root_wins_over_the_data_root(archive, tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_PROFILE", "full")
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path / "elsewhere"))
    data = cifar100(root=tmp_path)
    assert not data.is_stand_in and len(data.x_train) == 12


def test_offline_without_cache_explains_how_to_fetch(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"(?s)CIFAR100 is not under .*python -m dlbook.data fetch"):
        cifar100()


def test_corrupted_files_are_not_read(tmp_path, monkeypatch, no_download):
    """Files whose checksums are not the official ones (ours, here) are refused."""
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    write_cifar100(tmp_path)
    with pytest.raises(RuntimeError, match="fail their check"):
        cifar100()


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_the_profile_never_changes_what_cifar100_returns(archive, profile, monkeypatch):
    monkeypatch.setenv("DLBOOK_PROFILE", profile)
    data = cifar100()
    assert data.name.startswith("CIFAR-100") and data.num_classes == 100


def test_without_torchvision_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)   # the import fails
    with pytest.raises(ImportError, match=r"CIFAR-100 .*'torchvision'.*dlbook\[vision\]"):
        cifar100()


CIFAR10 = torchvision.datasets.CIFAR10


def write_cifar10(root, n_per_batch=4, seed=1):
    """Write cifar-10-batches-py as the official archive holds it: five training
    batches, a test batch (pickled dicts with uint8 ``data`` [N, 3072] and
    ``labels``) and ``batches.meta``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images, labels = {}, {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        images[name] = rng.integers(0, 256, (n_per_batch, 3, 32, 32), dtype=np.uint8)
        labels[name] = rng.integers(0, 10, n_per_batch)
        entry = {"data": images[name].reshape(n_per_batch, 3072),
                 "labels": labels[name].tolist(), "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"label_names": [f"class_{i}" for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder, images, labels


def test_cifar10_reads_the_official_format(tmp_path, monkeypatch):
    monkeypatch.setattr(CIFAR10, "download", lambda self: (_ for _ in ()).throw(
        urllib.error.URLError("no network in the tests")))
    folder, images, labels = write_cifar10(tmp_path)
    monkeypatch.setattr(CIFAR10, "train_list",
                        [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(folder / "batches.meta")})
    data = cifar10(root=tmp_path)
    assert not data.is_stand_in and data.name.startswith("CIFAR-10 ")
    assert data.num_classes == 10 and data.x_train.shape == (20, 3, 32, 32)
    train = np.concatenate([images[f"data_batch_{i}"] for i in range(1, 6)])
    np.testing.assert_allclose(data.x_train.numpy(), train / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(
        data.y_train.numpy(), np.concatenate([labels[f"data_batch_{i}"] for i in range(1, 6)]))
    np.testing.assert_array_equal(data.y_test.numpy(), labels["test_batch"])


def test_cifar10_offline_without_cache_explains_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(CIFAR10, "download", lambda self: (_ for _ in ()).throw(
        urllib.error.URLError("no network in the tests")))
    with pytest.raises(RuntimeError, match=r"(?s)CIFAR10 is not under .*python -m dlbook.data fetch"):
        cifar10(root=tmp_path)
