"""The card grammar: what deckgen reads in card text besides Markdown. Every stage uses this module.

* **Computed values**: ``{{ name }}`` or ``{{ name:spec }}`` with a Python format spec
  (``{{ lr:.3g }}``). The name is an identifier; a cloze marker ``{{c1::`` is never taken for a
  value, so a value may sit inside a deletion: ``{{c1::{{ out_size }}}}``.
* **Cloze deletions**: ``{{cN::hidden}}`` or ``{{cN::hidden::hint}}``; Anki reads the number as an
  integer (``c10`` is card ten) and ends a deletion at the first ``}}``.
* **Math**: ``\\( inline \\)`` and ``\\[ display \\]``, for Anki's MathJax (never ``$``).
* **Images**: ``![alt](fig:name)`` shows a computed figure; ``![alt](file.png)`` a static file
  next to cards.yaml. The alt text may use values.

Loading lists what a card uses (without running anything), rendering substitutes, lint measures:
all three read the text through the patterns and functions here, so the grammar lives in one
place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

Value = int | float | str | bool | None | list["Value"] | tuple["Value", ...]
"""What a computation can hand a card: numbers, text, booleans and (nested) lists of them."""

# ------------------------------------------------------------------ cloze deletions

_CLOZE_MARK = r"c\d+::"
CLOZE_OPEN_RE = re.compile(r"\{\{c(?P<n>\d+)::")
"""The opening of a deletion, any number (``c0`` included, so it can be reported)."""
_SURVIVING_DELETION_RE = re.compile(r"\{\{c(?P<n>\d+)::(?!\}\})")


def cloze_numbers(text: str) -> set[int]:
    """The card numbers of a cloze text's deletions, as Anki counts them (``c0`` makes no card)."""
    return {n for m in CLOZE_OPEN_RE.finditer(text) if (n := int(m.group("n"))) > 0}


def has_cloze_zero(text: str) -> bool:
    return any(int(m.group("n")) == 0 for m in CLOZE_OPEN_RE.finditer(text))


def rendered_cloze_numbers(html: str) -> set[int]:
    """Numbers of the non-empty deletions left in rendered HTML (what Anki makes cards from)."""
    return {n for m in _SURVIVING_DELETION_RE.finditer(html) if (n := int(m.group("n"))) > 0}


def deletions(text: str) -> Iterator[tuple[int, int, int, str]]:
    """(number, start, end, hidden text) of each deletion as Anki reads it: the first ``}}`` ends it.

    Values are masked first (same length), because the build fills them in before Anki parses the
    cloze: ``{{c1::{{ n }}}}`` is one deletion holding a number, not a deletion ending early. A
    hint (``{{c1::answer::hint}}``) is not part of the hidden text.
    """
    masked = mask_values(text, "\x00")
    for m in CLOZE_OPEN_RE.finditer(masked):
        end = masked.find("}}", m.end())
        if end < 0:
            continue
        body = text[m.end():end]
        hidden = body.split("::")[0] if "::" in masked[m.end():end] else body
        yield int(m.group("n")), m.start(), end + 2, hidden


# ------------------------------------------------------------------ values and figures

VALUE_RE = re.compile(r"\{\{\s*(?!" + _CLOZE_MARK + r")(?P<name>[A-Za-z_]\w*)\s*(?::(?!:)(?P<spec>[^{}]*?))?\s*\}\}")
FIGURE_SCHEME = "fig:"
FIGURE_RE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\(" + FIGURE_SCHEME + r"(?P<fig>[A-Za-z_]\w*)\)")
REF_RE = re.compile(f"{VALUE_RE.pattern}|{FIGURE_RE.pattern}")
IMAGE_RE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]*)\)")
"""Any image, computed or static (lint reads alt text and sizes of both)."""
ASSET_RE = re.compile(r"!\[(?P<asset_alt>[^\]\n]*)\]\((?!" + FIGURE_SCHEME + r")(?P<src>[^)\s]*)\)")
"""A static image next to cards.yaml: ``![alt](diagram.png)``."""
ASSET_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


def mask_values(text: str, char: str) -> str:
    """``text`` with each ``{{ value }}`` replaced by ``char`` repeated (offsets stay the same)."""
    return VALUE_RE.sub(lambda m: char * len(m.group()), text)


# ------------------------------------------------------------------ math

MATH_RE = re.compile(r"\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\]", re.S)
INLINE_MATH_RE = re.compile(r"\\\((?P<tex>.+?)\\\)", re.S)
DISPLAY_MATH_RE = re.compile(r"\\\[(?P<tex>.+?)\\\]", re.S)


def math_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every ``\\( \\)`` and ``\\[ \\]`` in ``text``."""
    return [(m.start(), m.end()) for m in MATH_RE.finditer(text)]


# ------------------------------------------------------------------ references and their formatting

# A float without a spec is shown with 6 significant digits: the full repr of a computed float
# (0.30000000000000004) is noise on a flash card.
DEFAULT_FLOAT_SPEC = ".6g"

# A width or precision beyond this is a typo, and format() would build the whole string first
# (``{{ v:>1000000000 }}`` allocates a gigabyte before any size check could run).
MAX_SPEC_SIZE = 1000
_SPEC_SIZES = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?")


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
    """The reference a REF_RE (or VALUE_RE) match stands for."""
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
