"""Edge lists, sum aggregation, direction-aware message passing and the
permutation test for update rules (the gnn-layers and path-counting chapters).

Graph kinds: functions taking an ``edge_index [2, E]`` (int64, sources in
row 0, targets in row 1) accept directed graphs (messages run from source to
target; list both directions for an undirected graph), repeated edges (each
copy sends its own message, as in PyTorch Geometric), self-loops (a node
hears itself) and isolated nodes (they receive 0). Features are a dense
``[n, d]`` tensor of any float dtype. :func:`as_edge_index` takes the dense
adjacencies of :mod:`dlbook.graphs.walks`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations

import numpy as np
import torch

from dlbook._checks import positive_int
from dlbook.graphs._validation import Array, _check_adjacency, _check_edges

__all__ = [
    "as_edge_index",
    "DirectedMessagePassing",
    "is_permutation_invariant",
    "sum_aggregate",
]


def as_edge_index(adjacency: Array) -> torch.Tensor:
    """Edge list ``[2, E]`` (sources in row 0, targets in row 1) of a binary
    adjacency."""
    values = _check_adjacency(adjacency)
    src, dst = np.nonzero(values)
    return torch.from_numpy(np.stack([src, dst])).long()


def sum_aggregate(
    edge_index: torch.Tensor, features: torch.Tensor
) -> torch.Tensor:
    """Sparse sum aggregation:
    ``out[j] = sum of features[i] over edges i -> j``.

    One message per edge, so the work is proportional to ``E * d``: the
    quantity that sets the cost of a message-passing layer.

    float16/bfloat16 features are summed in float32 and the sums cast back
    (a partial sum may pass 65504 where the total does not); a sum that
    overflows its dtype with finite features is redone in float64. Integer
    features are summed in int64; a sum beyond their dtype raises
    ``ValueError`` (it used to wrap around).
    """
    _check_edges(edge_index, features)

    def total(h: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(h)
        return out.index_add_(0, edge_index[1], h[edge_index[0]])

    return _widened(total, features, edge_index)


def _widened(
    reduce: Callable[[torch.Tensor], torch.Tensor],
    features: torch.Tensor,
    edge_index: torch.Tensor,
    *,
    cast_back: bool = True,
) -> torch.Tensor:
    """``reduce(features)`` accumulated in float32 for half precision, and
    in float64 where that overflows with finite features (a sum near the
    dtype's largest number), cast back to ``features.dtype`` (or left in
    the wide dtype with ``cast_back=False``). Integer features are reduced
    in int64 (int8 sums wrapped around, and so did the mean behind them);
    a result beyond the features' integer dtype, or sums that could pass
    int64, raise ``ValueError``."""
    dtype = features.dtype
    if dtype.is_complex or dtype == torch.bool:
        return reduce(features)
    if not dtype.is_floating_point:
        return _reduced_in_int64(reduce, features, edge_index, cast_back)
    wide = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    out = reduce(features.to(wide))
    overflowed = dtype != torch.float64 and not bool(
        torch.isfinite(out.detach()).all()
    )
    if overflowed and bool(torch.isfinite(features.detach()).all()):
        out = reduce(features.to(torch.float64))
    return out.to(dtype) if cast_back else out


def _reduced_in_int64(
    reduce: Callable[[torch.Tensor], torch.Tensor],
    features: torch.Tensor,
    edge_index: torch.Tensor,
    cast_back: bool,
) -> torch.Tensor:
    dtype = features.dtype
    if features.numel() == 0 or edge_index.numel() == 0:
        return reduce(features)
    degree = int(torch.bincount(edge_index[1]).max())
    largest = max(abs(int(features.min())), abs(int(features.max())))
    if largest * degree > torch.iinfo(torch.int64).max:
        raise ValueError(
            f"features ({dtype}) up to {largest} summed over {degree} "
            "neighbours can pass int64; pass float64 features"
        )
    out = reduce(features.to(torch.int64))
    if not cast_back or dtype == torch.int64:
        return out
    info = torch.iinfo(dtype)
    low, high = int(out.min()), int(out.max())
    if low < info.min or high > info.max:
        raise ValueError(
            f"a neighbourhood sum of the features overflows {dtype} (values "
            f"from {low} to {high}); pass wider features"
        )
    return out.to(dtype)


def _wide_sum_aggregate(
    edge_index: torch.Tensor, features: torch.Tensor
) -> torch.Tensor:
    """:func:`sum_aggregate` left in float32 (half features) or float64
    (where the sums overflow), for a decoder that brings them back in range
    (a mean, a root, a logarithm)."""
    _check_edges(edge_index, features)

    def total(h: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(h)
        return out.index_add_(0, edge_index[1], h[edge_index[0]])

    return _widened(total, features, edge_index, cast_back=False)


class DirectedMessagePassing(torch.nn.Module):
    """A message-passing layer that tells edge direction apart.

    ``h'_j = tanh(W_self h_j + W_in * sum_{i -> j} h_i``
    ``+ W_out * sum_{j -> m} h_m)``: messages arriving along incoming and
    outgoing edges get separate weights, so reversing every edge changes the
    output. The number of weights,
    ``3 * d_in * d_out + d_out``, does not depend on the graph's size.
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.self_weight = torch.nn.Linear(d_in, d_out)
        self.in_weight = torch.nn.Linear(d_in, d_out, bias=False)
        self.out_weight = torch.nn.Linear(d_in, d_out, bias=False)

    def forward(
        self, edge_index: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """New features ``[nodes, d_out]`` from ``features [nodes, d_in]`` and
        edges ``[2, E]``."""
        incoming = sum_aggregate(edge_index, features)
        outgoing = sum_aggregate(edge_index.flip(0), features)
        return torch.tanh(
            self.self_weight(features)
            + self.in_weight(incoming)
            + self.out_weight(outgoing)
        )


def is_permutation_invariant(
    update: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    self_state: torch.Tensor,
    messages: torch.Tensor,
    *,
    trials: int = 50,
    seed: int = 0,
    atol: float = 1e-10,
) -> bool:
    """Does ``update(self_state, messages)`` ignore the order of the rows of
    ``messages``?

    Tries every ordering when there are at most 6 messages, else ``trials``
    random ones (seeded). ``messages`` is ``[n_i, d]``, one neighbour per row.
    A ``False`` is a proof of non-invariance; a ``True`` is evidence.

    Raises:
        TypeError: ``update`` is not callable or the states are not tensors.
        ValueError: ``messages`` is not a non-empty matrix, or ``trials < 1``.
    """
    if not callable(update):
        raise TypeError(
            "update must be callable as update(self_state, messages)"
        )
    if not isinstance(self_state, torch.Tensor) or not isinstance(
        messages, torch.Tensor
    ):
        raise TypeError("self_state and messages must be torch tensors")
    if messages.ndim != 2 or messages.shape[0] == 0:
        raise ValueError(
            "messages must be a non-empty [n_i, d] matrix, got "
            f"{tuple(messages.shape)}"
        )
    positive_int(trials, "trials")
    n = messages.shape[0]
    if n <= 6:
        orders = [list(p) for p in permutations(range(n))]
    else:
        generator = torch.Generator().manual_seed(seed)
        orders = [
            torch.randperm(n, generator=generator).tolist()
            for _ in range(trials)
        ]
    reference = update(self_state, messages)
    return all(
        torch.allclose(
            update(self_state, messages[order]), reference, rtol=0, atol=atol
        )
        for order in orders
    )
