"""Figures measured over seeds, and the claims they can carry.

A conclusion drawn from training runs rests on several seeds, shows their
spread, and is tested by a rule that would fail if the conclusion were
false. This module holds that rule in one place, so a chapter states a
conclusion in one call and prints the seeds beside the figure:

>>> from dlbook.evidence import Seeded, claim_higher
>>> cnn = Seeded([0.91, 0.93, 0.92], seeds=[0, 1, 2], label="CNN")
>>> mlp = Seeded([0.84, 0.86, 0.83], seeds=[0, 1, 2], label="MLP")
>>> print(cnn)
CNN: 0.920 ± 0.006 (mean ± s.e., 3 seeds: 0.910, 0.930, 0.920)
>>> claim_higher(cnn, mlp, "the CNN beats the MLP")
True

The rules (CONTRIBUTING.md, "Claims about measurements"):

* **At least three seeds** (:data:`MIN_SEEDS`) in a real build. A
  rehearsal (:func:`dlbook.runtime.rehearsal`) may cut them, since it
  judges nothing.
* **"Every seed"** (``rule="every"``): the relation holds for each seed
  (paired by seed when both sides are measured over the same seeds).
* **"Mean"** (``rule="mean"``): the mean difference exceeds twice its
  standard error (paired when the seeds match, Welch's otherwise).
* The verdict goes through :func:`dlbook.runtime.judge`: it fails the build
  when false, and is reported as *not judged* in a rehearsal.
* :func:`compare` reports a difference without asserting its direction, for
  a text that concludes only what the runs show ("not distinguished" is an
  answer).
* :func:`plateaued` checks that a curve has stopped moving before a
  conclusion is drawn from where it ended.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dlbook.runtime import judge, rehearsal

__all__ = [
    "MIN_SEEDS",
    "Comparison",
    "Seeded",
    "claim_every",
    "claim_higher",
    "compare",
    "over_seeds",
    "plateaued",
]

MIN_SEEDS = 3
"""The fewest seeds a conclusion from training runs may rest on."""

Rule = Literal["every", "mean"]


@dataclass(frozen=True, init=False)
class Seeded:
    """One figure measured once per seed.

    Args:
        values: the figure for each seed, shape ``[n]`` (finite numbers).
        seeds: the seeds, one per value, all different.
        label: what the figure is, e.g. ``"test accuracy, max pooling"``.

    Raises:
        ValueError: no values, values and seeds of different lengths, a
            repeated seed, or a value that is not finite.
    """

    values: np.ndarray
    seeds: tuple[int, ...]
    label: str

    def __init__(
        self,
        values: Sequence[float] | np.ndarray,
        seeds: Sequence[int] | None = None,
        label: str = "",
    ) -> None:
        array = np.asarray(
            [float(v) for v in np.asarray(values).ravel()], dtype=np.float64
        )
        if np.asarray(values).ndim != 1:
            raise ValueError(
                "values must be one-dimensional (one per seed), got shape "
                f"{np.asarray(values).shape}"
            )
        if array.size == 0:
            raise ValueError("values is empty: measure at least one seed")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"values holds a non-finite number: {array}")
        seed_tuple = tuple(
            range(array.size) if seeds is None else (int(s) for s in seeds)
        )
        if len(seed_tuple) != array.size:
            raise ValueError(
                f"seeds has {len(seed_tuple)} entries for {array.size} values"
            )
        if len(set(seed_tuple)) != len(seed_tuple):
            raise ValueError(f"seeds repeats a seed: {seed_tuple}")
        array.setflags(write=False)
        object.__setattr__(self, "values", array)
        object.__setattr__(self, "seeds", seed_tuple)
        object.__setattr__(self, "label", str(label))

    @property
    def n(self) -> int:
        """The number of seeds."""
        return int(self.values.size)

    @property
    def mean(self) -> float:
        """The mean over seeds."""
        return float(self.values.mean())

    @property
    def std(self) -> float:
        """The sample standard deviation over seeds (``ddof=1``); ``nan``
        for one seed."""
        return float(self.values.std(ddof=1)) if self.n > 1 else math.nan

    @property
    def sem(self) -> float:
        """The standard error of the mean; ``nan`` for one seed."""
        return self.std / math.sqrt(self.n)

    @property
    def low(self) -> float:
        """The smallest value over seeds."""
        return float(self.values.min())

    @property
    def high(self) -> float:
        """The largest value over seeds."""
        return float(self.values.max())

    def format(self, spec: str = ".3f") -> str:
        """``"0.920 ± 0.006 (mean ± s.e., 3 seeds: 0.910, 0.930, 0.920)"``,
        each number with the format ``spec`` (e.g. ``".1%"``)."""
        each = ", ".join(format(float(v), spec) for v in self.values)
        head = f"{self.label}: " if self.label else ""
        if self.n == 1:
            return f"{head}{format(self.mean, spec)} (1 seed)"
        return (
            f"{head}{format(self.mean, spec)} ± {format(self.sem, spec)} "
            f"(mean ± s.e., {self.n} seeds: {each})"
        )

    def __str__(self) -> str:
        return self.format()


def over_seeds(
    measure: Callable[[int], float], seeds: Iterable[int], label: str = ""
) -> Seeded:
    """Run ``measure(seed)`` for each seed and collect the figures.

    Raises:
        ValueError: no seeds, or a repeated one.
    """
    seed_list = [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("seeds is empty: give at least one seed")
    return Seeded([measure(s) for s in seed_list], seed_list, label)


def _as_seeded(x: Seeded | float, name: str) -> Seeded | float:
    if isinstance(x, Seeded):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating)):
        raise TypeError(
            f"{name} must be a Seeded figure or a number, got "
            f"{type(x).__name__}"
        )
    if not math.isfinite(float(x)):
        raise ValueError(f"{name} must be finite, got {x}")
    return float(x)


def _check_seeds(x: Seeded | float, name: str) -> None:
    if isinstance(x, Seeded) and x.n < MIN_SEEDS and not rehearsal():
        raise ValueError(
            f"{name} ({x.label or 'unlabelled'}) has {x.n} seed(s); a "
            f"conclusion from training runs needs at least {MIN_SEEDS}"
        )


@dataclass(frozen=True)
class Comparison:
    """The difference ``a - b`` of two figures and what the seeds say of it.

    ``paired`` is true when both were measured over the same seeds (the
    difference is then taken seed by seed). ``sem`` is the standard error of
    ``difference``: of the paired differences, or Welch's
    ``sqrt(sa²/na + sb²/nb)``; a plain number counts as exact.
    """

    difference: float
    sem: float
    paired: bool
    n: int

    @property
    def verdict(self) -> Literal["higher", "lower", "not distinguished"]:
        """``"higher"`` when ``a`` exceeds ``b`` by more than twice the
        standard error, ``"lower"`` in the other direction, otherwise ``"not
        distinguished"`` (also when one seed leaves the error unknown)."""
        if not math.isfinite(self.sem):
            return "not distinguished"
        if self.difference > 2 * self.sem:
            return "higher"
        if self.difference < -2 * self.sem:
            return "lower"
        return "not distinguished"

    def format(self, spec: str = ".3f") -> str:
        """``"+0.070 ± 0.010 (paired over 3 seeds): higher"``."""
        how = "paired" if self.paired else "unpaired"
        return (
            f"{format(self.difference, '+' + spec.lstrip('+'))} ± "
            f"{format(self.sem, spec)} ({how} over {self.n} seeds): "
            f"{self.verdict}"
        )

    def __str__(self) -> str:
        return self.format()


