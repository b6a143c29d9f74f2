"""Where and how big a chapter runs: device, profile, budgets and seeding.

Every chapter calls :func:`describe` at the top and takes the sizes of its
heavy experiments from :func:`budget`, so one source runs full-size on a
CUDA machine and in a reduced ``quick`` profile on a laptop or CI.

The *rehearsal* (``DLBOOK_REHEARSAL=1``, what ``make rehearse`` sets) runs
the ``full`` profile's code on a CPU: every shape, configuration and code
path of ``full``, but with the training lengths and sweep sizes a chapter
marks with ``budget(..., rehearse=...)`` cut short. Claims about what a
trained model reaches go through :func:`judge`, which enforces them in a
real build and reports them as *not judged* in a rehearsal.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import platform
import random
import time
from collections.abc import Iterator, Sequence
from typing import Callable, ParamSpec, TypeVar

import numpy as np
import torch

__all__ = [
    "PROFILES",
    "best_time",
    "loglog_slope",
    "budget",
    "describe",
    "device",
    "global_rng_preserved",
    "judge",
    "median_time",
    "preserves_global_rng",
    "profile",
    "rehearsal",
    "run_times",
    "seed_everything",
]

PROFILES = ("quick", "full")
"""The allowed values of ``DLBOOK_PROFILE``."""

T = TypeVar("T")
P = ParamSpec("P")


def device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def rehearsal() -> bool:
    """Whether this run is a rehearsal of the full profile
    (``DLBOOK_REHEARSAL=1``).

    A rehearsal is the ``full`` profile (:func:`profile` says ``"full"``)
    with the lengths that :func:`budget` marks cut to their ``rehearse``
    values, run on whatever device there is; ``make rehearse`` runs every
    chapter so on a CPU to prove that ``full`` gets through before a GPU
    runner tries it.

    Raises:
        ValueError: ``DLBOOK_REHEARSAL`` holds anything but ``0``, ``1`` or
            nothing.
    """
    value = os.environ.get("DLBOOK_REHEARSAL", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(
            f"DLBOOK_REHEARSAL={value!r} is not a switch; allowed values are "
            "'0' and '1'"
        )
    return value == "1"


def profile() -> str:
    """Return the run profile, ``"quick"`` or ``"full"``.

    ``DLBOOK_PROFILE`` decides when it is set; otherwise the profile is
    ``"full"`` on a CUDA machine or in a rehearsal (:func:`rehearsal`), and
    ``"quick"`` elsewhere.

    Raises:
        ValueError: ``DLBOOK_PROFILE`` holds anything but ``quick`` or
            ``full``, or says ``quick`` in a rehearsal.
    """
    value = os.environ.get("DLBOOK_PROFILE", "").strip()
    if rehearsal():
        if value not in ("", "full"):
            raise ValueError(
                f"DLBOOK_PROFILE={value!r} in a rehearsal: a rehearsal runs "
                "the 'full' profile (unset DLBOOK_REHEARSAL for another)"
            )
        return "full"
    if not value:
        return "full" if torch.cuda.is_available() else "quick"
    if value not in PROFILES:
        raise ValueError(
            f"DLBOOK_PROFILE={value!r} is not a profile; allowed values are "
            f"{', '.join(repr(p) for p in PROFILES)}"
        )
    return value


_UNSET: object = object()


def budget(*, quick: T, full: T, rehearse: T | object = _UNSET) -> T:
    """Pick the value for the current profile, e.g.
    ``budget(quick=500, full=60_000, rehearse=50)``.

    ``rehearse`` is the value a rehearsal (:func:`rehearsal`) uses instead of
    ``full``. Give it for *lengths* only: epochs, optimizer steps, seeds,
    Monte Carlo draws, the number of points in a sweep. Never for a shape,
    a width, a model or a data set, which the rehearsal must run as ``full``
    has them. Without it the rehearsal runs ``full`` as it is.
    ``.ci/execute.py`` reads the ratio ``full / rehearse`` (of the values,
    or of the lengths of lists) from the chapter's code to project the full
    profile's run time from the rehearsal's.
    """
    if profile() != "full":
        return quick
    if rehearse is not _UNSET and rehearsal():
        return rehearse  # type: ignore[return-value]
    return full


def judge(holds: bool, claim: str) -> bool:
    """Enforce a claim about what trained models reach; in a rehearsal,
    report it instead.

    Use it for asserts that need the full training to be true (an accuracy
    reached, one optimizer beating another); keep plain ``assert`` for
    claims about shapes, set-up and mathematics, which must hold in a
    rehearsal too. Returns ``holds``.

    Args:
        holds: whether the claim holds on this run (a ``bool`` or a
            one-element boolean array or tensor).
        claim: the claim in words, e.g. ``"Muon beats AdamW by 10 points"``.

    Raises:
        AssertionError: ``holds`` is false outside a rehearsal; the message
            is ``claim``.
        TypeError: ``claim`` is not a non-empty string.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise TypeError("claim must be a non-empty string")
    result = bool(holds)
    if not rehearsal():
        if not result:
            raise AssertionError(claim)
        return result
    state = "holds" if result else "does not hold"
    print(f"not judged (rehearsal, {state} on this cut run): {claim}")
    return result


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and all GPUs).

    Raises:
        TypeError: ``seed`` is not an integer.
        ValueError: ``seed`` is negative or does not fit in 32 bits (NumPy's
            limit).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextlib.contextmanager
