import matplotlib

matplotlib.use("Agg")  # tests only: no display here (chapters never call this)

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from dlbook.plotting import HOUSE_STYLE, PALETTE, subplots  # noqa: E402


def test_subplots_applies_the_house_style_and_sizes_per_panel():
    fig, axes = subplots(2, 3, width=2.0, height=1.5)
    assert axes.shape == (2, 3)
    assert tuple(fig.get_size_inches()) == pytest.approx((6.0, 3.0))
    assert mpl.rcParams["axes.spines.top"] is False
    assert mpl.rcParams["axes.prop_cycle"].by_key()["color"][:3] == list(PALETTE[:3])
    plt.close(fig)


def test_single_panel_uses_the_default_size():
    fig, _ = subplots()
    assert tuple(fig.get_size_inches()) == pytest.approx(HOUSE_STYLE["figure.figsize"])
    plt.close(fig)


@pytest.mark.parametrize("rows, cols", [(0, 1), (1, 0)])
def test_rejects_empty_grids(rows, cols):
    with pytest.raises(ValueError, match="at least one row"):
        subplots(rows, cols)
