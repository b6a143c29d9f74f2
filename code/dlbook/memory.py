"""Memory of a training step: an analytic model, and its measurement.

The model (EECS 182, Fall 2025, HW 6 P1 and Spring 2023, HW 5 P5) adds the
bytes of what a training step keeps alive: parameters ``P``, buffers ``R``
(BatchNorm's statistics, positional tables), gradients ``G``, optimizer
state ``S`` (from what each optimizer stores per parameter), the input
batch, and the activations autograd saves for the backward pass, counted by
running the forward pass on the ``meta`` device (shapes only, no memory, no
GPU). It counts storages, as they are allocated: each storage once, by its
full size, however many parameters, buffers or saved views share it, and a
storage that holds a parameter, a buffer or the input is never counted
again as an activation. Gradients and optimizer state belong to each
``Parameter`` object, as PyTorch allocates them. Two moments compete for
the peak:

* during the backward pass, saved activations are freed from the last layer
  to the first while gradients appear in the same order; the model follows
  that order, using when each tensor was saved in the forward pass;
* during the optimizer step, all of ``P + G + S`` is alive, plus the
  temporaries the update itself makes.

On CUDA two libraries also take memory from PyTorch's caching allocator
that is not a tensor of the model: cuBLAS keeps a fixed *workspace* per
thread and stream from its first matrix product on (its size is set by
``CUBLAS_WORKSPACE_CONFIG``; :func:`cublas_workspace_bytes` reads it), and
cuDNN takes a transient workspace inside each convolution, of a size it
chooses per shape (:func:`measure_cudnn_workspace` measures it). The
estimate takes both as inputs (0 on the CPU, where neither library runs).

The measurements read the same quantities from a real step: on the CPU from
``torch.profiler``'s memory timeline (``profile_memory=True``), on CUDA from
the caching allocator's peak statistics. 1 MB is 10^6 bytes throughout.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import numbers
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "CPU_CATEGORIES",
    "CUBLAS_CONFIG_LARGE",
    "CUBLAS_CONFIG_SMALL",
    "MeasuredPeak",
    "MemoryEstimate",
    "SavedActivations",
    "buffer_bytes",
    "cublas_workspace_bytes",
    "estimate_training_step",
    "gradient_bytes",
    "largest_batch",
    "measure_cpu_peak",
    "measure_cuda_peak",
    "measure_cudnn_workspace",
    "optimizer_state_bytes",
    "parameter_bytes",
    "saved_activations",
    "step_temporary_bytes",
]

#: Categories of ``torch.profiler``'s memory timeline, in its column order.
CPU_CATEGORIES = (
    "parameter",
    "optimizer_state",
    "input",
    "temporary",
    "activation",
    "gradient",
    "autograd_detail",
    "unknown",
)


#: PyTorch's default cuBLAS workspace on Hopper and Blackwell, 32 MiB.
CUBLAS_CONFIG_LARGE = ":4096:8"
#: PyTorch's default cuBLAS workspace on other cards, 8 MiB + 128 KiB.
CUBLAS_CONFIG_SMALL = ":4096:2:16:8"

_CUBLAS_CONFIG = re.compile(r"(?::[0-9]+:[0-9]+)+")
_CUBLAS_PAIR = re.compile(r":([0-9]+):([0-9]+)")


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _storage(t: torch.Tensor) -> tuple[tuple, int]:
    """``(key, bytes)`` of the memory ``t`` lives in: its whole storage.

    Views of one storage (slices, transposes, ``.data``, two ``Parameter``
    objects made from one tensor) share the key. A real storage is keyed by
    its device and the address of its first byte (two storage objects over
    one allocation, as ``torch.from_numpy`` twice on one array makes, are
    one); a ``meta`` storage, which has no address, by its identity. A
    tensor without a readable storage (sparse layouts) counts its elements
    as if dense, by itself."""
    try:
        storage = t.untyped_storage()
    except (NotImplementedError, RuntimeError, TypeError):
        return ("tensor", id(t)), _tensor_bytes(t)
    address = 0 if t.device.type == "meta" else storage.data_ptr()
    if address == 0:  # meta, or empty: no address to share
        return ("storage", storage._cdata), storage.nbytes()
    return (str(t.device), address), storage.nbytes()


def _storages(tensors: Iterable[torch.Tensor]) -> dict[tuple, int]:
    """Each distinct storage of ``tensors`` with its bytes (the largest
    extent seen, for storages keyed by address)."""
    found: dict[tuple, int] = {}
    for t in tensors:
        key, nbytes = _storage(t)
        found[key] = max(found.get(key, 0), nbytes)
    return found


def cublas_workspace_bytes(
    config: str | None = None,
    *,
    device_capability: tuple[int, int] | None = None,
) -> int:
    """Bytes of one cuBLAS workspace as PyTorch allocates it.

    PyTorch gives cuBLAS a workspace from its caching allocator, once per
    thread and CUDA stream that runs a matrix product, and keeps it (a
    training step makes two: the forward pass on the calling thread, the
    backward pass on autograd's thread for the device). Its size is set by
    ``CUBLAS_WORKSPACE_CONFIG``, ``:SIZE:COUNT[:SIZE:COUNT...]`` with
    ``SIZE`` in KiB: ``COUNT`` buffers of ``SIZE`` KiB each, all summed
    (``:4096:8`` is 32 MiB). ``config=None`` reads the variable; when it is
    unset (or empty, which PyTorch also ignores), the answer is PyTorch's
    default for the card's compute capability (``device_capability``, or
    the current CUDA device's): ``:4096:8`` for majors 9 (Hopper), 10 and
    12 (Blackwell), else ``:4096:2:16:8``. That table is
    ``parseChosenWorkspaceSize`` in PyTorch's
    ``aten/src/ATen/cuda/CublasHandlePool.cpp`` since February 2026
    (pytorch/pytorch#175344); earlier releases give 32 MiB to capability
    9.0 only, so set the variable where the figure matters. With the
    cuBLASLt workspace unified with cuBLAS's (PyTorch's default where it
    offers the choice), cuBLASLt adds nothing; otherwise it keeps 1 MiB
    apart (``CUBLASLT_WORKSPACE_SIZE``), which this figure leaves out.

    Raises:
        TypeError: ``config`` is not a string, or ``device_capability`` is
            not a pair of integers.
        ValueError: ``config`` (or the variable) is not of the form above;
            ``device_capability`` has a negative part; or the default is
            asked for without a capability and without a CUDA device.
    """
    if device_capability is not None:
        device_capability = _capability(device_capability)
    name = "config"
    if config is None:
        config = os.environ.get("CUBLAS_WORKSPACE_CONFIG", "").strip()
        name = "CUBLAS_WORKSPACE_CONFIG"
        if not config:
            return _cublas_default(device_capability)
    if not isinstance(config, str):
        raise TypeError(
            f"config must be a string such as ':4096:8', got "
            f"{type(config).__name__}"
        )
    if not _CUBLAS_CONFIG.fullmatch(config):
        raise ValueError(
            f"{name} must be ':SIZE:COUNT' pairs (SIZE in KiB), e.g. "
            f"':4096:8' or ':4096:2:16:8'; got {config!r}"
        )
    return sum(
        int(size) * 1024 * int(count)
        for size, count in _CUBLAS_PAIR.findall(config)
    )


def _capability(value: object) -> tuple[int, int]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool)
            for v in value
        )
    ):
        raise TypeError(
            "device_capability must be a pair of integers (major, minor), "
            f"got {value!r}"
        )
    major, minor = (int(v) for v in value)
    if major < 0 or minor < 0:
        raise ValueError(
            f"device_capability must not be negative, got {(major, minor)}"
        )
    return major, minor


def _cublas_default(capability: tuple[int, int] | None) -> int:
    if capability is None:
        if not torch.cuda.is_available():
            raise ValueError(
                "device_capability is needed for PyTorch's default cuBLAS "
                "workspace when CUBLAS_WORKSPACE_CONFIG is unset and there "
                "is no CUDA device"
            )
        capability = torch.cuda.get_device_capability()
    large = capability[0] in (9, 10, 12)
    return cublas_workspace_bytes(
        CUBLAS_CONFIG_LARGE if large else CUBLAS_CONFIG_SMALL
    )


def _check_model(model: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model)}")


def parameter_bytes(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Bytes of the storages that hold ``model``'s parameters, each storage
    once.

    A parameter used under two names (tied weights), two ``Parameter``
    objects over one tensor (``b.weight = nn.Parameter(a.weight.data)``) and
    a parameter that is a slice of a larger tensor all count the storage
    they live in, once, by its full size: what is allocated. With
    ``trainable_only``, only storages holding a parameter that has
    ``requires_grad``. Gradients are not storages of the parameters (each
    ``Parameter`` object gets its own): see :func:`gradient_bytes`.
    Buffers are not counted here: see :func:`buffer_bytes`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    _check_model(model)
    return sum(
        _storages(
            p
            for p in model.parameters()
            if p.requires_grad or not trainable_only
        ).values()
    )


def buffer_bytes(model: nn.Module) -> int:
    """Bytes of the storages that hold ``model``'s buffers (persistent or
    not: BatchNorm's running statistics and its int64 step counter, a
    positional table), each storage once, less any storage already counted
    by :func:`parameter_bytes`. Buffers are alive throughout a step, take
    no gradient and no optimizer state.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    _check_model(model)
    params = _storages(model.parameters())
    return sum(
        nbytes
        for key, nbytes in _storages(model.buffers()).items()
        if key not in params
    )


