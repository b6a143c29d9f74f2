"""Graphs as matrices: walk counting, normalized adjacency, message passing,
a GCN layer with a hand-written backward pass, aggregation and colour refinement.

Conventions used throughout the book:

* ``adjacency[i, j] == 1`` means an edge from node ``i`` to node ``j``
  (for an undirected graph the matrix is symmetric).
* Node features are stored one node per row: ``features[j]`` is node ``j``.
* Functions accept NumPy arrays and torch tensors and answer in the same kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import permutations
from typing import Any, Literal, TypeVar

import networkx as nx
import numpy as np
import torch

__all__ = [
    "DirectedMessagePassing",
    "GCNClassifier",
    "GCNLayer",
    "GCNLayerFunction",
    "GCNTrainingHistory",
    "approx_max_aggregate",
    "approx_max_error_bound",
    "as_edge_index",
    "color_refinement",
    "count_walks",
    "count_walks_brute_force",
    "distances_until_stable",
    "initial_colors",
    "gcn_layer",
    "generic_aggregate",
    "is_permutation_invariant",
    "linear_gnn",
    "mean_aggregate_generic",
    "message_passing_distances",
    "normalized_adjacency",
    "propagate",
    "refinement_equivalent",
    "scatter_aggregate",
    "shared_layer_readouts",
    "sum_aggregate",
    "train_gcn_classifier",
    "unfolding_tree",
    "walk_exists",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_INT64_MAX = np.iinfo(np.int64).max


def _check_adjacency(adjacency: object) -> np.ndarray:
    """Validate a binary square adjacency matrix and return it as int64 NumPy."""
    if isinstance(adjacency, torch.Tensor):
        if adjacency.layout != torch.strided:
            raise TypeError(f"adjacency must be a dense matrix here, got layout {adjacency.layout}")
        if adjacency.dtype in (torch.float16, torch.bfloat16):   # NumPy has no bfloat16
            adjacency = adjacency.float()
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


_SPARSE_LAYOUTS = (torch.sparse_coo, torch.sparse_csr)


def _is_sparse(value: object) -> bool:
    """True for a torch sparse tensor of any layout (COO, CSR, CSC, BSR, BSC)."""
    return isinstance(value, torch.Tensor) and value.layout != torch.strided


def _sparse_edges(adjacency: torch.Tensor, name: str = "adjacency") -> tuple[torch.Tensor, int]:
    """Validate a sparse binary square adjacency; return its edges ``[2, E]`` and ``n``.

    Stored zeros are dropped. A repeated edge of an uncoalesced COO tensor sums
    to 2 when coalesced and is refused like any non-binary entry.
    """
    if adjacency.layout not in _SPARSE_LAYOUTS:
        raise TypeError(f"{name} must be dense, sparse COO or sparse CSR, got layout {adjacency.layout}")
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(adjacency.shape)}")
    if adjacency.dtype.is_complex:
        raise TypeError(f"{name} must hold real numbers, got dtype {adjacency.dtype}")
    coo = adjacency.to_sparse_coo().coalesce()
    values = coo.values()
    if not ((values == 0) | (values == 1)).all():
        raise ValueError(f"{name} must be binary: every stored entry 0 or 1 "
                         "(repeated edges of a COO tensor add up when coalesced)")
    return coo.indices()[:, values != 0], adjacency.shape[0]


_NOT_SYMMETRIC = (
    "adjacency must be symmetric (an undirected graph): the symmetric normalization "
    "D^-1/2 (A + I) D^-1/2 propagates against the edges of a directed graph. For a "
    "directed graph add the reverse edges (A + A.T, clipped to 1), or use "
    "DirectedMessagePassing, which follows the edges"
)


def _normalized_sparse(adjacency: torch.Tensor, self_loops: bool) -> torch.Tensor:
    """:func:`normalized_adjacency` for a torch sparse COO or CSR ``adjacency``; same layout out."""
    edges, n = _sparse_edges(adjacency)
    flipped = torch.sparse_coo_tensor(edges.flip(0), torch.ones(edges.shape[1]), (n, n),
                                      check_invariants=False).coalesce().indices()
    if not torch.equal(edges, flipped):
        raise ValueError(_NOT_SYMMETRIC)
    if self_loops:
        if bool((edges[0] == edges[1]).any()):
            raise ValueError(
                "adjacency already has self-loops; pass self_loops=False to normalize it as it is"
            )
        loops = torch.arange(n, device=edges.device).expand(2, n)
        edges = torch.cat([edges, loops], dim=1)
    ones = torch.ones(edges.shape[1], dtype=torch.float64, device=edges.device)
    degree = torch.zeros(n, dtype=torch.float64, device=edges.device).index_add_(0, edges[0], ones)
    inv_sqrt = torch.where(degree > 0, degree.clamp(min=1).rsqrt(), 0.0)
    dtype = adjacency.dtype if adjacency.dtype.is_floating_point else torch.get_default_dtype()
    values = (inv_sqrt[edges[0]] * inv_sqrt[edges[1]]).to(dtype)
    result = torch.sparse_coo_tensor(edges, values, (n, n), check_invariants=False).coalesce()
    return result.to_sparse_csr() if adjacency.layout == torch.sparse_csr else result


def normalized_adjacency(adjacency: Array, self_loops: bool = True) -> Array:
    """Symmetrically normalized adjacency ``D^{-1/2} (A + I) D^{-1/2}`` (Kipf & Welling).

    With ``self_loops=False`` the identity is not added: ``D^{-1/2} A D^{-1/2}``.
    ``D`` holds the row sums of the (self-looped) matrix; a node of degree 0
    gets 0 in place of ``0**(-1/2)``, as PyTorch Geometric does.

    Accepted ``adjacency`` ``[n, n]``: a NumPy array (result float64), a dense
    torch tensor (result in its float dtype, else the default dtype), or a
    torch sparse COO or CSR tensor. Sparse input is never densified: the
    result is sparse in the same layout, with ``E + n`` stored entries, so a
    graph of 10⁵ nodes and 10⁶ edges takes megabytes rather than the 80 GB of
    a dense float64 matrix. Entries must be 0 or 1 (integer, bool or any
    float dtype, float16 and bfloat16 included).

    Accepted graphs: undirected (``adjacency`` symmetric), simple (a repeated
    edge would be an entry 2), with or without isolated nodes; then ``Â`` is
    symmetric with eigenvalues in ``[-1, 1]`` and entries in ``[0, 1]``. A
    directed graph (non-symmetric ``adjacency``) is refused: ``Â X`` would
    sum over out-neighbours, against the edges, and disagree with PyTorch
    Geometric's ``GCNConv``.

    Raises:
        TypeError: ``adjacency`` is not an array or tensor, or a sparse layout
            other than COO and CSR.
        ValueError: ``adjacency`` is not square, binary (a repeated edge in a
            COO tensor counts as a 2) and symmetric, or already has self-loops while
            ``self_loops=True`` (they would be counted twice).
    """
    if _is_sparse(adjacency):
        return _normalized_sparse(adjacency, self_loops)  # type: ignore[arg-type,return-value]
    values = _check_adjacency(adjacency).astype(np.float64)
    if not np.array_equal(values, values.T):
        raise ValueError(_NOT_SYMMETRIC)
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


def _check_edges(edge_index: object, features: object) -> None:
    if not isinstance(edge_index, torch.Tensor) or not isinstance(features, torch.Tensor):
        raise TypeError("edge_index and features must be torch tensors")
    if edge_index.dtype != torch.long:
        raise TypeError(f"edge_index must hold int64 node ids, got {edge_index.dtype}")
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if features.ndim != 2:
        raise ValueError(f"features must be a matrix [nodes, channels], got {tuple(features.shape)}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= features.shape[0]):
        raise ValueError(f"edge_index refers to nodes outside 0..{features.shape[0] - 1}")


def sum_aggregate(edge_index: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Sparse sum aggregation: ``out[j] = sum of features[i] over edges i -> j``.

    One message per edge, so the work is proportional to ``E * d``: the
    quantity that sets the cost of a message-passing layer.
    """
    _check_edges(edge_index, features)
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


