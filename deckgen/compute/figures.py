"""The house figure style, and how a registered figure becomes its day and night PNGs.

Card figures are read on phones: larger type than matplotlib's default, no top or right spines, a
light grid, and one default size (``FIGURE_WIDTH`` x ``FIGURE_HEIGHT`` inches, shown at the card's
full width; lint assumes it when it measures a card's height). Authors pass another size only when
a figure needs it.

This module runs inside the computation worker (part of the compute runtime that
``cache.runtime_fingerprint`` hashes); matplotlib and Pillow are imported where used.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FIGURE_WIDTH = 4.2  # inches: at 150 dpi a 630 px image, shown at the full width of a phone card
FIGURE_HEIGHT = 3.0
@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: how to draw it, and at what size (inches)."""

    name: str
    draw: Callable[[Any], object]
    width: float
    height: float
    file: str
    line: int



DPI = 150
# Figures are read on phones: larger type than matplotlib's default, no top/right spines.
STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 2.0,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.hashsalt": "deckgen",
}


# Night variants: the card's night background, and greys (black text, spines, hard-coded "black"
# lines, white fills) mirrored in lightness so they read on it. Colours keep their hue, so a card
# that says "the orange curve" stays true in both modes; colormapped data (images, scatter with
# values) is left alone.
DAY_BACKGROUND = "#ffffff"
NIGHT_BACKGROUND = "#1e1e1e"  # card.css: .nightMode .card background
NIGHT_FOREGROUND = "#e6edf3"  # card.css: .nightMode .card color
GREY_TOLERANCE = 0.06  # max - min of r, g, b below which a colour counts as grey
PALETTE_COLORS = 256  # PNGs are stored with an adaptive palette: about 3.7x smaller, same look


class FigureError(Exception):
    """A figure that could not be drawn or rendered, located at the line that registered it."""

    def __init__(self, spec: FigureSpec, message: str) -> None:
        super().__init__(message)
        self.spec = spec


def render(spec: FigureSpec) -> tuple[bytes, bytes]:
    """Draw one registered figure in the deck's style; PNG bytes of its day and night variants.

    The author's ``draw`` runs once. The night variant is the same figure recoloured after the
    day variant is saved, with the layout the day rendering computed kept as it is: constrained
    layout is almost half of ``savefig``'s time, and recolouring changes no sizes.
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(spec.width, spec.height), dpi=DPI, layout="constrained")
        spec.draw(fig)  # the author's own errors propagate and are located in their code
        if not fig.axes:
            raise FigureError(spec, f"figure {spec.name!r} drew nothing")
        day = _save(fig, spec, DAY_BACKGROUND)
        fig.set_layout_engine("none")
        _to_night(fig)
        night = _save(fig, spec, NIGHT_BACKGROUND)
    return _compress(day), _compress(night)


def _save(fig: Any, spec: FigureSpec, background: str) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", facecolor=background, metadata={"Software": None})
    except Exception as exc:  # e.g. bad mathtext in a label: raised while rendering, not drawing
        raise FigureError(spec, f"figure {spec.name!r} failed to render: {type(exc).__name__}: {exc}") from None
    return buf.getvalue()


def _compress(png: bytes) -> bytes:
    """An adaptive 256-colour palette PNG: plots have few distinct colours, so this is near lossless."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        out = io.BytesIO()
        im.convert("RGB").quantize(PALETTE_COLORS).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _to_night(fig: Any) -> None:
    """Mirror the lightness of every grey in the figure (black text becomes light, white fills dark)."""
    from matplotlib import colors as mcolors
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    fg = mcolors.to_rgb(NIGHT_FOREGROUND)[0]
    bg = mcolors.to_rgb(NIGHT_BACKGROUND)[0]

    def flip(color: Any) -> Any:
        if isinstance(color, str) and color in ("none", "auto"):
            return color
        r, g, b, a = mcolors.to_rgba(color)
        if a == 0 or max(r, g, b) - min(r, g, b) > GREY_TOLERANCE:
            return (r, g, b, a)
        level = fg + (bg - fg) * (r + g + b) / 3  # black -> foreground, white -> background
        return (level, level, level, a)

    def flip_many(colors: Any) -> Any:
        return [flip(c) for c in colors]

    # Labels written on colour-mapped cells (a heatmap's numbers) were chosen for those cells,
    # which stay the same at night: keep them as drawn.
    seen: set[int] = set()
    for ax in fig.axes:
        if ax.images or any(isinstance(c, Collection) and c.get_array() is not None for c in ax.collections):
            seen.update(id(t) for t in ax.texts)
    for artist in fig.findobj(include_self=False):
        if id(artist) in seen:
            continue
        seen.add(id(artist))
        if isinstance(artist, Line2D):
            artist.set_color(flip(artist.get_color()))
            artist.set_markerfacecolor(flip(artist.get_markerfacecolor()))
            artist.set_markeredgecolor(flip(artist.get_markeredgecolor()))
        elif isinstance(artist, Text):
            artist.set_color(flip(artist.get_color()))
            box = artist.get_bbox_patch()
            if box is not None:
                box.set_facecolor(flip(box.get_facecolor()))
                box.set_edgecolor(flip(box.get_edgecolor()))
            arrow = getattr(artist, "arrow_patch", None)
            if arrow is not None:
                arrow.set_color(flip(arrow.get_edgecolor()))
        elif isinstance(artist, Patch):
            artist.set_facecolor(flip(artist.get_facecolor()))
            artist.set_edgecolor(flip(artist.get_edgecolor()))
        elif isinstance(artist, Collection) and artist.get_array() is None:
            artist.set_facecolor(flip_many(artist.get_facecolor()))
            artist.set_edgecolor(flip_many(artist.get_edgecolor()))
    fig.patch.set_facecolor(NIGHT_BACKGROUND)

