"""dlbook._checks: the shared argument checks accept Python and NumPy numbers
and refuse bools, NaN and non-numbers by the argument's name."""

import math

import numpy as np
import pytest

from dlbook._checks import positive_int, positive_number


@pytest.mark.parametrize("value", [1e-3, 2, np.float32(0.5), np.int64(3)])
def test_positive_number_accepts_python_and_numpy_numbers(value):
    assert positive_number(value, "lr") == pytest.approx(float(value))


@pytest.mark.parametrize("value", [0, -1.0, math.nan, True, "0.1", None])
def test_positive_number_refuses_by_name(value):
    with pytest.raises(ValueError, match="lr must be a positive number"):
        positive_number(value, "lr")


@pytest.mark.parametrize("value", [0, -2, 1.5, True, np.float64(2.0)])
def test_positive_int_refuses_by_name(value):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        positive_int(value, "epochs")
    assert positive_int(np.int32(4), "epochs") == 4
