"""Convolution by hand: correlation and true convolution, shape arithmetic,
receptive fields, and pooling with a hand-written backward.

Source: EECS 182 (Berkeley), Fall 2025, Homework 4, Problems 3, 4 and 7, and
Spring 2023, Problem 3.

Conventions used throughout:

* **Correlation** slides the kernel over the input without flipping it,
  ``y[i, j] = sum_{a, b} w[a, b] * xp[s*i + a, s*j + b]``, where ``xp`` is the
  padded input and ``s`` the stride. This is what deep-learning libraries call
  convolution (:func:`torch.nn.functional.conv2d`).
* **True convolution** flips the kernel first (the "flip and drag" of signal
  processing): ``convolve2d(x, h) == correlate2d(x, flip(h))``. With
  ``padding="full"`` and stride 1 it is :func:`scipy.signal.convolve2d`.
* Padding adds ``p`` entries on each side of every spatial dimension: zeros
  (``padding_mode="zeros"``) or the input wrapped around as on a circle or a
  torus (``padding_mode="circular"``). ``padding="valid"`` means ``p = 0`` and
  ``padding="full"`` means ``p = K - 1``.
* Output size along a dimension of length ``n``: ``(n + 2p - K) // s + 1``.
* Inputs are single-channel: 1-D arrays of shape ``(n,)`` or 2-D arrays of
  shape ``(H, W)``. ``x`` and ``w`` are both NumPy arrays (the answer is a
  NumPy array) or both torch tensors (the answer is a tensor and autograd
  flows through it); lists are converted to the kind of the other argument.
* Integer, floating and complex dtypes are accepted (not bool); the result
  has the promoted dtype. float16/bfloat16 inputs are accumulated in float32
  and the result cast back, so the sums do not lose precision term by term.
  Floating and complex inputs are first scaled by powers of two to a largest
  magnitude near 1 and the result scaled back (exact), so a product or a
  partial sum never overflows while the answer fits (``1e20 * 1e20 -
  1e20 * 1e20`` is 0 in float32, not NaN). Integer inputs are summed in
  int64 (narrower integers would wrap). A result beyond the dtype's range
  raises ``ValueError``, as do integer inputs whose sums could pass int64.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

__all__ = [
    "DISTRIBUTIONS",
    "PADDING_MODES",
    "AvgPool2dFunction",
    "MaxPool2dFunction",
    "avg_pool2d",
    "conv2d_parameter_count",
    "convolve1d",
    "convolve2d",
    "correlate1d",
    "correlate2d",
    "max_pool2d",
    "output_size",
    "receptive_field",
    "receptive_field_mask",
    "sample_weight_gradients",
    "weight_gradient",
]

PADDING_MODES = ("zeros", "circular")
"""The padding modes the hand-written functions accept."""

DISTRIBUTIONS = ("gaussian", "uniform", "rademacher", "exponential")
"""The zero-mean, unit-variance distributions of :func:`sample_weight_gradients`."""

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_HALF_TORCH = (torch.float16, torch.bfloat16)


# --- argument checks -------------------------------------------------------


def _as_pair(value: Any, name: str, dims: int) -> tuple[int, ...]:
    """An int or a tuple of ``dims`` ints (one per spatial dimension)."""
    items = value if isinstance(value, (tuple, list)) else (value,) * dims
    if len(items) != dims:
        raise ValueError(f"{name} must be an int or {dims} ints, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    return tuple(int(item) for item in items)


def _check_stride(stride: Any, dims: int) -> tuple[int, ...]:
    strides = _as_pair(stride, "stride", dims)
    if min(strides) < 1:
        raise ValueError(f"stride must be at least 1, got {stride!r}")
    return strides


def _check_padding(
    padding: Any, kernel_shape: Sequence[int], dims: int
) -> tuple[int, ...]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * dims
        if padding == "full":
            return tuple(k - 1 for k in kernel_shape)
        raise ValueError(
            f"padding must be an int, a tuple of ints, 'valid' or 'full', "
            f"got {padding!r}"
        )
    pads = _as_pair(padding, "padding", dims)
    if min(pads) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pads


def _check_mode(padding_mode: Any) -> str:
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}"
        )
    return str(padding_mode)


def _check_dtype(array: np.ndarray | torch.Tensor, name: str) -> None:
    if isinstance(array, torch.Tensor):
        bad = array.dtype == torch.bool
    else:
        bad = array.dtype.kind not in "iufc"
    if bad:
        raise TypeError(
            f"{name} must hold numbers (integer, float or complex), got "
            f"dtype {array.dtype}"
        )


def _same_kind(x: Any, w: Any) -> tuple[Any, Any]:
    """Both NumPy or both torch; lists take the other argument's kind."""
    x_torch, w_torch = isinstance(x, torch.Tensor), isinstance(w, torch.Tensor)
    if isinstance(x, np.ndarray) and w_torch:
        raise TypeError(
            "x is a NumPy array but w is a torch tensor: pass both as the same "
            "kind"
        )
    if isinstance(w, np.ndarray) and x_torch:
        raise TypeError(
            "x is a torch tensor but w is a NumPy array: pass both as the same "
            "kind"
        )
    if x_torch and not w_torch:
        w = torch.as_tensor(w, device=x.device)
    elif w_torch and not x_torch:
        x = torch.as_tensor(x, device=w.device)
    elif not x_torch:
        x, w = np.asarray(x), np.asarray(w)
    if isinstance(x, torch.Tensor) and x.device != w.device:
        raise ValueError(f"x is on {x.device} but w is on {w.device}")
    return x, w


