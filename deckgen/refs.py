"""How card text names computed values and figures.

Values: ``{{ name }}`` or ``{{ name:spec }}`` with a Python format spec (``{{ lr:.3g }}``).
The name is an identifier; ``{{c1::...}}`` cloze markers are never taken for a value, so a value
may sit inside a cloze: ``{{c1::{{ out_size }}}}``.

Figures: Markdown image syntax with the ``fig:`` scheme, ``![alt text](fig:name)``; the alt text
is what a screen reader (and the lint) sees.

This module is shared by loading (to list what a card uses, without running anything) and
rendering (to substitute), so the syntax lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

VALUE_RE = re.compile(r"\{\{\s*(?!c\d+::)(?P<name>[A-Za-z_]\w*)\s*(?::(?!:)(?P<spec>[^{}]*?))?\s*\}\}")
FIGURE_RE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\(fig:(?P<fig>[A-Za-z_]\w*)\)")
REF_RE = re.compile(f"{VALUE_RE.pattern}|{FIGURE_RE.pattern}")

# A float without a spec is shown with 6 significant digits: the full repr of a computed float
# (0.30000000000000004) is noise on a flash card.
DEFAULT_FLOAT_SPEC = ".6g"

# A width or precision beyond this is a typo, and format() would build the whole string first
# (``{{ v:>1000000000 }}`` allocates a gigabyte before any size check could run).
MAX_SPEC_SIZE = 1000
_SPEC_SIZES = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?")

Value = int | float | str | bool | None | list["Value"] | tuple["Value", ...]


@dataclass(frozen=True)
class Ref:
    """One use of a name in a card field. ``offset`` is the character offset in the field."""

    kind: str  # "value" or "figure"
    name: str
    spec: str  # format spec for values, alt text for figures
    offset: int


def find_refs(text: str) -> Iterator[Ref]:
    """Every value and figure reference in ``text``, in order of appearance.

    A figure's alt text may itself use values (``![loss for lr {{ lr:g }}](fig:curve)``); those
    are reported too, after the figure.
    """
    for m in REF_RE.finditer(text):
        yield ref_of(m)
        if m.group("fig") is not None:
            start = m.start("alt")
            for vm in VALUE_RE.finditer(m.group("alt")):
                ref = ref_of(vm)
                yield Ref(ref.kind, ref.name, ref.spec, start + ref.offset)


def ref_of(m: re.Match[str]) -> Ref:
    """The reference a REF_RE match stands for."""
    if m.group("name") is not None:
        return Ref("value", m.group("name"), (m.group("spec") or "").strip(), m.start())
    return Ref("figure", m.group("fig"), m.group("alt"), m.start())


def format_value(value: Value, spec: str) -> str:
    """Format a computed value for a card; raises ValueError for a spec that does not fit.

    Sequences (shapes, lists of numbers) are shown as Python shows a tuple, each element
    formatted with ``spec``: ``(2, 4, 128)``.
    """
    if isinstance(value, list | tuple):
        parts = [format_value(v, spec) for v in value]
        if len(parts) == 1:
            return f"({parts[0]},)"
        return "(" + ", ".join(parts) + ")"
    if isinstance(value, float) and not spec:
        spec = DEFAULT_FLOAT_SPEC
    if isinstance(value, bool) and not spec:
        return str(value)
    sizes = _SPEC_SIZES.match(spec)
    if sizes and max(int(sizes.group("width") or 0), int(sizes.group("precision") or 0)) > MAX_SPEC_SIZE:
        raise ValueError(f"format spec {spec!r} asks for more than {MAX_SPEC_SIZE} characters or digits")
    try:
        return format(value, spec)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"format spec {spec!r} does not fit a {type(value).__name__}: {exc}") from None

