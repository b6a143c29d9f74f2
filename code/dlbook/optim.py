"""Optimizers that control the spectral norm of each update.

``Muon`` (Jordan et al., 2024; EECS 182, Fall 2025, HW 6 P6) and its exact
variant ``MuonSVD`` replace the momentum of each weight matrix by its
orthogonal polar factor; ``SpectralSGD`` with :func:`spectral_init_` is the
spectrally normalized SGD of MIT 6.S898 (Fall 2023) HW 2 P4 (Yang, Simon
and Bernstein, 2023). As in ``torch.optim``, each optimizer is a functional
core (:func:`muon`, :func:`spectral_sgd`) that updates lists of tensors,
plus a thin ``torch.optim.Optimizer`` class that keeps the state.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

from dlbook.linalg import (
    QUINTIC,
    newton_schulz,
    random_orthogonal,
    svd_orthogonalize,
)

__all__ = [
    "Muon",
    "MuonSVD",
    "SpectralSGD",
    "adjusted_lr",
    "as_matrix",
    "muon",
    "spectral_init_",
    "spectral_sgd",
]

Orthogonalizer = Callable[[Tensor], Tensor]
ADJUST_LR_FNS = (None, "original", "match_rms_adamw", "spectral_unclamped")


def as_matrix(tensor: Tensor) -> Tensor:
    """``[d_out, d_1, ..., d_k]`` viewed as the ``d_out x (d_1 ... d_k)``
    matrix: a conv kernel ``[c_out, c_in, k, k]`` becomes the
    ``c_out x (c_in k k)`` matrix that multiplies the unfolded input."""
    return tensor.reshape(tensor.shape[0], math.prod(tensor.shape[1:]))


def adjusted_lr(
    lr: float, adjust_lr_fn: str | None, d_out: int, d_in: int
) -> float:
    """The learning rate of a ``d_out x d_in`` matrix, as ``torch.optim.Muon``
    scales it: ``sqrt(max(1, d_out/d_in))`` for ``None``/``"original"``,
    ``0.2 sqrt(max(d_out, d_in))`` for ``"match_rms_adamw"``, and
    ``sqrt(d_out/d_in)`` for ``"spectral_unclamped"``."""
    if adjust_lr_fn in (None, "original"):
        return lr * math.sqrt(max(1.0, d_out / d_in))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(d_out, d_in))
    return lr * math.sqrt(d_out / d_in)


def muon(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    momentum_buffers: Sequence[Tensor],
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    orthogonalize: Orthogonalizer,
    adjust_lr_fn: str | None = None,
) -> None:
    """One Muon step, in place, on parameters with at least two dimensions.

    For each parameter ``W`` with gradient ``G`` and buffer ``B``:
    ``B <- momentum B + (1 - momentum) G``; the update direction is ``B``,
    or ``(1 - momentum) G + momentum B`` with Nesterov; it is viewed as a
    ``d_out x d_in`` matrix (see :func:`as_matrix`) and orthogonalized; then
    ``W <- (1 - lr weight_decay) W - lr' O`` with ``lr'`` from
    :func:`adjusted_lr`. Because the orthogonalization ignores the scale of
    its input, the average buffer gives the same step as the summed
    momentum ``B <- momentum B + G`` of the course's notebook.
    """
    for param, grad, buf in zip(params, grads, momentum_buffers):
        buf.lerp_(grad, 1 - momentum)
        update = grad.lerp(buf, momentum) if nesterov else buf
        matrix = as_matrix(update)
        step = orthogonalize(matrix).view_as(param)
        param.mul_(1 - lr * weight_decay)
        param.add_(step, alpha=-adjusted_lr(lr, adjust_lr_fn, *matrix.shape))


class Muon(torch.optim.Optimizer):
    """Muon: momentum, orthogonalized by Newton–Schulz, for weight matrices.

    Same hyperparameters, defaults and update as ``torch.optim.Muon``
    (which it matches step for step on 2-D parameters), and in addition:
    parameters with more than two dimensions (conv kernels) are updated as
    the matrices of :func:`as_matrix`; parameters with fewer (biases, norm
    scales) are handed to ``fallback``, a callable that builds another
    optimizer from a list of parameter groups (``lambda groups:
    torch.optim.AdamW(groups)``); ``frobenius_norm`` and ``ns_dtype`` set
    the scaling before and the precision of the iteration (see
    :func:`dlbook.linalg.newton_schulz`). The course's variant (EECS 182,
    Fall 2025, HW 6) is ``ns_coefficients=CUBIC, frobenius_norm=0.99 *
    sqrt(3), ns_dtype=torch.float32``.

    To every PyTorch tool this is one optimizer. Each parameter group given
    (to the constructor or to :meth:`add_param_group`) becomes up to two
    groups of ``param_groups``, with the same options: its matrices, with
    ``use_muon=True``, and the rest, with ``use_muon=False``. A group of the
    second kind is the very dict the fallback optimizer holds, so a
    learning-rate scheduler, ``GradScaler`` (which unscales every gradient
    in ``param_groups``) or gradient clipping by group reaches the fallback's
    parameters too, and an option set in a group (``lr``, ``weight_decay``)
    holds for both optimizers, while options given to the constructors stay
    with their own optimizer. A group may set ``use_muon=False`` to send its
    matrices to the fallback as well (an embedding or an output layer, as
    Muon's authors advise). ``step()`` also steps the fallback, and
    ``state_dict()["fallback"]`` holds its state.

    Raises:
        ValueError: a hyperparameter, in the constructor or in a group, is
            out of range (``lr`` or ``weight_decay`` negative, ``momentum``
            not in [0, 1), ``ns_steps`` negative, unknown ``adjust_lr_fn``);
            no parameter of two or more dimensions is given; parameters of
            fewer than two dimensions are given without ``fallback``; a
            group sets ``use_muon=True`` on such a parameter.
        TypeError: a parameter is complex or not floating point; a group is
            not a dict; the fallback does not keep the group dicts it is
            given (as every ``torch.optim`` optimizer does).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: Sequence[float] = QUINTIC,
        ns_steps: int = 5,
        eps: float = 1e-7,
        adjust_lr_fn: str | None = None,
        *,
        frobenius_norm: float = 1.0,
        ns_dtype: torch.dtype | None = torch.bfloat16,
        fallback: Callable[[list[dict[str, Any]]], torch.optim.Optimizer]
        | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=ns_coefficients,
            ns_steps=ns_steps,
            eps=eps,
            adjust_lr_fn=adjust_lr_fn,
            frobenius_norm=frobenius_norm,
            ns_dtype=ns_dtype,
        )
        _check_muon(defaults)
        defaults["ns_coefficients"] = tuple(ns_coefficients)
        if fallback is not None and not callable(fallback):
            raise TypeError(
                "fallback must be a callable that builds an optimizer from "
                f"parameter groups, got {type(fallback).__name__}"
            )
        self._make_fallback = fallback
        self.fallback: torch.optim.Optimizer | None = None
        super().__init__(params, defaults)
        if not any(g["use_muon"] and g["params"] for g in self.param_groups):
            raise ValueError("params: no parameter with 2 or more dimensions")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group, split as the constructor splits one: its matrices
        to Muon, the rest to the fallback (built on first use)."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"param_group must be a dict, got {type(param_group).__name__}"
            )
        group = dict(param_group)
        entries = _entries(group["params"])
        use_muon = group.pop("use_muon", None)
        if use_muon is True and any(t.ndim < 2 for _, t in entries):
            raise ValueError(
                "use_muon=True: Muon only updates parameters with 2 or more "
                "dimensions"
            )
        if use_muon is None:
            mats = [e for e in entries if e[1].ndim >= 2]
            others = [e for e in entries if e[1].ndim < 2]
        else:
            mats, others = (entries, []) if use_muon else ([], entries)
        if mats or not others:
            _check_muon({**self.defaults, **group})
            part = {**group, "params": _params(mats), "use_muon": True}
            super().add_param_group(part)
        if others:
            self._add_to_fallback(
                {**group, "params": _params(others), "use_muon": False}
            )

    def _add_to_fallback(self, part: dict[str, Any]) -> None:
        if self._make_fallback is None:
            raise ValueError(
                f"params: {len(part['params'])} parameter(s) with fewer than "
                "2 dimensions (biases?) or use_muon=False need a fallback "
                "optimizer, e.g. fallback=lambda groups: "
                "torch.optim.AdamW(groups)"
            )
        if self.fallback is None:
            self.fallback = self._make_fallback([part])
        else:
            self.fallback.add_param_group(part)
        if not any(g is part for g in self.fallback.param_groups):
            raise TypeError(
                "fallback must keep the parameter-group dicts it is given, "
                "as torch.optim optimizers do (Muon shares them)"
            )
        super().add_param_group(part)  # the same dict, in both optimizers

    def orthogonalizer(self, group: dict[str, Any]) -> Orthogonalizer:
        """The map from an update matrix to its (approximate) polar factor."""
        return partial(
            newton_schulz,
            steps=group["ns_steps"],
            coefficients=group["ns_coefficients"],
            frobenius_norm=group["frobenius_norm"],
            eps=group["eps"],
            dtype=group["ns_dtype"],
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step for every parameter with a gradient (and the fallback's)."""
        loss = _evaluate(closure)
        for group in self.param_groups:
            if not group["use_muon"]:
                continue
            params, grads, buffers = [], [], []
            for p in group["params"]:
                if p.grad is None or p.numel() == 0:
                    continue
                if p.grad.is_sparse:
                    raise TypeError("Muon does not support sparse gradients")
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                params.append(p)
                grads.append(p.grad)
                buffers.append(state["momentum_buffer"])
            muon(
                params,
                grads,
                buffers,
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                momentum=group["momentum"],
                nesterov=group["nesterov"],
                orthogonalize=self.orthogonalizer(group),
                adjust_lr_fn=group["adjust_lr_fn"],
            )
        if self.fallback is not None:
            self.fallback.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.fallback is not None:
            state["fallback"] = self.fallback.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        fallback_state = state_dict.pop("fallback", None)
        if (fallback_state is None) != (self.fallback is None):
            raise ValueError(
                "state_dict: saved with a different use of the fallback "
                "optimizer than this one has"
            )
        super().load_state_dict(state_dict)
        if self.fallback is not None:
            self.fallback.load_state_dict(fallback_state)  # type: ignore[arg-type]
            # loading made new group dicts: share them again
            self.fallback.param_groups = [
                g for g in self.param_groups if not g["use_muon"]
            ]


class MuonSVD(Muon):
    """:class:`Muon` with the exact polar factor from an SVD
    (:func:`dlbook.linalg.svd_orthogonalize`) instead of Newton–Schulz;
    ``ns_*`` and ``frobenius_norm`` are ignored."""

    def orthogonalizer(self, group: dict[str, Any]) -> Orthogonalizer:
        return svd_orthogonalize


def _evaluate(closure: Callable[[], Any] | None) -> Any:
    """The loss from ``closure`` (with gradients on), as ``torch.optim``
    optimizers return it from ``step``; None without a closure."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _check_muon(options: dict[str, Any]) -> None:
    """Refuse, by name, a Muon option that would fail or misbehave later."""
    lr, weight_decay = options["lr"], options["weight_decay"]
    momentum, ns_steps = options["momentum"], options["ns_steps"]
    if not _real(lr) or not 0.0 <= lr < math.inf:
        raise ValueError(f"lr must be >= 0, got {lr!r}")
    if not _real(weight_decay) or not 0.0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if not _real(momentum) or not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, int):
        raise ValueError(f"ns_steps must be an integer >= 0, got {ns_steps!r}")
    if ns_steps < 0:
        raise ValueError(f"ns_steps must be an integer >= 0, got {ns_steps!r}")
    if options["adjust_lr_fn"] not in ADJUST_LR_FNS:
        raise ValueError(
            f"adjust_lr_fn must be one of {ADJUST_LR_FNS}, "
            f"got {options['adjust_lr_fn']!r}"
        )
    if not isinstance(options["nesterov"], bool):
        raise TypeError(f"nesterov must be a bool, got {options['nesterov']!r}")
    coefficients = options["ns_coefficients"]
    if (
        isinstance(coefficients, (str, bytes))
        or not isinstance(coefficients, Sequence)
        or len(coefficients) != 3
        or not all(_real(c) and math.isfinite(c) for c in coefficients)
    ):
        raise ValueError(
            f"ns_coefficients must be three finite numbers, got {coefficients!r}"
        )
    for name in ("eps", "frobenius_norm"):
        value = options[name]
        if not _real(value) or not 0.0 < value < math.inf:
            raise ValueError(
                f"{name} must be positive and finite, got {value!r}"
            )
    dtype = options["ns_dtype"]
    if dtype is not None and not (
        isinstance(dtype, torch.dtype) and dtype.is_floating_point
    ):
        raise TypeError(
            f"ns_dtype must be a floating torch.dtype or None, got {dtype!r}"
        )


def _real(value: Any) -> bool:
    """A real number (bools excluded), NaN included: callers range-check."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _entries(params: Any) -> list[tuple[str | None, Tensor]]:
    """A group's parameters as ``(name or None, tensor)`` pairs; named
    parameters come as ``(name, tensor)`` tuples, as in ``torch.optim``."""
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, set):
        raise TypeError("params must be an ordered collection, not a set")
    entries = [p if isinstance(p, tuple) else (None, p) for p in params]
    for _, p in entries:
        if not isinstance(p, Tensor):
            raise TypeError(f"params must hold tensors, got {type(p)}")
        if p.is_complex() or not p.is_floating_point():
            raise TypeError(f"params must be real floating, got {p.dtype}")
    return entries


def _params(entries: list[tuple[str | None, Tensor]]) -> list[Any]:
    """Back to the form ``torch.optim`` takes: tensors, or named pairs."""
    return [t if n is None else (n, t) for n, t in entries]


def spectral_sgd(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    *,
    lr: float,
    num_layers: int,
) -> None:
    """One spectrally normalized SGD step, in place (6.S898 HW 2, P4).

    ``W <- W - (lr / num_layers) sqrt(d_out / d_in) G / ||G||_2`` for each
    ``d_out x d_in`` weight ``W`` with gradient ``G``: every layer moves by a
    matrix of spectral norm ``(lr / num_layers) sqrt(d_out / d_in)``, the
    scale of its initialization (:func:`spectral_init_`). A zero gradient
    gives no step.
    """
    for param, grad in zip(params, grads):
        d_out, d_in = param.shape
        scale = lr / num_layers * math.sqrt(d_out / d_in)
        # in float32 (float64 for float64), scaled by a power of two near
        # its largest entry first, so that the norm of a half-precision or
        # loss-scaled gradient neither overflows nor underflows; the power of
        # two keeps the quotient exact
        work = grad.double() if grad.dtype == torch.float64 else grad.float()
        peak = work.abs().amax()
        if peak > 0:
            unit = work / torch.exp2(torch.floor(torch.log2(peak)))
            norm = torch.linalg.matrix_norm(unit, ord=2)
            param.add_((unit / norm).to(param.dtype), alpha=-scale)


class SpectralSGD(torch.optim.Optimizer):
    """SGD with the spectrally normalized update of :func:`spectral_sgd`.

    ``num_layers`` is ``L`` in the update; by default the number of weight
    matrices given to the constructor. Every parameter must be a matrix (use
    ``bias=False``); a group added later with :meth:`add_param_group` is
    checked the same way, and may set its own ``lr`` and ``num_layers``.

    Raises:
        ValueError: ``lr`` negative, ``num_layers`` not a positive integer,
            a parameter that is not 2-D or has a zero-size dimension, or no
            parameter.
        TypeError: a parameter is complex or not floating point; a group is
            not a dict.
    """

    def __init__(
        self, params: Iterable[Any], lr: float, num_layers: int | None = None
    ) -> None:
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        count = sum(len(_entries(g["params"])) for g in groups)
        if count == 0:
            raise ValueError("params: no parameter given")
        layers = count if num_layers is None else num_layers
        super().__init__(groups, dict(lr=lr, num_layers=layers))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of 2-D weights, checked as the constructor checks."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"param_group must be a dict, got {type(param_group).__name__}"
            )
        entries = _entries(param_group["params"])
        if any(t.ndim != 2 or 0 in t.shape for _, t in entries):
            raise ValueError(
                "params: SpectralSGD takes only 2-D weights without zero-size "
                "dimensions (build the layers with bias=False)"
            )
        options = {**self.defaults, **param_group}
        lr, layers = options["lr"], options["num_layers"]
        if not 0.0 <= lr < math.inf:
            raise ValueError(f"lr must be >= 0, got {lr!r}")
        if (
            isinstance(layers, bool)
            or not isinstance(layers, int)
            or layers < 1
        ):
            raise ValueError(
                f"num_layers must be a positive integer, got {layers!r}"
            )
        super().add_param_group({**param_group, "params": _params(entries)})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step for every parameter with a gradient."""
        loss = _evaluate(closure)
        for group in self.param_groups:
            with_grad = [p for p in group["params"] if p.grad is not None]
            spectral_sgd(
                with_grad,
                [p.grad for p in with_grad],
                lr=group["lr"],
                num_layers=group["num_layers"],
            )
        return loss


@torch.no_grad()
def spectral_init_(weight: Tensor, *, seed: int = 0) -> Tensor:
    """Spectral initialization, in place: ``W = sqrt(d_out/d_in) M`` with
    ``M`` a Haar-random semi-orthogonal ``d_out x d_in`` matrix
    (:func:`dlbook.linalg.random_orthogonal`, drawn from ``seed`` without
    touching global random state), so ``||W||_2 = sqrt(d_out/d_in)``
    (6.S898 HW 2, P4). Returns ``weight``.

    Raises:
        TypeError: ``weight`` is not a floating tensor.
        ValueError: ``weight`` is not 2-D or has a zero-size dimension.
    """
    if not isinstance(weight, Tensor) or not weight.is_floating_point():
        raise TypeError("weight must be a floating torch.Tensor")
    if weight.ndim != 2 or 0 in weight.shape:
        raise ValueError(
            f"weight must be a non-empty d_out x d_in matrix, got "
            f"{tuple(weight.shape)}"
        )
    d_out, d_in = weight.shape
    m = random_orthogonal(d_out, d_in, seed=seed, dtype=weight.dtype)
    return weight.copy_(math.sqrt(d_out / d_in) * m.to(weight.device))
