"""Zachary's karate club (34 members, 78 friendships), as shipped with
networkx."""

from __future__ import annotations

from typing import NamedTuple

import networkx as nx
import numpy as np

__all__ = ["KarateClub", "karate_club"]


class KarateClub(NamedTuple):
    """The club as arrays: ``adjacency`` (34 x 34, 0/1), ``labels`` (0/1),
    ``clubs`` (label names)."""

    adjacency: np.ndarray
    labels: np.ndarray
    clubs: tuple[str, str]


def karate_club() -> KarateClub:
    """Zachary's karate club from ``networkx.karate_club_graph()``.

    The adjacency is binary (networkx also stores interaction counts as edge
    weights; they are dropped, as in Kipf & Welling's example). Node ``v``'s
    label is 0 if its ``club`` attribute is ``"Mr. Hi"`` and 1 for
    ``"Officer"``.
    """
    graph = nx.karate_club_graph()
    nodes = sorted(graph.nodes)
    adjacency = nx.to_numpy_array(
        graph, nodelist=nodes, weight=None, dtype=np.int64
    )
    clubs = ("Mr. Hi", "Officer")
    labels = np.array(
        [clubs.index(graph.nodes[v]["club"]) for v in nodes], dtype=np.int64
    )
    return KarateClub(adjacency, labels, clubs)
