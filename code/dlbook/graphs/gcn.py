"""The GCN layer of Kipf & Welling with a hand-written backward pass, dense or
sparse (the karate-club chapter), its classifier and training loop.

Graph kinds: :func:`normalized_adjacency` takes undirected simple graphs as
a networkx graph or a 0/1 adjacency, dense (NumPy or torch) or sparse (torch
COO or CSR), of any integer, bool or float dtype; it refuses directed graphs
and repeated edges with a ``ValueError`` (see its docstring for why). The
layer takes any propagation matrix ``Â``, dense (NumPy or torch), COO or
CSR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import torch

from dlbook._checks import positive_int
from dlbook.graphs._validation import Array, _check_adjacency

__all__ = [
    "gcn_layer",
    "GCNClassifier",
    "GCNLayer",
    "GCNLayerFunction",
    "GCNTrainingHistory",
    "normalized_adjacency",
    "train_gcn_classifier",
    "train_gcn_classifiers",
]


_SPARSE_LAYOUTS = (torch.sparse_coo, torch.sparse_csr)


def _is_sparse(value: object) -> bool:
    """True for a torch sparse tensor of any layout (COO, CSR, CSC, BSR,
    BSC)."""
    return isinstance(value, torch.Tensor) and value.layout != torch.strided


def _sparse_edges(
    adjacency: torch.Tensor, name: str = "adjacency"
) -> tuple[torch.Tensor, int]:
    """Validate a sparse binary square adjacency; return its edges ``[2, E]``
    and ``n``.

    Stored zeros are dropped. A repeated edge of an uncoalesced COO tensor sums
    to 2 when coalesced and is refused like any non-binary entry.
    """
    if adjacency.layout not in _SPARSE_LAYOUTS:
        raise TypeError(
            f"{name} must be dense, sparse COO or sparse CSR, got layout "
            f"{adjacency.layout}"
        )
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(
            f"{name} must be a square matrix, got shape "
            f"{tuple(adjacency.shape)}"
        )
    if adjacency.dtype.is_complex:
        raise TypeError(
            f"{name} must hold real numbers, got dtype {adjacency.dtype}"
        )
    coo = adjacency.to_sparse_coo().coalesce()
    values = coo.values()
    if not ((values == 0) | (values == 1)).all():
        raise ValueError(
            f"{name} must be binary: every stored entry 0 or 1 (repeated "
            "edges of a COO tensor add up when coalesced)"
        )
    return coo.indices()[:, values != 0], adjacency.shape[0]


_NOT_SYMMETRIC = (
    "adjacency must be symmetric (an undirected graph): the symmetric "
    "normalization D^-1/2 (A + I) D^-1/2 propagates against the edges of a "
    "directed graph. For a directed graph add the reverse edges (A + A.T, "
    "clipped to 1), or use DirectedMessagePassing, which follows the edges"
)


def _normalized_sparse(
    adjacency: torch.Tensor, self_loops: bool
) -> torch.Tensor:
    """:func:`normalized_adjacency` for a torch sparse COO or CSR ``adjacency``;
    same layout out."""
    edges, n = _sparse_edges(adjacency)
    flipped = (
        torch.sparse_coo_tensor(
            edges.flip(0),
            torch.ones(edges.shape[1]),
            (n, n),
            check_invariants=False,
        )
        .coalesce()
        .indices()
    )
    if not torch.equal(edges, flipped):
        raise ValueError(_NOT_SYMMETRIC)
    if self_loops:
        if bool((edges[0] == edges[1]).any()):
            raise ValueError(
                "adjacency already has self-loops; pass self_loops=False to "
                "normalize it as it is"
            )
        loops = torch.arange(n, device=edges.device).expand(2, n)
        edges = torch.cat([edges, loops], dim=1)
    ones = torch.ones(edges.shape[1], dtype=torch.float64, device=edges.device)
    degree = torch.zeros(
        n, dtype=torch.float64, device=edges.device
    ).index_add_(0, edges[0], ones)
    inv_sqrt = torch.where(degree > 0, degree.clamp(min=1).rsqrt(), 0.0)
    dtype = (
        adjacency.dtype
        if adjacency.dtype.is_floating_point
        else torch.get_default_dtype()
    )
    values = (inv_sqrt[edges[0]] * inv_sqrt[edges[1]]).to(dtype)
    result = torch.sparse_coo_tensor(
        edges, values, (n, n), check_invariants=False
    ).coalesce()
    return (
        result.to_sparse_csr()
        if adjacency.layout == torch.sparse_csr
        else result
    )


def normalized_adjacency(adjacency: Array, self_loops: bool = True) -> Array:
    """Symmetrically normalized adjacency ``D^{-1/2} (A + I) D^{-1/2}`` (Kipf &
    Welling).

    With ``self_loops=False`` the identity is not added:
    ``D^{-1/2} A D^{-1/2}``.
    ``D`` holds the row sums of the (self-looped) matrix; a node of degree 0
    gets 0 in place of ``0**(-1/2)``, as PyTorch Geometric does.

    Accepted ``adjacency``: a networkx ``Graph`` (its 0/1 adjacency in node
    order ``list(graph)``: each edge counts 1, edge weights are not used, as
    in Kipf & Welling's GCN; result float64 NumPy), or an ``[n, n]`` NumPy
    array (result float64), a dense torch tensor (result in its float dtype,
    else the default dtype), or a torch sparse COO or CSR tensor. Sparse
    input is never densified: the result is sparse in the same layout, with
    ``E + n`` stored entries, so a graph of 10⁵ nodes and 10⁶ edges takes
    megabytes rather than the 80 GB of a dense float64 matrix. Entries must
    be 0 or 1 (integer, bool or any float dtype, float16 and bfloat16
    included).

    Accepted graphs: undirected (``adjacency`` symmetric), simple (a repeated
    edge would be an entry 2), with or without isolated nodes; then ``Â`` is
    symmetric with eigenvalues in ``[-1, 1]`` and entries in ``[0, 1]``. A
    directed graph (non-symmetric ``adjacency``) is refused: ``Â X`` would
    sum over out-neighbours, against the edges, and disagree with PyTorch
    Geometric's ``GCNConv``.

    Raises:
        TypeError: ``adjacency`` is not a graph, array or tensor, or a sparse
            layout other than COO and CSR.
        ValueError: ``adjacency`` is not square, binary (a repeated edge in a
            COO tensor counts as a 2; a multigraph is refused) and symmetric
            (a ``DiGraph``), or already has self-loops while
            ``self_loops=True`` (they would be counted twice).
    """
    if _is_sparse(adjacency):
        sparse = cast(torch.Tensor, adjacency)
        return cast(Array, _normalized_sparse(sparse, self_loops))
    values = _check_adjacency(adjacency).astype(np.float64)
    if not np.array_equal(values, values.T):
        raise ValueError(_NOT_SYMMETRIC)
    if self_loops:
        if np.any(np.diag(values)):
            raise ValueError(
                "adjacency already has self-loops; pass self_loops=False to "
                "normalize it as it is"
            )
        values = values + np.eye(values.shape[0])
    degree = values.sum(axis=1)
    with np.errstate(divide="ignore"):
        inv_sqrt = np.where(degree > 0, degree**-0.5, 0.0)
    result = inv_sqrt[:, None] * values * inv_sqrt[None, :]
    if isinstance(adjacency, torch.Tensor):
        dtype = (
            adjacency.dtype
            if adjacency.is_floating_point()
            else torch.get_default_dtype()
        )
        out = torch.from_numpy(result).to(device=adjacency.device, dtype=dtype)
        return cast(Array, out)
    return cast(Array, result)


_ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")
Activation = Literal["tanh", "relu", "sigmoid", "identity"]


def _activation_grad(activation: str, out: torch.Tensor) -> torch.Tensor | None:
    """``act'(Z)`` written through the output ``Y = act(Z)`` (None: 1)."""
    if activation == "tanh":
        return 1 - out * out
    if activation == "sigmoid":
        return out * (1 - out)
    if activation == "relu":
        return (out > 0).to(out.dtype)
    return None


def _check_activation(activation: object) -> None:
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {_ACTIVATIONS}, got {activation!r} "
            "(the backward pass is written by hand for these)"
        )


