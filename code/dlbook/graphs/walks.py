"""Walks and linear message passing on an adjacency matrix (the path-counting
chapter).

Graph kinds accepted by every function here: a dense ``[n, n]`` adjacency
(NumPy array or dense torch tensor; ``adjacency[i, j] = 1`` for an edge
``i -> j``), directed or undirected (symmetric), with or without self-loops,
of any integer, bool or float dtype (float16 and bfloat16 included). Graphs
with repeated edges cannot be written as a 0/1 matrix: an entry other than 0
or 1 is refused with a ``ValueError``, and a sparse tensor with a
``TypeError`` that names its layout.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from dlbook.graphs._validation import (
    Array,
    _check_adjacency,
    _check_length,
    _like,
)

__all__ = [
    "count_walks",
    "count_walks_brute_force",
    "linear_gnn",
    "propagate",
    "walk_exists",
]


def count_walks(adjacency: Array, k: int) -> Array:
    """Exact number of walks of length ``k`` between every pair of nodes:
    ``A**k``.

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
    if _counts_fit_int64(values, k):
        result = np.linalg.matrix_power(values, k)
    elif isinstance(adjacency, torch.Tensor):
        raise _count_overflow(k)
    else:
        result = np.linalg.matrix_power(values.astype(object), k)
    return _like(result, adjacency)  # type: ignore[return-value]


def _counts_fit_int64(values: np.ndarray, k: int) -> bool:
    """Every walk count (and every count on the way) is at most
    ``(max degree)**k``: below 2**62 it fits int64."""
    max_degree = int(values.sum(axis=1).max(initial=0))
    return max_degree <= 1 or k * np.log2(max_degree) < 62


def _count_overflow(k: int) -> OverflowError:
    return OverflowError(
        f"walk counts of length k={k} can exceed int64 here; pass a NumPy "
        "array for exact big integers"
    )


def walk_exists(adjacency: Array, k: int) -> Array:
    """Boolean matrix ``[i, j]``: is there a walk of length exactly ``k`` from
    ``i`` to ``j``?

    Computed by boolean matrix powers (repeated squaring, clipped to 0/1 after
    every product, so nothing overflows).

    Raises: TypeError, ValueError: as :func:`count_walks`.
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
    """Count walks of length ``k`` by listing them one by one (depth-first
    search).

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


def propagate(
    adjacency: Array,
    features: Array,
    aggregation: Literal["sum", "max"] = "sum",
) -> Array:
    """One layer of the weight-free GNN: node ``j`` aggregates what its
    in-neighbours send.

    The weight from node ``i`` to node ``j`` is ``adjacency[i, j]``, so node
    ``j`` receives ``features[i]`` from every ``i`` with an edge ``i -> j``:

    * ``"sum"``: ``out[j] = sum_i A[i, j] * features[i]``, i.e.
      ``out = A.T @ features``;
    * ``"max"``: ``out[j] = max over in-neighbours i of features[i]``
      (element-wise), and ``0`` for a node with no in-neighbour (the features
      here are counts >= 0).

    Integer features are summed exactly (int64, or Python integers for a
    NumPy sum beyond int64), never wrapped around; float features in float64
    (bfloat16 tensors through float32).

    Raises:
        ValueError: unknown ``aggregation`` or ``features`` with the wrong
            number of rows.
        OverflowError: a tensor's integer sums exceed int64.
    """
    values = _check_adjacency(adjacency)
    if aggregation not in ("sum", "max"):
        raise ValueError(
            f"aggregation must be 'sum' or 'max', got {aggregation!r}"
        )
    if isinstance(features, torch.Tensor):
        # NumPy has no bfloat16; float32 holds every bfloat16 exactly
        as_numpy = features.detach().cpu()
        if as_numpy.dtype == torch.bfloat16:
            as_numpy = as_numpy.float()
        feats = as_numpy.numpy()
    else:
        feats = np.asarray(features)
    if feats.ndim != 2 or feats.shape[0] != values.shape[0]:
        raise ValueError(
            "features must be a matrix with one row per node "
            f"({values.shape[0]}), got shape {tuple(feats.shape)}"
        )
    if aggregation == "sum":
        out = _sum_messages(
            values, feats, torch_out=isinstance(features, torch.Tensor)
        )
    else:
        out = np.zeros_like(feats)
        for j in range(values.shape[0]):
            senders = np.flatnonzero(values[:, j])
            if senders.size:
                out[j] = feats[senders].max(axis=0)
    return _like(out, features)  # type: ignore[return-value]


def _sum_messages(
    values: np.ndarray, feats: np.ndarray, *, torch_out: bool
) -> np.ndarray:
    """``values.T @ feats`` without wrapping integers around: integer
    features are summed in int64 when no sum can leave it (the largest
    in-degree times the largest feature is below 2**63), else exactly in
    Python integers, kept as int64 if every sum fits and otherwise returned
    as Python integers (NumPy) or refused (torch)."""
    if feats.dtype.kind not in "iub":
        return values.T @ feats
    largest = max(
        abs(int(feats.max(initial=0))), abs(int(feats.min(initial=0)))
    )
    in_degree = int(values.sum(axis=0).max(initial=0))
    if largest * in_degree < 2**63:
        return values.T @ feats.astype(np.int64)
    exact = values.T.astype(object) @ feats.astype(object)
    if all(-(2**63) <= v < 2**63 for v in exact.flat):
        return exact.astype(np.int64)
    if torch_out:
        raise OverflowError(
            "features: a sum of in-neighbours' features exceeds int64; pass "
            "a NumPy array for exact big integers"
        )
    return exact


def linear_gnn(
    adjacency: Array, k: int, aggregation: Literal["sum", "max"] = "sum"
) -> Array:
    """Run the weight-free GNN for ``k`` layers from one-hot inputs ``X = I``.

    Row ``j`` of the result is the output of node ``j`` at layer ``k``; its
    entry
    ``i`` is the number of length-``k`` walks from ``i`` to ``j`` (``"sum"``) or
    whether one exists (``"max"``). Counts beyond int64 are handled as in
    :func:`count_walks` (Python integers for NumPy, ``OverflowError`` for
    torch), never wrapped around.
    """
    values = _check_adjacency(adjacency)
    k = _check_length(k)
    h: np.ndarray = np.eye(values.shape[0], dtype=np.int64)
    if aggregation == "sum" and not _counts_fit_int64(values, k):
        # the counts of count_walks: exact Python integers (NumPy) or refused
        # (torch), never int64 wrapped around
        if isinstance(adjacency, torch.Tensor):
            raise _count_overflow(k)
        h = h.astype(object)
    for _ in range(k):
        h = propagate(values, h, aggregation)
    return _like(h, adjacency)  # type: ignore[return-value]
