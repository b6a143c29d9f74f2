"""dlbook.train: the loop against a hand-written one, determinism, evaluation
against a direct computation, and argument errors."""

import pytest
import torch
from torch import nn

from dlbook.train import History, evaluate, train


def _blobs(n=120, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    centres = torch.tensor([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.5]])
    inputs = centres[labels] + 0.5 * torch.randn(n, 2, generator=generator)
    return inputs, labels


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def test_training_matches_a_hand_written_loop():
    data = _blobs()
    ours, theirs = _model(), _model()
    history = train(ours, data, epochs=3, batch_size=32, seed=5, device="cpu",
                    optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    generator = torch.Generator().manual_seed(5)
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(3):
        order = torch.randperm(len(data[1]), generator=generator)
        total = 0.0
        for idx in order.split(32):
            loss = nn.functional.cross_entropy(theirs(data[0][idx]), data[1][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(order))
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b)
    # the same sums in the same order: equal, not merely close
    assert history.train_loss == losses


def test_training_learns_and_records_every_epoch():
    data, val = _blobs(seed=0), _blobs(60, seed=1)
    history = train(_model(), data, val_data=val, epochs=20, device="cpu",
                    optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
    assert isinstance(history, History)
    assert all(len(x) == 20 for x in (history.train_loss, history.train_accuracy,
                                      history.val_loss, history.val_accuracy,
                                      history.seconds))
    assert history.val_accuracy[-1] > 0.95 > history.val_accuracy[0] - 0.5
    assert history.train_loss[-1] < 0.3 * history.train_loss[0]


def test_same_seed_same_run_and_dropout_is_seeded():
    def run(seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 32), nn.Dropout(0.5), nn.Linear(32, 3))
        train(model, _blobs(), epochs=2, seed=seed, device="cpu")
        return torch.cat([p.flatten() for p in model.parameters()])

    torch.testing.assert_close(run(1), run(1), rtol=0, atol=0)
    assert not torch.equal(run(1), run(2))


def test_evaluate_equals_a_direct_computation():
    inputs, labels = _blobs()
    model = _model()
    loss, accuracy = evaluate(model, (inputs, labels), batch_size=7)
    with torch.no_grad():
        logits = model(inputs)
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits, labels)), rel=1e-6)
    assert accuracy == pytest.approx(float((logits.argmax(1) == labels).float().mean()))
    assert model.training                     # the mode is restored


class _Samples(torch.utils.data.Dataset):
    """A dataset that is not a TensorDataset: read one sample at a time."""

    def __init__(self, inputs, labels):
        self.inputs, self.labels = inputs, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.inputs[i], self.labels[i]


def test_tensors_and_a_sample_dataset_train_the_same_run():
    # the sliced path (tensors) and the DataLoader path (any Dataset) must
    # visit the same minibatches in the same order, the last one short
    data, val = _blobs(125, seed=0), _blobs(61, seed=1)
    runs = []
    for wrap in (lambda d: d, lambda d: _Samples(*d)):
        model = _model()
        history = train(model, wrap(data), val_data=wrap(val), epochs=3,
                        batch_size=16, seed=3, device="cpu",
                        optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
        runs.append((torch.cat([p.flatten() for p in model.parameters()]), history))
    (a, ha), (b, hb) = runs
    assert torch.equal(a, b)
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert getattr(ha, name) == getattr(hb, name)
    assert evaluate(_model(), data, batch_size=16) == evaluate(
        _model(), _Samples(*data), batch_size=16)


@pytest.mark.parametrize("where", ["train_data", "val_data", "evaluate"])
def test_an_empty_dataset_is_refused_by_name(where):
    empty = _Samples(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match=("data" if where == "evaluate" else where) + " is empty"):
        if where == "train_data":
            train(_model(), empty, epochs=1, device="cpu")
        elif where == "val_data":
            train(_model(), _blobs(), val_data=empty, epochs=1, device="cpu")
        else:
            evaluate(_model(), empty)


@pytest.mark.parametrize("data, error, message", [
    ((torch.zeros(3, 2), torch.zeros(3)), TypeError, "int64"),
    ((torch.zeros(3, 2), torch.zeros(2, dtype=torch.long)), ValueError, "3 inputs but 2 labels"),
    ((torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), ValueError, "is empty"),
    ([1, 2], TypeError, "pair of tensors or a torch Dataset"),
])
def test_bad_data_is_refused_by_name(data, error, message):
    with pytest.raises(error, match=message):
        train(_model(), data, epochs=1)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train(_model(), _blobs(), epochs=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        evaluate(_model(), _blobs(), batch_size=0)