def gradient_bytes(model: nn.Module) -> int:
    """Bytes of the gradients ``backward()`` stores for ``model``: one
    tensor the size of the parameter (its elements, not its storage) per
    distinct ``Parameter`` object with ``requires_grad``. A parameter
    used under two names has one gradient; two ``Parameter`` objects over
    one storage have two. This counts every trainable parameter;
    :func:`estimate_training_step` also leaves out those the forward pass
    does not reach (they get no gradient).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    _check_model(model)
    return sum(_tensor_bytes(p) for p in model.parameters() if p.requires_grad)


def _groups(
    optimizer: torch.optim.Optimizer, no_grad: frozenset[int] = frozenset()
) -> list[tuple[dict, list]]:
    """Each parameter group with the parameters that will have a gradient
    at the step: ``requires_grad``, and not in ``no_grad`` (ids of
    parameters the forward pass does not reach). PyTorch's optimizers skip
    a parameter whose ``grad`` is ``None``: no state, no update."""
    known = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)
    if not isinstance(optimizer, known):
        raise TypeError(
            "optimizer must be torch.optim.SGD, Adam or AdamW, got "
            f"{type(optimizer).__name__}"
        )
    return [
        (
            g,
            [
                p
                for p in g["params"]
                if p.requires_grad and id(p) not in no_grad
            ],
        )
        for g in optimizer.param_groups
    ]


def _uses_foreach(group: dict, params: Sequence[torch.Tensor]) -> bool:
    """PyTorch's default: the multi-tensor path when every parameter is on
    CUDA (and the group does not ask for ``differentiable`` or ``fused``)."""
    if group.get("fused"):
        return False
    if group.get("foreach") is not None:
        return bool(group["foreach"])
    if group.get("differentiable"):
        return False
    return bool(params) and all(p.is_cuda for p in params)


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of state ``optimizer`` keeps once it has stepped, predicted from
    its hyperparameters (before any step).

    SGD keeps nothing, or one momentum buffer per parameter when
    ``momentum != 0``; Adam and AdamW keep two moment estimates per
    parameter (three with ``amsgrad``) and a 4-byte ``step`` counter per
    parameter tensor, which lives on the parameter's device only with
    ``capturable`` or ``fused`` (on the CPU otherwise, and then counted
    only for CPU parameters).

    State is per ``Parameter`` object, in the parameter's dtype and of its
    size (elements, not storage): two ``Parameter`` objects over one
    storage have two states. Only parameters with ``requires_grad`` count
    (PyTorch creates no state for a parameter without a gradient); this
    function assumes each of them gets one, while
    :func:`estimate_training_step` also leaves out those the forward pass
    does not reach.

    Raises:
        TypeError: not SGD, Adam or AdamW.
    """
    return _state_bytes(optimizer)


