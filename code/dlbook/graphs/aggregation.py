"""Aggregation: exact, from the generic form f(sum g(h)), smooth approximations
of the max, and the message-passing constructions of the aggregation-power
chapter.

Graph kinds: as in :mod:`dlbook.graphs.message_passing`, an ``edge_index
[2, E]`` that may be directed, repeat edges (a repeated edge counts twice in
a sum or mean and once in a max, as in PyTorch Geometric's ``scatter``) and
contain self-loops; nodes without in-neighbours get 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, cast

import numpy as np
import torch

from dlbook.graphs._validation import _check_edges
from dlbook.graphs.message_passing import _wide_sum_aggregate, _widened

__all__ = [
    "approx_max_aggregate",
    "approx_max_error_bound",
    "distances_until_stable",
    "generic_aggregate",
    "mean_aggregate_generic",
    "message_passing_distances",
    "scatter_aggregate",
    "shared_layer_readouts",
]


def scatter_aggregate(
    edge_index: torch.Tensor,
    features: torch.Tensor,
    how: Literal["sum", "mean", "max"],
) -> torch.Tensor:
    """Exact neighbourhood sum, mean or (element-wise) max over edges
    ``i -> j``.

    The reference for the generic constructions, via
    ``torch.Tensor.scatter_reduce``. A node without in-neighbours gets 0.
    Half-precision features are reduced in float32 (and any dtype in
    float64 where a sum overflows with finite features), so a mean that fits
    the dtype is not ``inf`` because the sum behind it is not.
    """
    _check_edges(edge_index, features)
    reduce = {"sum": "sum", "mean": "mean", "max": "amax"}.get(how)
    if reduce is None:
        raise ValueError(f"how must be 'sum', 'mean' or 'max', got {how!r}")
    index = edge_index[1].unsqueeze(1).expand(-1, features.shape[1])

    def scatter(h: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(h)
        return out.scatter_reduce(
            0, index, h[edge_index[0]], reduce=reduce, include_self=False
        )

    return _widened(scatter, features, edge_index)


def generic_aggregate(
    edge_index: torch.Tensor,
    features: torch.Tensor,
    f: Callable[[torch.Tensor], torch.Tensor],
    g: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The generic aggregation ``out[j] = f(sum over edges i -> j of g(h_i))``.

    ``g`` maps the ``[nodes, m]`` features row-wise to ``[nodes, m']``; ``f``
    maps the ``[nodes, m']`` sums row-wise. ``f`` sees only the sum, never the
    node. float16/bfloat16 features are handed to ``g`` in float32, a sum
    that overflows with finite encodings is handed to ``f`` in float64, and a
    floating result is cast back to the features' dtype: no intermediate
    overflows where the answer fits (a mean near the dtype's largest
    number).
    """
    _check_edges(edge_index, features)
    if not callable(f) or not callable(g):
        raise TypeError("f and g must be callables acting row-wise on tensors")
    out_dtype = features.dtype
    if out_dtype in (torch.float16, torch.bfloat16):
        features = features.float()  # g, the sum and f in float32
    encoded = g(features)
    if (
        not isinstance(encoded, torch.Tensor)
        or encoded.ndim != 2
        or encoded.shape[0] != features.shape[0]
    ):
        raise ValueError(
            "g must return a [nodes, channels] tensor, one row per node"
        )
    total = _wide_sum_aggregate(edge_index, encoded)
    widened = features.dtype != out_dtype or total.dtype != encoded.dtype
    out = f(total)
    if widened and out.is_floating_point() and out_dtype.is_floating_point:
        out = out.to(out_dtype)  # back to the features' dtype
    return out


def mean_aggregate_generic(
    edge_index: torch.Tensor, features: torch.Tensor
) -> torch.Tensor:
    """Mean aggregation as ``f(sum g(h))``: ``g(h) = (h, 1)``,
    ``f(s, c) = s / c`` (0 when c = 0)."""

    def g(h: torch.Tensor) -> torch.Tensor:
        return torch.cat([h, torch.ones_like(h[:, :1])], dim=1)

    def f(total: torch.Tensor) -> torch.Tensor:
        count = total[:, -1:]
        return torch.where(count > 0, total[:, :-1] / count.clamp(min=1), 0.0)

    return generic_aggregate(edge_index, features, f, g)


_MAX_METHODS = ("logsumexp", "power")