def _check_signal(
    x: Any, w: Any, dims: int, names: tuple[str, str] = ("x", "w")
) -> tuple[Any, Any]:
    x, w = _same_kind(x, w)
    for array, name in zip((x, w), names):
        _check_dtype(array, name)
        if array.ndim != dims:
            raise ValueError(
                f"{name} must be {dims}-D (single channel), got shape "
                f"{tuple(array.shape)}"
            )
        if 0 in tuple(array.shape):
            raise ValueError(
                f"{name} has a zero-size dimension: shape {tuple(array.shape)}"
            )
    return x, w


def _promote(x: Array, w: Array) -> tuple[Array, Array, Any, int]:
    """Cast both to the compute dtype; return it with the result dtype and
    the power-of-two exponent ``e`` that the result must be scaled by.

    Floating and complex inputs are each scaled by a power of two to a
    largest magnitude in ``[0.5, 1)`` (exact), so no product and no partial
    sum leaves the compute dtype's range while the answer fits: the result
    is ``ldexp(y, e)``, bit for bit what the unscaled sums give wherever they
    stay in range. Integer inputs are summed in int64 (the narrower ones
    wrap silently otherwise) when every sum provably fits in it.
    """
    if isinstance(x, torch.Tensor):
        dtype = torch.promote_types(x.dtype, w.dtype)
        if not (dtype.is_floating_point or dtype.is_complex):
            _check_int64_bound(x, w)
            return x.to(torch.int64), w.to(torch.int64), dtype, 0
        compute = torch.float32 if dtype in _HALF_TORCH else dtype
        x, w = x.to(compute), w.to(compute)
    else:
        dtype = np.result_type(x, w)
        if dtype.kind in "iub":
            _check_int64_bound(x, w)
            return x.astype(np.int64), w.astype(np.int64), dtype, 0
        compute = np.dtype(np.float32) if dtype == np.float16 else dtype
        x, w = x.astype(compute), w.astype(compute)
    wide = x.dtype in (
        torch.float64,
        torch.complex128,
        np.float64,
        np.complex128,
    )
    limit = 1021 if wide else 125  # 2**-e stays a normal number
    ex, ew = _exponent(x, limit), _exponent(w, limit)
    return _ldexp(x, -ex), _ldexp(w, -ew), dtype, ex + ew


def _check_int64_bound(x: Any, w: Any) -> None:
    """Refuse integer inputs whose sums of products could overflow int64."""

    def largest(a: Any) -> int:  # Python ints: abs(int8 -128) wraps
        return max(abs(int(a.min())), abs(int(a.max())))

    bound = largest(x) * largest(w) * int(np.prod(w.shape))
    if bound > np.iinfo(np.int64).max:
        raise ValueError(
            f"integer inputs x ({x.dtype}) and the kernel ({w.dtype}) are too "
            f"large: a sum of products can reach {bound:.4g}, beyond int64; "
            "pass float64 inputs"
        )


def _exponent(a: Any, limit: int) -> int:
    """``e`` with the largest magnitude of ``a`` in ``[2**(e-1), 2**e)``;
    0 for an all-zero or non-finite array."""
    if isinstance(a, torch.Tensor):
        largest = float(a.detach().abs().max())
    else:
        largest = float(np.abs(a).max())
    if largest == 0 or not np.isfinite(largest):
        return 0
    return int(np.clip(np.frexp(largest)[1], -limit, limit))


def _ldexp(a: Any, e: int) -> Any:
    """``a * 2**e`` in two exact halves (2**e alone may not be a float)."""
    if e == 0:
        return a
    half = e // 2
    return (a * 2.0**half) * 2.0 ** (e - half)


