"""Graphs as matrices: walk counting, normalized adjacency, message passing.

Conventions used throughout the book:

* ``adjacency[i, j] == 1`` means an edge from node ``i`` to node ``j``
  (for an undirected graph the matrix is symmetric).
* Node features are stored one node per row: ``features[j]`` is node ``j``.
* Functions accept NumPy arrays and torch tensors and answer in the same kind.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import torch

__all__ = [
    "DirectedMessagePassing",
    "as_edge_index",
    "count_walks",
    "count_walks_brute_force",
    "linear_gnn",
    "normalized_adjacency",
    "propagate",
    "sum_aggregate",
    "walk_exists",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_INT64_MAX = np.iinfo(np.int64).max


def _check_adjacency(adjacency: object) -> np.ndarray:
    """Validate a binary square adjacency matrix and return it as int64 NumPy."""
    if isinstance(adjacency, torch.Tensor):
        values = adjacency.detach().cpu().numpy()
    elif isinstance(adjacency, np.ndarray):
        values = adjacency
    else:
        raise TypeError(
            f"adjacency must be a numpy.ndarray or torch.Tensor, got {type(adjacency).__name__}"
        )
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {tuple(values.shape)}")
    if values.dtype == object or not (
        np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_
    ):
        raise TypeError(f"adjacency must hold numbers, got dtype {values.dtype}")
    if not np.isin(values, (0, 1)).all():
        raise ValueError("adjacency must be binary: every entry 0 or 1")
    return values.astype(np.int64)


def _check_length(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"walk length k must be an integer, got {type(k).__name__}")
    if k < 0:
        raise ValueError(f"walk length k must be non-negative, got {k}")
    return int(k)


def _like(result: np.ndarray, template: object) -> np.ndarray | torch.Tensor:
    """Return ``result`` as the same kind of array as ``template`` (device kept)."""
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(result)).to(template.device)
    return result


def count_walks(adjacency: Array, k: int) -> Array:
    """Exact number of walks of length ``k`` between every pair of nodes: ``A**k``.

    Entry ``[i, j]`` counts the sequences ``i = v0, v1, ..., vk = j`` with an
    edge ``v_t -> v_{t+1}`` at every step (vertices and edges may repeat).
    ``k = 0`` gives the identity.

    NumPy input: the counts are int64 while they fit, Python integers (an
    ``object`` array) beyond that, so the answer is always exact. Torch input:
    an int64 tensor; a count that would overflow int64 raises ``OverflowError``.

    Raises:
        TypeError: ``adjacency`` is not an array/tensor of numbers, or ``k`` is
            not an integer.
        ValueError: ``adjacency`` is not square and binary, or ``k < 0``.
    """
    values = _check_adjacency(adjacency)
    k = _check_length(k)
    # Every count is at most (max out-degree)**k, so this decides int64 safety.
    max_degree = int(values.sum(axis=1).max(initial=0))
    fits = max_degree <= 1 or k * np.log2(max_degree) < 62
    if fits:
        result = np.linalg.matrix_power(values, k)
    elif isinstance(adjacency, torch.Tensor):
        raise OverflowError(
            f"walk counts of length {k} can exceed int64 here; pass a NumPy array for exact big integers"
        )
    else:
        result = np.linalg.matrix_power(values.astype(object), k)
    return _like(result, adjacency)  # type: ignore[return-value]


def walk_exists(adjacency: Array, k: int) -> Array:
    """Boolean matrix ``[i, j]``: is there a walk of length exactly ``k`` from ``i`` to ``j``?

    Computed by boolean matrix powers (repeated squaring, clipped to 0/1 after
    every product, so nothing overflows).

    Raises:
        TypeError, ValueError: as :func:`count_walks`.
    """
    values = _check_adjacency(adjacency)
    k = _check_length(k)
    result = np.eye(values.shape[0], dtype=np.int64)
    base = values
    while k:
        if k & 1:
            result = np.minimum(result @ base, 1)
        base = np.minimum(base @ base, 1)
        k >>= 1
    return _like(result.astype(bool), adjacency)  # type: ignore[return-value]


def count_walks_brute_force(adjacency: Array, k: int) -> np.ndarray:
    """Count walks of length ``k`` by listing them one by one (depth-first search).

    Exponential in ``k``: a reference for small graphs, independent of any
    matrix product. Returns an int64 NumPy array.
    """
    values = _check_adjacency(adjacency)
    k = _check_length(k)
    n = values.shape[0]
    successors = [np.flatnonzero(values[v]).tolist() for v in range(n)]
    counts = np.zeros((n, n), dtype=np.int64)

    def extend(start: int, current: int, steps_left: int) -> None:
        if steps_left == 0:
            counts[start, current] += 1
            return
        for nxt in successors[current]:
            extend(start, nxt, steps_left - 1)

    for start in range(n):
        extend(start, start, k)
    return counts


def propagate(adjacency: Array, features: Array,
              aggregation: Literal["sum", "max"] = "sum") -> Array:
    """One layer of the weight-free GNN: node ``j`` aggregates what its in-neighbours send.

    The weight from node ``i`` to node ``j`` is ``adjacency[i, j]``, so node ``j``
    receives ``features[i]`` from every ``i`` with an edge ``i -> j``:

    * ``"sum"``: ``out[j] = sum_i A[i, j] * features[i]``, i.e. ``out = A.T @ features``;
    * ``"max"``: ``out[j] = max over in-neighbours i of features[i]`` (element-wise),
      and ``0`` for a node with no in-neighbour (the features here are counts >= 0).

    Raises:
        ValueError: unknown ``aggregation`` or ``features`` with the wrong number of rows.
    """
    values = _check_adjacency(adjacency)
    if aggregation not in ("sum", "max"):
        raise ValueError(f"aggregation must be 'sum' or 'max', got {aggregation!r}")
    feats = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if feats.ndim != 2 or feats.shape[0] != values.shape[0]:
        raise ValueError(
            f"features must be a matrix with one row per node ({values.shape[0]}), "
            f"got shape {tuple(feats.shape)}"
        )
    if aggregation == "sum":
        out = values.T @ feats
    else:
        out = np.zeros_like(feats)
        for j in range(values.shape[0]):
            senders = np.flatnonzero(values[:, j])
            if senders.size:
                out[j] = feats[senders].max(axis=0)
    return _like(out, features)  # type: ignore[return-value]


def linear_gnn(adjacency: Array, k: int, aggregation: Literal["sum", "max"] = "sum") -> Array:
    """Run the weight-free GNN for ``k`` layers from one-hot inputs ``X = I``.

    Row ``j`` of the result is the output of node ``j`` at layer ``k``; its entry
    ``i`` is the number of length-``k`` walks from ``i`` to ``j`` (``"sum"``) or
    whether one exists (``"max"``).
    """
    values = _check_adjacency(adjacency)
    k = _check_length(k)
    h: np.ndarray = np.eye(values.shape[0], dtype=np.int64)
    for _ in range(k):
        h = propagate(values, h, aggregation)
    return _like(h, adjacency)  # type: ignore[return-value]


def normalized_adjacency(adjacency: Array, self_loops: bool = True) -> Array:
    """Symmetrically normalized adjacency ``D^{-1/2} (A + I) D^{-1/2}`` (Kipf & Welling).

    With ``self_loops=False`` the identity is not added: ``D^{-1/2} A D^{-1/2}``.
    ``D`` holds the row sums of the (self-looped) matrix; a node of degree 0
    gets 0 in place of ``0**(-1/2)``, as PyTorch Geometric does. The result is
    float64 for NumPy input and float (the input's float dtype, else the
    default dtype) for torch input.

    Raises:
        ValueError: ``adjacency`` is not square and binary, or already has
            self-loops while ``self_loops=True`` (they would be counted twice).
    """
    values = _check_adjacency(adjacency).astype(np.float64)
    if self_loops:
        if np.any(np.diag(values)):
            raise ValueError(
                "adjacency already has self-loops; pass self_loops=False to normalize it as it is"
            )
        values = values + np.eye(values.shape[0])
    degree = values.sum(axis=1)
    with np.errstate(divide="ignore"):
        inv_sqrt = np.where(degree > 0, degree ** -0.5, 0.0)
    result = inv_sqrt[:, None] * values * inv_sqrt[None, :]
    if isinstance(adjacency, torch.Tensor):
        dtype = adjacency.dtype if adjacency.is_floating_point() else torch.get_default_dtype()
        return torch.from_numpy(result).to(device=adjacency.device, dtype=dtype)  # type: ignore[return-value]
    return result  # type: ignore[return-value]


def as_edge_index(adjacency: Array) -> torch.Tensor:
    """Edge list ``[2, E]`` (sources in row 0, targets in row 1) of a binary adjacency."""
    values = _check_adjacency(adjacency)
    src, dst = np.nonzero(values)
    return torch.from_numpy(np.stack([src, dst])).long()


def sum_aggregate(edge_index: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Sparse sum aggregation: ``out[j] = sum of features[i] over edges i -> j``.

    One message per edge, so the work is proportional to ``E * d``: the
    quantity that sets the cost of a message-passing layer.
    """
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if features.ndim != 2:
        raise ValueError(f"features must be a matrix [nodes, channels], got {tuple(features.shape)}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= features.shape[0]):
        raise ValueError(f"edge_index refers to nodes outside 0..{features.shape[0] - 1}")
    out = torch.zeros_like(features)
    return out.index_add_(0, edge_index[1], features[edge_index[0]])


class DirectedMessagePassing(torch.nn.Module):
    """A message-passing layer that tells edge direction apart.

    ``h'_j = tanh(W_self h_j + W_in * sum_{i -> j} h_i + W_out * sum_{j -> m} h_m)``:
    messages arriving along incoming and outgoing edges get separate weights,
    so reversing every edge changes the output. The number of weights,
    ``3 * d_in * d_out + d_out``, does not depend on the graph's size.
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.self_weight = torch.nn.Linear(d_in, d_out)
        self.in_weight = torch.nn.Linear(d_in, d_out, bias=False)
        self.out_weight = torch.nn.Linear(d_in, d_out, bias=False)

    def forward(self, edge_index: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """New features ``[nodes, d_out]`` from ``features [nodes, d_in]`` and edges ``[2, E]``."""
        incoming = sum_aggregate(edge_index, features)
        outgoing = sum_aggregate(edge_index.flip(0), features)
        return torch.tanh(
            self.self_weight(features) + self.in_weight(incoming) + self.out_weight(outgoing)
        )