def _state_bytes(
    optimizer: torch.optim.Optimizer, no_grad: frozenset[int] = frozenset()
) -> int:
    total = 0
    for group, params in _groups(optimizer, no_grad):
        size = sum(_tensor_bytes(p) for p in params)
        if isinstance(optimizer, torch.optim.SGD):
            total += size if group["momentum"] != 0 else 0
            continue
        total += size * (3 if group["amsgrad"] else 2)
        on_device = group.get("capturable") or group.get("fused")
        total += sum(4 for p in params if on_device or p.device.type == "cpu")
    return total


def step_temporary_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the largest set of temporaries ``optimizer.step()`` makes
    at once, from PyTorch's implementations.

    Per-tensor path (the default on the CPU): Adam and AdamW hold two
    tensors of one parameter's size while forming ``sqrt(v) / c`` (three
    with ``amsgrad``), and Adam's coupled ``weight_decay`` adds the decayed
    gradient; so the largest parameter sets the figure. Multi-tensor path
    (the CUDA default): ``sqrt(v)`` for every parameter at once (plus the
    decayed gradients for Adam with ``weight_decay``). SGD updates in place
    except for ``weight_decay``, which makes the decayed gradient.

    Raises:
        TypeError: not SGD, Adam or AdamW.
    """
    return _temporary_bytes(optimizer)


def _temporary_bytes(
    optimizer: torch.optim.Optimizer, no_grad: frozenset[int] = frozenset()
) -> int:
    worst = 0
    for group, params in _groups(optimizer, no_grad):
        if not params:
            continue
        sizes = [_tensor_bytes(p) for p in params]
        foreach = _uses_foreach(group, params)
        unit = sum(sizes) if foreach else max(sizes)
        decay = group["weight_decay"] != 0 and not isinstance(
            optimizer, torch.optim.AdamW
        )
        if isinstance(optimizer, torch.optim.SGD):
            copies = 1 if decay else 0
        elif foreach:
            copies = 1 + int(decay)
        else:
            copies = 2 + int(group["amsgrad"]) + int(decay)
        worst = max(worst, copies * unit)
    return worst


@dataclass(frozen=True)
class SavedActivations:
    """What autograd saves in one forward pass, in bytes.

    ``total`` is the bytes of the storages saved, each storage once by its
    full size however many views of it are saved (a slice, a transpose, the
    result of an in-place op on a saved tensor), at the end of the forward
    pass; storages of parameters, buffers and the input are left out (they
    are alive anyway, and counted as such), whatever view of them is saved.
    ``count`` is the number of those storages and ``largest`` the largest.
    ``backward_live`` is the largest sum, over the backward pass, of saved
    activations not yet freed, gradients of the parameters already
    produced and the two activation gradients in flight (each the size of
    the saved tensor, not its storage), in the order the forward pass saved
    them. ``no_gradient`` names the trainable parameters that no output of
    the forward pass depends on: they get no gradient (and no optimizer
    state) and are left out of ``backward_live``.
    """

    total: int
    largest: int
    backward_live: int
    count: int
    no_gradient: tuple[str, ...] = ()


def _meta_copy(t: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(t, device="meta").requires_grad_(t.requires_grad)


class _MetaMirror:
    """``meta`` copies of real tensors with their layout: the same dtype,
    shape, strides and storage offset, and views of one real storage
    become views of one ``meta`` storage of the same size."""

    def __init__(self, tensors: Sequence[torch.Tensor]) -> None:
        self._sizes = _storages(tensors)
        self._made: dict[tuple, torch.UntypedStorage] = {}

    def __call__(
        self, t: torch.Tensor, requires_grad: bool | None = None
    ) -> torch.Tensor:
        grad = t.requires_grad if requires_grad is None else requires_grad
        key, _ = _storage(t)
        if key[0] == "tensor":  # no storage to share
            return _meta_copy(t).requires_grad_(grad)
        if key not in self._made:
            self._made[key] = torch.UntypedStorage(
                self._sizes[key], device="meta"
            )
        copy = torch.empty(0, dtype=t.dtype, device="meta")
        copy.set_(self._made[key], t.storage_offset(), t.shape, t.stride())
        return copy.requires_grad_(grad)


def _reached(outputs: object) -> set[int] | None:
    """Ids of the leaf tensors the tensors in ``outputs`` depend on through
    autograd, or ``None`` when ``outputs`` holds no tensor that needs a
    gradient (then nothing is known)."""
    from torch.utils._pytree import tree_leaves

    leaves: set[int] = set()
    stack = []
    for t in tree_leaves(outputs):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            if t.grad_fn is None:
                leaves.add(id(t))
            else:
                stack.append(t.grad_fn)
    if not stack and not leaves:
        return None
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            leaves.add(id(variable))
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return leaves


def saved_activations(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[int],
    *,
    dtype: torch.dtype = torch.float32,
) -> SavedActivations:
    """Count the activations autograd saves for ``model(inputs)``, on ``meta``.

    The forward pass runs with ``model``'s parameters and buffers replaced by
    ``meta`` tensors of the same dtypes, shapes, strides and storages (views
    of one storage stay views of one; ``model`` itself is not touched), in
    the training mode ``model`` is in. ``inputs`` is a tensor (its layout
    and storage are kept too; it is taken not to need a gradient) or a
    shape, e.g. ``(batch, 3, 224, 224)``, of ``dtype``. What is counted is
    :class:`SavedActivations`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``; ``inputs`` is neither
            a tensor nor a sequence of integers.
        ValueError: a dimension of ``inputs`` is negative.
    """
    return _trace(model, inputs, dtype)[0]


def _trace(
    model: nn.Module, inputs: object, dtype: torch.dtype
) -> tuple[SavedActivations, frozenset[int], int]:
    """The saved activations; the ids of ``model``'s trainable parameters
    that get no gradient; the bytes of the input's storage, 0 when a
    parameter or buffer holds it."""
    _check_model(model)
    shaped = _meta_input(inputs, dtype)
    named = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    real = [*named.values(), *buffers.values()]
    if isinstance(inputs, torch.Tensor):
        mirror = _MetaMirror([*real, inputs])
        x = mirror(inputs, requires_grad=False)
        key, nbytes = _storage(inputs)
        x_bytes = 0 if key in _storages(real) else nbytes
    else:
        mirror = _MetaMirror(real)
        x, x_bytes = shaped, _tensor_bytes(shaped)
    meta_params = {name: mirror(p) for name, p in named.items()}
    meta_buffers = {name: mirror(b) for name, b in buffers.items()}
    param_names: dict[int, list[str]] = {}
    for name, t in meta_params.items():
        param_names.setdefault(t.untyped_storage()._cdata, []).append(name)
    held = {
        t.untyped_storage()._cdata
        for t in [x, *meta_params.values(), *meta_buffers.values()]
    }
    first_saved: dict[int, int] = {}
    sizes: dict[int, int] = {}
    last_use: dict[str, int] = {}
    flowing: dict[int, int] = {}
    position = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal position
        position += 1
        storage = t.untyped_storage()
        key = storage._cdata
        for name in param_names.get(key, ()):
            last_use[name] = position
        if key not in held:
            flowing[position] = _tensor_bytes(t)
            if key not in first_saved:
                first_saved[key] = position
                sizes[key] = storage.nbytes()
        return t

    with (
        torch.enable_grad(),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
    ):
        out = torch.func.functional_call(
            model, {**meta_params, **meta_buffers}, (x,)
        )
    reached = _reached(out)
    trainable = [n for n, t in meta_params.items() if t.requires_grad]
    unreached = [
        n
        for n in trainable
        if reached is not None and id(meta_params[n]) not in reached
    ]
    grads = {
        n: _tensor_bytes(named[n]) for n in trainable if n not in unreached
    }
    saved = SavedActivations(
        total=sum(sizes.values()),
        largest=max(sizes.values(), default=0),
        backward_live=_backward_live(
            first_saved, sizes, last_use, grads, flowing
        ),
        count=len(sizes),
        no_gradient=tuple(unreached),
    )
    return saved, frozenset(id(named[n]) for n in unreached), x_bytes


def _meta_input(inputs: object, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(inputs, torch.Tensor):
        return torch.empty_like(inputs, device="meta")
    if not isinstance(inputs, Sequence) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in inputs
    ):
        raise TypeError(
            f"inputs must be a tensor or a shape of integers, got {inputs!r}"
        )
    if any(n < 0 for n in inputs):
        raise ValueError(f"inputs has a negative dimension: {tuple(inputs)}")
    return torch.empty(tuple(inputs), device="meta", dtype=dtype)


def _backward_live(
    first_saved: dict[int, int],
    sizes: dict[int, int],
    last_use: dict[str, int],
    grads: dict[str, int],
    flowing: dict[int, int],
) -> int:
    """Walk the backward pass over save positions ``t``, last to first. At
    ``t`` are alive: activations first saved at or before ``t``, gradients of
    parameters last used at or after ``t`` (parameters never saved, such as
    biases, from the start), and the gradient arriving at the node of ``t``
    and the one it sends on, each the size of the tensor saved at ``t``."""
    unseen = sum(g for name, g in grads.items() if name not in last_use)
    best = unseen + sum(sizes.values())
    for t in sorted(set(first_saved.values()) | set(last_use.values())):
        alive = sum(sizes[k] for k, p in first_saved.items() if p <= t)
        produced = sum(
            grads.get(name, 0) for name, p in last_use.items() if p >= t
        )
        in_flight = 2 * flowing.get(t, 0)
        best = max(best, alive + produced + unseen + in_flight)
    return best


@dataclass(frozen=True)
class MemoryEstimate:
    """The model's prediction for one training step, in bytes.

    Each figure counts each storage once: ``parameters`` (``P``) the
    storages of the parameters (:func:`parameter_bytes`), ``buffers``
    (``R``) those of the buffers not already counted
    (:func:`buffer_bytes`), ``inputs`` the input's storage (0 if a
    parameter or buffer holds it), ``activations`` the saved storages of
    :class:`SavedActivations`; ``gradients`` (``G``) one tensor per
    trainable ``Parameter`` object the forward pass reaches,
    ``optimizer_state`` (``S``) the state of those same parameters
    (:func:`optimizer_state_bytes`).

    ``backward_peak = P + R + S + inputs + backward_live`` (see
    :class:`SavedActivations`) ``+ cublas_workspace + cudnn_workspace``;
    ``step_peak = P + R + G + S + inputs + step temporaries +
    cublas_workspace``. The cuBLAS workspaces (bytes) are allocated once
    and stay, so they add to both moments; the cuDNN workspace (bytes)
    exists only inside a convolution, so it adds to the backward pass
    alone. Both are 0 unless given (on the CPU neither library runs).
    ``peak`` is the larger; ``first_step_peak`` leaves the state out of
    the backward pass.

    Not counted: tensors a forward or backward kernel makes and frees
    before the next one is saved (on the CPU, within the tolerance the
    tests check), the loss and the model's output, memory outside
    PyTorch's tensors.
    """

    parameters: int
    gradients: int
    optimizer_state: int
    inputs: int
    activations: int
    backward_peak: int
    step_peak: int
    parts: dict[str, int] = field(default_factory=dict)
    cublas_workspace: int = 0
    cudnn_workspace: int = 0
    buffers: int = 0

    @property
    def peak(self) -> int:
        """The peak of a step after the first (the state exists
        throughout), workspaces included, in bytes."""
        return max(self.backward_peak, self.step_peak)

    @property
    def first_step_peak(self) -> int:
        """The peak of the first step, whose backward pass runs before the
        optimizer state exists (the step itself creates it), workspaces
        included, in bytes."""
        return max(self.backward_peak - self.optimizer_state, self.step_peak)


def _workspace(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer number of bytes, got "
            f"{type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"{name} must be >= 0 bytes, got {value}")
    return int(value)


def estimate_training_step(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[int],
    optimizer: torch.optim.Optimizer,
    *,
    dtype: torch.dtype = torch.float32,
    cublas_workspace_bytes: int = 0,
    cudnn_workspace_bytes: int = 0,
) -> MemoryEstimate:
    """Predict the memory of one training step (forward, backward with
    ``zero_grad(set_to_none=True)`` before it, optimizer step) after the
    first, when the optimizer state exists. What each figure counts, each
    storage once, is :class:`MemoryEstimate`'s; a trainable parameter that
    no output of the forward pass depends on gets no gradient and no
    state (the loss is taken to use every output).

    ``cublas_workspace_bytes`` is the memory the cuBLAS workspaces hold
    throughout (on CUDA, two of :func:`cublas_workspace_bytes` for a
    network with a matrix product: one per thread); ``cudnn_workspace_bytes``
    the largest transient workspace of a convolution
    (:func:`measure_cudnn_workspace`). Both in bytes, 0 by default (the
    CPU); they are stored on the estimate and added to its peaks as
    :class:`MemoryEstimate` says.

    Raises:
        TypeError, ValueError: as :func:`saved_activations` and
            :func:`optimizer_state_bytes`; a workspace that is not an
            integer (``TypeError``) or is negative (``ValueError``).
    """
    cublas = _workspace(cublas_workspace_bytes, "cublas_workspace_bytes")
    cudnn = _workspace(cudnn_workspace_bytes, "cudnn_workspace_bytes")
    saved, no_grad, x = _trace(model, inputs, dtype)
    p = parameter_bytes(model) + buffer_bytes(model)  # storages, once
    g = sum(
        _tensor_bytes(q)  # one gradient per Parameter the forward reaches
        for q in model.parameters()
        if q.requires_grad and id(q) not in no_grad
    )
    s = _state_bytes(optimizer, no_grad)
    temporaries = _temporary_bytes(optimizer, no_grad)
    return MemoryEstimate(
        parameters=parameter_bytes(model),
        gradients=g,
        optimizer_state=s,
        inputs=x,
        activations=saved.total,
        backward_peak=p + s + x + saved.backward_live + cublas + cudnn,
        step_peak=p + g + s + x + temporaries + cublas,
        parts={
            "backward_live": saved.backward_live,
            "largest_activation": saved.largest,
            "step_temporaries": temporaries,
        },
        cublas_workspace=cublas,
        cudnn_workspace=cudnn,
        buffers=buffer_bytes(model),
    )


@dataclass(frozen=True)
class MeasuredPeak:
    """A measured peak of live tensor memory, bytes, with its breakdown by
    the profiler's categories at that moment (CPU) or empty (CUDA)."""

    peak: int
    by_category: dict[str, int]


