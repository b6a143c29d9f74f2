"""Attention: softmax, argmax and kernelized (linear) attention.

Conventions used throughout the book:

* Queries ``q`` have shape ``(..., N, D)``, keys ``k`` shape ``(..., L, D)``
  and values ``v`` shape ``(..., L, M)``; the output has shape ``(..., N, M)``.
  Row ``i`` of the output attends over the ``L`` key/value rows. Leading
  (batch, head) dimensions must match exactly.
* A boolean ``mask`` of shape broadcastable to ``(..., N, L)`` holds ``True``
  where query ``i`` may attend to key ``j`` (PyTorch's convention for
  :func:`torch.nn.functional.scaled_dot_product_attention`).
* Half precision (float16, bfloat16): scores, exponentials and every sum over
  the sequence are computed in float32 and the result is cast back to the
  input's dtype, so inputs whose exact answer is finite never give a NaN or an
  infinity through an intermediate overflow (float16 overflows above 65504).
  Scores are scaled before they are formed (``(scale * q) k^T``), and every
  exponential of a score subtracts the row maximum first. Where an answer
  would still overflow (an explicit kernel whose values exceed the compute
  dtype), a ``ValueError`` names the cause instead of returning NaN.
* Kernel attention (Tsai et al., 2019; Katharopoulos et al., 2020) replaces
  ``exp(q.k / sqrt(D))`` by any positive similarity ``sim(q, k)``; when
  ``sim(q, k) = phi(q) . phi(k)`` the output can be computed in time linear in
  the sequence length, by associativity.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dlbook._checks import positive_int

__all__ = [
    "ATTENTION_MODES",
    "SingleHeadAttention",
    "argmax_attention",
    "attention_weights",
    "autograd_saved_bytes",
    "elu_features",
    "feature_kernel",
    "kernel_attention_linear",
    "kernel_attention_pairwise",
    "quadratic_feature_dim",
    "quadratic_features",
    "quadratic_kernel",
    "softmax_attention",
    "softmax_jacobian",
    "softmax_kernel",
]

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
FeatureMap = Callable[[torch.Tensor], torch.Tensor]


_HALF = (torch.float16, torch.bfloat16)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision inputs, else the input's own dtype."""
    return torch.float32 if dtype in _HALF else dtype


def _check_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype, got {x.dtype}"
        )
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have shape (..., rows, features), got "
            f"{tuple(x.shape)}"
        )
    return x