# ---- a GCN layer with a hand-written backward pass (the karate club) -------------------

_ACTIVATIONS = ("tanh", "identity")


class GCNLayerFunction(torch.autograd.Function):
    """``Y = act(Â X Wᵀ)`` with ``act`` tanh or the identity, forward and backward by hand.

    The product is associated the cheaper way: ``(Â X) Wᵀ`` when
    ``d_out >= d_in``, ``Â (X Wᵀ)`` otherwise (the sparse product then moves
    ``d_out`` columns instead of ``d_in``). With ``Z = Â X Wᵀ`` and
    ``G = dL/dY``, the backward pass is ``dZ = G * (1 - Y**2)`` (tanh) or
    ``G`` (identity), then ``dX = Âᵀ dZ W``, ``dW = dZᵀ (Â X)`` and
    ``dÂ = dZ W Xᵀ``; for a sparse ``Â`` the last is evaluated only on Â's
    stored entries (a sparse gradient with Â's pattern). ``Â`` may be dense,
    sparse COO or sparse CSR. Call it through :func:`gcn_layer`, which checks
    the arguments.
    """

    @staticmethod
    def forward(ctx, a_hat: torch.Tensor, features: torch.Tensor,  # type: ignore[override]
                weight: torch.Tensor, use_tanh: bool) -> torch.Tensor:
        ctx.project_first = weight.shape[0] < weight.shape[1]
        if ctx.project_first:
            mixed = features @ weight.T                # P = X Wᵀ
            out = a_hat @ mixed                        # Z = Â P
        else:
            mixed = a_hat @ features                   # M = Â X
            out = mixed @ weight.T                     # Z = M Wᵀ
        if use_tanh:
            out = torch.tanh(out)
        ctx.use_tanh = use_tanh
        ctx.save_for_backward(a_hat, features, weight, mixed, out)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        a_hat, features, weight, mixed, out = ctx.saved_tensors
        grad_z = grad_out * (1 - out * out) if ctx.use_tanh else grad_out
        grad_a = None
        if ctx.project_first:                          # Z = Â P, P = X Wᵀ
            grad_p = _transpose_times(a_hat, grad_z)   # dP = Âᵀ dZ
            grad_x = grad_p @ weight                   # dX = dP W
            grad_w = grad_p.T @ features               # dW = dPᵀ X
            if ctx.needs_input_grad[0]:
                grad_a = _outer_on_pattern(a_hat, grad_z, mixed)          # dÂ = dZ Pᵀ
        else:                                          # Z = M Wᵀ, M = Â X
            grad_m = grad_z @ weight                   # dM = dZ W
            grad_x = _transpose_times(a_hat, grad_m)   # dX = Âᵀ dM
            grad_w = grad_z.T @ mixed                  # dW = dZᵀ M
            if ctx.needs_input_grad[0]:
                grad_a = _outer_on_pattern(a_hat, grad_m, features)       # dÂ = dM Xᵀ
        return grad_a, grad_x, grad_w, None


