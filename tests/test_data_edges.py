"""dlbook.data.edges: the edge images have the stated classes, widths,
positions and intensities; the pixel permutation is one fixed bijection;
every invalid argument is refused by name."""

import numpy as np
import pytest
import torch
from scipy import stats

from dlbook.data.edges import (
    EDGE_CLASSES,
    FIVE_EDGE_CLASSES,
    edge_images,
    permute_pixels,
    pixel_permutation,
)


@pytest.fixture(scope="module")
def three():
    return edge_images(400, seed=3)


@pytest.fixture(scope="module")
def five():
    return edge_images(200, n_classes=5, seed=4)


def _band_rows(mask):
    """Indices of the rows that are entirely band."""
    return torch.nonzero(mask.all(dim=1)).flatten()


def test_shapes_types_and_exact_class_balance(three, five):
    assert three.images.shape == (1200, 1, 28, 28)
    assert three.images.dtype == torch.float32
    assert three.labels.dtype == torch.int64 and len(three) == 1200
    assert three.classes == EDGE_CLASSES == ("horizontal", "vertical", "none")
    assert torch.bincount(three.labels).tolist() == [400, 400, 400]
    assert five.classes == FIVE_EDGE_CLASSES
    assert torch.bincount(five.labels, minlength=5).tolist() == [200] * 5
    # shuffled, not sorted by class
    assert (three.labels[:-1] != three.labels[1:]).float().mean() > 0.5
    assert three.tensors[0] is three.images
    assert three.tensors[1] is three.labels


def test_bands_have_the_recorded_width_and_place(three):
    for i in range(len(three)):
        kind = three.classes[three.labels[i]]
        mask = three.band_mask[i]
        w, offset = int(three.widths[i, 0]), int(three.offsets[i, 0])
        if kind == "none":
            assert not mask.any() and w == 0 and three.intensity[i] == 0
            continue
        assert 1 <= w <= 4 and int(three.widths[i, 1]) == 0
        lines = _band_rows(mask if kind == "horizontal" else mask.T)
        assert lines.tolist() == list(range(offset, offset + w))
        assert int(mask.sum()) == 28 * w  # nothing but the full lines
        assert 0 <= offset <= 28 - w


def test_widths_are_uniform_on_1_to_4(three):
    widths = three.widths[three.labels != 2, 0].numpy()
    counts = np.bincount(widths, minlength=5)[1:]
    assert (counts > 0).all()
    assert stats.chisquare(counts).pvalue > 0.01


def test_intensities_band_and_background(three):
    x = three.images[:, 0]
    has_band = three.labels != 2
    for i in torch.nonzero(has_band).flatten()[:200]:
        band = x[i][three.band_mask[i]]
        assert torch.all(band == three.intensity[i])
    background = x[~three.band_mask]
    assert background.min() >= 0.0 and background.max() < 0.2
    assert abs(float(background.mean()) - 0.1) < 0.002
    assert stats.kstest(background[:5000].numpy(), "uniform",
                        args=(0.0, 0.2)).pvalue > 0.01
    brightness = three.intensity[has_band].numpy()
    assert brightness.min() >= 0.25 and brightness.max() < 1.0
    assert stats.kstest(brightness, "uniform", args=(0.25, 0.75)).pvalue > 0.01


def test_positions_restrict_the_bands_for_the_domain_shift():
    low = edge_images(200, positions=(0, 14), seed=1)
    high = edge_images(200, positions=(14, 28), seed=1)
    for data, (first, stop) in ((low, (0, 14)), (high, (14, 28))):
        banded = data.labels != 2
        start = data.offsets[banded, 0]
        end = start + data.widths[banded, 0]
        assert start.min() >= first and end.max() <= stop
        # both ends of the range are reached
        assert start.min() == first and end.max() == stop
        lines = data.band_mask.any(dim=2) | data.band_mask.any(dim=1)
        outside = torch.ones(28, dtype=torch.bool)
        outside[first:stop] = False
        # horizontal bands light whole rows: rows outside the range stay dark
        horizontal = data.labels == 0
        assert not data.band_mask[horizontal][:, outside].any()
        vertical = data.labels == 1
        assert not data.band_mask[vertical][:, :, outside].any()
        assert lines[banded].any(dim=1).all()


