"""dlbook.edges: the course's models against hand-written computations, the
edge detectors on edges, frozen training, the confusion matrix against a
direct count, and argument errors."""

import copy

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlbook.data.edges import edge_images
from dlbook.edges import (
    MLP,
    SimpleCNN,
    confusion,
    edge_detector_kernels,
    edge_similarity,
    fit,
    freeze_edge_detectors,
    predict,
    show_filters,
)


def _by_hand(model, x, pool):
    """SimpleCNN's forward pass written out with functional ops."""
    k = model.conv1.kernel_size[0]
    pad = (k // 2,) * 4
    h = F.conv2d(F.pad(x, pad, mode="reflect"), model.conv1.weight,
                 model.conv1.bias).relu()
    h = F.max_pool2d(h, 2) if pool == "max" else F.avg_pool2d(h, 2)
    h = F.conv2d(F.pad(h, pad, mode="reflect"), model.conv2.weight,
                 model.conv2.bias).relu()
    return h.mean(dim=(2, 3)) @ model.fc.weight.T + model.fc.bias


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize("k", [3, 7, 11])
def test_simple_cnn_matches_a_hand_written_forward_pass(pool, k):
    torch.manual_seed(0)
    model = SimpleCNN(5, kernel_size=k, pool=pool)
    x = torch.rand(4, 1, 28, 28)
    out = model(x)
    assert out.shape == (4, 5)
    torch.testing.assert_close(out, _by_hand(model, x, pool))


def test_parameter_counts_of_the_course_models():
    count = lambda m: sum(p.numel() for p in m.parameters())
    # conv 1->3 (7x7 + bias), conv 3->3, linear 3->3
    assert count(SimpleCNN()) == (49 * 3 + 3) + (9 * 49 + 3) + (9 + 3)
    assert count(MLP()) == (784 * 50 + 50) + (50 * 10 + 10) + (10 * 3 + 3)
    assert MLP(5)(torch.rand(2, 1, 28, 28)).shape == (2, 5)
    assert MLP(n_inputs=16, hidden=(4,))(torch.rand(3, 16)).shape == (3, 3)


def test_reflect_padding_keeps_the_map_size_and_reflects():
    model = SimpleCNN(kernel_size=5)
    x = torch.rand(1, 1, 28, 28)
    assert model.conv1(x).shape == (1, 3, 28, 28)
    # a constant image gives a constant map: reflected border, no zeros
    flat = model.conv1(torch.full((1, 1, 28, 28), 0.5))
    assert torch.allclose(flat, flat[..., :1, :1].expand_as(flat))


def test_edge_detectors_respond_to_their_orientation():
    kernels = edge_detector_kernels(7)
    assert kernels.shape == (3, 1, 7, 7)
    step = torch.zeros(1, 1, 28, 28)
    step[..., 14:, :] = 1.0  # dark above, bright below: a horizontal edge
    response = F.conv2d(step, kernels)  # valid positions only
    assert float(response[0, 0].max()) == 7 * 3  # c k (k - 1) / 2 with c = 1
    assert float(response[0, 1].abs().max()) == 0.0
    vertical = F.conv2d(step.transpose(2, 3), kernels)
    assert float(vertical[0, 1].max()) == 21 and vertical[0, 0].abs().max() == 0
    with pytest.raises(ValueError, match="kernel_size"):
        edge_detector_kernels(4)


def test_edge_similarity_against_a_direct_cosine():
    torch.manual_seed(1)
    w = torch.randn(4, 1, 5, 5)
    detectors = edge_detector_kernels(5)[:, 0]
    expected = torch.tensor([[
        abs(float(F.cosine_similarity(a.flatten(), e.flatten(), dim=0)))
        for e in detectors] for a in w[:, 0]])
    torch.testing.assert_close(edge_similarity(w), expected)
    torch.testing.assert_close(edge_similarity(w[:, 0]), expected)
    # a scaled or negated detector is a perfect match for itself only
    copies = torch.stack([3 * detectors[0], -detectors[1], detectors[2]])
    sim = edge_similarity(copies)
    torch.testing.assert_close(sim.diagonal(), torch.ones(3))
    assert sim[0, 1] < 1e-6 and sim[1, 0] < 1e-6  # orthogonal detectors
    assert edge_similarity(torch.zeros(1, 3, 3)).abs().max() == 0
    with pytest.raises(ValueError, match="kernels"):
        edge_similarity(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="kernel_size"):
        edge_similarity(torch.ones(2, 4, 4))


def test_frozen_edge_detectors_leave_only_the_classifier_trainable():
    model = freeze_edge_detectors(SimpleCNN())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    torch.testing.assert_close(model.conv1.weight, edge_detector_kernels(7))
    images = edge_images(20, seed=0)
    features = model.features(images.images)
    horizontal = features[images.labels == 0].mean(0)
    vertical = features[images.labels == 1].mean(0)
    assert horizontal[0] > 3 * horizontal[1]
    assert vertical[1] > 3 * vertical[0]
    with pytest.raises(TypeError, match="SimpleCNN"):
        freeze_edge_detectors(MLP())
    with pytest.raises(ValueError, match="3 channels"):
        freeze_edge_detectors(SimpleCNN(channels=4))


@pytest.fixture(scope="module")
def data():
    return edge_images(20, seed=1).tensors, edge_images(20, seed=2).tensors


def test_fit_is_seeded_and_trains_only_what_it_should(data):
    train, val = data
    a = fit("edge-cnn", train, val, epochs=3, seed=4, device="cpu")
    b = fit("edge-cnn", train, val, epochs=3, seed=4, device="cpu")
    assert a.history.train_loss == b.history.train_loss
    assert a.val_accuracy == b.val_accuracy and a.epochs == 3 and a.fitted
    torch.testing.assert_close(a.model.conv1.weight, a.initial.conv1.weight)
    assert not torch.equal(a.model.fc.weight, a.initial.fc.weight)
    c = fit("edge-cnn", train, val, epochs=3, seed=5, device="cpu")
    assert c.history.train_loss != a.history.train_loss


@pytest.mark.parametrize("enabled", [True, False])
def test_fit_leaves_the_onednn_setting_as_it_found_it(data, enabled):
    # fit turns oneDNN off on the CPU for speed; the caller's setting returns,
    # also when fit fails
    train, val = data
    before = torch.backends.mkldnn.set_flags(enabled)[0]
    try:
        fit("cnn", train, val, epochs=1, seed=0, device="cpu")
        assert torch.backends.mkldnn.enabled is enabled
        with pytest.raises(TypeError, match="int64"):  # refused in training
            fit("cnn", (train[0], train[1].float()), val, epochs=1, seed=0,
                device="cpu")
        assert torch.backends.mkldnn.enabled is enabled
    finally:
        torch.backends.mkldnn.set_flags(before)


def test_fit_stops_once_the_training_data_is_fitted(data):
    train, val = data
    run = fit("mlp", train, val, epochs=400, until_loss=0.05, check_every=5,
              seed=0, device="cpu", track=True)
    assert run.fitted and run.train_accuracy == 1.0 and run.train_loss < 0.05
    assert run.epochs < 400 and run.epochs % 5 == 0
    assert len(run.history.val_accuracy) == run.epochs
    # stopping was not premature: five epochs earlier the rule was not met
    shorter = fit("mlp", train, val, epochs=run.epochs - 5, seed=0,
                  device="cpu")
    assert shorter.train_accuracy < 1.0 or shorter.train_loss >= 0.05
    never = fit("mlp", train, val, epochs=2, until_loss=1e-9, seed=0,
                device="cpu")
    assert not never.fitted and never.epochs == 2


def test_fit_learns_the_edge_task(data):
    train, val = data
    run = fit("cnn", train, val, epochs=300, until_loss=0.05, seed=0,
              device="cpu")
    assert run.fitted and run.val_accuracy > 0.8


@pytest.mark.parametrize("kwargs, name", [
    ({"kind": "rnn"}, "kind"),
    ({"lr": 0.0}, "lr"),
    ({"momentum": 1.0}, "momentum"),
    ({"until_loss": -1.0}, "until_loss"),
    ({"epochs": 0}, "epochs"),
    ({"check_every": 0, "until_loss": 0.1}, "check_every"),
    ({"kernel_size": 4}, "kernel_size"),
    ({"pool": "min"}, "pool"),
    ({"n_classes": 0}, "n_classes"),
])
def test_fit_refuses_bad_arguments(data, kwargs, name):
    train, val = data
    kwargs = {"kind": "cnn", "epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=name):
        fit(train_data=train, val_data=val, device="cpu", **kwargs)


def test_predict_and_confusion_against_a_direct_count(data):
    train, val = data
    torch.manual_seed(3)
    model = SimpleCNN()
    predicted = predict(model, val[0], batch_size=7)
    torch.testing.assert_close(predicted, model(val[0]).argmax(1))
    matrix = confusion(model, val, 3)
    expected = np.zeros((3, 3), dtype=np.int64)
    for t, p in zip(val[1].tolist(), predicted.tolist()):
        expected[t, p] += 1
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.sum() == len(val[1])
    # an absent class still has its row and column
    only_first = (val[0][val[1] == 0], val[1][val[1] == 0])
    assert confusion(model, only_first, 3).shape == (3, 3)
    with pytest.raises(ValueError, match="labels"):
        confusion(model, val, 2)
    with pytest.raises(TypeError, match="data"):
        confusion(model, val[0], 3)
    with pytest.raises(TypeError, match="images"):
        predict(model, val[0].numpy())


def test_show_filters_draws_one_image_per_kernel():
    fig, axes = plt.subplots(1, 4)
    show_filters(axes, edge_detector_kernels(5), label="edge")
    assert [len(ax.images) for ax in axes] == [1, 1, 1, 0]
    assert axes[0].get_title() == "edge 0"
    with pytest.raises(ValueError, match="axes"):
        show_filters(axes[:2], edge_detector_kernels(5))
    with pytest.raises(ValueError, match="kernels"):
        show_filters(axes, torch.ones(3, 5))
    plt.close(fig)


def test_models_refuse_bad_sizes():
    with pytest.raises(ValueError, match="kernel_size"):
        SimpleCNN(kernel_size=6)
    with pytest.raises(ValueError, match="pool"):
        SimpleCNN(pool="sum")
    with pytest.raises(ValueError, match="hidden"):
        MLP(hidden=(50, 0))
    with pytest.raises(ValueError, match="n_inputs"):
        MLP(n_inputs=-1)


def test_frozen_training_on_features_equals_training_the_whole_network(data):
    from dlbook.train import train
    train_data, val = data
    run = fit("edge-cnn", train_data, val, epochs=4, seed=6, device="cpu")
    # the same model, trained end to end with its convolutions frozen
    whole = copy.deepcopy(run.initial)
    optimizer = torch.optim.SGD(whole.fc.parameters(), lr=1e-2, momentum=0.9)
    state = np.random.SeedSequence([6, 0]).generate_state(1)[0]
    history = train(whole, train_data, epochs=4, batch_size=8,
                    optimizer=lambda _: optimizer, seed=int(state),
                    device="cpu")
    torch.testing.assert_close(whole.fc.weight, run.model.fc.weight)
    assert history.train_loss == pytest.approx(run.history.train_loss, rel=1e-5)


@pytest.mark.parametrize("which", ["train_data", "val_data"])
def test_fit_refuses_empty_data_before_training(data, which):
    train, val = data
    empty = (train[0][:0], train[1][:0])
    args = (empty, val) if which == "train_data" else (train, empty)
    with pytest.raises(ValueError, match=f"{which} is empty"):
        fit("cnn", *args, epochs=1, seed=0, device="cpu")