def compare(a: Seeded | float, b: Seeded | float) -> Comparison:
    """Compare two figures over seeds (or one against a fixed number).

    Raises:
        TypeError: neither is a :class:`Seeded`, or one is something else.
    """
    a, b = _as_seeded(a, "a"), _as_seeded(b, "b")
    if not isinstance(a, Seeded) and not isinstance(b, Seeded):
        raise TypeError("compare needs at least one Seeded figure")
    if isinstance(a, Seeded) and isinstance(b, Seeded):
        if a.seeds == b.seeds:
            d = a.values - b.values
            sem = (
                float(d.std(ddof=1) / math.sqrt(d.size))
                if d.size > 1
                else math.nan
            )
            return Comparison(float(d.mean()), sem, True, int(d.size))
        sem = math.sqrt(a.sem**2 + b.sem**2)
        return Comparison(a.mean - b.mean, sem, False, min(a.n, b.n))
    seeded = a if isinstance(a, Seeded) else b
    assert isinstance(seeded, Seeded)
    diff = (a.mean if isinstance(a, Seeded) else a) - (
        b.mean if isinstance(b, Seeded) else b
    )
    return Comparison(float(diff), seeded.sem, False, seeded.n)


def claim_higher(
    a: Seeded | float,
    b: Seeded | float,
    claim: str,
    *,
    rule: Rule = "mean",
) -> bool:
    """Enforce "``a`` is higher than ``b``" (through
    :func:`dlbook.runtime.judge`).

    With ``rule="mean"``, the mean difference must exceed twice its standard
    error (:func:`compare`). With ``rule="every"``, every seed must show it:
    ``a`` above ``b`` seed by seed when both are measured over the same
    seeds, and otherwise every value of ``a`` above every value of ``b``. For
    "lower", swap the arguments. Returns whether the claim holds.

    Raises:
        ValueError: a side has fewer than :data:`MIN_SEEDS` seeds (outside a
            rehearsal), or ``rule`` is unknown.
        TypeError: as for :func:`compare`, or ``claim`` is not a string.
        AssertionError: the claim is false (outside a rehearsal).
    """
    if rule not in ("every", "mean"):
        raise ValueError(f"rule must be 'every' or 'mean', got {rule!r}")
    a, b = _as_seeded(a, "a"), _as_seeded(b, "b")
    _check_seeds(a, "a")
    _check_seeds(b, "b")
    comparison = compare(a, b)
    if rule == "mean":
        holds = comparison.verdict == "higher"
        detail = f"difference {comparison}"
    else:
        av = a.values if isinstance(a, Seeded) else np.array([a])
        bv = b.values if isinstance(b, Seeded) else np.array([b])
        if comparison.paired:
            holds = bool(np.all(av > bv))
        else:
            holds = bool(av.min() > bv.max())
        detail = "every seed"
    return judge(holds, f"{claim} [{detail}]")


