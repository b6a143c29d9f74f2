"""Seeded random graphs as binary adjacency matrices (generated with networkx)."""

from __future__ import annotations

import networkx as nx
import numpy as np

__all__ = ["random_graph", "random_regular_graph"]


def random_graph(n: int, p: float, *, directed: bool = False, self_loops: bool = False,
                 seed: int = 0) -> np.ndarray:
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
        ValueError: no such graph exists (``n * degree`` odd or ``degree >= n``).
    """
    if degree < 0 or degree >= n or (n * degree) % 2:
        raise ValueError(f"no {degree}-regular graph on {n} nodes (need 0 <= degree < n, n*degree even)")
    graph = nx.random_regular_graph(degree, n, seed=seed)
    return nx.to_numpy_array(graph, nodelist=range(n), dtype=np.int64)