def _transpose_times(a_hat: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``Âᵀ @ dense`` for a dense, COO or CSR ``Â``, without densifying a sparse one."""
    if a_hat.layout == torch.strided:
        return a_hat.T @ dense
    if a_hat.layout == torch.sparse_csr:
        # (Âᵀ B) = (Bᵀ Â)ᵀ: a CSR matrix on the right needs no transposed copy.
        return (dense.T @ a_hat).T
    return a_hat.t() @ dense


def _outer_on_pattern(a_hat: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """``left @ right.T`` (``[n, n]``), kept only on a sparse ``Â``'s stored entries."""
    if a_hat.layout == torch.strided:
        return left @ right.T
    coo = a_hat.to_sparse_coo().coalesce()
    rows, cols = coo.indices()
    values = (left[rows] * right[cols]).sum(dim=1)
    grad = torch.sparse_coo_tensor(coo.indices(), values, a_hat.shape, check_invariants=False)
    return grad.to_sparse_csr() if a_hat.layout == torch.sparse_csr else grad


def gcn_layer(a_hat: torch.Tensor, features: torch.Tensor, weight: torch.Tensor,
              activation: Literal["tanh", "identity"] = "tanh") -> torch.Tensor:
    """One graph-convolution layer ``act(Â X Wᵀ)`` (Kipf & Welling) with a hand-written backward.

    ``a_hat`` is the ``[n, n]`` propagation matrix (e.g. :func:`normalized_adjacency`),
    dense or sparse (COO or CSR; kept sparse in both passes, so the cost is
    ``O(E d + n d_in d_out)``), ``features`` the dense ``[n, d_in]`` node
    features, ``weight`` the ``[d_out, d_in]`` matrix (the layout of
    ``torch.nn.Linear``). Returns the dense ``[n, d_out]`` output.

    Raises:
        TypeError: an argument is not a floating-point tensor, dtypes differ,
            ``features``/``weight`` are sparse, or ``a_hat`` has a sparse
            layout other than COO and CSR.
        ValueError: shapes do not fit together, or unknown ``activation``.
    """
    for name, value in (("a_hat", a_hat), ("features", features), ("weight", weight)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(value).__name__}"
                            + (f" of dtype {value.dtype}" if isinstance(value, torch.Tensor) else ""))
        if value.ndim != 2:
            raise ValueError(f"{name} must be a matrix, got shape {tuple(value.shape)}")
        allowed = (torch.strided, *_SPARSE_LAYOUTS) if name == "a_hat" else (torch.strided,)
        if value.layout not in allowed:
            raise TypeError(f"{name} must be " + ("dense, sparse COO or sparse CSR"
                            if name == "a_hat" else "a dense tensor") + f", got layout {value.layout}")
    if not a_hat.dtype == features.dtype == weight.dtype:
        raise TypeError(f"a_hat, features and weight must share a dtype, got "
                        f"{a_hat.dtype}, {features.dtype}, {weight.dtype}")
    if a_hat.shape[0] != a_hat.shape[1] or a_hat.shape[1] != features.shape[0]:
        raise ValueError(f"a_hat must be [n, n] with n = features rows ({features.shape[0]}), "
                         f"got {tuple(a_hat.shape)}")
    if weight.shape[1] != features.shape[1]:
        raise ValueError(f"weight must be [d_out, d_in] with d_in = {features.shape[1]} "
                         f"feature columns, got {tuple(weight.shape)}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be 'tanh' or 'identity', got {activation!r}")
    return GCNLayerFunction.apply(a_hat, features, weight, activation == "tanh")