def _cast_back(y: Array, dtype: Any, exponent: int = 0) -> Array:
    """Undo the inputs' scaling (``y * 2**exponent``) and cast to ``dtype``
    (torch or NumPy alike); a result beyond ``dtype``'s range raises
    ``ValueError``."""
    finite = _all_finite(y)
    y = _ldexp(y, exponent)
    is_tensor = isinstance(y, torch.Tensor)
    integer = (
        not (dtype.is_floating_point or dtype.is_complex)
        if is_tensor
        else dtype.kind in "iub"
    )
    if integer:  # int64 sums
        info = (torch.iinfo if is_tensor else np.iinfo)(dtype)
        if _size(y) and (y.min() < info.min or y.max() > info.max):
            raise ValueError(
                f"the result overflows {dtype} (values from {int(y.min())} "
                f"to {int(y.max())}); pass wider inputs"
            )
        return _astype(y, dtype)
    if finite and not _all_finite(y):
        raise ValueError(
            f"the result overflows {y.dtype}: its exact value does not fit "
            "this dtype"
        )
    if y.dtype == dtype:
        return y
    # an inf or NaN the inputs held passes through, as in F.conv2d
    largest = float(abs(y).max()) if finite and _size(y) else 0.0
    if largest > (torch.finfo if is_tensor else np.finfo)(dtype).max:
        raise ValueError(
            f"the result overflows {dtype} (largest magnitude "
            f"{largest:.4g}); pass float32 inputs"
        )
    return _astype(y, dtype)


def _astype(y: Any, dtype: Any) -> Any:
    return y.to(dtype) if isinstance(y, torch.Tensor) else y.astype(dtype)


def _size(y: Any) -> int:
    return int(y.numel() if isinstance(y, torch.Tensor) else y.size)


def _all_finite(y: Any) -> bool:
    if isinstance(y, torch.Tensor):
        if not (y.dtype.is_floating_point or y.dtype.is_complex):
            return True
        return bool(torch.isfinite(y.detach()).all())
    if y.dtype.kind not in "fc":
        return True
    return bool(np.isfinite(y).all())


# --- padding ----------------------------------------------------------------


def _pad(x: Array, pads: Sequence[int], mode: str) -> Array:
    """Pad every dimension of ``x`` by ``pads[d]`` on both sides."""
    if mode == "circular":
        # index -p .. n+p-1, wrapped: the entry before the first is the last
        for dim, (n, p) in enumerate(zip(x.shape, pads)):
            if isinstance(x, torch.Tensor):
                idx = torch.arange(-p, n + p, device=x.device) % n
                x = x.index_select(dim, idx)
            else:
                x = np.take(x, np.arange(-p, n + p) % n, axis=dim)
        return x
    shape = tuple(n + 2 * p for n, p in zip(x.shape, pads))
    inner = tuple(slice(p, p + n) for n, p in zip(x.shape, pads))
    if isinstance(x, torch.Tensor):
        out = x.new_zeros(shape)
    else:
        out = np.zeros(shape, dtype=x.dtype)
    out[inner] = x
    return out


def _check_fits(
    x_shape: Sequence[int],
    k_shape: Sequence[int],
    pads: Sequence[int],
    names: tuple[str, str] = ("x", "w"),
) -> None:
    for d, (n, k, p) in enumerate(zip(x_shape, k_shape, pads)):
        if k > n + 2 * p:
            raise ValueError(
                f"the kernel {names[1]} is larger than the padded input "
                f"{names[0]} along dimension {d}: {k} > {n} + 2*{p}; "
                "pad more or use a smaller kernel"
            )


def _flip(w: Array) -> Array:
    if isinstance(w, torch.Tensor):
        return torch.flip(w, dims=tuple(range(w.ndim)))
    return w[(slice(None, None, -1),) * w.ndim]


# --- correlation and convolution -----------------------------------------


def _correlate_padded(xp: Array, w: Array, stride: Sequence[int]) -> Array:
    """The core: one strided slice of the padded input per kernel entry."""
    (kh, kw), (sh, sw) = w.shape, stride
    oh = (xp.shape[0] - kh) // sh + 1
    ow = (xp.shape[1] - kw) // sw + 1
    # the inputs under kernel entry (a, b): one per output position
    rows = [slice(a, a + sh * (oh - 1) + 1, sh) for a in range(kh)]
    cols = [slice(b, b + sw * (ow - 1) + 1, sw) for b in range(kw)]
    y = None
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            y = w[a, b] * xp[r, c] if y is None else y + w[a, b] * xp[r, c]
    assert y is not None
    return y


