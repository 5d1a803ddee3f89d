"""The phone a card is measured on, and Markdown read well enough to measure it.

Lint is static: it reads cards.yaml, runs no computation and renders nothing. Where a rule needs a
card's rendered size, it estimates it here from the Markdown with the card stylesheet's numbers
(``deck/templates/card.css``): each ``{{ value }}`` counts as a short placeholder and each figure as
its height at the full card width. The estimate was checked against Chromium renders of the whole
deck (see SCREEN_PX).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ...compute.figures import FIGURE_HEIGHT, FIGURE_WIDTH
from ...core.records import Card, Text
from ...core.syntax import CLOZE_OPEN_RE, DISPLAY_MATH_RE, IMAGE_RE, INLINE_MATH_RE, VALUE_RE

# The phone the budgets are written for, in CSS px (templates/card.css).

SCREEN = "390x844 phone"
FONT = 19.0  # .card font-size
LINE = FONT * 1.45  # .card line-height
WIDTH = 390 - 2 * 12  # .card padding: 366 px of text per line
# Characters of prose one 366 px line holds: word-wrapping the deck's own paragraphs with Arial /
# Liberation Sans metrics at 19 px gives 40 per line on average; the phone fonts (SF Pro, Roboto)
# differ by a few per cent either way, so 38 keeps the estimate on the safe side.
CPL = 38
CPL_ITEM = 35  # a list item is indented by 1.3em
# What Anki shows of a card on a 390x844 phone: 844 px minus the status bar, Anki's top bar, its answer
# buttons and the home indicator (about 190 px on AnkiMobile, a little less on AnkiDroid), minus the
# card's top padding.
# The estimate below was checked by rendering the whole deck in Chromium with MathJax at this width:
# estimated and measured heights of question + answer agree within 1% on average (correlation 0.93).
SCREEN_PX = 640.0
SCREEN_LINES = int(SCREEN_PX // LINE)  # 23
HR_PX = 2 * 0.8 * FONT + 1  # hr#answer between question and answer
EXTRA_SCALE = 0.85  # .dg-extra font-size
CODE_LINE_PX = FONT * 1.35  # pre line-height (its strut is the pre's 19 px font)
CODE_BOX_PX = 2 * 0.6 * FONT + 2 * 0.5 * FONT  # pre padding and margin
# Monospace glyphs are 0.6em; code in a block is 0.78em of 19 px, inside 0.7em padding each side.
CODE_COLS = int((WIDTH - 2 * 0.7 * FONT) // (0.6 * 0.78 * FONT))  # 38
# Display math in width units of tex_width (a letter; an operator with its spacing is two): MathJax at
# 19 px renders the deck's equations at 10.5-11.6 px per unit, so 31 fill the 366 px line.
MATH_COLS = 31
# The house figure (compute/figures.py: 4.2 x 3.0 in) shown at the full width, with its margins: 284 px.
FIGURE_PX = WIDTH * FIGURE_HEIGHT / FIGURE_WIDTH + 2 * 0.6 * FONT
BLOCK_GAP_PX = 0.5 * FONT  # paragraph margins (collapsed)
TABLE_ROW_PX = 0.9 * LINE + 0.4 * 0.9 * FONT + 1  # .dg table font-size 0.9em, cell padding 0.2em
VALUE_CHARS = 6  # a {{ value }} counts as a short number


@dataclass(frozen=True)
class Block:
    """A piece of a field as it will be laid out: prose, a list item, a table row, code, math or an image."""

    kind: str  # "para" | "item" | "row" | "code" | "math" | "image"
    text: str  # prose, code (lines joined), TeX, or the image's alt text
    offset: int  # where it starts in the field, for line numbers
    src: str = ""  # an image's target (``fig:name`` or a file)


FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
ITEM_RE = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
CODE_SPAN_RE = re.compile(r"(`+)(?P<code>.+?)\1", re.S)


def blocks(text: str) -> list[Block]:
    """Split a Markdown field into layout blocks (fenced code, display math, tables, list items, paragraphs).

    Images and ``\\[ ... \\]`` inside a paragraph become blocks of their own, as they render on
    their own line. Not a Markdown parser: only what card text uses, to measure and scan it.
    """
    out: list[Block] = []
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    para: list[str] = []
    para_kind, para_at = "para", 0

    def flush() -> None:
        nonlocal para
        if para:
            out.extend(_inline_blocks(para_kind, "".join(para), para_at))
        para = []

    i = 0
    while i < len(lines):
        line, at = lines[i], starts[i]
        stripped = line.strip()
        fence = FENCE_RE.match(line)
        if fence:
            flush()
            mark = fence.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(mark):
                j += 1
            out.append(Block("code", "".join(lines[i + 1:j]).rstrip("\n"), starts[min(i + 1, len(lines) - 1)]))
            i = j + 1
            continue
        if stripped.startswith("\\[") and not para:
            j = i
            while j < len(lines) and "\\]" not in lines[j]:
                j += 1
            j = min(j, len(lines) - 1)
            body = "".join(lines[i:j + 1]).strip()
            out.append(Block("math", body.removeprefix("\\[").removesuffix("\\]"), at))
            i = j + 1
            continue
        if not stripped:
            flush()
        elif stripped.startswith("|"):
            flush()
            if not re.fullmatch(r"\|?[\s:|-]+\|?", stripped):  # the |---| separator row is not a row
                out.append(Block("row", stripped, at))
        elif ITEM_RE.match(line):
            flush()
            para, para_kind, para_at = [line[ITEM_RE.match(line).end():]], "item", at  # type: ignore[union-attr]
        else:
            if not para:
                para_kind, para_at = "para", at
            para.append(line)
        i += 1
    flush()
    return out


def _inline_blocks(kind: str, text: str, at: int) -> Iterator[Block]:
    """A paragraph or list item, with its images and inline display math split out."""
    pos = 0
    pieces = sorted([(m.start(), m.end(), "image", m) for m in IMAGE_RE.finditer(text)]
                    + [(m.start(), m.end(), "math", m) for m in DISPLAY_MATH_RE.finditer(text)])
    for start, end, what, m in pieces:
        if start < pos:
            continue
        if text[pos:start].strip():
            yield Block(kind, text[pos:start], at + pos)
        if what == "image":
            yield Block("image", m.group("alt"), at + start, m.group("src"))
        else:
            yield Block("math", m.group("tex"), at + start)
        pos = end
    if text[pos:].strip():
        yield Block(kind, text[pos:], at + pos)


def placeholders(text: str) -> str:
    """Values as a short number, as the reader will see them (``{{ lr:g }}`` -> ``000000``)."""
    return VALUE_RE.sub("0" * VALUE_CHARS, text)


def visible(text: str) -> str:
    """Prose as it reads on the card: values as placeholders, math and markup reduced to what shows."""
    text = placeholders(text)
    text = CLOZE_OPEN_RE.sub("", text).replace("}}", "")
    text = INLINE_MATH_RE.sub(lambda m: "x" * round(tex_width(m.group("tex"))), text)
    text = CODE_SPAN_RE.sub(lambda m: m.group("code").strip() + " ", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links show their text
    text = re.sub(r"(\*\*|__|(?<!\w)[*_]|[*_](?!\w))", "", text)
    return " ".join(text.split())


_TEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_&]|\s+|.")
_TEX_ZERO = {"\\left", "\\right", "\\big", "\\Big", "\\bigg", "\\Bigg", "\\displaystyle", "\\limits", "\\!",
             "\\begin", "\\end", "\\nonumber"}
_TEX_SPACE = {"\\,": 0.3, "\\:": 0.4, "\\;": 0.5, "\\ ": 0.5, "\\quad": 2.0, "\\qquad": 4.0}
_TEX_TEXT = {"\\text", "\\mathrm", "\\operatorname", "\\textbf", "\\textit", "\\texttt", "\\mbox"}
_TEX_WRAP = {"\\mathbf", "\\mathit", "\\mathcal", "\\mathbb", "\\boldsymbol", "\\hat", "\\bar", "\\tilde",
             "\\vec", "\\widehat", "\\widetilde", "\\overline", "\\underline", "\\dot", "\\ddot", "\\mathsf"}
_TEX_REL = {"=", "+", "-", "<", ">", "\\le", "\\leq", "\\ge", "\\geq", "\\approx", "\\cdot", "\\times", "\\to",
            "\\neq", "\\ne", "\\sim", "\\propto", "\\in", "\\pm", "\\mapsto", "\\rightarrow", "\\leftarrow",
            "\\Rightarrow", "\\equiv", "\\odot", "\\otimes", "\\oplus", "\\circ", "\\ll", "\\gg", "\\mid"}
_TEX_BIG = {"\\sum", "\\prod", "\\int", "\\frac", "\\dfrac", "\\tfrac", "\\binom", "\\sqrt", "\\max", "\\min",
            "\\arg", "\\lim", "\\begin", "\\underbrace", "\\overbrace"}


def tex_width(tex: str) -> float:
    """Rendered width of TeX in character units: commands count as one symbol, scripts as 0.7,
    a fraction as its wider part, relations and binary operators with the spacing around them.

    Rows of a multi-line display (``\\\\``) are measured separately and the widest one counts.
    """
    rows = re.split(r"\\\\", placeholders(tex))
    return max(_Tex(row).width() for row in rows)


class _Tex:
    def __init__(self, tex: str) -> None:
        self.toks = [t for t in _TEX_TOKEN.findall(tex) if not t.isspace()]
        self.pos = 0

    def width(self) -> float:
        total = 0.0
        while self.pos < len(self.toks):
            total += self._item()
        return total

    def _group(self) -> float:
        """One argument: a ``{...}`` group or a single token."""
        if self.pos >= len(self.toks):
            return 0.0
        if self.toks[self.pos] != "{":
            return self._item()
        self.pos += 1
        total = 0.0
        while self.pos < len(self.toks) and self.toks[self.pos] != "}":
            total += self._item()
        self.pos += 1
        return total

    def _raw_group(self) -> str:
        """A ``{...}`` group's source text (for ``\\text{...}``)."""
        if self.pos < len(self.toks) and self.toks[self.pos] == "{":
            depth, out = 0, []
            while self.pos < len(self.toks):
                t = self.toks[self.pos]
                self.pos += 1
                depth += (t == "{") - (t == "}")
                if depth == 0:
                    break
                if t not in "{}":
                    out.append(t)
            return "".join(out)
        return ""

    def _item(self) -> float:
        tok = self.toks[self.pos]
        self.pos += 1
        if tok == "{":
            self.pos -= 1
            return self._group()
        if tok == "}":
            return 0.0
        if tok in ("^", "_"):
            return 0.7 * self._group()
        if tok == "&":
            return 0.0
        if tok in ("\\frac", "\\dfrac", "\\tfrac", "\\binom"):
            return max(self._group(), self._group()) + 0.5
        if tok == "\\sqrt":
            return self._group() + 1.0
        if tok in _TEX_TEXT:
            return 0.85 * len(self._raw_group())
        if tok in _TEX_WRAP:
            return self._group()
        if tok in ("\\begin", "\\end"):
            self._raw_group()
            return 0.0
        if tok in _TEX_ZERO:
            return 0.0
        if tok in _TEX_SPACE:
            return _TEX_SPACE[tok]
        if tok in _TEX_REL:
            return 2.0
        if tok.startswith("\\") and len(tok) > 2:
            name = tok[1:]
            return float(len(name)) if name in {"log", "exp", "max", "min", "sin", "cos", "tanh", "arg",
                                                "softmax", "lim", "det", "sup", "inf"} else 1.0
        return 1.0