def claim_every(
    figure: Seeded, holds: Callable[[float], bool], claim: str
) -> bool:
    """Enforce that ``holds(value)`` is true for every seed's value (through
    :func:`dlbook.runtime.judge`), e.g. ``claim_every(train_acc, lambda v: v
    >= 0.99, "every run fits its training set")``.

    Raises:
        TypeError: ``figure`` is not a :class:`Seeded`.
        ValueError: fewer than :data:`MIN_SEEDS` seeds outside a rehearsal.
        AssertionError: some seed breaks the claim (outside a rehearsal).
    """
    if not isinstance(figure, Seeded):
        raise TypeError(
            f"figure must be a Seeded figure, got {type(figure).__name__}"
        )
    _check_seeds(figure, "figure")
    failing = [
        (s, float(v))
        for s, v in zip(figure.seeds, figure.values)
        if not holds(float(v))
    ]
    detail = (
        f"every one of {figure.n} seeds"
        if not failing
        else f"fails for seed(s) {', '.join(f'{s} ({v:.4g})' for s, v in failing)}"
    )
    return judge(not failing, f"{claim} [{detail}]")


def plateaued(
    curve: Sequence[float] | np.ndarray,
    window: int,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> bool:
    """Whether a curve (a loss, an accuracy) has flattened: its last two
    windows have nearly equal means.

    With ``last`` the mean of the final ``window`` values and ``prev`` the
    mean of the ``window`` before them, the curve is flat when
    ``|prev - last| <= rtol * |last| + atol``. Window means rather than
    single points keep the test robust to the noise of stochastic training.
    A curve shorter than ``2 * window`` is not flat.

    Raises:
        ValueError: ``window < 1``, a negative tolerance, or a curve that is
            not one-dimensional.
        TypeError: ``window`` is not an integer.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(
            f"window must be an integer, got {type(window).__name__}"
        )
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if not rtol >= 0 or not atol >= 0:
        raise ValueError(f"need rtol >= 0 and atol >= 0, got {rtol}, {atol}")
    values = np.asarray(curve, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(
            f"curve must be one-dimensional, got shape {values.shape}"
        )
    if len(values) < 2 * window:
        return False
    last = values[-window:].mean()
    prev = values[-2 * window : -window].mean()
    return bool(abs(prev - last) <= rtol * abs(last) + atol)