def approx_max_aggregate(
    edge_index: torch.Tensor,
    features: torch.Tensor,
    sharpness: float,
    *,
    method: Literal["logsumexp", "power"] = "logsumexp",
    bound: float | None = None,
) -> torch.Tensor:
    """Element-wise max over in-neighbours, approximated in the form
    ``f(sum g(h))``.

    * ``"logsumexp"``: ``g(h) = exp(t h)``, ``f(s) = log(s) / t`` with
      ``t = sharpness``; overestimates the max by at most ``log(n) / t`` for
      ``n`` neighbours.
    * ``"power"``: for features in ``[-C, C]`` (``bound = C``),
      ``g(h) = (h + C)**p``,
      ``f(s) = s**(1/p) - C`` with ``p = sharpness >= 1``: an L^p norm of
      shifted, non-negative values; overestimates by at most
      ``(n**(1/p) - 1) * 2C``.

    Both ``g`` also emit a constant 1 so that ``f`` can return 0 for a node
    without neighbours. See :func:`approx_max_error_bound`.

    Gradients are finite on the whole domain, boundary included: where every
    neighbour of a node sits at ``-C`` the shifted values are all 0, the L^p
    norm is not differentiable there, and the gradient returned is 0, a valid
    subgradient (0 lies in the norm's subdifferential at the origin).

    Precision: float16/bfloat16 features are encoded, summed and decoded in
    float32 and the result cast back. For ``"power"``, where ``(2C)**p``
    (times the largest in-degree) would overflow the dtype or underflow it,
    the powers are taken of ``(h + C) / S`` with ``S`` the power of two at
    or above ``2C`` and the root multiplied by ``S``: the same function,
    with no intermediate out of range. For ``"logsumexp"`` the answer is
    refused instead when ``exp(t |h|)`` or its sum over the largest
    neighbourhood would overflow.

    Raises:
        ValueError: ``sharpness`` not positive and finite (at least 1 for
            ``"power"``), unknown ``method``, ``bound`` missing or exceeded for
            ``"power"``, or ``exp`` (or its sum over a neighbourhood) would
            overflow the compute dtype.
    """
    _check_edges(edge_index, features)
    if not (
        isinstance(sharpness, (int, float)) and 0 < sharpness < float("inf")
    ):
        raise ValueError(
            f"sharpness must be a positive finite number, got {sharpness!r}"
        )
    if method not in _MAX_METHODS:
        raise ValueError(
            f"method must be 'logsumexp' or 'power', got {method!r}"
        )
    largest = float(features.detach().abs().max()) if features.numel() else 0.0
    # half precision: encode, sum and decode in float32 (a float16 sum of
    # exp(t h) or (h + C)**p passes 65504 long before the max does), then
    # cast back
    out_dtype = features.dtype
    if out_dtype in (torch.float16, torch.bfloat16):
        features = features.float()
    info = torch.finfo(features.dtype)
    degree = (
        int(torch.bincount(edge_index[1]).max()) if edge_index.numel() else 0
    )
    if method == "power":
        if bound is None or not bound > 0:
            raise ValueError(
                "method 'power' needs bound = C > 0 with every feature in "
                "[-C, C]"
            )
        if largest > bound:
            raise ValueError(
                f"features must lie in [-bound, bound] = [-{bound}, {bound}], "
                f"found |h| = {largest:.4g}"
            )
        if sharpness < 1:
            raise ValueError(
                "method 'power' needs sharpness p >= 1 (an L^p norm), got "
                f"{sharpness}"
            )
        shift = float(bound)
        # (h + C)**p reaches (2C)**p: past the dtype's largest number (a sum
        # of `degree` of them) or below its smallest normal one, the powers
        # are taken of (h + C) / S with S = 2**ceil(log2(2C)) (values in
        # [0, 1]) and S multiplies the p-th root back. Otherwise the same
        # function is evaluated as written, unchanged.
        top = sharpness * math.log2(2 * shift)
        if (
            top + math.log2(degree + 1) > math.log2(info.max) - 1
            or top < math.log2(info.tiny) + 30
        ):
            span = 2.0 ** math.ceil(math.log2(2 * shift))
        else:
            span = 1.0

        def encode(x: torch.Tensor) -> torch.Tensor:
            # x >= 0 up to round-off
            return (x.clamp(min=0) / span) ** sharpness

        def decode(s: torch.Tensor) -> torch.Tensor:
            # s**(1/p) has an infinite slope at s = 0; take the subgradient 0
            # there.
            positive = s > 0
            root = torch.where(positive, s, 1.0) ** (1 / sharpness)
            return torch.where(positive, root * span, 0.0)
    else:
        # exp(t h) must fit, and so must a sum of `degree` of them
        headroom = math.log(info.max) - max(10.0, math.log(degree + 1) + 1)
        if sharpness * largest > headroom:
            raise ValueError(
                f"sharpness {sharpness} is too large for |h| up to "
                f"{largest:.4g} and {degree} neighbours: exp(sharpness * h) "
                f"or its sum would overflow {features.dtype}"
            )
        shift = 0.0

        def encode(x: torch.Tensor) -> torch.Tensor:
            return torch.exp(sharpness * x)

        def decode(s: torch.Tensor) -> torch.Tensor:
            return torch.log(s) / sharpness

    def g(h: torch.Tensor) -> torch.Tensor:
        return torch.cat([encode(h + shift), torch.ones_like(h[:, :1])], dim=1)

    def f(total: torch.Tensor) -> torch.Tensor:
        nonempty = total[:, -1:] > 0
        safe = torch.where(nonempty, total[:, :-1], 1.0)
        return torch.where(nonempty, decode(safe) - shift, 0.0)

    return generic_aggregate(edge_index, features, f, g).to(out_dtype)