def measure_cpu_peak(step: Callable[[], object]) -> MeasuredPeak:
    """Run ``step()`` once under ``torch.profiler`` and return the peak of
    live CPU tensor memory from its memory timeline, with the categories
    (parameter, optimizer state, input, temporary, activation, gradient,
    autograd detail, unknown) at the peak.

    Tensors allocated before the call count from the start (parameters,
    state); run one step before measuring so the optimizer state exists.
    The profiler knows such a tensor only by what the step uses of it: a
    parameter or an input that is a slice of a larger tensor counts as the
    slice, though the whole storage stays allocated. To measure those,
    allocate them inside ``step``.
    """
    from torch.profiler import ProfilerActivity, profile

    with warnings.catch_warnings(), _quiet_native_stderr():
        warnings.simplefilter("ignore")
        with profile(
            activities=[ProfilerActivity.CPU],
            profile_memory=True,
            record_shapes=True,
            with_stack=True,
        ) as prof:
            step()
        handle, path = tempfile.mkstemp(suffix=".json")
        os.close(handle)
        try:
            prof.export_memory_timeline(path, device="cpu")
            with open(path) as f:
                _, sizes = json.load(f)
        finally:
            os.remove(path)
    # Each row is [stamp, *bytes per category]; the first column is not a category.
    totals = [sum(row[1:]) for row in sizes]
    at = max(range(len(totals)), key=totals.__getitem__)
    return MeasuredPeak(
        peak=int(totals[at]),
        by_category=dict(zip(CPU_CATEGORIES, map(int, sizes[at][1:]))),
    )


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2: the profiler's C++ logger prints a line at
    every start and stop of a profile, and a warning about blocks allocated
    before it started, which would land in a notebook's output."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def measure_cuda_peak(
    step: Callable[[], object], device: torch.device | str | None = None
) -> MeasuredPeak:
    """Run ``step()`` once and return ``torch.cuda.max_memory_allocated``
    over the call (the caching allocator's peak of live tensors).

    Raises:
        RuntimeError: CUDA is not available.
    """
    if not torch.cuda.is_available():
        raise RuntimeError("measure_cuda_peak needs CUDA; none is available")
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return MeasuredPeak(int(torch.cuda.max_memory_allocated(device)), {})


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _conv_inputs(
    model: nn.Module, inputs: object, dtype: torch.dtype
) -> list[tuple[nn.Module, tuple[int, ...], bool]]:
    """Each distinct convolution of ``model`` with the shape of its input
    and whether that input needs a gradient, found by a forward pass on
    ``meta`` (``model`` itself is not touched)."""
    found: dict[tuple, tuple[nn.Module, tuple[int, ...], bool]] = {}

    def record(module: nn.Module, args: tuple, _: object) -> None:
        x = args[0]
        key = (repr(module), tuple(x.shape), x.requires_grad)
        found.setdefault(key, (module, tuple(x.shape), x.requires_grad))

    handles = [
        m.register_forward_hook(record)
        for m in model.modules()
        if isinstance(m, _CONVS)
    ]
    try:
        meta = {
            name: _meta_copy(t)
            for name, t in [*model.named_parameters(), *model.named_buffers()]
        }
        with torch.enable_grad():
            torch.func.functional_call(
                model, meta, (_meta_input(inputs, dtype),)
            )
    finally:
        for handle in handles:
            handle.remove()
    return list(found.values())