def global_rng_preserved() -> Iterator[None]:
    """Run a block and then put Python's, NumPy's and torch's global generators
    back.

    torch's CPU generator and, when CUDA is available, every GPU's generator
    are restored (``torch.random.fork_rng``), as are ``random``'s and
    ``numpy.random``'s global states: whatever the block draws or seeds, the
    caller's random streams continue as if it had not run.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = (
        list(range(torch.cuda.device_count()))
        if torch.cuda.is_available()
        else []
    )
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def preserves_global_rng(fn: Callable[P, T]) -> Callable[P, T]:
    """Make a function with a ``seed`` argument independent of, and harmless to,
    global state.

    The book's seeded functions draw from their own generators where they
    can, but some pieces of PyTorch draw from the global one (dropout layers,
    ``torch.nn`` initialization). The decorated function runs with Python's,
    NumPy's and torch's global generators seeded from its ``seed`` argument,
    inside :func:`global_rng_preserved`: its result depends on ``seed`` alone,
    and the caller's random streams continue as if it had not run.

    Raises:
        TypeError: ``fn`` has no ``seed`` parameter.
    """
    signature = inspect.signature(fn)
    if "seed" not in signature.parameters:
        raise TypeError(f"{fn.__name__} has no seed parameter")

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        with global_rng_preserved():
            seed_everything(bound.arguments["seed"])
            return fn(*args, **kwargs)

    wrapper.__preserves_global_rng__ = True  # type: ignore[attr-defined]
    return wrapper


def describe() -> str:
    """Where a chapter ran, in two short lines (so the page shows them in
    full): the device (with its name) and profile, then the versions that
    matter."""
    dev = device()
    if dev.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(dev)})"
    elif dev.type == "mps":
        where = "mps (Apple GPU)"
    else:
        where = f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
    return (
        f"ran on {where} · profile {profile()}"
        f"{' (rehearsal)' if rehearsal() else ''}\n"
        f"python {platform.python_version()} · torch {torch.__version__} · "
        f"numpy {np.__version__}"
    )


def run_times(
    fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1
) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn()``, after ``warmup``
    untimed calls.

    Synchronizes CUDA around each call so GPU work is timed, not just queued.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}"
        )
    sync = (
        torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    )
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def median_time(
    fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1
) -> float:
    """Median of :func:`run_times`: the typical cost of a call."""
    return float(np.median(run_times(fn, repeats=repeats, warmup=warmup)))


def best_time(
    fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1
) -> float:
    """Minimum of :func:`run_times`: the cost with the least interference from
    other work."""
    return min(run_times(fn, repeats=repeats, warmup=warmup))


def loglog_slope(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``a`` in
    ``y ~ x**a``.

    The way the book reads a measured cost off a log-log plot.

    Raises:
        ValueError: fewer than two points, unequal lengths, or a value that is
            not positive.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1 or len(xs) < 2:
        raise ValueError(
            "need two 1-D sequences of equal length >= 2, got shapes "
            f"{xs.shape}, {ys.shape}"
        )
    if not (np.all(xs > 0) and np.all(ys > 0)):
        raise ValueError("loglog_slope needs positive x and y values")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])