class GCNLayerFunction(torch.autograd.Function):
    """``Y = act(Â X Wᵀ)`` with ``act`` tanh, ReLU, the sigmoid or the
    identity, forward and backward by hand.

    The product is associated the cheaper way: ``(Â X) Wᵀ`` when
    ``d_out >= d_in``, ``Â (X Wᵀ)`` otherwise (the sparse product then moves
    ``d_out`` columns instead of ``d_in``). With ``Z = Â X Wᵀ`` and
    ``G = dL/dY``, the backward pass is ``dZ = G * act'(Z)``, written through
    the output: ``1 - Y**2`` (tanh), ``Y (1 - Y)`` (sigmoid), ``[Y > 0]``
    (ReLU) or 1 (identity), then ``dX = Âᵀ dZ W``, ``dW = dZᵀ (Â X)`` and
    ``dÂ = dZ W Xᵀ``; for a sparse ``Â`` the last is evaluated only on Â's
    stored entries (a sparse gradient with Â's pattern). ``Â`` may be dense,
    sparse COO or sparse CSR. Call it through :func:`gcn_layer`, which checks
    the arguments.
    """

    @staticmethod
    def forward(
        ctx,
        a_hat: torch.Tensor,
        features: torch.Tensor,  # type: ignore[override]
        weight: torch.Tensor,
        activation: str,
    ) -> torch.Tensor:
        ctx.project_first = weight.shape[0] < weight.shape[1]
        if ctx.project_first:
            mixed = features @ weight.T  # P = X Wᵀ
            out = a_hat @ mixed  # Z = Â P
        else:
            mixed = a_hat @ features  # M = Â X
            out = mixed @ weight.T  # Z = M Wᵀ
        if activation == "tanh":
            out = torch.tanh(out)
        elif activation == "sigmoid":
            out = torch.sigmoid(out)
        elif activation == "relu":
            out = torch.relu(out)
        ctx.activation = activation
        ctx.save_for_backward(a_hat, features, weight, mixed, out)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        a_hat, features, weight, mixed, out = ctx.saved_tensors
        slope = _activation_grad(ctx.activation, out)
        grad_z = grad_out if slope is None else grad_out * slope
        grad_a = None
        if ctx.project_first:  # Z = Â P, P = X Wᵀ
            grad_p = _transpose_times(a_hat, grad_z)  # dP = Âᵀ dZ
            grad_x = grad_p @ weight  # dX = dP W
            grad_w = grad_p.T @ features  # dW = dPᵀ X
            if ctx.needs_input_grad[0]:
                grad_a = _outer_on_pattern(a_hat, grad_z, mixed)  # dÂ = dZ Pᵀ
        else:  # Z = M Wᵀ, M = Â X
            grad_m = grad_z @ weight  # dM = dZ W
            grad_x = _transpose_times(a_hat, grad_m)  # dX = Âᵀ dM
            grad_w = grad_z.T @ mixed  # dW = dZᵀ M
            if ctx.needs_input_grad[0]:
                grad_a = _outer_on_pattern(
                    a_hat, grad_m, features
                )  # dÂ = dM Xᵀ
        return grad_a, grad_x, grad_w, None