def approx_max_error_bound(
    degree: int | np.ndarray,
    sharpness: float,
    *,
    method: Literal["logsumexp", "power"] = "logsumexp",
    bound: float | None = None,
) -> float | np.ndarray:
    """Worst-case overestimate of :func:`approx_max_aggregate` for ``degree``
    neighbours.

    ``log(n) / t`` for ``"logsumexp"``, ``(n**(1/p) - 1) * 2C`` for ``"power"``;
    0 for a node without neighbours. The approximation is never below the max.
    """
    n = np.asarray(degree, dtype=np.float64)
    if (n < 0).any():
        raise ValueError("degree must be non-negative")
    if not sharpness > 0:
        raise ValueError(f"sharpness must be positive, got {sharpness!r}")
    if method not in _MAX_METHODS:
        raise ValueError(
            f"method must be 'logsumexp' or 'power', got {method!r}"
        )
    safe = np.maximum(n, 1.0)
    if method == "logsumexp":
        result = np.log(safe) / sharpness
    else:
        if bound is None or not bound > 0:
            raise ValueError("method 'power' needs bound = C > 0")
        result = (safe ** (1 / sharpness) - 1) * 2 * bound
    return float(result) if result.ndim == 0 else result


def message_passing_distances(
    edge_index: torch.Tensor,
    features: torch.Tensor,
    aggregation: Literal["generic", "max", "mean"],
    rounds: int,
) -> torch.Tensor:
    """Shortest-path distances to the marked node, computed by message passing.

    ``features[:, 0]`` is 0 at the marked node and 1 elsewhere (the problem's
    restriction). Each node holds a flag ``r`` (reached) and a counter ``c``:
    ``c += 1 - r``, then ``r = max(r, [some neighbour reached])``, where the
    bracket is read off the aggregated flags: ``f(sum g(r))`` with
    ``g = identity, f = [s > 0]`` (generic), or ``max(r) > 0``, or
    ``mean(r) > 0``. After ``rounds`` rounds, ``c`` is the distance, capped at
    ``rounds``. Returns ``c`` as int64.
    """
    _check_edges(edge_index, features)
    if aggregation not in ("generic", "max", "mean"):
        raise ValueError(
            "aggregation must be 'generic', 'max' or 'mean', got "
            f"{aggregation!r}"
        )
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(
            f"rounds must be a non-negative integer, got {rounds!r}"
        )
    reached, counter = _distance_start(features)
    for _ in range(rounds):
        reached, counter = _distance_round(
            edge_index, reached, counter, aggregation
        )
    return counter.squeeze(1).long()