def _check_qkv(
    q: object, k: object, v: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate shapes ``(..., N, D)``, ``(..., L, D)``, ``(..., L, M)``."""
    q, k, v = (
        _check_tensor(q, "q"),
        _check_tensor(k, "k"),
        _check_tensor(v, "v"),
    )
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(
            "q, k and v must share their leading (batch) dimensions, got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same feature size D, got {q.shape[-1]} "
            f"and {k.shape[-1]}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of rows L, got {k.shape[-2]} "
            f"and {v.shape[-2]}"
        )
    if k.shape[-2] == 0:
        raise ValueError(
            "k and v must have at least one row: attention over no keys is "
            "undefined"
        )
    if q.shape[-1] == 0:
        raise ValueError(
            "q and k must have a feature size D >= 1, got D = 0 (the scale "
            "1/sqrt(D) is undefined)"
        )
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(
            f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, "
            f"{v.dtype}"
        )
    return q, k, v


def attention_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    *,
    scale: float | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Row-stochastic softmax attention weights ``softmax(scale * q k^T)``,
    shape ``(..., N, L)``.

    ``scale`` defaults to ``1 / sqrt(D)``; ``mask`` is boolean, ``True`` = may
    attend. The scale multiplies ``q`` before the product and, for
    float16/bfloat16 inputs, the scores and the softmax are computed in float32
    (the weights are returned in the input's dtype), so ``q k^T`` beyond
    float16's range (65504) does not overflow when the scaled scores are finite.

    Raises:
        ValueError: bad shapes, a non-positive ``scale``, or a query row whose
            mask allows no key (its weights would be 0/0).
        TypeError: non-tensor inputs or a non-boolean mask.
    """
    q, k, _ = _check_qkv(q, k, k)
    return _softmax_weights(q, k, scale, mask).to(q.dtype)


def _softmax_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    scale: float | None,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`attention_weights` for checked ``q``, ``k``, in float32 for half
    inputs."""
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    elif (
        not isinstance(scale, (int, float))
        or isinstance(scale, bool)
        or not scale > 0
    ):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    work = _compute_dtype(q.dtype)
    scores = (q.to(work) * scale) @ k.to(work).transpose(-2, -1)
    if not bool(
        torch.isfinite(scores.detach()).all()
    ):  # detached: no tensor saved for it
        raise ValueError(
            f"attention scores overflow {work} even after scaling: q and k "
            "are too large for this dtype"
        )
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(
                "mask must be a boolean torch.Tensor (True = may attend)"
            )
        try:
            mask = torch.broadcast_to(mask, scores.shape)
        except RuntimeError:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the "
                f"scores' shape {tuple(scores.shape)}"
            ) from None
        if not mask.any(dim=-1).all():
            raise ValueError("mask leaves some query with no key to attend to")
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)  # softmax subtracts the row maximum


def softmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    scale: float | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scaled dot-product attention ``softmax(q k^T / sqrt(D)) v``, written out.

    Materializes the ``N x L`` weight matrix (time ``O(N L (D + M))``, memory
    ``O(N L)``), which is the point of the linear-attention chapter.
    Arguments, errors and half-precision handling as in
    :func:`attention_weights` (the weighted sum of ``v`` is also accumulated in
    float32 for half inputs).
    """
    q, k, v = _check_qkv(q, k, v)
    work = _compute_dtype(v.dtype)
    weights = _softmax_weights(q, k, scale, mask)
    return (weights @ v.to(work)).to(v.dtype)


def softmax_jacobian(weights: torch.Tensor) -> torch.Tensor:
    """Jacobian ``diag(p) - p p^T`` of the softmax at output ``p`` (last axis),
    shape ``(..., L, L)``.

    It is what backpropagation multiplies by to reach the scores: when ``p`` is
    nearly one-hot, every entry is nearly 0 and the scores (so queries and keys)
    receive almost no gradient.
    """
    if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
        raise TypeError("weights must be a floating-point torch.Tensor")
    if weights.ndim < 1:
        raise ValueError("weights must have at least one dimension")
    return torch.diag_embed(weights) - weights.unsqueeze(
        -1
    ) * weights.unsqueeze(-2)


def argmax_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """Hard attention: each query returns the value of its most similar key.

    Similarity is the plain inner product ``q . k``; ties go to the first key
    (the rule of :func:`torch.argmax`). The scores are compared after ``q``
    and ``k`` are scaled by powers of two to entries near 1 (the winner does
    not change), so inputs whose products overflow the dtype still pick the
    right key. The one-hot weights are a piecewise
    constant function of ``q`` and ``k``, so autograd passes gradient to ``v``
    only.
    """
    q, k, v = _check_qkv(q, k, v)
    work = _compute_dtype(q.dtype)  # no float16 overflow ties
    # argmax ignores a positive scale: bring q and k to a largest entry
    # near 1 by powers of two (exact), so scores of 1e20-sized float32
    # inputs are not all inf (a tie won by the first key)
    q_work, k_work = _unit_scaled(q.to(work)), _unit_scaled(k.to(work))
    winners = (q_work @ k_work.transpose(-2, -1)).argmax(dim=-1)  # (..., N)
    weights = F.one_hot(winners, num_classes=k.shape[-2]).to(v.dtype)
    return weights @ v


def _unit_scaled(x: torch.Tensor) -> torch.Tensor:
    """``x`` times the power of two that brings its largest magnitude into
    ``[0.5, 1)`` (exact); unchanged when zero, empty or not finite."""
    x = x.detach()
    if x.numel() == 0:
        return x
    largest = float(x.abs().max())
    if largest == 0 or not math.isfinite(largest):
        return x
    limit = 1021 if x.dtype == torch.float64 else 125  # 2**-e stays normal
    exponent = min(max(math.frexp(largest)[1], -limit), limit)
    half = exponent // 2
    return x * 2.0**-half * 2.0 ** -(exponent - half)


def quadratic_kernel(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Polynomial kernel of degree 2 with constant 1: ``(q . k + 1)**2`` for all
    pairs, ``(..., N, L)``."""
    q, k, _ = _check_qkv(q, k, k)
    work = _compute_dtype(q.dtype)
    return _finite_in(
        (q.to(work) @ k.to(work).transpose(-2, -1) + 1.0) ** 2,
        q.dtype,
        "quadratic_kernel",
    )


def softmax_kernel(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The similarity of softmax attention, ``exp(q . k / sqrt(D))`` for all
    pairs.

    The kernel's own values, not shifted by a row maximum, so they overflow
    once a scaled score exceeds about 88 (float32) or 11 (float16, computed in
    float32 but returned in float16); then a ``ValueError`` says so. For
    attention itself, :func:`softmax_attention` subtracts the row maximum and
    has no such limit.
    """
    q, k, _ = _check_qkv(q, k, k)
    work = _compute_dtype(q.dtype)
    scores = (q.to(work) / math.sqrt(q.shape[-1])) @ k.to(work).transpose(
        -2, -1
    )
    return _finite_in(torch.exp(scores), q.dtype, "softmax_kernel")


def quadratic_feature_dim(d: int) -> int:
    """Length ``C = (d + 1)(d + 2) / 2`` of :func:`quadratic_features` for
    inputs of size ``d``."""
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    return (d + 1) * (d + 2) // 2


def quadratic_features(x: torch.Tensor) -> torch.Tensor:
    """Explicit feature map of ``(q . k + 1)**2``, applied to each row of ``x``.

    ``phi(x) = [1, sqrt2 x_1, ..., sqrt2 x_D, x_1^2, ..., x_D^2,``
    ``sqrt2 x_i x_j (i < j)]``, so that ``phi(q) . phi(k) = (q . k + 1)**2``.
    Shape ``(..., D) -> (..., C)`` with ``C = (D + 1)(D + 2) / 2``.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch.Tensor")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(
            "x must have a non-empty last dimension, got shape "
            f"{tuple(x.shape)}"
        )
    d = x.shape[-1]
    rows, cols = torch.triu_indices(
        d, d, device=x.device
    )  # i <= j, diagonal first per row
    on_diagonal = rows == cols
    order = torch.cat(
        [torch.nonzero(on_diagonal)[:, 0], torch.nonzero(~on_diagonal)[:, 0]]
    )
    rows, cols = rows[order], cols[order]
    weight = torch.full(
        rows.shape, math.sqrt(2.0), dtype=x.dtype, device=x.device
    )
    weight[rows == cols] = 1.0
    outer = x.unsqueeze(-1) * x.unsqueeze(-2)  # (..., D, D)
    pairs = outer[..., rows, cols] * weight  # (..., D(D+1)/2)
    ones = torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)
    return torch.cat([ones, math.sqrt(2.0) * x, pairs], dim=-1)


def elu_features(x: torch.Tensor) -> torch.Tensor:
    """The feature map ``elu(x) + 1`` of Katharopoulos et al. (2020): every
    entry is > 0.

    Evaluated as ``x + 1`` for ``x > 0`` and ``exp(x)`` otherwise (the same
    function):
    ``F.elu(x) + 1`` computes ``expm1(x) + 1``, which rounds to exactly 0 once
    ``exp(x)`` drops below the dtype's resolution near 1 (``x < -17`` in
    float32).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch.Tensor")
    return torch.where(x > 0, x + 1.0, torch.exp(x.clamp(max=0.0)))


def feature_kernel(feature_map: FeatureMap) -> Kernel:
    """The kernel ``(q, k) -> phi(q) . phi(k)`` (all pairs) defined by a feature
    map ``phi``."""
    if not callable(feature_map):
        raise TypeError("feature_map must be callable")

    def kernel(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return feature_map(q) @ feature_map(k).transpose(-2, -1)

    return kernel


def _finite_in(
    values: torch.Tensor, dtype: torch.dtype, name: str
) -> torch.Tensor:
    """``values`` cast to ``dtype``, or a ValueError naming an overflow."""
    out = values.to(dtype)
    if not bool(torch.isfinite(out.detach()).all()):
        raise ValueError(
            f"{name} overflows {dtype}: its values exceed the dtype's range "
            f"(largest finite {torch.finfo(dtype).max:.4g})"
        )
    return out


def _normalize(
    numerator: torch.Tensor, denominator: torch.Tensor
) -> torch.Tensor:
    if not (
        bool(torch.isfinite(numerator.detach()).all())
        and bool(torch.isfinite(denominator.detach()).all())
    ):
        raise ValueError(
            "the attention numerator or denominator is not finite (overflow "
            f"in {numerator.dtype}): the similarities are too large for this "
            "dtype"
        )
    if not bool((denominator > 0).all()):
        raise ValueError(
            "the attention denominator sum_j sim(q_i, k_j) is not positive "
            "for some query; use a similarity that is strictly positive (e.g. "
            "elu_features)"
        )
    return numerator / denominator


def kernel_attention_pairwise(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel: Kernel
) -> torch.Tensor:
    """Generalized attention
    ``V'_i = sum_j sim(Q_i, K_j) V_j / sum_j sim(Q_i, K_j)``.

    Forms the full ``N x L`` similarity matrix with ``kernel(q, k)``: quadratic
    in the sequence length, like softmax attention (which is
    ``kernel=softmax_kernel``). Half-precision inputs are handed to the kernel,
    summed and normalized in float32; the output has ``v``'s dtype.

    Raises:
        ValueError: bad shapes, a non-finite (overflowing) or non-positive
            denominator, or a non-finite numerator.
    """
    q, k, v = _check_qkv(q, k, v)
    if not callable(kernel):
        raise TypeError("kernel must be callable")
    work = _compute_dtype(v.dtype)
    sim = kernel(q.to(work), k.to(work)).to(work)  # (..., N, L)
    if sim.shape != (*q.shape[:-1], k.shape[-2]):
        raise ValueError(
            f"kernel returned shape {tuple(sim.shape)}, expected (..., N, L)"
        )
    return _normalize(sim @ v.to(work), sim.sum(dim=-1, keepdim=True)).to(
        v.dtype
    )


def kernel_attention_linear(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, feature_map: FeatureMap
) -> torch.Tensor:
    """The same attention for ``sim(q, k) = phi(q) . phi(k)``, by associativity.

    ``V'_i = phi(Q_i)^T U / phi(Q_i)^T z`` with ``U = sum_j phi(K_j) V_j^T``
    (``C x M``) and
    ``z = sum_j phi(K_j)`` (``C``): time ``O((N + L) C M)``, no ``N x L``
    matrix. Half-precision inputs are mapped, summed and normalized in float32;
    the output has ``v``'s dtype.

    Raises:
        ValueError: bad shapes, a non-finite (overflowing) or non-positive
            denominator, or a non-finite numerator.
    """
    q, k, v = _check_qkv(q, k, v)
    if not callable(feature_map):
        raise TypeError("feature_map must be callable")
    work = _compute_dtype(v.dtype)
    phi_q, phi_k = (
        feature_map(q.to(work)),
        feature_map(k.to(work)),
    )  # (..., N, C), (..., L, C)
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(
            "feature_map must give queries and keys the same feature size"
        )
    u = phi_k.transpose(-2, -1) @ v.to(work)  # (..., C, M)
    z = phi_k.sum(dim=-2).unsqueeze(-1)  # (..., C, 1)
    return _normalize(phi_q @ u, phi_q @ z).to(v.dtype)


def autograd_saved_bytes(
    fn: Callable[..., torch.Tensor], *args: torch.Tensor
) -> int:
    """Bytes autograd keeps for the backward pass of ``fn(*args)``.

    Every tensor saved for backward is recorded through
    :func:`torch.autograd.graph.saved_tensors_hooks`; tensors sharing a storage
    (views, the same tensor saved twice) are counted once. Inputs that are
    saved count too, as the problem's memory model asks.
    """
    if not callable(fn):
        raise TypeError("fn must be callable")
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args)
    return int(sum(storages.values()))


ATTENTION_MODES = ("softmax", "argmax")
"""The attention rules :class:`SingleHeadAttention` can use."""


class SingleHeadAttention(nn.Module):
    """One attention head with learned projections ``W_Q``, ``W_K``, ``W_V``.

    ``forward(x_query, x_context)`` maps queries ``(..., N, d_in)`` and context
    rows ``(..., L, d_in)`` to ``(..., N, d_v)``. ``mode="softmax"`` uses
    ``softmax(q k^T / (temperature * sqrt(d_k))) v``; ``mode="argmax"`` uses
    :func:`argmax_attention` on the same projections, so the two can share
    weights.
    """

    def __init__(
        self,
        d_in: int,
        d_k: int,
        d_v: int,
        *,
        mode: str = "softmax",
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        for name, value in (("d_in", d_in), ("d_k", d_k), ("d_v", d_v)):
            positive_int(value, name)
        if mode not in ATTENTION_MODES:
            raise ValueError(
                f"mode must be one of {ATTENTION_MODES}, got {mode!r}"
            )
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(
                f"temperature must be a positive number, got {temperature!r}"
            )
        self.mode, self.temperature = mode, float(temperature)
        self.w_q = nn.Linear(d_in, d_k, bias=False)
        self.w_k = nn.Linear(d_in, d_k, bias=False)
        self.w_v = nn.Linear(d_in, d_v, bias=False)

    def forward(
        self, x_query: torch.Tensor, x_context: torch.Tensor
    ) -> torch.Tensor:
        q, k, v = self.w_q(x_query), self.w_k(x_context), self.w_v(x_context)
        if self.mode == "argmax":
            return argmax_attention(q, k, v)
        scale = 1.0 / (self.temperature * math.sqrt(q.shape[-1]))
        return softmax_attention(q, k, v, scale=scale)