class GCNLayer(torch.nn.Module):
    """A bias-free GCN layer ``act(Â X Wᵀ)`` whose gradient is :class:`GCNLayerFunction`'s.

    The weight ``[d_out, d_in]`` starts Glorot-uniform, as in Kipf & Welling.
    """

    def __init__(self, d_in: int, d_out: int,
                 activation: Literal["tanh", "identity"] = "tanh") -> None:
        super().__init__()
        for name, value in (("d_in", d_in), ("d_out", d_out)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be 'tanh' or 'identity', got {activation!r}")
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.empty(d_out, d_in))
        torch.nn.init.xavier_uniform_(self.weight)

    def forward(self, a_hat: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """New node features ``[n, d_out]``."""
        return gcn_layer(a_hat, features, self.weight, self.activation)  # type: ignore[arg-type]


class GCNClassifier(torch.nn.Module):
    """GCN layers with tanh (sizes ``hidden``) and a softmax (linear + bias) classifier on top.

    :meth:`embed` returns the last GCN layer's output (2-D for the karate club);
    :meth:`forward` returns the class logits, whose softmax is the prediction.
    """

    def __init__(self, d_in: int, hidden: tuple[int, ...] = (16, 2), num_classes: int = 2) -> None:
        super().__init__()
        if len(hidden) == 0:
            raise ValueError("hidden must list at least one layer size")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        sizes = (d_in, *hidden)
        self.layers = torch.nn.ModuleList(GCNLayer(a, b) for a, b in zip(sizes, sizes[1:]))
        self.classifier = torch.nn.Linear(hidden[-1], num_classes)

    def embed(self, a_hat: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """The node representations after the last GCN layer, ``[n, hidden[-1]]``."""
        h = features
        for layer in self.layers:
            h = layer(a_hat, h)
        return h

    def forward(self, a_hat: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Class logits ``[n, num_classes]``."""
        return self.classifier(self.embed(a_hat, features))


@dataclass
class GCNTrainingHistory:
    """Per-epoch loss on the training nodes and accuracy on the training and evaluation nodes."""

    loss: np.ndarray
    train_accuracy: np.ndarray
    eval_accuracy: np.ndarray


def _check_mask(mask: object, n: int, name: str) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a boolean torch.Tensor")
    if mask.shape != (n,):
        raise ValueError(f"{name} must have one entry per node ({n}), got shape {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError(f"{name} selects no node")
    return mask


def train_gcn_classifier(model: GCNClassifier, a_hat: torch.Tensor, features: torch.Tensor,
                         labels: torch.Tensor, train_mask: torch.Tensor, eval_mask: torch.Tensor,
                         *, epochs: int, lr: float, weight_decay: float = 0.0) -> GCNTrainingHistory:
    """Full-batch gradient descent on the mean cross entropy over the training nodes.

    Plain gradient descent (``torch.optim.SGD`` without momentum); weight decay
    adds ``weight_decay * w`` to every parameter's gradient. Only the nodes in
    ``train_mask`` enter the loss; ``eval_mask`` is only scored.

    Raises:
        TypeError, ValueError: bad masks or labels, ``epochs < 1``, ``lr <= 0``
            or ``weight_decay < 0``.
    """
    n = features.shape[0]
    train_mask = _check_mask(train_mask, n, "train_mask")
    eval_mask = _check_mask(eval_mask, n, "eval_mask")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.long or labels.shape != (n,):
        raise TypeError(f"labels must be an int64 torch.Tensor with one entry per node ({n})")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    train_idx, eval_idx = train_mask.nonzero().squeeze(1), eval_mask.nonzero().squeeze(1)
    train_labels = labels[train_idx]
    history = torch.empty(3, epochs, dtype=torch.float64)   # loss, train acc, eval acc
    for epoch in range(epochs):
        optimizer.zero_grad()
        logits = model(a_hat, features)
        loss = torch.nn.functional.cross_entropy(logits[train_idx], train_labels)
        loss.backward()
        optimizer.step()
        with torch.no_grad():   # scores of the logits the step was computed from
            correct = (logits.argmax(dim=1) == labels).double()
            history[0, epoch] = loss
            history[1, epoch] = correct[train_idx].mean()
            history[2, epoch] = correct[eval_idx].mean()
    loss_history, train_acc, eval_acc = history.numpy()
    return GCNTrainingHistory(loss_history, train_acc, eval_acc)


# ---- valid update rules: permutation invariance ---------------------------------------

def is_permutation_invariant(update: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                             self_state: torch.Tensor, messages: torch.Tensor, *,
                             trials: int = 50, seed: int = 0, atol: float = 1e-10) -> bool:
    """Does ``update(self_state, messages)`` ignore the order of the rows of ``messages``?

    Tries every ordering when there are at most 6 messages, else ``trials``
    random ones (seeded). ``messages`` is ``[n_i, d]``, one neighbour per row.
    A ``False`` is a proof of non-invariance; a ``True`` is evidence.

    Raises:
        TypeError: ``update`` is not callable or the states are not tensors.
        ValueError: ``messages`` is not a non-empty matrix, or ``trials < 1``.
    """
    if not callable(update):
        raise TypeError("update must be callable as update(self_state, messages)")
    if not isinstance(self_state, torch.Tensor) or not isinstance(messages, torch.Tensor):
        raise TypeError("self_state and messages must be torch tensors")
    if messages.ndim != 2 or messages.shape[0] == 0:
        raise ValueError(f"messages must be a non-empty [n_i, d] matrix, got {tuple(messages.shape)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    n = messages.shape[0]
    if n <= 6:
        orders = [list(p) for p in permutations(range(n))]
    else:
        generator = torch.Generator().manual_seed(seed)
        orders = [torch.randperm(n, generator=generator).tolist() for _ in range(trials)]
    reference = update(self_state, messages)
    return all(torch.allclose(update(self_state, messages[order]), reference, rtol=0, atol=atol)
               for order in orders)


# ---- aggregation: exact, and from the generic form f(sum g(h)) --------------------------

def scatter_aggregate(edge_index: torch.Tensor, features: torch.Tensor,
                      how: Literal["sum", "mean", "max"]) -> torch.Tensor:
    """Exact neighbourhood sum, mean or (element-wise) max over edges ``i -> j``.

    The reference for the generic constructions, via ``torch.Tensor.scatter_reduce``.
    A node without in-neighbours gets 0.
    """
    _check_edges(edge_index, features)
    reduce = {"sum": "sum", "mean": "mean", "max": "amax"}.get(how)
    if reduce is None:
        raise ValueError(f"how must be 'sum', 'mean' or 'max', got {how!r}")
    index = edge_index[1].unsqueeze(1).expand(-1, features.shape[1])
    out = torch.zeros_like(features)
    return out.scatter_reduce(0, index, features[edge_index[0]], reduce=reduce, include_self=False)


def generic_aggregate(edge_index: torch.Tensor, features: torch.Tensor,
                      f: Callable[[torch.Tensor], torch.Tensor],
                      g: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The generic aggregation ``out[j] = f(sum over edges i -> j of g(h_i))``.

    ``g`` maps the ``[nodes, m]`` features row-wise to ``[nodes, m']``; ``f``
    maps the ``[nodes, m']`` sums row-wise. ``f`` sees only the sum, never the node.
    """
    _check_edges(edge_index, features)
    if not callable(f) or not callable(g):
        raise TypeError("f and g must be callables acting row-wise on tensors")
    encoded = g(features)
    if (not isinstance(encoded, torch.Tensor) or encoded.ndim != 2
            or encoded.shape[0] != features.shape[0]):
        raise ValueError("g must return a [nodes, channels] tensor, one row per node")
    return f(sum_aggregate(edge_index, encoded))


def mean_aggregate_generic(edge_index: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Mean aggregation as ``f(sum g(h))``: ``g(h) = (h, 1)``, ``f(s, c) = s / c`` (0 when c = 0)."""

    def g(h: torch.Tensor) -> torch.Tensor:
        return torch.cat([h, torch.ones_like(h[:, :1])], dim=1)

    def f(total: torch.Tensor) -> torch.Tensor:
        count = total[:, -1:]
        return torch.where(count > 0, total[:, :-1] / count.clamp(min=1), 0.0)

    return generic_aggregate(edge_index, features, f, g)


_MAX_METHODS = ("logsumexp", "power")


def approx_max_aggregate(edge_index: torch.Tensor, features: torch.Tensor, sharpness: float, *,
                         method: Literal["logsumexp", "power"] = "logsumexp",
                         bound: float | None = None) -> torch.Tensor:
    """Element-wise max over in-neighbours, approximated in the form ``f(sum g(h))``.

    * ``"logsumexp"``: ``g(h) = exp(t h)``, ``f(s) = log(s) / t`` with ``t = sharpness``;
      overestimates the max by at most ``log(n) / t`` for ``n`` neighbours.
    * ``"power"``: for features in ``[-C, C]`` (``bound = C``), ``g(h) = (h + C)**p``,
      ``f(s) = s**(1/p) - C`` with ``p = sharpness >= 1``: an L^p norm of shifted,
      non-negative values; overestimates by at most ``(n**(1/p) - 1) * 2C``.

    Both ``g`` also emit a constant 1 so that ``f`` can return 0 for a node
    without neighbours. See :func:`approx_max_error_bound`.

    Gradients are finite on the whole domain, boundary included: where every
    neighbour of a node sits at ``-C`` the shifted values are all 0, the L^p
    norm is not differentiable there, and the gradient returned is 0, a valid
    subgradient (0 lies in the norm's subdifferential at the origin).

    Raises:
        ValueError: ``sharpness`` not positive and finite (at least 1 for
            ``"power"``), unknown ``method``, ``bound`` missing or exceeded for
            ``"power"``, or ``exp`` would overflow the features' dtype.
    """
    _check_edges(edge_index, features)
    if not (isinstance(sharpness, (int, float)) and 0 < sharpness < float("inf")):
        raise ValueError(f"sharpness must be a positive finite number, got {sharpness!r}")
    if method not in _MAX_METHODS:
        raise ValueError(f"method must be 'logsumexp' or 'power', got {method!r}")
    largest = float(features.detach().abs().max()) if features.numel() else 0.0
    if method == "power":
        if bound is None or not bound > 0:
            raise ValueError("method 'power' needs bound = C > 0 with every feature in [-C, C]")
        if largest > bound:
            raise ValueError(f"features must lie in [-bound, bound] = [-{bound}, {bound}], "
                             f"found |h| = {largest:.4g}")
        if sharpness < 1:
            raise ValueError(f"method 'power' needs sharpness p >= 1 (an L^p norm), got {sharpness}")
        shift = float(bound)

        def encode(x: torch.Tensor) -> torch.Tensor:
            return x.clamp(min=0) ** sharpness            # x >= 0 up to round-off

        def decode(s: torch.Tensor) -> torch.Tensor:
            # s**(1/p) has an infinite slope at s = 0; take the subgradient 0 there.
            positive = s > 0
            return torch.where(positive, torch.where(positive, s, 1.0) ** (1 / sharpness), 0.0)
    else:
        if sharpness * largest > np.log(torch.finfo(features.dtype).max) - 10:
            raise ValueError(f"sharpness {sharpness} is too large for |h| up to {largest:.4g}: "
                             f"exp(sharpness * h) would overflow {features.dtype}")
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

    return generic_aggregate(edge_index, features, f, g)


def approx_max_error_bound(degree: int | np.ndarray, sharpness: float, *,
                           method: Literal["logsumexp", "power"] = "logsumexp",
                           bound: float | None = None) -> float | np.ndarray:
    """Worst-case overestimate of :func:`approx_max_aggregate` for ``degree`` neighbours.

    ``log(n) / t`` for ``"logsumexp"``, ``(n**(1/p) - 1) * 2C`` for ``"power"``;
    0 for a node without neighbours. The approximation is never below the max.
    """
    n = np.asarray(degree, dtype=np.float64)
    if (n < 0).any():
        raise ValueError("degree must be non-negative")
    if not sharpness > 0:
        raise ValueError(f"sharpness must be positive, got {sharpness!r}")
    if method not in _MAX_METHODS:
        raise ValueError(f"method must be 'logsumexp' or 'power', got {method!r}")
    safe = np.maximum(n, 1.0)
    if method == "logsumexp":
        result = np.log(safe) / sharpness
    else:
        if bound is None or not bound > 0:
            raise ValueError("method 'power' needs bound = C > 0")
        result = (safe ** (1 / sharpness) - 1) * 2 * bound
    return float(result) if result.ndim == 0 else result


def message_passing_distances(edge_index: torch.Tensor, features: torch.Tensor,
                              aggregation: Literal["generic", "max", "mean"],
                              rounds: int) -> torch.Tensor:
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
        raise ValueError(f"aggregation must be 'generic', 'max' or 'mean', got {aggregation!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}")
    reached, counter = _distance_start(features)
    for _ in range(rounds):
        reached, counter = _distance_round(edge_index, reached, counter, aggregation)
    return counter.squeeze(1).long()


def _distance_start(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    marks = features[:, :1]
    if not ((marks == 0) | (marks == 1)).all() or int((marks == 0).sum()) != 1:
        raise ValueError("features[:, 0] must be 0 at exactly one node (the marked one) and 1 elsewhere")
    reached = (1 - marks).double()
    return reached, torch.zeros_like(reached)


def _distance_round(edge_index: torch.Tensor, reached: torch.Tensor, counter: torch.Tensor,
                    aggregation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One round of the distance layer: count an unreached round, then hear the neighbours."""
    if aggregation == "generic":
        heard = generic_aggregate(edge_index, reached, lambda s: (s > 0).double(), lambda h: h)
    else:
        heard = (scatter_aggregate(edge_index, reached, aggregation) > 0).double()  # type: ignore[arg-type]
    return torch.maximum(reached, heard), counter + (1 - reached)


def distances_until_stable(edge_index: torch.Tensor, features: torch.Tensor,
                           aggregation: Literal["generic", "max", "mean"], *,
                           max_rounds: int | None = None) -> tuple[torch.Tensor, int]:
    """The layer of :func:`message_passing_distances`, run until no node's state changes.

    This is the "run the shared layer until its output stops changing"
    convention: the depth is not chosen for the graph, the layer stops by
    itself. Returns the counters (int64) and the number ``T`` of rounds after
    which the state stopped changing (the state after round ``T + 1`` equals
    the one after round ``T``). On a connected graph ``T`` is the largest
    distance from the marked node.

    Raises:
        ValueError: as :func:`message_passing_distances`; ``max_rounds`` (default:
            the number of nodes) not a non-negative integer, or the state still
            changing after ``max_rounds`` rounds (a node the mark cannot reach).
    """
    _check_edges(edge_index, features)
    if aggregation not in ("generic", "max", "mean"):
        raise ValueError(f"aggregation must be 'generic', 'max' or 'mean', got {aggregation!r}")
    limit = features.shape[0] if max_rounds is None else max_rounds
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"max_rounds must be a non-negative integer or None, got {max_rounds!r}")
    reached, counter = _distance_start(features)
    for rounds in range(limit + 1):
        new_reached, new_counter = _distance_round(edge_index, reached, counter, aggregation)
        if torch.equal(new_reached, reached) and torch.equal(new_counter, counter):
            return counter.squeeze(1).long(), rounds
        reached, counter = new_reached, new_counter
    raise ValueError(f"the state still changes after max_rounds = {limit} rounds "
                     "(is every node connected to the marked one?)")


# ---- colour refinement (1-WL) and its set / distribution variants ----------------------

_MODES = ("multiset", "set", "distribution")


def _label_key(value: Any, node: Any) -> Any:
    """A hashable stand-in for a node label that is equal exactly when the labels are.

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
            raise ValueError(f"node {node!r} has a non-finite label {value!r} "
                             "(NaN equals no label, not even itself)")
        return Fraction(value)
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"node {node!r} has an unhashable label of type {type(value).__name__}") from None
    return value


def initial_colors(graph: nx.Graph, node_attr: str | None = None) -> dict[Any, int]:
    """Round-0 colours: nodes whose ``node_attr`` labels compare equal get the same colour.

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
        raise ValueError(f"node_attr {node_attr!r} is missing on node(s) {missing[:5]}")
    keys = {v: _label_key(graph.nodes[v][node_attr], v) for v in graph}
    distinct = list(dict.fromkeys(keys.values()))     # equal labels collapse here
    try:
        distinct.sort()
    except TypeError:
        distinct.sort(key=lambda label: (type(label).__name__, repr(label)))
    palette = {label: i for i, label in enumerate(distinct)}
    return {v: palette[keys[v]] for v in graph}


def _refine_signature(own: int, neighbours: list[int], mode: str) -> tuple[Any, ...]:
    if mode == "set":
        return own, tuple(sorted(set(neighbours)))
    counts = Counter(neighbours)
    if mode == "multiset":
        return own, tuple(sorted(counts.items()))
    total = len(neighbours)
    return own, tuple(sorted((c, Fraction(k, total)) for c, k in counts.items()))


def color_refinement(graph: nx.Graph, *, node_attr: str | None = None, rounds: int | None = None,
                     mode: Literal["multiset", "set", "distribution"] = "multiset") -> list[dict]:
    """Colour refinement (1-dimensional Weisfeiler–Leman) on an undirected graph.

    Round 0 colours a node by ``graph.nodes[v][node_attr]``, labels that
    compare equal sharing a colour (:func:`initial_colors`; one colour for all
    when ``node_attr`` is None); round ``k + 1`` colours it by its round-``k``
    colour and its neighbours' round-``k`` colours, taken as a

    * ``"multiset"``: plain WL, the power of sum / generic ``f(sum g)`` aggregation;
    * ``"distribution"``: the fractions of each colour, the power of mean aggregation;
    * ``"set"``: which colours occur, the power of max aggregation.

    Returns the colourings of rounds ``0..rounds`` as dicts node -> int; with
    ``rounds=None`` it stops when the partition stops refining. Colours are
    canonical (the same signature gives the same int), so run it on a disjoint
    union to compare graphs, as :func:`refinement_equivalent` does.

    Raises:
        TypeError: ``graph`` is not an undirected networkx graph.
        ValueError: unknown ``mode``, negative ``rounds``, or a missing or NaN label.
    """
    if not isinstance(graph, nx.Graph) or graph.is_directed():
        raise TypeError("graph must be an undirected networkx.Graph")
    if mode not in _MODES:
        raise ValueError(f"mode must be 'multiset', 'set' or 'distribution', got {mode!r}")
    if rounds is not None and (isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0):
        raise ValueError(f"rounds must be a non-negative integer or None, got {rounds!r}")
    history = [initial_colors(graph, node_attr)]
    while rounds is None or len(history) <= rounds:
        current = history[-1]
        signatures = {v: _refine_signature(current[v], [current[u] for u in graph[v]], mode)
                      for v in graph}
        palette = {sig: i for i, sig in enumerate(sorted(set(signatures.values())))}
        history.append({v: palette[signatures[v]] for v in graph})
        if rounds is None and len(palette) == len(set(current.values())):
            break
    return history


def refinement_equivalent(first: nx.Graph, second: nx.Graph, *, node_attr: str | None = None,
                          rounds: int | None = None,
                          mode: Literal["multiset", "set", "distribution"] = "multiset") -> bool:
    """Can colour refinement *not* tell the two graphs apart after ``rounds`` rounds?

    Refines the disjoint union and compares, per graph, the colour histogram
    (``"multiset"``), the colour fractions (``"distribution"``) or the set of
    colours (``"set"``): what a sum, mean or max READOUT can see. ``True``
    means no message-passing network of that kind (with that many layers, or
    any number when ``rounds=None``) distinguishes them.
    """
    for name, graph in (("first", first), ("second", second)):
        if not isinstance(graph, nx.Graph) or graph.is_directed():
            raise TypeError(f"{name} must be an undirected networkx.Graph")
    union = nx.disjoint_union(first, second)
    split = first.number_of_nodes()
    for coloring in color_refinement(union, node_attr=node_attr, rounds=rounds, mode=mode):
        left = Counter(c for v, c in coloring.items() if v < split)
        right = Counter(c for v, c in coloring.items() if v >= split)
        if mode == "set":
            same = set(left) == set(right)
        elif mode == "distribution":
            same = ({c: Fraction(k, split) for c, k in left.items()}
                    == {c: Fraction(k, union.number_of_nodes() - split) for c, k in right.items()})
        else:
            same = left == right
        if not same:
            return False
    return True


def unfolding_tree(graph: nx.Graph, node: Any, depth: int, *, node_attr: str | None = None) -> tuple:
    """The depth-``depth`` unfolding (computation) tree of ``node``, in a canonical form.

    The tree's root is ``node``; the children of a tree vertex for graph node
    ``v`` are all of ``v``'s neighbours, the one just come from included, down
    to ``depth`` levels. The canonical form is ``(label, children)`` with the
    children's forms sorted, so two nodes get equal forms exactly when their
    trees are isomorphic. Built independently of :func:`color_refinement`,
    whose round-``depth`` colours it must match (the tests check this).

    Raises:
        TypeError: ``graph`` is not an undirected networkx graph.
        ValueError: ``node`` not in the graph, negative ``depth``, or a missing attribute.
    """
    if not isinstance(graph, nx.Graph) or graph.is_directed():
        raise TypeError("graph must be an undirected networkx.Graph")
    if node not in graph:
        raise ValueError(f"node {node!r} is not in the graph")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    initial_colors(graph, node_attr)                  # validates the labels
    labels = {v: "" if node_attr is None else _label_key(graph.nodes[v][node_attr], v)
              for v in graph}                        # compared by value, printed canonically
    memo: dict[tuple[Any, int], tuple] = {}

    def tree(v: Any, k: int) -> tuple:
        if (v, k) not in memo:
            label = labels[v]
            children = () if k == 0 else tuple(sorted((tree(u, k - 1) for u in graph[v]), key=repr))
            memo[v, k] = (label, children)
        return memo[v, k]

    return tree(node, depth)


def shared_layer_readouts(edge_index: torch.Tensor, features: torch.Tensor,
                          weight_self: torch.Tensor, weight_neighbours: torch.Tensor,
                          aggregation: Literal["sum", "mean", "max"], rounds: int) -> torch.Tensor:
    """Graph outputs of a message-passing network with one shared layer, after every round.

    The layer is ``h <- tanh(h @ weight_self + AGG(h) @ weight_neighbours)``
    with ``AGG`` the neighbourhood sum, mean or max; the READOUT pools all
    nodes with the same operation. Returns ``[rounds + 1, channels]``: row
    ``t`` is the readout after ``t`` rounds (row 0 pools the inputs). Used to
    test what a network with a given aggregator can tell apart.

    Raises:
        TypeError, ValueError: bad edges or features (see :func:`scatter_aggregate`),
            weights that are not ``[channels, channels]``, or negative ``rounds``.
    """
    _check_edges(edge_index, features)
    if aggregation not in ("sum", "mean", "max"):
        raise ValueError(f"aggregation must be 'sum', 'mean' or 'max', got {aggregation!r}")
    channels = features.shape[1]
    for name, weight in (("weight_self", weight_self), ("weight_neighbours", weight_neighbours)):
        if not isinstance(weight, torch.Tensor) or weight.shape != (channels, channels):
            raise ValueError(f"{name} must be a [{channels}, {channels}] tensor")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}")
    pool = {"sum": lambda h: h.sum(dim=0), "mean": lambda h: h.mean(dim=0),
            "max": lambda h: h.amax(dim=0)}[aggregation]
    h, outputs = features, [pool(features)]
    for _ in range(rounds):
        h = torch.tanh(h @ weight_self + scatter_aggregate(edge_index, h, aggregation) @ weight_neighbours)
        outputs.append(pool(h))
    return torch.stack(outputs)