def _distance_start(
    features: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    marks = features[:, :1]
    if not ((marks == 0) | (marks == 1)).all() or int((marks == 0).sum()) != 1:
        raise ValueError(
            "features[:, 0] must be 0 at exactly one node (the marked one) "
            "and 1 elsewhere"
        )
    reached = (1 - marks).double()
    return reached, torch.zeros_like(reached)


def _distance_round(
    edge_index: torch.Tensor,
    reached: torch.Tensor,
    counter: torch.Tensor,
    aggregation: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One round of the distance layer: count an unreached round, then hear the
    neighbours."""
    if aggregation == "generic":
        heard = generic_aggregate(
            edge_index, reached, lambda s: (s > 0).double(), lambda h: h
        )
    else:
        how = cast(Literal["sum", "mean", "max"], aggregation)
        heard = (scatter_aggregate(edge_index, reached, how) > 0).double()
    return torch.maximum(reached, heard), counter + (1 - reached)


def distances_until_stable(
    edge_index: torch.Tensor,
    features: torch.Tensor,
    aggregation: Literal["generic", "max", "mean"],
    *,
    max_rounds: int | None = None,
) -> tuple[torch.Tensor, int]:
    """The layer of :func:`message_passing_distances`, run until no node's state
    changes.

    This is the "run the shared layer until its output stops changing"
    convention: the depth is not chosen for the graph, the layer stops by
    itself. Returns the counters (int64) and the number ``T`` of rounds after
    which the state stopped changing (the state after round ``T + 1`` equals
    the one after round ``T``). On a connected graph ``T`` is the largest
    distance from the marked node.

    Raises:
        ValueError: as :func:`message_passing_distances`; ``max_rounds``
            (default: the number of nodes) not a non-negative integer, or the
            state still changing after ``max_rounds`` rounds (a node the mark
            cannot reach).
    """
    _check_edges(edge_index, features)
    if aggregation not in ("generic", "max", "mean"):
        raise ValueError(
            "aggregation must be 'generic', 'max' or 'mean', got "
            f"{aggregation!r}"
        )
    limit = features.shape[0] if max_rounds is None else max_rounds
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(
            "max_rounds must be a non-negative integer or None, got "
            f"{max_rounds!r}"
        )
    reached, counter = _distance_start(features)
    for rounds in range(limit + 1):
        new_reached, new_counter = _distance_round(
            edge_index, reached, counter, aggregation
        )
        if torch.equal(new_reached, reached) and torch.equal(
            new_counter, counter
        ):
            return counter.squeeze(1).long(), rounds
        reached, counter = new_reached, new_counter
    raise ValueError(
        f"the state still changes after max_rounds = {limit} rounds (is every "
        "node connected to the marked one?)"
    )


def shared_layer_readouts(
    edge_index: torch.Tensor,
    features: torch.Tensor,
    weight_self: torch.Tensor,
    weight_neighbours: torch.Tensor,
    aggregation: Literal["sum", "mean", "max"],
    rounds: int,
) -> torch.Tensor:
    """Graph outputs of a message-passing network with one shared layer, after
    every round.

    The layer is ``h <- tanh(h @ weight_self + AGG(h) @ weight_neighbours)``
    with ``AGG`` the neighbourhood sum, mean or max; the READOUT pools all
    nodes with the same operation. Returns ``[rounds + 1, channels]``: row
    ``t`` is the readout after ``t`` rounds (row 0 pools the inputs). Used to
    test what a network with a given aggregator can tell apart.

    Raises: TypeError, ValueError: bad edges or features (see
        :func:`scatter_aggregate`),
            weights that are not ``[channels, channels]``, or negative
            ``rounds``.
    """
    _check_edges(edge_index, features)
    if aggregation not in ("sum", "mean", "max"):
        raise ValueError(
            f"aggregation must be 'sum', 'mean' or 'max', got {aggregation!r}"
        )
    channels = features.shape[1]
    for name, weight in (
        ("weight_self", weight_self),
        ("weight_neighbours", weight_neighbours),
    ):
        if not isinstance(weight, torch.Tensor) or weight.shape != (
            channels,
            channels,
        ):
            raise ValueError(
                f"{name} must be a [{channels}, {channels}] tensor"
            )
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(
            f"rounds must be a non-negative integer, got {rounds!r}"
        )
    pool = {
        "sum": lambda h: h.sum(dim=0),
        "mean": lambda h: h.mean(dim=0),
        "max": lambda h: h.amax(dim=0),
    }[aggregation]
    h, outputs = features, [pool(features)]
    for _ in range(rounds):
        h = torch.tanh(
            h @ weight_self
            + scatter_aggregate(edge_index, h, aggregation) @ weight_neighbours
        )
        outputs.append(pool(h))
    return torch.stack(outputs)