def _correlate(
    x: Any,
    w: Any,
    stride: Any,
    padding: Any,
    padding_mode: Any,
    dims: int,
    names: tuple[str, str],
) -> Any:
    """Check the arguments, pad, correlate, cast back (1-D as one row)."""
    x, w = _check_signal(x, w, dims, names)
    if dims == 1 and (
        isinstance(stride, (tuple, list)) or isinstance(padding, (tuple, list))
    ):
        raise TypeError(
            "stride and padding of a 1-D correlation are single ints, got "
            f"stride={stride!r}, padding={padding!r}"
        )
    strides = _check_stride(stride, dims)
    pads = _check_padding(padding, w.shape, dims)
    mode = _check_mode(padding_mode)
    _check_fits(x.shape, w.shape, pads, names)
    x, w, dtype, exponent = _promote(x, w)
    xp = _pad(x, pads, mode)
    if dims == 1:
        y = _correlate_padded(xp[None, :], w[None, :], (1, strides[0]))[0]
    else:
        y = _correlate_padded(xp, w, strides)
    return _cast_back(y, dtype, exponent)


def correlate2d(
    x: Array,
    w: Array,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    padding_mode: str = "zeros",
) -> Array:
    """Cross-correlation of a 2-D input with a 2-D kernel (no flip): what
    :func:`torch.nn.functional.conv2d` computes.

    ``y[i, j] = sum_{a, b} w[a, b] * xp[s_h*i + a, s_w*j + b]`` with ``xp``
    the input padded by ``padding`` on each side.

    Args:
        x: input, shape ``(H, W)``.
        w: kernel, shape ``(K_h, K_w)``.
        stride: step between output positions, an int or ``(s_h, s_w)``.
        padding: entries added on each side, an int, ``(p_h, p_w)``,
            ``"valid"`` (0) or ``"full"`` (``K - 1``).
        padding_mode: ``"zeros"`` or ``"circular"`` (wrap around).

    Returns:
        Shape ``((H + 2p_h - K_h) // s_h + 1, (W + 2p_w - K_w) // s_w + 1)``,
        the same kind (NumPy or torch) as the inputs.

    Raises:
        TypeError: mixed NumPy and torch inputs, a bool or non-numeric dtype,
            a non-integer stride or padding.
        ValueError: an input that is not 2-D or has a zero-size dimension, a
            stride below 1, a negative padding, an unknown ``padding_mode``,
            a kernel larger than the padded input.
    """
    return _correlate(x, w, stride, padding, padding_mode, 2, ("x", "w"))


def convolve2d(
    x: Array,
    h: Array,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    padding_mode: str = "zeros",
) -> Array:
    """True 2-D convolution, ``y[m, n] = sum_{i, j} x[m - i, n - j] h[i, j]``:
    correlation with the kernel flipped in both dimensions.

    With ``padding="full"`` and stride 1 this is
    ``scipy.signal.convolve2d(x, h)``; with ``padding=0`` it is
    ``scipy.signal.convolve2d(x, h, mode="valid")``. Stride and padding act
    as in :func:`correlate2d`, whose arguments, shapes and errors apply
    (``h`` in place of ``w``).
    """
    x, h = _check_signal(x, h, 2, ("x", "h"))
    w = _flip(h)
    return _correlate(x, w, stride, padding, padding_mode, 2, ("x", "h"))


def correlate1d(
    x: Array,
    w: Array,
    *,
    stride: int = 1,
    padding: int | str = 0,
    padding_mode: str = "zeros",
) -> Array:
    """Cross-correlation of 1-D signals, ``y[i] = sum_a w[a] xp[s*i + a]``.

    Args:
        x: input, shape ``(n,)``.
        w: kernel, shape ``(K,)``.
        stride, padding, padding_mode: as in :func:`correlate2d`, one value.

    Returns:
        Shape ``((n + 2p - K) // s + 1,)``, the same kind as the inputs.

    Raises:
        TypeError, ValueError: as :func:`correlate2d` (inputs must be 1-D).
    """
    return _correlate(x, w, stride, padding, padding_mode, 1, ("x", "w"))


def convolve1d(
    x: Array,
    h: Array,
    *,
    stride: int = 1,
    padding: int | str = 0,
    padding_mode: str = "zeros",
) -> Array:
    """True 1-D convolution, ``y[n] = sum_i x[n - i] h[i]`` (flip and drag).

    ``convolve1d(x, h, padding="full")`` is ``numpy.convolve(x, h)``: index
    ``n`` of the result is time ``n`` when both signals start at time 0.
    Arguments, shapes and errors as in :func:`correlate1d` (``h`` in place
    of ``w``).
    """
    x, h = _check_signal(x, h, 1, ("x", "h"))
    w = _flip(h)
    return _correlate(x, w, stride, padding, padding_mode, 1, ("x", "h"))


# --- the weight gradient ----------------------------------------------------


