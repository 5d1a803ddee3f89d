"""Figures the toolkit writes for people (plans, statistics), as opposed to figures on cards.

Card figures are drawn in the computation worker (``compute/figures.py``) with the deck's style; these are
drawn in the CLI process, so matplotlib is imported only when a plot is asked for.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.fs import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_png(fig: Figure, path: Path) -> None:
    """Write the figure as PNG without a timestamp, atomically (no half-written file on failure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})
    atomic_write(path, buf.getvalue())


def not_enough_data(title: str, why: str) -> Figure:
    """A figure that says there is nothing to draw yet, instead of empty axes that look like a bug."""
    fig = new_figure(6, 2)
    fig.text(0.5, 0.62, title, ha="center", va="center", fontsize=11, weight="bold")
    fig.text(0.5, 0.38, f"not enough data: {why}", ha="center", va="center", fontsize=9, wrap=True)
    return fig