def test_five_classes_diagonal_and_both(five):
    for i in range(len(five)):
        kind = five.classes[five.labels[i]]
        mask = five.band_mask[i]
        w0, w1 = five.widths[i].tolist()
        if kind == "diagonal":
            rows, cols = torch.nonzero(mask, as_tuple=True)
            main = cols - rows
            anti = cols + rows - 27
            line = main if len(torch.unique(main)) == w0 else anti
            assert len(torch.unique(line)) == w0 and w1 == 0
            assert line.min() == five.offsets[i, 0]
            assert abs(int(five.offsets[i, 0])) <= 7
        elif kind == "both":
            assert len(_band_rows(mask)) == w0 and len(_band_rows(mask.T)) == w1
            assert int(mask.sum()) == 28 * (w0 + w1) - w0 * w1
        elif kind in ("horizontal", "vertical"):
            assert w1 == 0 and int(mask.sum()) == 28 * w0
    # both orientations of the diagonal occur
    diagonal = five.band_mask[five.labels == 3]
    on_main = diagonal[:, 0, 0] | diagonal[:, 27, 27]
    on_anti = diagonal[:, 0, 27] | diagonal[:, 27, 0]
    assert on_main.any() and on_anti.any()


def test_the_permutation_is_a_fixed_bijection():
    perm = pixel_permutation(28, seed=5)
    assert perm.dtype == torch.int64 and perm.shape == (784,)
    assert torch.equal(torch.sort(perm).values, torch.arange(784))
    assert torch.equal(perm, pixel_permutation(28, seed=5))
    assert not torch.equal(perm, pixel_permutation(28, seed=6))
    plain = edge_images(20, seed=8)
    scrambled = edge_images(20, permutation=perm, seed=8)
    assert torch.equal(scrambled.permutation, perm)
    # the same images, pixels moved by the same permutation in every image
    flat = plain.images.flatten(1)
    assert torch.equal(scrambled.images.flatten(1), flat[:, perm])
    assert torch.equal(scrambled.labels, plain.labels)
    inverse = torch.argsort(perm)
    assert torch.equal(scrambled.images.flatten(1)[:, inverse], flat)
    # multiset of pixel values per image unchanged
    assert torch.equal(torch.sort(scrambled.images.flatten(1)).values,
                       torch.sort(flat).values)
    # numpy permutations are accepted
    again = permute_pixels(plain.images, perm.numpy())
    assert torch.equal(again, scrambled.images)


def test_same_seed_same_images_other_seed_other_images():
    a, b = edge_images(10, seed=11), edge_images(10, seed=11)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, edge_images(10, seed=12).images)


def test_other_sizes_and_ranges():
    small = edge_images(5, size=12, widths=(1, 3), intensity=(0.5, 0.6),
                        background=(0.0, 0.1), seed=0)
    assert small.images.shape == (15, 1, 12, 12)
    banded = small.labels != 2
    assert small.intensity[banded].min() >= 0.5
    assert small.widths[banded, 0].max() <= 3


@pytest.mark.parametrize("kwargs, name", [
    ({"n_per_class": 0}, "n_per_class"),
    ({"n_per_class": 2.5}, "n_per_class"),
    ({"n_per_class": True}, "n_per_class"),
    ({"n_classes": 4}, "n_classes"),
    ({"n_classes": True}, "n_classes"),
    ({"size": 6}, "size"),
    ({"size": 28.0}, "size"),
    ({"widths": (0, 4)}, "widths"),
    ({"widths": (3, 2)}, "widths"),
    ({"widths": (1, 8)}, "widths"),
    ({"widths": (1.0, 4)}, "widths"),
    ({"widths": 3}, "widths"),
    ({"intensity": (1.0, 0.5)}, "intensity"),
    ({"intensity": (0.2, 1.2)}, "intensity"),
    ({"intensity": "ab"}, "intensity"),
    ({"background": (-0.1, 0.2)}, "background"),
    ({"background": (0.2, 0.2)}, "background"),
    ({"positions": (0, 3)}, "positions"),
    ({"positions": (10, 30)}, "positions"),
    ({"positions": (14, 0)}, "positions"),
    ({"positions": (0, 14), "n_classes": 5}, "positions"),
    ({"permutation": torch.arange(783)}, "permutation"),
    ({"permutation": torch.zeros(784, dtype=torch.int64)}, "permutation"),
    ({"permutation": torch.arange(784.0)}, "permutation"),
])
def test_invalid_arguments_are_refused_by_name(kwargs, name):
    kwargs = {"n_per_class": 2, **kwargs}
    with pytest.raises(ValueError, match=name):
        edge_images(**kwargs)


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="permutation"):
        edge_images(2, permutation=list(range(784)))
    with pytest.raises(TypeError, match="images"):
        permute_pixels(np.zeros((2, 28, 28)), torch.arange(784))
    with pytest.raises(ValueError, match="size"):
        pixel_permutation(0)