def _transpose_times(a_hat: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``Âᵀ @ dense`` for a dense, COO or CSR ``Â``, without densifying a sparse
    one."""
    if a_hat.layout == torch.strided:
        return a_hat.T @ dense
    if a_hat.layout == torch.sparse_csr:
        # (Âᵀ B) = (Bᵀ Â)ᵀ: a CSR matrix on the right needs no transposed copy.
        return (dense.T @ a_hat).T
    return a_hat.t() @ dense


def _outer_on_pattern(
    a_hat: torch.Tensor, left: torch.Tensor, right: torch.Tensor
) -> torch.Tensor:
    """``left @ right.T`` (``[n, n]``), kept only on a sparse ``Â``'s stored
    entries."""
    if a_hat.layout == torch.strided:
        return left @ right.T
    coo = a_hat.to_sparse_coo().coalesce()
    rows, cols = coo.indices()
    values = (left[rows] * right[cols]).sum(dim=1)
    grad = torch.sparse_coo_tensor(
        coo.indices(), values, a_hat.shape, check_invariants=False
    )
    return grad.to_sparse_csr() if a_hat.layout == torch.sparse_csr else grad


def gcn_layer(
    a_hat: torch.Tensor | np.ndarray,
    features: torch.Tensor,
    weight: torch.Tensor,
    activation: Activation = "tanh",
) -> torch.Tensor:
    """One graph-convolution layer ``act(Â X Wᵀ)`` (Kipf & Welling) with a
    hand-written backward.

    ``a_hat`` is the ``[n, n]`` propagation matrix (e.g.
    :func:`normalized_adjacency`), dense or sparse (COO or CSR; kept sparse in
    both passes, so the cost is
    ``O(E d + n d_in d_out)``); a NumPy array (what
    :func:`normalized_adjacency` returns for a networkx graph or an array) is
    taken in ``features``' dtype and device. ``features`` are the dense
    ``[n, d_in]`` node features, ``weight`` the ``[d_out, d_in]`` matrix (the
    layout of ``torch.nn.Linear``), ``activation`` one of ``"tanh"``,
    ``"relu"``, ``"sigmoid"``, ``"identity"``. Returns the dense
    ``[n, d_out]`` output.

    Raises:
        TypeError: an argument is not a floating-point tensor (or, for
            ``a_hat``, an array), torch dtypes differ, ``features``/``weight``
            are sparse, or ``a_hat`` has a sparse layout other than COO and
            CSR.
        ValueError: shapes do not fit together, or unknown ``activation``.
    """
    if isinstance(a_hat, np.ndarray) and isinstance(features, torch.Tensor):
        if not np.issubdtype(a_hat.dtype, np.floating):
            raise TypeError(
                f"a_hat must hold floating-point numbers, got {a_hat.dtype}"
            )
        a_hat = torch.as_tensor(
            a_hat, dtype=features.dtype, device=features.device
        )
    for name, value in (
        ("a_hat", a_hat),
        ("features", features),
        ("weight", weight),
    ):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point torch.Tensor, got "
                f"{type(value).__name__}"
                + (
                    f" of dtype {value.dtype}"
                    if isinstance(value, torch.Tensor)
                    else ""
                )
            )
        if value.ndim != 2:
            raise ValueError(
                f"{name} must be a matrix, got shape {tuple(value.shape)}"
            )
        allowed = (
            (torch.strided, *_SPARSE_LAYOUTS)
            if name == "a_hat"
            else (torch.strided,)
        )
        if value.layout not in allowed:
            raise TypeError(
                f"{name} must be "
                + (
                    "dense, sparse COO or sparse CSR"
                    if name == "a_hat"
                    else "a dense tensor"
                )
                + f", got layout {value.layout}"
            )
    if not a_hat.dtype == features.dtype == weight.dtype:
        raise TypeError(
            "a_hat, features and weight must share a dtype, got "
            f"{a_hat.dtype}, {features.dtype}, {weight.dtype}"
        )
    if a_hat.shape[0] != a_hat.shape[1] or a_hat.shape[1] != features.shape[0]:
        raise ValueError(
            "a_hat must be [n, n] with n = features rows "
            f"({features.shape[0]}), got {tuple(a_hat.shape)}"
        )
    if weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"weight must be [d_out, d_in] with d_in = {features.shape[1]} "
            f"feature columns, got {tuple(weight.shape)}"
        )
    _check_activation(activation)
    return GCNLayerFunction.apply(a_hat, features, weight, activation)


class GCNLayer(torch.nn.Module):
    """A bias-free GCN layer ``act(Â X Wᵀ)`` whose gradient is
    :class:`GCNLayerFunction`'s.

    The weight ``[d_out, d_in]`` starts Glorot-uniform, as in Kipf & Welling.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        activation: Activation = "tanh",
    ) -> None:
        super().__init__()
        for name, value in (("d_in", d_in), ("d_out", d_out)):
            positive_int(value, name)
        _check_activation(activation)
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.empty(d_out, d_in))
        torch.nn.init.xavier_uniform_(self.weight)

    def forward(
        self, a_hat: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """New node features ``[n, d_out]``."""
        activation = cast(Activation, self.activation)
        return gcn_layer(a_hat, features, self.weight, activation)


class GCNClassifier(torch.nn.Module):
    """GCN layers with tanh (sizes ``hidden``) and a softmax (linear + bias)
    classifier on top.

    :meth:`embed` returns the last GCN layer's output (2-D for the karate club);
    :meth:`forward` returns the class logits, whose softmax is the prediction.
    """

    def __init__(
        self, d_in: int, hidden: tuple[int, ...] = (16, 2), num_classes: int = 2
    ) -> None:
        super().__init__()
        if len(hidden) == 0:
            raise ValueError("hidden must list at least one layer size")
        if (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, int)
            or num_classes < 2
        ):
            raise ValueError(
                f"num_classes must be an integer >= 2, got {num_classes!r}"
            )
        sizes = (d_in, *hidden)
        self.layers = torch.nn.ModuleList(
            GCNLayer(a, b) for a, b in zip(sizes, sizes[1:])
        )
        self.classifier = torch.nn.Linear(hidden[-1], num_classes)

    def embed(
        self, a_hat: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """The node representations after the last GCN layer,
        ``[n, hidden[-1]]``."""
        h = features
        for layer in self.layers:
            h = layer(a_hat, h)
        return h

    def forward(
        self, a_hat: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """Class logits ``[n, num_classes]``."""
        return self.classifier(self.embed(a_hat, features))


@dataclass
class GCNTrainingHistory:
    """Per-epoch loss on the training nodes and accuracy on the training and
    evaluation nodes."""

    loss: np.ndarray
    train_accuracy: np.ndarray
    eval_accuracy: np.ndarray


def _check_mask(mask: object, n: int, name: str) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a boolean torch.Tensor")
    if mask.shape != (n,):
        raise ValueError(
            f"{name} must have one entry per node ({n}), got shape "
            f"{tuple(mask.shape)}"
        )
    if not mask.any():
        raise ValueError(f"{name} selects no node")
    return mask


def _check_training_args(
    features: torch.Tensor,
    labels: torch.Tensor,
    train_mask: torch.Tensor,
    eval_mask: torch.Tensor,
    epochs: int,
    lr: float,
    weight_decay: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainers' shared argument checks; returns the checked masks."""
    n = features.shape[0]
    train_mask = _check_mask(train_mask, n, "train_mask")
    eval_mask = _check_mask(eval_mask, n, "eval_mask")
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dtype != torch.long
        or labels.shape != (n,)
    ):
        raise TypeError(
            "labels must be an int64 torch.Tensor with one entry per node "
            f"({n})"
        )
    positive_int(epochs, "epochs")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not weight_decay >= 0:
        raise ValueError(
            f"weight_decay must be non-negative, got {weight_decay}"
        )
    return train_mask, eval_mask


def train_gcn_classifier(
    model: GCNClassifier,
    a_hat: torch.Tensor,
    features: torch.Tensor,
    labels: torch.Tensor,
    train_mask: torch.Tensor,
    eval_mask: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
) -> GCNTrainingHistory:
    """Full-batch gradient descent on the mean cross entropy over the training
    nodes.

    Plain gradient descent (``torch.optim.SGD`` without momentum); weight decay
    adds ``weight_decay * w`` to every parameter's gradient. Only the nodes in
    ``train_mask`` enter the loss; ``eval_mask`` is only scored.

    Raises:
        TypeError, ValueError: bad masks or labels, ``epochs < 1``, ``lr <= 0``
            or ``weight_decay < 0``.
    """
    train_mask, eval_mask = _check_training_args(
        features, labels, train_mask, eval_mask, epochs, lr, weight_decay
    )
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, weight_decay=weight_decay
    )
    train_idx, eval_idx = (
        train_mask.nonzero().squeeze(1),
        eval_mask.nonzero().squeeze(1),
    )
    train_labels = labels[train_idx]
    history = torch.empty(
        3, epochs, dtype=torch.float64
    )  # loss, train acc, eval acc
    for epoch in range(epochs):
        optimizer.zero_grad()
        logits = model(a_hat, features)
        loss = torch.nn.functional.cross_entropy(
            logits[train_idx], train_labels
        )
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # scores of the logits the step was computed from
            correct = (logits.argmax(dim=1) == labels).double()
            history[0, epoch] = loss
            history[1, epoch] = correct[train_idx].mean()
            history[2, epoch] = correct[eval_idx].mean()
    loss_history, train_acc, eval_acc = history.numpy()
    return GCNTrainingHistory(loss_history, train_acc, eval_acc)


def train_gcn_classifiers(
    models: Sequence[GCNClassifier],
    a_hat: torch.Tensor,
    features: torch.Tensor,
    labels: torch.Tensor,
    train_mask: torch.Tensor,
    eval_mask: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
) -> list[GCNTrainingHistory]:
    """Train several classifiers of one shape side by side, each as
    :func:`train_gcn_classifier` would, and return one history per model.

    The models (e.g. one per seed) differ only in their weights. Their
    parameters are stacked along a leading model axis, so every epoch is one
    batched forward and backward pass: full-batch gradient descent
    (``torch.optim.SGD`` without momentum, the same ``weight_decay``) on the
    sum over models of each model's mean cross entropy, whose gradient for a
    model is that of its own loss. The forward pass uses PyTorch's autograd
    instead of :class:`GCNLayerFunction` and a dense ``Â``, so the runs agree
    with :func:`train_gcn_classifier`'s to float rounding, not bit for bit.
    The trained weights are copied back into ``models``.

    Raises:
        TypeError, ValueError: no models, models of different shapes, a
            sparse ``Â``, or anything :func:`train_gcn_classifier` rejects.
    """
    models = list(models)
    if not models or not all(isinstance(m, GCNClassifier) for m in models):
        raise TypeError("models must be a non-empty list of GCNClassifiers")
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in models]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("the models must all have the same shapes")
    if _is_sparse(a_hat):
        raise ValueError("a_hat must be dense for the batched trainer")
    train_mask, eval_mask = _check_training_args(
        features, labels, train_mask, eval_mask, epochs, lr, weight_decay
    )
    # one leaf per parameter, stacked over the models: [S, ...]
    stacked = [
        torch.stack([p.detach() for p in ps]).clone().requires_grad_(True)
        for ps in zip(*(m.parameters() for m in models))
    ]
    *layer_weights, class_weight, class_bias = stacked
    optimizer = torch.optim.SGD(stacked, lr=lr, weight_decay=weight_decay)
    train_idx = train_mask.nonzero().squeeze(1)
    eval_idx = eval_mask.nonzero().squeeze(1)
    train_labels = labels[train_idx].repeat(len(models))
    mixed_input = a_hat @ features  # Â X, the same for every model
    history = torch.empty(len(models), 3, epochs, dtype=torch.float64)
    for epoch in range(epochs):
        optimizer.zero_grad()
        h = torch.tanh(mixed_input @ layer_weights[0].transpose(1, 2))
        for weight in layer_weights[1:]:
            h = torch.tanh(a_hat @ (h @ weight.transpose(1, 2)))
        logits = h @ class_weight.transpose(1, 2) + class_bias[:, None, :]
        per_node = torch.nn.functional.cross_entropy(
            logits[:, train_idx].reshape(-1, logits.shape[-1]),
            train_labels,
            reduction="none",
        ).view(len(models), -1)
        losses = per_node.mean(dim=1)
        losses.sum().backward()
        optimizer.step()
        with torch.no_grad():  # scores of the logits the step was computed from
            correct = (logits.argmax(dim=2) == labels).double()
            history[:, 0, epoch] = losses
            history[:, 1, epoch] = correct[:, train_idx].mean(dim=1)
            history[:, 2, epoch] = correct[:, eval_idx].mean(dim=1)
    with torch.no_grad():
        for i, model in enumerate(models):
            for p, s in zip(model.parameters(), stacked):
                p.copy_(s[i])
    return [GCNTrainingHistory(*run.numpy()) for run in history]