def weight_gradient(
    x: Array,
    dy: Array,
    kernel_size: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    padding_mode: str = "zeros",
) -> Array:
    """The gradient ``dL/dw`` of ``y = correlate2d(x, w, ...)``, given
    the upstream gradient ``dy = dL/dy``.

    ``dw[a, b] = sum_{i, j} dy[i, j] * xp[s_h*i + a, s_w*j + b]``: every
    output position adds its input patch, weighted by its upstream gradient.
    For stride 1 this is the correlation of the padded input with ``dy``,
    ``correlate2d(xp, dy)``.

    Args:
        x: input, shape ``(H, W)``.
        dy: upstream gradient, the output's shape ``(m_h, m_w)``.
        kernel_size: ``K`` or ``(K_h, K_w)``.
        stride, padding, padding_mode: those of the forward correlation.

    Returns:
        Shape ``(K_h, K_w)``, the same kind as the inputs.

    Raises:
        TypeError: as :func:`correlate2d`.
        ValueError: as :func:`correlate2d`, and when ``dy`` does not have
            the forward output's shape.
    """
    x, dy, ks, strides, pads, mode = _check_weight_gradient(
        x, dy, kernel_size, stride, padding, padding_mode
    )
    x, dy, dtype, exponent = _promote(x, dy)
    xp = _pad(x, pads, mode)
    (oh, ow), (sh, sw) = dy.shape, strides
    # the inputs under kernel entry (a, b): one per output position
    rows = [slice(a, a + sh * (oh - 1) + 1, sh) for a in range(ks[0])]
    cols = [slice(b, b + sw * (ow - 1) + 1, sw) for b in range(ks[1])]
    dw = [[(dy * xp[r, c]).sum() for c in cols] for r in rows]
    if isinstance(x, torch.Tensor):
        dw_t = torch.stack([torch.stack(row) for row in dw])
        return _cast_back(dw_t, dtype, exponent)
    return _cast_back(np.array(dw, dtype=x.dtype), dtype, exponent)


def _check_weight_gradient(
    x: Any,
    dy: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    padding_mode: Any,
) -> tuple[Any, Any, tuple[int, ...], tuple[int, ...], tuple[int, ...], str]:
    x, dy = _check_signal(x, dy, 2, ("x", "dy"))
    ks = _as_pair(kernel_size, "kernel_size", 2)
    if min(ks) < 1:
        raise ValueError(f"kernel_size must be at least 1, got {kernel_size!r}")
    strides = _check_stride(stride, 2)
    pads = _check_padding(padding, ks, 2)
    mode = _check_mode(padding_mode)
    _check_fits(x.shape, ks, pads, ("x", "kernel_size"))
    expected = tuple(
        output_size(n, k, stride=s, padding=p)
        for n, k, s, p in zip(x.shape, ks, strides, pads)
    )
    if tuple(dy.shape) != expected:
        raise ValueError(
            f"dy must have the forward output's shape {expected}, got "
            f"{tuple(dy.shape)}"
        )
    return x, dy, ks, strides, pads, mode


def _draw(
    kind: str, shape: tuple[int, ...], sigma: float, gen: torch.Generator
) -> torch.Tensor:
    """Zero-mean draws with standard deviation ``sigma``."""
    if kind == "gaussian":
        z = torch.randn(shape, generator=gen, dtype=torch.float64)
    elif kind == "uniform":  # U(-sqrt 3, sqrt 3) has variance 1
        z = (
            2 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1
        ) * 3**0.5
    elif kind == "rademacher":
        z = 2.0 * torch.randint(0, 2, shape, generator=gen).double() - 1
    else:  # exponential(1) - 1: skewed, variance 1
        u = torch.rand(shape, generator=gen, dtype=torch.float64)
        z = -torch.log1p(-u) - 1
    return sigma * z


