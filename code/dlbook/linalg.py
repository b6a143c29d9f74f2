"""Spectral norms and orthogonalization of weight and gradient matrices.

Power iteration for the spectral norm (MIT 6.S898, Fall 2023, HW 2, P3),
Haar-random (semi-)orthogonal matrices (P2, P4), and the two ways of
replacing a matrix ``G = U S V^T`` by its orthogonal polar factor ``U V^T``
that Muon-type optimizers use: Newton–Schulz iterations of an odd
polynomial (EECS 182, Fall 2025, HW 4 P1 and HW 6 P6; Jordan et al., 2024)
and the exact SVD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dlbook._checks import positive_int

__all__ = [
    "CUBIC",
    "QUINTIC",
    "newton_schulz",
    "power_iteration",
    "random_orthogonal",
    "svd_orthogonalize",
]

#: ``X <- 1.5 X - 0.5 (X X^T) X``: the cubic Newton–Schulz step, whose map
#: on singular values ``(3 s - s^3) / 2`` has the fixed point 1.
CUBIC: tuple[float, float, float] = (1.5, -0.5, 0.0)
#: Keller Jordan's quintic (the default of ``torch.optim.Muon``): a large
#: slope at 0, converging to a band around 1 rather than to 1.
QUINTIC: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)


def _check_matrix(a: object, name: str, *, batched: bool = False) -> None:
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(a)}")
    if a.ndim < 2 or (a.ndim > 2 and not batched):
        want = "[..., m, n]" if batched else "[m, n]"
        raise ValueError(f"{name} must have shape {want}, got {tuple(a.shape)}")
    if a.is_complex() or not a.is_floating_point():
        raise TypeError(f"{name} must be a real floating tensor, got {a.dtype}")


def power_iteration(
    a: torch.Tensor, iterations: int = 10, *, seed: int = 0
) -> torch.Tensor:
    """Estimate the spectral norm ``||a||_2`` by power iteration on ``a a^T``.

    The pseudocode of MIT 6.S898 (Fall 2023) HW 2, Problem 3: draw ``v``,
    amplify the top eigenvector with ``u = (a a^T)^iterations v``, and read
    the top eigenvalue as ``||a a^T u|| / ||u||``; its square root is the
    norm. ``v`` is rescaled to unit length after every multiplication: the
    same estimate in exact arithmetic, but without it the entries of
    ``(a a^T)^k v`` grow like ``||a||_2^(2k)`` and leave the float32 range
    (about ``3.4e38``; the norm of ``u``, a sum of squares, overflows once
    it passes about ``1.8e19``) within a few iterations. The
    estimate never exceeds the true norm; its relative error falls like
    ``(s_2 / s_1)^(4k)`` in the two top singular values (the vector's error
    falls like ``(s_2 / s_1)^(2k)``, and the quotient squares it).

    Args:
        a: ``[m, n]`` real floating matrix.
        iterations: multiplications by ``a a^T`` before the estimate (>= 0).
        seed: seed of the start vector, drawn from a private generator
            (global random state is left alone).

    The matrix is first scaled by a power of two to a largest entry in
    ``[0.5, 1)`` and the estimate scaled back (both exact), so the answer is
    the same for ``a`` and ``2**k a`` (times ``2**k``) and a float16 or
    bfloat16 matrix whose norm fits its dtype gets a finite estimate even
    when ``||a||_2**2`` does not fit (or underflows).

    Returns:
        A 0-d tensor of ``a``'s dtype on ``a``'s device; 0 for a zero matrix
        or an empty dimension.

    Raises:
        TypeError: ``a`` is not a real floating tensor.
        ValueError: ``a`` is not 2-D, or ``iterations`` is negative.
    """
    _check_matrix(a, "a")
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(f"iterations must be an int, got {iterations!r}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if a.numel() == 0:
        return a.new_zeros(())
    # a a^T u has entries of order ||a||^2: scale a by a power of two to a
    # largest entry in [0.5, 1) first (exact), and scale the estimate back
    # in float32 at least, so a float16 matrix whose norm fits float16 but
    # whose square does not (or whose square underflows) is estimated too.
    a, scale = _power_of_two_scaled(a, a.dtype)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(a.shape[0], generator=generator, dtype=a.dtype)
    u = (v / v.norm()).to(a.device)
    tiny = torch.finfo(a.dtype).tiny  # a zero matrix gives 0, not 0/0
    for _ in range(iterations):
        u = a @ (a.T @ u)
        u = u / u.norm().clamp_min(tiny)
    top_eigenvalue = (a @ (a.T @ u)).norm() / u.norm().clamp_min(tiny)
    estimate = top_eigenvalue.sqrt()
    return (estimate.to(scale.dtype) / scale.reshape(())).to(a.dtype)


def random_orthogonal(
    rows: int,
    cols: int | None = None,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A Haar-random (semi-)orthogonal ``[rows, cols]`` matrix.

    Orthonormal columns when ``rows >= cols``, orthonormal rows otherwise,
    so the spectral norm is 1. Made from the QR factorization of a Gaussian
    matrix with the signs of ``R``'s diagonal moved into ``Q``, which makes
    the distribution uniform (Mezzadri, 2007). ``cols=None`` is square.
    Drawn in float64 on the CPU from a generator seeded with ``seed`` (global
    random state is left alone), then converted.

    Raises:
        ValueError: ``rows`` or ``cols`` is not a positive integer.
    """
    m = positive_int(rows, "rows")
    n = m if cols is None else positive_int(cols, "cols")
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(
        max(m, n), min(m, n), generator=generator, dtype=torch.float64
    )
    q, r = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(r))
    q = q * torch.where(signs == 0, 1.0, signs)
    q = q if m >= n else q.T
    return q.to(dtype=dtype, device=device).contiguous()