class _AllocatorStats:
    """The CUDA caching allocator's counters, as the workspace measurement
    reads them (a stand-in with the same methods lets tests run it on the
    CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def settle(self) -> int:
        """Wait for the device, then reset the peak; the bytes allocated."""
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        return int(torch.cuda.memory_allocated(self.device))

    def peak(self) -> int:
        torch.cuda.synchronize(self.device)
        return int(torch.cuda.max_memory_allocated(self.device))

    @staticmethod
    def block(t: torch.Tensor | None) -> int:
        """Bytes the allocator hands out for ``t`` (multiples of 512)."""
        return 0 if t is None else -(-_tensor_bytes(t) // 512) * 512


def _largest_conv_transient(
    model: nn.Module,
    inputs: object,
    dtype: torch.dtype,
    device: torch.device,
    stats: _AllocatorStats,
) -> int:
    largest = 0
    for module, shape, input_grad in _conv_inputs(model, inputs, dtype):
        params = {
            name: torch.randn(
                p.shape, dtype=p.dtype, device=device
            ).requires_grad_(p.requires_grad)
            for name, p in module.named_parameters()
        }
        x = torch.randn(shape, dtype=dtype, device=device)
        x.requires_grad_(input_grad)
        leaves = [x, *params.values()]
        for measured in (False, True):  # the first call picks the algorithm
            for t in leaves:
                t.grad = None
            base = stats.settle()
            y = torch.func.functional_call(module, params, (x,))
            forward = stats.peak() - base - stats.block(y)
            backward = 0
            if y.requires_grad:
                grad_out = torch.ones_like(y)
                base = stats.settle()
                y.backward(grad_out)
                made = sum(stats.block(t.grad) for t in leaves)
                backward = stats.peak() - base - made
                del grad_out
            del y
            if measured:
                largest = max(largest, forward, backward)
    return largest


def measure_cudnn_workspace(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[int],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> int:
    """The largest transient memory, in bytes, that one of ``model``'s
    convolutions takes on CUDA beyond its tensors, forward or backward:
    cuDNN's workspace for the algorithm it picks at that shape.

    Each distinct convolution (its settings and input shape, found by a
    forward pass of ``model`` on ``meta`` with ``inputs`` as in
    :func:`saved_activations`) runs alone, with random weights, on the
    device: once to let cuDNN choose and cache its algorithm, then once
    measured with the caching allocator's peak, less the memory already
    allocated and the output (forward) or the gradients (backward) it
    makes. With ``torch.backends.cudnn.benchmark`` off (PyTorch's default)
    cuDNN chooses by heuristics, the same algorithm for the same shape, so
    the figure is what the convolution takes inside a training step.
    ``model`` is not touched.

    Raises:
        RuntimeError: CUDA is not available.
        TypeError, ValueError: as :func:`saved_activations`.
    """
    if not torch.cuda.is_available():
        raise RuntimeError(
            "measure_cudnn_workspace needs CUDA; none is available"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model)}")
    dev = torch.device("cuda" if device is None else device)
    return _largest_conv_transient(
        model, inputs, dtype, dev, _AllocatorStats(dev)
    )


def largest_batch(
    model: nn.Module,
    sample_shape: Sequence[int],
    optimizer: torch.optim.Optimizer,
    capacity: float,
    *,
    dtype: torch.dtype = torch.float32,
    limit: int = 1 << 20,
) -> int:
    """The largest batch size whose predicted peak fits in ``capacity``
    bytes (0 if not even one sample fits). ``sample_shape`` is one input
    without the batch dimension.

    The peak grows almost linearly with the batch, so a line through the
    predictions at batches 8 and 64 gives a first guess; steps of doubling
    length from it bracket the answer, and bisection finds it (a handful of
    predictions, each a forward pass on ``meta``).

    Raises:
        ValueError: ``capacity`` or ``limit`` is not positive; or from the
            model's forward pass, e.g. BatchNorm in training mode on a batch
            of one sample of 1x1 feature maps.
    """
    if not capacity > 0 or not limit > 0:
        raise ValueError("capacity and limit must be positive")

    def fits(batch: int) -> bool:
        shape = (batch, *sample_shape)
        estimate = estimate_training_step(model, shape, optimizer, dtype=dtype)
        return estimate.peak <= capacity

    low, high = _bracket(
        fits,
        _linear_guess(model, sample_shape, optimizer, capacity, dtype, limit),
        limit,
    )
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def _linear_guess(
    model: nn.Module,
    sample_shape: Sequence[int],
    optimizer: torch.optim.Optimizer,
    capacity: float,
    dtype: torch.dtype,
    limit: int,
) -> int:
    """Where the line through the peaks at batches 8 and 64 meets
    ``capacity``, within [1, limit]."""
    b0, b1 = min(8, limit), min(64, limit)
    if b1 == b0:
        return b0
    p0, p1 = (
        estimate_training_step(
            model, (b, *sample_shape), optimizer, dtype=dtype
        ).peak
        for b in (b0, b1)
    )
    if p1 <= p0:
        return b0
    guess = b0 + int((capacity - p0) * (b1 - b0) // (p1 - p0))
    return min(max(guess, 1), limit)


def _bracket(
    fits: Callable[[int], bool], guess: int, limit: int
) -> tuple[int, int]:
    """``(low, high)`` with ``low`` fitting (0 stands for "nothing fits")
    and ``high`` not fitting (``limit + 1`` stands for "everything does"),
    found in steps of doubling length from ``guess``."""
    step = 1
    if fits(guess):
        low = guess
        while low + step <= limit and fits(low + step):
            low, step = low + step, step * 2
        return low, min(low + step, limit + 1)
    high = guess
    while high - step >= 1 and not fits(high - step):
        high, step = high - step, step * 2
    return max(high - step, 0), high


class SmallPool:
    """A model of the *small pool* of PyTorch's CUDA caching allocator.

    The allocator serves requests of at most 1 MiB from a separate pool:
    each request is rounded up to a multiple of 512 bytes (at least 512),
    served *best fit* (the smallest free block that holds it; among equal
    sizes the lowest address), and the block is split when at least
    512 bytes would remain. When no free block fits, the pool reserves a new
    2 MiB segment from the device. A freed block merges with free
    neighbours in its segment; segments are never returned (no
    ``empty_cache``). These are the rules of ``c10/cuda/CUDACachingAllocator``
    (``kMinBlockSize``, ``kSmallSize``, ``kSmallBuffer``, ``get_free_block``,
    ``should_split``); real segments sit at whatever addresses the driver
    returns, which can change which of two equal free blocks is picked.

    ``reserved`` is the bytes of all segments, what ``nvidia-smi`` sees of
    the pool. The model knows nothing of blocks left free by earlier work:
    it starts empty.
    """

    SEGMENT = 2 * 2**20
    BLOCK = 512
    LIMIT = 2**20

    def __init__(self) -> None:
        self._free: list[tuple[int, int]] = []  # sorted (size, address)
        self._size: dict[int, int] = {}  # address -> size, every block
        self._is_free: dict[int, bool] = {}
        self._end: dict[int, int] = {}  # end address -> start, free blocks
        self.segments = 0

    @property
    def reserved(self) -> int:
        """Bytes reserved from the device: whole segments."""
        return self.segments * self.SEGMENT

    def _round(self, nbytes: int) -> int:
        return max(1, -(-nbytes // self.BLOCK)) * self.BLOCK

    def _add_free(self, address: int, size: int) -> None:
        bisect.insort(self._free, (size, address))
        self._size[address], self._is_free[address] = size, True
        self._end[address + size] = address

    def _take_free(self, address: int) -> int:
        size = self._size[address]
        self._free.remove((size, address))
        del self._end[address + size]
        return size

    def malloc(self, nbytes: int) -> int:
        """Allocate a block for ``nbytes`` (at most 1 MiB); return its
        address, the handle for :meth:`free`."""
        if not 0 <= nbytes <= self.LIMIT:
            raise ValueError(f"the small pool serves 0 to 1 MiB: {nbytes}")
        size = self._round(nbytes)
        i = bisect.bisect_left(self._free, (size, -1))
        if i == len(self._free):  # nothing fits: a new segment
            address = self.segments * self.SEGMENT
            self.segments += 1
            self._add_free(address, self.SEGMENT)
        else:
            address = self._free[i][1]
        block = self._take_free(address)
        if block - size >= self.BLOCK:
            self._add_free(address + size, block - size)
        else:
            size = block
        self._size[address], self._is_free[address] = size, False
        return address

    def free(self, address: int) -> None:
        """Return a block to the pool, merged with free neighbours in its
        segment."""
        if self._is_free.get(address, True):
            raise ValueError(f"no allocated block at {address}")
        size = self._size[address]
        after = address + size
        if after % self.SEGMENT and self._is_free.get(after, False):
            size += self._take_free(after)
            del self._size[after], self._is_free[after]
        if address % self.SEGMENT and address in self._end:
            before = self._end[address]
            del self._size[address], self._is_free[address]
            address, size = before, self._take_free(before) + size
        self._add_free(address, size)