def wrapped_lines(chars: int, cpl: int) -> int:
    return max(1, math.ceil(chars / cpl)) if chars else 0


def _math_rows(tex: str) -> int:
    return tex.count("\\\\") + 1


@dataclass(frozen=True)
class Height:
    """A field's estimated height on the phone, in px, with what it is made of (for the message)."""

    px: float
    prose_lines: int = 0
    code_lines: int = 0
    math: int = 0
    images: int = 0
    rows: int = 0

    def __add__(self, other: Height) -> Height:
        return Height(self.px + other.px, self.prose_lines + other.prose_lines, self.code_lines + other.code_lines,
                      self.math + other.math, self.images + other.images, self.rows + other.rows)

    def lines(self) -> float:
        return self.px / LINE

    def parts(self) -> str:
        out = []
        if self.prose_lines:
            out.append(f"{self.prose_lines} of text")
        if self.rows:
            out.append(f"{self.rows} table row{'s' * (self.rows != 1)}")
        if self.code_lines:
            out.append(f"{self.code_lines} of code")
        if self.math:
            out.append(f"{self.math} display equation{'s' * (self.math != 1)}")
        if self.images:
            out.append(f"{self.images} figure{'s' * (self.images != 1)}")
        return ", ".join(out)


def height(text: str, scale: float = 1.0) -> Height:
    """Estimated rendered height of a Markdown field at ``scale`` times the card font."""
    total = Height(0.0)
    for b in blocks(text):
        if b.kind in ("para", "item"):
            n = wrapped_lines(len(visible(b.text)), int((CPL_ITEM if b.kind == "item" else CPL) / scale))
            total += Height(n * LINE * scale + BLOCK_GAP_PX * scale, prose_lines=n)
        elif b.kind == "row":
            cells = [visible(c) for c in b.text.strip().strip("|").split("|")]
            chars = sum(len(c) + 2 for c in cells)  # a cell's padding is about two characters
            n = wrapped_lines(chars, int(CPL / 0.9 / scale))
            total += Height(n * TABLE_ROW_PX * scale, rows=1)
        elif b.kind == "code":
            n = len(b.text.splitlines()) or 1
            total += Height((n * CODE_LINE_PX + CODE_BOX_PX) * scale, code_lines=n)
        elif b.kind == "math":
            tall = any(cmd in b.text for cmd in _TEX_BIG)
            total += Height(_math_rows(b.text) * (2.0 if tall else 1.4) * FONT * scale + 0.8 * FONT * scale, math=1)
        elif b.kind == "image":
            total += Height(FIGURE_PX, images=1)
    return total



def outside_code(text: str) -> str:
    """The text with fenced code and code spans blanked out (same length, so offsets still hold)."""
    out = list(text)
    for b in blocks(text):
        if b.kind == "code":
            for i in range(b.offset, min(len(text), b.offset + len(b.text))):
                if out[i] != "\n":
                    out[i] = " "
    blanked = "".join(out)
    return CODE_SPAN_RE.sub(lambda m: " " * len(m.group()), blanked)


def field_blocks(name: str, text: str) -> list[Block]:
    """A field's layout blocks: an output card's ``code`` is one code block (shown verbatim)."""
    return [Block("code", text.rstrip("\n"), 0)] if name == "code" else blocks(text)


def prose_fields(card: Card) -> list[Text]:
    """The fields written as Markdown prose (a snippet is code, not prose)."""
    return [text for name, text in card.fields.items() if name != "code"]
