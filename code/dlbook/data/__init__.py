"""Data sets for the book, offline first.

Generated data (random graphs, toy regressions, synthetic images) is made
here from a seed; data that ships inside an installed package is read from
it; downloadable sets are cached under ``DLBOOK_DATA``. Each topic has its
own submodule, re-exported here.
"""

from dlbook.data.cifar import cifar10, cifar100
from dlbook.data.edges import (
    EDGE_CLASSES,
    FIVE_EDGE_CLASSES,
    EdgeImages,
    edge_images,
    permute_pixels,
    pixel_permutation,
)
from dlbook.data.karate import KarateClub, karate_club
from dlbook.data.random_graphs import (
    random_edge_index,
    random_graph,
    random_regular_edge_index,
    random_regular_graph,
)
from dlbook.data.solubility import load_solubility, train_validation_split
from dlbook.data.synthetic import AutoencoderData, autoencoder_data
from dlbook.data.vision import (
    ImageDataset,
    data_root,
    digits_8x8,
    load_torchvision,
    mnist,
    stand_in,
)

__all__ = [
    "autoencoder_data",
    "AutoencoderData",
    "cifar10",
    "cifar100",
    "data_root",
    "EDGE_CLASSES",
    "edge_images",
    "EdgeImages",
    "FIVE_EDGE_CLASSES",
    "digits_8x8",
    "ImageDataset",
    "karate_club",
    "KarateClub",
    "load_solubility",
    "load_torchvision",
    "mnist",
    "permute_pixels",
    "pixel_permutation",
    "random_edge_index",
    "random_graph",
    "random_regular_edge_index",
    "random_regular_graph",
    "stand_in",
    "train_validation_split",
]
