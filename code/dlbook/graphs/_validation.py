"""Argument checks shared by the graph modules."""

from __future__ import annotations

from typing import TypeVar

import networkx as nx
import numpy as np
import torch

__all__: list[str] = []  # private helpers of dlbook.graphs

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_INT64_MAX = np.iinfo(np.int64).max


def _check_adjacency(adjacency: object) -> np.ndarray:
    """Validate a binary square adjacency matrix and return it as int64
    NumPy. A networkx graph gives its 0/1 adjacency in node order
    (``list(graph)``): each edge counts 1, whatever its attributes."""
    if isinstance(adjacency, nx.Graph):
        if adjacency.is_multigraph():
            raise ValueError(
                "adjacency: a networkx multigraph's repeated edges are not a "
                "0/1 adjacency; nx.Graph(graph) merges them"
            )
        adjacency = nx.to_numpy_array(adjacency, weight=None, dtype=np.int64)
    if isinstance(adjacency, torch.Tensor):
        if adjacency.layout != torch.strided:
            raise TypeError(
                "adjacency must be a dense matrix here, got layout "
                f"{adjacency.layout}"
            )
        if adjacency.dtype in (
            torch.float16,
            torch.bfloat16,
        ):  # NumPy has no bfloat16
            adjacency = adjacency.float()
        values = adjacency.detach().cpu().numpy()
    elif isinstance(adjacency, np.ndarray):
        values = adjacency
    else:
        raise TypeError(
            "adjacency must be a networkx graph, numpy.ndarray or "
            f"torch.Tensor, got {type(adjacency).__name__}"
        )
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(
            "adjacency must be a square matrix, got shape "
            f"{tuple(values.shape)}"
        )
    if values.dtype == object or not (
        np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_
    ):
        raise TypeError(
            f"adjacency must hold numbers, got dtype {values.dtype}"
        )
    if not np.isin(values, (0, 1)).all():
        odd = values[~np.isin(values, (0, 1))].flat[0]
        raise ValueError(
            f"adjacency must be binary: every entry 0 or 1, got {odd}. For a "
            "weighted graph pass the networkx graph itself (each edge counts "
            "1) or (adjacency != 0) as integers"
        )
    return values.astype(np.int64)


def _check_length(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(
            f"walk length k must be an integer, got {type(k).__name__}"
        )
    if k < 0:
        raise ValueError(f"walk length k must be non-negative, got {k}")
    return int(k)


def _like(result: np.ndarray, template: object) -> np.ndarray | torch.Tensor:
    """Return ``result`` as the same kind of array as ``template`` (device
    kept)."""
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(result)).to(
            template.device
        )
    return result


def _check_edges(edge_index: object, features: object) -> None:
    if not isinstance(edge_index, torch.Tensor) or not isinstance(
        features, torch.Tensor
    ):
        raise TypeError("edge_index and features must be torch tensors")
    if edge_index.dtype != torch.long:
        raise TypeError(
            f"edge_index must hold int64 node ids, got {edge_index.dtype}"
        )
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(
            f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}"
        )
    if features.ndim != 2:
        raise ValueError(
            "features must be a matrix [nodes, channels], got "
            f"{tuple(features.shape)}"
        )
    if edge_index.numel() and (
        edge_index.min() < 0 or edge_index.max() >= features.shape[0]
    ):
        raise ValueError(
            f"edge_index refers to nodes outside 0..{features.shape[0] - 1}"
        )