def newton_schulz(
    g: torch.Tensor,
    steps: int = 5,
    *,
    coefficients: Sequence[float] = QUINTIC,
    frobenius_norm: float = 1.0,
    eps: float = 1e-7,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Approximate the polar factor ``U V^T`` of ``g`` by Newton–Schulz.

    With ``g = U S V^T`` (thin SVD): ``g`` is scaled to Frobenius norm
    ``frobenius_norm`` (which bounds every singular value by it), then
    ``steps`` times ``X <- a X + b (X X^T) X + c (X X^T)^2 X`` with
    ``(a, b, c) = coefficients``. Each step maps every singular value ``s``
    to ``a s + b s^3 + c s^5`` and keeps the singular vectors. The iteration
    runs on the wide orientation (a tall ``g`` is transposed), so the Gram
    matrix ``X X^T`` is ``min(m, n)`` square.

    The result does not depend on ``g``'s scale (``g`` and ``2**k g`` give
    the same bits while ``||g||_F >= eps``): ``g`` is first multiplied by
    the power of two that brings its largest entry into ``[0.5, 1)``, in
    float32 (float64 for float64 ``g``), and only then cast to ``dtype``
    and normalized. That product is exact, so where casting first stayed in
    range nothing changes; where it did not (a loss-scaled gradient whose
    Frobenius norm passes float16's 65504, entries whose squares underflow
    float16) the iteration still runs on the right matrix.

    A step costs three matrix products (``X X^T``, its square, and the
    product with ``X``), or two when ``c = 0`` (the cubic), since the
    square is then skipped; with ``b = c = 0`` a step is a scaling. The
    skipped product would be multiplied by 0, so the result is the same:
    ``b G`` is formed as ``G * b``, which is what ``torch.addmm`` with
    ``alpha=0`` computes (bit for bit on the CPU, checked in the tests).

    With :data:`CUBIC` and ``frobenius_norm=0.99 * sqrt(3)`` this is the
    course's Muon (EECS 182, Fall 2025, HW 6); with :data:`QUINTIC`, norm 1
    and ``dtype=torch.bfloat16`` it computes what ``torch.optim.Muon`` does.

    Args:
        g: ``[..., m, n]`` real floating tensor (leading dimensions batch).
        steps: number of polynomial steps (>= 0).
        coefficients: ``(a, b, c)``.
        frobenius_norm: target Frobenius norm of the scaled input (> 0).
        eps: lower bound on the norm that ``g`` is divided by, so a zero
            matrix gives zeros rather than NaN (a matrix of norm below
            ``eps`` is divided by ``eps``).
        dtype: precision of the iteration (default ``g.dtype``); the result
            is returned in ``g.dtype``.

    Returns:
        A tensor of ``g``'s shape, dtype and device.

    Raises:
        TypeError: ``g`` is not a real floating tensor.
        ValueError: ``g`` has fewer than 2 dimensions, ``steps`` is
            negative, ``coefficients`` is not three numbers, or
            ``frobenius_norm`` or ``eps`` is not positive.
    """
    a, b, c = _check_newton_schulz(g, steps, coefficients, frobenius_norm, eps)
    tall = g.shape[-2] > g.shape[-1]
    x = g.mT if tall else g
    # Scale by a power of two to a largest entry in [0.5, 1) BEFORE the cast:
    # exact, so no bit changes where the old order stayed in range, but a
    # loss-scaled g (float16 norm above 65504) or a tiny one (squares below
    # float16's smallest number) no longer overflows or underflows.
    x, scale = _power_of_two_scaled(x, dtype or g.dtype)
    norm = torch.linalg.matrix_norm(x, keepdim=True)
    # eps bounds the norm of g, not of the scaled copy; in float16 a floor
    # beyond 65504 (g far below eps) is inf and gives zeros, as the cast of
    # such a g did
    floor = (eps * scale).to(norm.dtype)
    x = x / (torch.maximum(norm, floor) / frobenius_norm)
    for _ in range(steps):
        if b == 0.0 and c == 0.0:  # X <- a X: no product at all
            x = x * a
            continue
        gram = x @ x.mT
        if c == 0.0:  # b G: the cubic skips G G, one product in three
            poly = gram * b
        else:
            poly = _addmm(gram, gram, gram, beta=b, alpha=c)  # b G + c G G
        x = _addmm(x, poly, x, beta=a, alpha=1.0)  # a X + poly X
    x = x.mT if tall else x
    return x.to(g.dtype)


def _power_of_two_scaled(
    a: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a * scale).to(dtype)`` and ``scale``: a power of two per matrix
    (last two axes) that brings the largest magnitude into ``[0.5, 1)``.

    Multiplying by a power of two is exact, and rounding commutes with it,
    so this is ``a.to(dtype) * scale`` bit for bit wherever that stays in
    ``dtype``'s normal range; where it does not (entries or norms beyond
    float16's 65504, squares below its smallest subnormal) the scaled copy
    is still exact to ``dtype``'s precision. Computed in float64 for float64
    inputs, else float32. A zero, empty or non-finite matrix gets scale 1.
    ``scale`` has shape ``[..., 1, 1]`` and the wide dtype.
    """
    wide = torch.float64 if a.dtype == torch.float64 else torch.float32
    if a.numel() == 0:
        return a.to(dtype), torch.ones((), dtype=wide, device=a.device)
    work = a.to(wide)
    largest = work.abs().amax(dim=(-2, -1), keepdim=True)
    _, exponent = torch.frexp(largest)  # largest = m * 2**e, m in [0.5, 1)
    limit = 1022 if wide == torch.float64 else 126  # 2**-e stays normal
    exponent = torch.where(
        torch.isfinite(largest) & (largest > 0), exponent, 0
    ).clamp(-limit, limit)
    scale = torch.ldexp(torch.ones_like(largest), -exponent)
    return (work * scale).to(dtype), scale


