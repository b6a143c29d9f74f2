"""The book's one plotting style.

Chapters call :func:`use_house_style` once (the run-info cell does it) and
then :func:`subplots` for every figure, so all figures share size, fonts,
grid and colour cycle.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler

__all__ = ["PALETTE", "HOUSE_STYLE", "subplots", "use_house_style"]

PALETTE = (
    "#1f5f8b",
    "#d1495b",
    "#2e933c",
    "#edae49",
    "#6b4c9a",
    "#00798c",
    "#8d6a3f",
)
"""The colour cycle, chosen to stay distinguishable in grey-scale print."""

HOUSE_STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}
"""The matplotlib settings of every figure in the book."""


def use_house_style() -> None:
    """Apply :data:`HOUSE_STYLE` to matplotlib's global settings."""
    mpl.style.use(HOUSE_STYLE)


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float | None = None,
    height: float | None = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """``plt.subplots`` in the house style, sized per panel.

    ``width`` and ``height`` are the size of one panel in inches (defaults
    from :data:`HOUSE_STYLE`); the figure grows with the grid. Uses
    ``constrained_layout`` so labels never overlap.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(
            f"need at least one row and one column, got {nrows}x{ncols}"
        )
    use_house_style()
    base_w, base_h = HOUSE_STYLE["figure.figsize"]
    panel_w = (
        width if width is not None else (base_w if ncols == 1 else base_w * 0.7)
    )
    panel_h = (
        height
        if height is not None
        else (base_h if nrows == 1 else base_h * 0.8)
    )
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(
        nrows, ncols, figsize=(panel_w * ncols, panel_h * nrows), **kwargs
    )
