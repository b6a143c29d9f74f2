"""Issue 20, kind 2, across dlbook: every training or evaluation loop refuses
empty data at the call, with a ValueError that names the argument, before
any work; never a ZeroDivisionError or NaN after an epoch."""

import numpy as np
import pytest
import torch
from torch import nn

from dlbook.train import evaluate, train


class _Empty(torch.utils.data.Dataset):
    def __len__(self):
        return 0

    def __getitem__(self, i):
        raise IndexError(i)


def _pair(n, d=4):
    return torch.randn(n, d), torch.zeros(n, dtype=torch.long)


def _train_loop():
    return train(nn.Linear(4, 2), _Empty(), epochs=1, device="cpu")


def _train_tensors():
    return train(nn.Linear(4, 2), _pair(0), epochs=1, device="cpu")


def _train_val():
    return train(nn.Linear(4, 2), _pair(8), val_data=_Empty(), epochs=1, device="cpu")


def _evaluate():
    return evaluate(nn.Linear(4, 2), _Empty())


def _fit_val():
    from dlbook.data.edges import edge_images
    from dlbook.edges import fit

    images = edge_images(2, seed=0).tensors
    return fit("mlp", images, (images[0][:0], images[1][:0]), epochs=1, device="cpu")


def _autoencoder():
    from dlbook.autoencoders import Autoencoder, train_autoencoder

    return train_autoencoder(Autoencoder(5, 2), torch.zeros(0, 5), epochs=1)


def _dropout_regression():
    from dlbook.regularization import train_dropout_regression

    return train_dropout_regression(np.zeros((0, 3)), np.zeros(0), 0.5, steps=1)


def _marker():
    from dlbook.regularization import train_with_marker

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    return train_with_marker(model, torch.zeros(0, 1, 8, 8),
                             torch.zeros(0, dtype=torch.long), epochs=1)


def _gcn():
    from dlbook.graphs.gcn import GCNClassifier, train_gcn_classifier

    n = 5
    none = torch.zeros(n, dtype=torch.bool)
    return train_gcn_classifier(GCNClassifier(n), torch.eye(n), torch.eye(n),
                                torch.zeros(n, dtype=torch.long), none, ~none,
                                epochs=1, lr=0.1)


def _molecules():
    pytest.importorskip("rdkit")
    from dlbook.molecules import MoleculeGNN, train_molecule_gnn

    return train_molecule_gnn(MoleculeGNN(), [], torch.zeros(0), [], torch.zeros(0),
                              epochs=1)


@pytest.mark.parametrize("call, name", [
    (_train_loop, "train_data"),
    (_train_tensors, "train_data"),
    (_train_val, "val_data"),
    (_evaluate, "data"),
    (_fit_val, "val_data"),
    (_autoencoder, "x"),
    (_dropout_regression, "X"),
    (_marker, "images"),
    (_gcn, "train_mask"),
    (_molecules, "train_graphs"),
])
def test_every_loop_refuses_empty_data_by_name(call, name):
    with pytest.raises(ValueError, match=name):
        call()
