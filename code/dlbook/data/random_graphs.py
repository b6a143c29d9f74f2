"""Seeded random graphs as binary adjacency matrices (generated with
networkx)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

from dlbook._checks import positive_int

__all__ = [
    "random_edge_index",
    "random_graph",
    "random_regular_edge_index",
    "random_regular_graph",
]


def random_graph(
    n: int,
    p: float,
    *,
    directed: bool = False,
    self_loops: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Adjacency (int64, n x n) of an Erdos-Renyi graph G(n, p).

    Undirected graphs give a symmetric matrix; ``self_loops=True`` also draws
    each loop ``i -> i`` with probability ``p``.
    """
    if n < 1:
        raise ValueError(f"need at least one node, got n={n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"edge probability p must lie in [0, 1], got {p}")
    graph = nx.gnp_random_graph(n, p, seed=seed, directed=directed)
    adjacency = nx.to_numpy_array(graph, nodelist=range(n), dtype=np.int64)
    if self_loops:
        loops = np.random.default_rng(seed).random(n) < p
        adjacency[np.diag_indices(n)] = loops
    return adjacency


def random_regular_graph(n: int, degree: int, *, seed: int = 0) -> np.ndarray:
    """Adjacency (int64, n x n) of a random undirected ``degree``-regular graph.

    Raises:
        ValueError: no such graph exists (``n * degree`` odd or
            ``degree >= n``).
    """
    return nx.to_numpy_array(
        _regular(n, degree, seed), nodelist=range(n), dtype=np.int64
    )


def random_regular_edge_index(
    n: int, degree: int, *, seed: int = 0
) -> torch.Tensor:
    """Edge list ``[2, n * degree]`` (each undirected edge both ways) of a
    random regular graph.

    The sparse form of :func:`random_regular_graph`, for graphs too large for a
    dense matrix.
    """
    edges = (
        torch.tensor(list(_regular(n, degree, seed).edges()), dtype=torch.long)
        .reshape(-1, 2)
        .T
    )
    return torch.cat([edges, edges.flip(0)], dim=1)


def random_edge_index(
    n: int, mean_degree: int, *, seed: int = 0
) -> torch.Tensor:
    """Edge list ``[2, E]`` of a large sparse random undirected simple graph.

    Draws ``n * mean_degree / 2`` node pairs uniformly (torch generator seeded
    with ``seed``), drops self-loops and repeats, and lists each remaining
    edge in both directions, sorted; the mean degree is slightly below
    ``mean_degree``. Memory and time are ``O(n * mean_degree)``, so graphs of
    10⁶ nodes are fine (networkx's G(n, p) is not, for such sizes).

    Raises:
        ValueError: ``n`` or ``mean_degree`` is not a positive integer.
    """
    n, mean_degree = (
        positive_int(n, "n"),
        positive_int(mean_degree, "mean_degree"),
    )
    generator = torch.Generator().manual_seed(seed)
    pairs = n * mean_degree // 2
    src = torch.randint(0, n, (pairs,), generator=generator)
    dst = torch.randint(0, n, (pairs,), generator=generator)
    keep = src != dst
    edges = torch.stack([src[keep], dst[keep]])
    return torch.unique(torch.cat([edges, edges.flip(0)], dim=1), dim=1)


def _regular(n: int, degree: int, seed: int) -> nx.Graph:
    if degree < 0 or degree >= n or (n * degree) % 2:
        raise ValueError(
            f"no {degree}-regular graph on {n} nodes (need 0 <= degree < n, "
            "n*degree even)"
        )
    return nx.random_regular_graph(degree, n, seed=seed)
