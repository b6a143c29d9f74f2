"""Colour refinement (1-dimensional Weisfeiler-Leman) and unfolding trees
(the aggregation-power chapter).

Graph kinds: undirected networkx ``Graph`` or ``MultiGraph``. A repeated edge
makes the neighbour's colour count twice (multiset and distribution modes;
the set mode ignores multiplicity), a self-loop makes a node its own
neighbour. Directed graphs are refused with a ``TypeError``. Node labels are
compared by value (:func:`initial_colors`).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Any, Literal

import networkx as nx
import numpy as np
import torch

__all__ = [
    "color_refinement",
    "initial_colors",
    "refinement_equivalent",
    "unfolding_tree",
]


_MODES = ("multiset", "set", "distribution")


def _check_undirected(graph: object, name: str) -> None:
    if not isinstance(graph, nx.Graph) or graph.is_directed():
        raise TypeError(
            f"{name} must be an undirected networkx Graph or MultiGraph, got "
            f"{type(graph).__name__}"
        )


def _label_key(value: Any, node: Any) -> Any:
    """A hashable stand-in for a node label that is equal exactly when the
    labels are.

    Real numbers become exact fractions, so they compare, hash and print by
    value (``1``, ``1.0`` and ``True``; ``-0.0`` and ``0.0``); arrays, tensors
    and lists become tuples of their entries. NaN, which equals nothing, and
    infinities are refused.
    """
    if isinstance(value, (np.ndarray, torch.Tensor)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_label_key(item, node) for item in value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(
                f"node {node!r} has a non-finite label {value!r} (NaN equals "
                "no label, not even itself)"
            )
        return Fraction(value)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"node {node!r} has an unhashable label of type "
            f"{type(value).__name__}"
        ) from None
    return value


def initial_colors(
    graph: nx.Graph, node_attr: str | None = None
) -> dict[Any, int]:
    """Round-0 colours: nodes whose ``node_attr`` labels compare equal get the
    same colour.

    Labels are compared by value, not by their printed form: ``0.0`` and
    ``-0.0``, ``1`` and ``1.0``, ``(1, 0)`` and ``np.array([1.0, 0.0])`` are
    one colour. Colours are numbered in sorted label order (by type name and
    text when labels of different types cannot be ordered), so the numbering
    is canonical. With ``node_attr=None`` every node gets colour 0.

    Raises:
        ValueError: a node lacks the attribute, or has a NaN label.
        TypeError: a label is not hashable (a dict, a set).
    """
    if node_attr is None:
        return {v: 0 for v in graph}
    missing = [v for v in graph if node_attr not in graph.nodes[v]]
    if missing:
        raise ValueError(
            f"node_attr {node_attr!r} is missing on node(s) {missing[:5]}"
        )
    keys = {v: _label_key(graph.nodes[v][node_attr], v) for v in graph}
    distinct = list(dict.fromkeys(keys.values()))  # equal labels collapse here
    try:
        distinct.sort()
    except TypeError:
        distinct.sort(key=lambda label: (type(label).__name__, repr(label)))
    palette = {label: i for i, label in enumerate(distinct)}
    return {v: palette[keys[v]] for v in graph}


def _refine_signature(
    own: int, neighbours: list[int], mode: str
) -> tuple[Any, ...]:
    if mode == "set":
        return own, tuple(sorted(set(neighbours)))
    counts = Counter(neighbours)
    if mode == "multiset":
        return own, tuple(sorted(counts.items()))
    total = len(neighbours)
    return own, tuple(
        sorted((c, Fraction(k, total)) for c, k in counts.items())
    )


def color_refinement(
    graph: nx.Graph,
    *,
    node_attr: str | None = None,
    rounds: int | None = None,
    mode: Literal["multiset", "set", "distribution"] = "multiset",
) -> list[dict]:
    """Colour refinement (1-dimensional Weisfeiler–Leman) on an undirected
    graph.

    Round 0 colours a node by ``graph.nodes[v][node_attr]``, labels that
    compare equal sharing a colour (:func:`initial_colors`; one colour for all
    when ``node_attr`` is None); round ``k + 1`` colours it by its round-``k``
    colour and its neighbours' round-``k`` colours, taken as a

    * ``"multiset"``: plain WL, the power of sum / generic ``f(sum g)``
      aggregation;
    * ``"distribution"``: the fractions of each colour, the power of mean
      aggregation;
    * ``"set"``: which colours occur, the power of max aggregation.

    Returns the colourings of rounds ``0..rounds`` as dicts node -> int; with
    ``rounds=None`` it stops when the partition stops refining. Colours are
    canonical (the same signature gives the same int), so run it on a disjoint
    union to compare graphs, as :func:`refinement_equivalent` does.

    Raises:
        TypeError: ``graph`` is not an undirected networkx graph.
        ValueError: unknown ``mode``, negative ``rounds``, or a missing or NaN
            label.
    """
    _check_undirected(graph, "graph")
    if mode not in _MODES:
        raise ValueError(
            f"mode must be 'multiset', 'set' or 'distribution', got {mode!r}"
        )
    if rounds is not None and (
        isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0
    ):
        raise ValueError(
            f"rounds must be a non-negative integer or None, got {rounds!r}"
        )
    history = [initial_colors(graph, node_attr)]
    while rounds is None or len(history) <= rounds:
        current = history[-1]
        signatures = {
            v: _refine_signature(
                current[v], [current[u] for _, u in graph.edges(v)], mode
            )
            for v in graph
        }
        palette = {
            sig: i for i, sig in enumerate(sorted(set(signatures.values())))
        }
        history.append({v: palette[signatures[v]] for v in graph})
        if rounds is None and len(palette) == len(set(current.values())):
            break
    return history


def refinement_equivalent(
    first: nx.Graph,
    second: nx.Graph,
    *,
    node_attr: str | None = None,
    rounds: int | None = None,
    mode: Literal["multiset", "set", "distribution"] = "multiset",
) -> bool:
    """Can colour refinement *not* tell the two graphs apart after ``rounds``
    rounds?

    Refines the disjoint union and compares, per graph, the colour histogram
    (``"multiset"``), the colour fractions (``"distribution"``) or the set of
    colours (``"set"``): what a sum, mean or max READOUT can see. ``True``
    means no message-passing network of that kind (with that many layers, or
    any number when ``rounds=None``) distinguishes them.
    """
    for name, graph in (("first", first), ("second", second)):
        _check_undirected(graph, name)
    if (
        first.is_multigraph() != second.is_multigraph()
    ):  # nx.union needs one kind
        first, second = nx.MultiGraph(first), nx.MultiGraph(second)
    union = nx.disjoint_union(first, second)
    split = first.number_of_nodes()
    for coloring in color_refinement(
        union, node_attr=node_attr, rounds=rounds, mode=mode
    ):
        left = Counter(c for v, c in coloring.items() if v < split)
        right = Counter(c for v, c in coloring.items() if v >= split)
        if mode == "set":
            same = set(left) == set(right)
        elif mode == "distribution":
            same = {c: Fraction(k, split) for c, k in left.items()} == {
                c: Fraction(k, union.number_of_nodes() - split)
                for c, k in right.items()
            }
        else:
            same = left == right
        if not same:
            return False
    return True


def unfolding_tree(
    graph: nx.Graph, node: Any, depth: int, *, node_attr: str | None = None
) -> tuple:
    """The depth-``depth`` unfolding (computation) tree of ``node``, in a
    canonical form.

    The tree's root is ``node``; the children of a tree vertex for graph node
    ``v`` are all of ``v``'s neighbours, the one just come from included, down
    to ``depth`` levels. The canonical form is ``(label, children)`` with the
    children's forms sorted, so two nodes get equal forms exactly when their
    trees are isomorphic. Built independently of :func:`color_refinement`,
    whose round-``depth`` colours it must match (the tests check this).

    Raises:
        TypeError: ``graph`` is not an undirected networkx graph.
        ValueError: ``node`` not in the graph, negative ``depth``, or a missing
            attribute.
    """
    _check_undirected(graph, "graph")
    if node not in graph:
        raise ValueError(f"node {node!r} is not in the graph")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    initial_colors(graph, node_attr)  # validates the labels
    labels = {
        v: "" if node_attr is None else _label_key(graph.nodes[v][node_attr], v)
        for v in graph
    }  # compared by value, printed canonically
    memo: dict[tuple[Any, int], tuple] = {}

    def tree(v: Any, k: int) -> tuple:
        if (v, k) not in memo:
            label = labels[v]
            children = (
                ()
                if k == 0
                else tuple(
                    sorted(
                        (tree(u, k - 1) for _, u in graph.edges(v)), key=repr
                    )
                )
            )
            memo[v, k] = (label, children)
        return memo[v, k]

    return tree(node, depth)
