"""Argument checks shared by the package's modules."""

from __future__ import annotations

import numbers

__all__ = ["positive_int", "positive_number"]


def positive_int(value: object, name: str) -> int:
    """``value`` as an ``int`` if it is an integer >= 1 (Python or NumPy).

    ``bool`` is not accepted as an integer here.

    Raises:
        ValueError: ``value`` is not a positive integer; the message names
            ``name``.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_number(value: object, name: str) -> float:
    """``value`` as a ``float`` if it is a real number > 0 (Python or NumPy;
    ``bool`` not accepted).

    Raises:
        ValueError: ``value`` is not a positive number; the message names
            ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    number = float(value)
    if not number > 0:  # NaN included
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number