def sample_weight_gradients(
    n: int,
    k: int,
    *,
    trials: int,
    x_distribution: str = "uniform",
    grad_distribution: str = "exponential",
    sigma_x: float = 1.0,
    sigma_g: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """Monte Carlo draws of the weight gradient of an ``n x n`` input and a
    ``k x k`` kernel (stride 1, no padding), the setting of the source's
    variance question.

    Each trial draws an input ``X`` (``n x n``) and an upstream gradient
    ``dY`` (``(n-k+1) x (n-k+1)``) with independent zero-mean entries of
    standard deviations ``sigma_x`` and ``sigma_g``, and returns
    ``dw = weight_gradient(X, dY, k)``.

    Args:
        n, k: input and kernel side, ``1 <= k <= n``.
        trials: number of draws, at least 2.
        x_distribution, grad_distribution: ``"gaussian"``, ``"uniform"``,
            ``"rademacher"`` (random signs) or ``"exponential"`` (a shifted
            exponential: skewed), each scaled to mean 0 and variance 1.
        sigma_x, sigma_g: the standard deviations, positive.
        seed: the draws depend on it alone (a local generator; global random
            state is left alone).

    Returns:
        float64 tensor of shape ``(trials, k, k)``.

    Raises:
        TypeError: a non-integer ``n``, ``k`` or ``trials``.
        ValueError: sizes out of range, an unknown distribution, a
            non-positive standard deviation.
    """
    for name, value in (("n", n), ("k", k), ("trials", trials)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if trials < 2:
        raise ValueError(f"trials must be at least 2, got {trials}")
    for name, dist in (
        ("x_distribution", x_distribution),
        ("grad_distribution", grad_distribution),
    ):
        if dist not in DISTRIBUTIONS:
            raise ValueError(
                f"{name} must be one of {DISTRIBUTIONS}, got {dist!r}"
            )
    for name, sigma in (("sigma_x", sigma_x), ("sigma_g", sigma_g)):
        if not (np.isfinite(sigma) and sigma > 0):
            raise ValueError(f"{name} must be positive, got {sigma!r}")
    gen = torch.Generator().manual_seed(int(seed))
    m = n - k + 1
    out = torch.empty(trials, k, k, dtype=torch.float64)
    chunk = max(1, 2_000_000 // (n * n))  # about 16 MB of inputs at a time
    for start in range(0, trials, chunk):
        t = min(chunk, trials - start)
        x = _draw(x_distribution, (t, n, n), float(sigma_x), gen)
        dy = _draw(grad_distribution, (t, m, m), float(sigma_g), gen)
        for a in range(k):
            for b in range(k):
                patch = x[:, a : a + m, b : b + m]
                out[start : start + t, a, b] = (dy * patch).sum((1, 2))
    return out


# --- shapes, parameters, receptive fields ----------------------------------


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def output_size(
    size: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output length of a convolution or pooling layer along one dimension:
    ``(n + 2p - d(K - 1) - 1) // s + 1``, i.e. ``(n + 2p - K) // s + 1``
    without dilation (PyTorch's floor convention, ``ceil_mode=False``).

    Raises:
        TypeError: a non-integer argument.
        ValueError: ``size``, ``kernel_size``, ``stride`` or ``dilation``
            below 1, a negative ``padding``, or a (dilated) kernel larger
            than the padded input.
    """
    n = _positive_int(size, "size")
    k = _positive_int(kernel_size, "kernel_size")
    s = _positive_int(stride, "stride")
    p = _positive_int(padding, "padding", minimum=0)
    d = _positive_int(dilation, "dilation")
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        raise ValueError(
            f"the kernel (span {span}) is larger than the padded input "
            f"({n} + 2*{p})"
        )
    return (n + 2 * p - span) // s + 1


def conv2d_parameter_count(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    *,
    bias: bool = True,
) -> int:
    """Weights and biases of a 2-D convolution layer:
    ``K_h * K_w * C * F + F`` (the ``+ F`` only with ``bias``).

    Raises:
        TypeError: a non-integer size.
        ValueError: a size below 1.
    """
    c = _positive_int(in_channels, "in_channels")
    f = _positive_int(out_channels, "out_channels")
    kh, kw = _as_pair(kernel_size, "kernel_size", 2)
    if min(kh, kw) < 1:
        raise ValueError(f"kernel_size must be at least 1, got {kernel_size!r}")
    return kh * kw * c * f + (f if bias else 0)


def _spatial_layers(model: nn.Module) -> Iterator[nn.Module]:
    """The leaves of a module in order; refuse what we cannot reason about."""
    pointwise = (nn.ReLU, nn.Identity, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)
    spatial = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    if isinstance(model, nn.Sequential):
        for child in model:
            yield from _spatial_layers(child)
    elif isinstance(model, spatial + pointwise):
        yield model
    else:
        raise TypeError(
            "model must be an nn.Sequential of Conv2d, MaxPool2d, AvgPool2d "
            f"and pointwise activations, found {type(model).__name__}"
        )


def _geometry(layer: nn.Module) -> tuple[int, int] | None:
    """(effective kernel span, stride) of a square spatial layer."""
    if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        return None
    k = _as_pair(layer.kernel_size, "kernel_size", 2)
    s = _as_pair(layer.stride, "stride", 2)
    d = _as_pair(getattr(layer, "dilation", 1), "dilation", 2)
    if k[0] != k[1] or s[0] != s[1] or d[0] != d[1]:
        raise ValueError(
            f"{type(layer).__name__} is not square (kernel {k}, stride {s}, "
            f"dilation {d}); give (kernel, stride) pairs per dimension"
        )
    return d[0] * (k[0] - 1) + 1, s[0]


def receptive_field(
    layers: Sequence[tuple[int, int]] | nn.Module,
) -> tuple[int, int]:
    """Receptive field and jump of the last layer of a stack.

    Each layer with kernel ``K_l`` and stride ``s_l`` widens the receptive
    field by ``(K_l - 1)`` times the product of the strides before it:
    ``r_L = 1 + sum_l (K_l - 1) * prod_{i < l} s_i``; the jump (distance in
    input pixels between neighbouring outputs) is ``prod_l s_l``. Padding
    does not change either. ``r`` is the side of the square the field
    spans; the square is filled when no layer's stride exceeds its kernel
    (a strided ``1 x 1`` layer, say, skips pixels).

    Args:
        layers: ``(kernel, stride)`` pairs from input to output, or an
            ``nn.Sequential`` of square ``Conv2d``/``MaxPool2d``/
            ``AvgPool2d`` layers and pointwise activations (dilated kernels
            count with their span ``d(K - 1) + 1``).

    Returns:
        ``(r, jump)``: the side of the square receptive field in input
        pixels, and the jump.

    Raises:
        TypeError: a pair that is not two ints, a layer kind not listed.
        ValueError: a kernel or stride below 1, a layer that is not square.
    """
    if isinstance(layers, nn.Module):
        pairs = [g for g in map(_geometry, _spatial_layers(layers)) if g]
    else:
        pairs = []
        for item in layers:
            k, s = _as_pair(tuple(item), "layers item", 2)
            if k < 1 or s < 1:
                raise ValueError(
                    f"kernel and stride must be at least 1, got {item!r}"
                )
            pairs.append((k, s))
    r, jump = 1, 1
    for k, s in pairs:
        r += (k - 1) * jump
        jump *= s
    return r, jump


@torch.no_grad()
def receptive_field_mask(
    model: nn.Module,
    height: int,
    width: int,
    *,
    in_channels: int = 1,
    position: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Measure which input pixels can change one output position of a real
    network: its receptive field, read off the modules themselves.

    A copy of ``model`` gets every convolution weight set to 1 and every bias
    to 0; each input pixel in turn is set to 1 (all channels) with the rest
    0. With non-negative weights, ReLU, max and average pooling pass a
    positive value on exactly along the connections, so an output is
    positive precisely when the pixel lies in its receptive field. One
    forward pass of ``height * width`` one-hot images does all pixels.

    Args:
        model: an ``nn.Sequential`` of ``Conv2d``, ``MaxPool2d``,
            ``AvgPool2d`` and ``ReLU``/``Identity`` layers (not changed).
        height, width: input size.
        in_channels: input channels.
        position: the output position ``(row, col)``; default the centre.

    Returns:
        Bool tensor of shape ``(height, width)``.

    Raises:
        TypeError: another layer kind (e.g. a sigmoid, which is positive
            everywhere and would hide the answer).
        ValueError: a position outside the output, or sizes below 1.
    """
    h = _positive_int(height, "height")
    w = _positive_int(width, "width")
    c = _positive_int(in_channels, "in_channels")
    layers = list(_spatial_layers(model))
    if any(
        not isinstance(
            m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ReLU, nn.Identity)
        )
        for m in layers
    ):
        raise TypeError(
            "receptive_field_mask needs sign-preserving layers: Conv2d, "
            "MaxPool2d, AvgPool2d, ReLU, Identity"
        )
    probe = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
    for layer in _spatial_layers(probe):
        if isinstance(layer, nn.Conv2d):
            layer.weight.fill_(1.0)
            if layer.bias is not None:
                layer.bias.zero_()
    images = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    out = probe(images.expand(h * w, c, h, w))
    oh, ow = out.shape[-2:]
    row, col = position if position is not None else (oh // 2, ow // 2)
    if not (0 <= row < oh and 0 <= col < ow):
        raise ValueError(
            f"position {(row, col)} lies outside the output ({oh}, {ow})"
        )
    return (out[:, :, row, col].sum(1) > 0).reshape(h, w)


# --- pooling with a hand-written backward --------------------------------


def _windows(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """Shape ``(..., k*k, oh, ow)``: entry ``a*k + b`` of window (i, j) is
    ``x[..., s*i + a, s*j + b]``."""
    oh = (x.shape[-2] - k) // s + 1
    ow = (x.shape[-1] - k) // s + 1
    return torch.stack(
        [
            x[..., a : a + s * (oh - 1) + 1 : s, b : b + s * (ow - 1) + 1 : s]
            for a in range(k)
            for b in range(k)
        ],
        dim=-3,
    )


def _scatter_windows(
    per_offset: Iterator[torch.Tensor],
    shape: torch.Size,
    k: int,
    s: int,
) -> torch.Tensor:
    """Add gradient ``per_offset[a*k + b]`` (window-shaped) back to the
    input pixels ``x[..., s*i + a, s*j + b]``; overlaps accumulate."""
    dx: torch.Tensor | None = None
    for index, g in enumerate(per_offset):
        if dx is None:
            dx = g.new_zeros(shape)
        a, b = divmod(index, k)
        oh, ow = g.shape[-2:]
        dx[..., a : a + s * (oh - 1) + 1 : s, b : b + s * (ow - 1) + 1 : s] += g
    assert dx is not None
    return dx


class MaxPool2dFunction(torch.autograd.Function):
    """Max pooling over ``k x k`` windows with stride ``s`` and a hand-written
    backward: each output's gradient goes to the one input that was the
    window's maximum (the first one in row-major order on ties, as PyTorch);
    inputs that are no window's maximum get 0, and an input that is the
    maximum of several overlapping windows collects all their gradients."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, kernel_size: int, stride: int
    ) -> torch.Tensor:
        y, argmax = _windows(x, kernel_size, stride).max(dim=-3)
        ctx.save_for_backward(argmax)
        ctx.geometry = (x.shape, kernel_size, stride)
        return y

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, dy: torch.Tensor
    ) -> tuple[torch.Tensor, None, None]:
        (argmax,) = ctx.saved_tensors
        shape, k, s = ctx.geometry
        routed = (dy * (argmax == offset) for offset in range(k * k))
        return _scatter_windows(routed, shape, k, s), None, None


def _window_mean(windows: torch.Tensor) -> torch.Tensor:
    """Mean over axis -3; where a window's sum overflows while its mean fits
    (finite entries near the dtype's largest number), in float64 (float64
    entries: divided before they are summed)."""
    mean = windows.mean(dim=-3)
    if bool(torch.isfinite(mean).all()) or not bool(
        torch.isfinite(windows).all()
    ):
        return mean
    if windows.dtype == torch.float64:
        return (windows / windows.shape[-3]).sum(dim=-3)
    return windows.double().mean(dim=-3).to(windows.dtype)


class AvgPool2dFunction(torch.autograd.Function):
    """Average pooling over ``k x k`` windows with stride ``s`` and a
    hand-written backward: each output's gradient is shared equally,
    ``dy / k**2``, by the ``k**2`` inputs of its window. A window whose sum
    overflows while its mean fits (finite inputs near the dtype's largest
    number) is averaged in float64 instead."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, kernel_size: int, stride: int
    ) -> torch.Tensor:
        ctx.geometry = (x.shape, kernel_size, stride)
        return _window_mean(_windows(x, kernel_size, stride))

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, dy: torch.Tensor
    ) -> tuple[torch.Tensor, None, None]:
        shape, k, s = ctx.geometry
        shared = (dy / (k * k) for _ in range(k * k))
        return _scatter_windows(shared, shape, k, s), None, None


def _check_pool(
    x: Any, kernel_size: Any, stride: Any
) -> tuple[torch.Tensor, int, int]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must have a floating-point dtype, got {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., H, W), got {tuple(x.shape)}")
    if 0 in tuple(x.shape):
        raise ValueError(f"x has a zero-size dimension: shape {tuple(x.shape)}")
    k = _positive_int(kernel_size, "kernel_size")
    s = k if stride is None else _positive_int(stride, "stride")
    if k > min(x.shape[-2:]):
        raise ValueError(
            f"kernel_size {k} is larger than the input x {tuple(x.shape[-2:])}"
        )
    return x, k, s


def max_pool2d(
    x: torch.Tensor, kernel_size: int = 2, stride: int | None = None
) -> torch.Tensor:
    """Max pooling of ``x`` (shape ``(..., H, W)``) over ``k x k`` windows,
    stride ``s`` (default ``k``), no padding, through
    :class:`MaxPool2dFunction`. Output ``(..., (H-k)//s + 1, (W-k)//s + 1)``.

    Matches :func:`torch.nn.functional.max_pool2d` in value and gradient
    (ties: the first maximum in row-major order gets the gradient; NaN
    propagates).

    Raises:
        TypeError: ``x`` not a floating-point tensor, non-integer sizes.
        ValueError: fewer than 2 dimensions, a zero-size dimension, a
            kernel or stride below 1, a window larger than the input.
    """
    x, k, s = _check_pool(x, kernel_size, stride)
    return MaxPool2dFunction.apply(x, k, s)


def avg_pool2d(
    x: torch.Tensor, kernel_size: int = 2, stride: int | None = None
) -> torch.Tensor:
    """Average pooling of ``x`` (shape ``(..., H, W)``) over ``k x k``
    windows, stride ``s`` (default ``k``), no padding, through
    :class:`AvgPool2dFunction`; matches
    :func:`torch.nn.functional.avg_pool2d` in value and gradient.

    Raises:
        TypeError, ValueError: as :func:`max_pool2d`.
    """
    x, k, s = _check_pool(x, kernel_size, stride)
    return AvgPool2dFunction.apply(x, k, s)