def _addmm(
    bias: torch.Tensor,
    m1: torch.Tensor,
    m2: torch.Tensor,
    *,
    beta: float,
    alpha: float,
) -> torch.Tensor:
    """``beta * bias + alpha * m1 @ m2`` in one fused call, batched or not."""
    if bias.ndim == 2:
        return torch.addmm(bias, m1, m2, beta=beta, alpha=alpha)
    batch = bias.shape[:-2]
    out = torch.baddbmm(
        bias.reshape(-1, *bias.shape[-2:]),
        m1.reshape(-1, *m1.shape[-2:]),
        m2.reshape(-1, *m2.shape[-2:]),
        beta=beta,
        alpha=alpha,
    )
    return out.reshape(*batch, *out.shape[-2:])


def _check_newton_schulz(
    g: object,
    steps: object,
    coefficients: object,
    frobenius_norm: float,
    eps: float,
) -> tuple[float, float, float]:
    _check_matrix(g, "g", batched=True)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    values = list(coefficients)  # type: ignore[call-overload]
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"coefficients must be three finite numbers, got {coefficients!r}"
        )
    if not frobenius_norm > 0 or not math.isfinite(frobenius_norm):
        raise ValueError(
            f"frobenius_norm must be positive, got {frobenius_norm!r}"
        )
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    return float(values[0]), float(values[1]), float(values[2])


def svd_orthogonalize(g: torch.Tensor) -> torch.Tensor:
    """The polar factor ``U V^T`` of the thin SVD ``g = U S V^T``, exactly.

    Directions whose singular value is at most ``max(m, n) * eps * s_max``
    (numerically zero) are dropped, as the Newton–Schulz iteration drops
    them; so a rank-``r`` input gives a matrix with ``r`` unit singular
    values, and a zero matrix gives zeros. Computed in float32 at least,
    after scaling each matrix by a power of two to a largest entry in
    ``[0.5, 1)`` (exact, and the answer does not depend on the scale).

    Args:
        g: ``[..., m, n]`` real floating tensor.

    Returns:
        A tensor of ``g``'s shape, dtype and device.

    Raises:
        TypeError: ``g`` is not a real floating tensor.
        ValueError: ``g`` has fewer than 2 dimensions.
    """
    _check_matrix(g, "g", batched=True)
    if g.numel() == 0:
        return torch.zeros_like(g)
    work = g.dtype if g.dtype in (torch.float32, torch.float64) else None
    # U V^T ignores g's scale: a power of two brings each matrix's largest
    # entry into [0.5, 1) first (exact), so entries near the dtype's largest
    # or smallest numbers are decomposed like any others
    work_g, _ = _power_of_two_scaled(g, work or torch.float32)
    u, s, vh = torch.linalg.svd(work_g, full_matrices=False)
    tol = max(g.shape[-2:]) * torch.finfo(work_g.dtype).eps
    keep = s > tol * s[..., :1]
    return ((u * keep.unsqueeze(-2)) @ vh).to(g.dtype)
