"""The classifiers of the MLP-versus-CNN chapter: architecture, shapes, parameter
counts (by hand), seeding and input validation."""

import pytest
import torch
from torch import nn

from torch.utils.flop_counter import FlopCounterMode

from dlbook.models import (
    count_multiply_adds,
    count_parameters,
    make_cnn,
    make_mlp,
    make_muon_cnn,
)


def linear_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


@pytest.mark.parametrize("depth", [1, 3, 7])
def test_mlp_depth_counts_weight_layers_and_parameters(depth):
    model = make_mlp(3, 100, image_size=32, width=128, depth=depth)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert len(linears) == depth
    assert sum(isinstance(m, nn.ReLU) for m in model) == depth - 1
    sizes = [3 * 32 * 32] + [128] * (depth - 1) + [100]
    assert count_parameters(model) == linear_params(sizes)
    assert model(torch.rand(5, 3, 32, 32)).shape == (5, 100)


def test_cnn_has_four_convolutions_and_three_linear_layers():
    model = make_cnn()
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert len(linears) == 3 and linears[0].in_features == 64 * 8 * 8
    conv_params = sum(9 * a * b + b for a, b in zip([3, 32, 32, 64], [32, 32, 64, 64]))
    assert count_parameters(model) == conv_params + linear_params([4096, 128, 128, 100])


def test_cnn_feature_map_shapes_follow_the_pools():
    model = make_cnn(1, 10, image_size=8)
    x = torch.rand(2, 1, 8, 8)
    shapes = []
    for layer in model:
        x = layer(x)
        if isinstance(layer, nn.MaxPool2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 4, 4), (64, 2, 2)]
    assert x.shape == (2, 10)


@pytest.mark.parametrize("size", [4, 7, 9])
def test_cnn_accepts_odd_and_minimal_sizes(size):
    model = make_cnn(1, 3, image_size=size, channels=(4, 4, 4, 4), width=8)
    assert model(torch.rand(3, 1, size, size)).shape == (3, 3)


def test_cnn_is_translation_equivariant_before_the_pools():
    """The convolutional layers commute with a shift (away from the border)."""
    conv = make_cnn(1, 2, image_size=16)[:4]          # conv, relu, conv, relu
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 6:9, 5:8] = torch.rand(3, 3, generator=torch.Generator().manual_seed(0))
    shifted = torch.roll(x, shifts=(2, 3), dims=(2, 3))
    out, out_shifted = conv(x), conv(shifted)
    # two 3x3 layers: pixels 2..13 never see the zero padding
    moved = torch.roll(out, shifts=(2, 3), dims=(2, 3))
    assert torch.allclose(moved[..., 4:14, 5:14], out_shifted[..., 4:14, 5:14], atol=1e-6)
    assert not torch.allclose(moved, out_shifted, atol=1e-6)  # the border differs


def test_seed_fixes_the_weights_and_differs_between_seeds():
    def flat(model):
        return torch.nn.utils.parameters_to_vector(model.parameters())

    assert torch.equal(flat(make_cnn(seed=3)), flat(make_cnn(seed=3)))
    assert not torch.equal(flat(make_cnn(seed=3)), flat(make_cnn(seed=4)))
    assert torch.equal(flat(make_mlp(seed=1)), flat(make_mlp(seed=1)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, "width"),
        ({"depth": 0}, "depth"),
        ({"in_channels": 2.0}, "in_channels"),
        ({"num_classes": True}, "num_classes"),
        ({"image_size": -1}, "image_size"),
    ],
)
def test_mlp_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mlp(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": ()}, "channels"),
        ({"channels": (8, 0)}, "channels"),
        ({"channels": "abc"}, "channels"),
        ({"mlp_depth": 0}, "mlp_depth"),
        ({"image_size": 3}, "too small"),
        ({"image_size": 7, "channels": (4,) * 6}, "too small"),
    ],
)
def test_cnn_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_cnn(**kwargs)


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        (make_cnn(), (3, 32, 32)),
        (make_cnn(1, 10, image_size=9, channels=(4, 6, 8)), (1, 9, 9)),
        (make_mlp(depth=7), (3, 32, 32)),
        (nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.Flatten()), (4, 9, 9)),
    ],
)
def test_multiply_adds_match_torch_flop_counter(model, shape):
    """PyTorch's own counter reports 2 FLOPs per multiply-add."""
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *shape))
    assert sum(count_multiply_adds(model, shape).values()) == counter.get_total_flops() // 2


def test_multiply_adds_by_hand_and_model_mode_kept():
    model = make_cnn()
    model.train()
    counts = list(count_multiply_adds(model, (3, 32, 32)).values())
    assert counts[:4] == [32 * 32 * 32 * 27, 32 * 32 * 32 * 288, 16 * 16 * 64 * 288,
                          16 * 16 * 64 * 576]
    assert counts[4:] == [4096 * 128, 128 * 128, 128 * 100]
    assert model.training
    assert not any(m._forward_hooks for m in model.modules())   # hooks removed


@pytest.mark.parametrize("shape", [(), (3, 0, 32), (-1, 8, 8)])
def test_multiply_adds_reject_bad_shapes(shape):
    with pytest.raises(ValueError, match="input_shape"):
        count_multiply_adds(make_mlp(), shape)


# make_muon_cnn: the course's CNN of the Muon notebook (EECS 182 F25 HW 6)


def test_muon_cnn_matches_the_course_architecture_on_cifar():
    model = make_muon_cnn()
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d"] * 3 + [
        "Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 32), (32, 64), (64, 128)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2048, 512), (512, 10)]
    assert next(m for m in model if isinstance(m, nn.Dropout)).p == 0.5
    conv_params = sum(9 * a * b + b for a, b in [(3, 32), (32, 64), (64, 128)])
    assert count_parameters(model) == conv_params + 2048 * 512 + 512 + 512 * 10 + 10
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(("channels", "size", "flat"), [(1, 8, 128), (3, 16, 512), (2, 15, 128)])
def test_muon_cnn_flattened_size_follows_the_three_pools(channels, size, flat):
    model = make_muon_cnn(channels, 7, image_size=size)
    x = torch.rand(4, channels, size, size)
    features = model[:10](x)                      # up to and including Flatten
    assert features.shape == (4, flat)
    assert model[10].in_features == flat
    assert model(x).shape == (4, 7)


def test_muon_cnn_dropout_only_in_training_and_seeded_weights():
    model = make_muon_cnn(1, 10, image_size=8, seed=5)
    x = torch.rand(3, 1, 8, 8)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.equal(a, model(x))

    def flat(m):
        return torch.nn.utils.parameters_to_vector(m.parameters())

    assert torch.equal(flat(make_muon_cnn(seed=2)), flat(make_muon_cnn(seed=2)))
    assert not torch.equal(flat(make_muon_cnn(seed=2)), flat(make_muon_cnn(seed=3)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 7}, "too small"),
        ({"image_size": 0}, "image_size"),
        ({"in_channels": 0}, "in_channels"),
        ({"num_classes": 2.5}, "num_classes"),
    ],
)
def test_muon_cnn_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_muon_cnn(**kwargs)
