"""The API a topic's ``compute.py`` sees.

A topic's code defines ``compute(ctx)`` and registers what cards may use::

    def compute(ctx):
        opt = torch.optim.Adam([w], lr=1e-3)
        ...
        ctx.value("adam_first_step", step.item())

        def draw(fig):                       # fig: a fresh matplotlib Figure
            ax = fig.subplots()
            ax.plot(xs, ys)
        ctx.figure("adam_path", draw)

Figures are drawn through a callback on a Figure deckgen creates (object-oriented matplotlib,
no pyplot state), so deckgen controls size, resolution and style and can draw the same figure
again in another style (night mode) without the author's help.

This module is imported only inside the worker process.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .figures import FIGURE_HEIGHT, FIGURE_WIDTH, FigureSpec

if TYPE_CHECKING:  # the card grammar is not part of the compute runtime (cache.RUNTIME_FILES)
    from ..core.syntax import Value

MAX_INT = 10**100  # a card shows numbers; bigger ints are a bug (and JSON cannot hold 4,300+ digits)
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


class ContentError(Exception):
    """A mistake in the author's compute code, located at the author's line."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.file, self.line = file, line


def _caller() -> tuple[str, int]:
    frame = sys._getframe(2)
    return frame.f_code.co_filename, frame.f_lineno


def _check_name(name: object, kind: str, file: str, line: int) -> str:
    if not isinstance(name, str) or not name or name[0].isdigit() or any(c not in NAME_CHARS for c in name):
        raise ContentError(f"{kind} name {name!r} must be an identifier (letters, digits, _)", file, line)
    return name


def to_plain(value: Any) -> Value:
    """Tensors, numpy numbers, shapes -> plain JSON-able Python values (what cards can show)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= MAX_INT:
            digits = int(abs(value).bit_length() * 0.30103) + 1  # str() refuses ints over 4,300 digits
            raise TypeError(f"an integer of about {digits} digits is too large to show on a card")
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise TypeError("text with a lone surrogate cannot be shown on a card") from None
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "tolist") and callable(value.tolist):  # torch.Tensor, numpy arrays and scalars
        size = getattr(value, "numel", None)
        count = size() if callable(size) else getattr(value, "size", None)
        if count == 1 and hasattr(value, "item"):
            return to_plain(value.item())  # a one-element tensor or array is a number, whatever its shape
        return to_plain(value.tolist())
    if isinstance(value, list | tuple):  # includes torch.Size
        return [to_plain(v) for v in value]
    raise TypeError(f"cannot use a {type(value).__name__} as a card value (use a number, text or a list of them)")


def plain_values(answer: Any, what: str, file: str, line: int) -> dict[str, Value]:
    """A drill function's answer as card values: a mapping of names to values, or one value (``answer``)."""
    items = answer.items() if isinstance(answer, dict) else [("answer", answer)]
    out: dict[str, Value] = {}
    for name, value in items:
        _check_name(name, "drill value", file, line)
        try:
            plain = to_plain(value)
        except TypeError as exc:
            raise ContentError(f"{what} returned {name!r}: {exc}", file, line) from None
        if not _finite(plain):
            raise ContentError(f"{what} returned {name!r} that is not finite ({plain!r})", file, line)
        out[name] = plain
    return out


def _finite(value: Value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


class Context:
    """Collects a topic's named values and figures."""

    def __init__(self) -> None:
        self.values: dict[str, Value] = {}
        self.figures: dict[str, FigureSpec] = {}

    def value(self, name: str, value: Any) -> Any:
        """Register a value cards can show as ``{{ name }}``; returns it unchanged for chaining."""
        file, line = _caller()
        _check_name(name, "value", file, line)
        if name in self.values:
            raise ContentError(f"value {name!r} registered twice", file, line)
        try:
            plain = to_plain(value)
        except TypeError as exc:
            raise ContentError(f"value {name!r}: {exc}", file, line) from None
        if not _finite(plain):
            raise ContentError(f"value {name!r} is not finite ({plain!r})", file, line)
        self.values[name] = plain
        return value

    def figure(self, name: str, draw: Callable[[Any], object], *, width: float = FIGURE_WIDTH,
               height: float = FIGURE_HEIGHT) -> None:
        """Register a figure cards can show as ``![alt](fig:name)``.

        ``draw(fig)`` receives an empty ``matplotlib.figure.Figure`` and draws on it. The default
        size is the house size (``figures.FIGURE_WIDTH`` x ``FIGURE_HEIGHT`` inches).
        """
        file, line = _caller()
        _check_name(name, "figure", file, line)
        if name in self.figures:
            raise ContentError(f"figure {name!r} registered twice", file, line)
        if not callable(draw):
            raise ContentError(f"figure {name!r}: pass a function that draws on the figure it is given", file, line)
        if not (0 < width <= 12 and 0 < height <= 12):
            raise ContentError(f"figure {name!r}: width and height must be in (0, 12] inches", file, line)
        self.figures[name] = FigureSpec(name, draw, float(width), float(height), file, line)
