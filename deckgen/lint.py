"""Card-quality lint for spaced repetition: ``deckgen lint``.

A card can be valid (it builds) and still be a bad flash card: an answer that needs scrolling on a
phone, three facts behind one prompt, a question that contains its own answer, a number typed by
hand that will silently drift from the code. Learners review each card for months, so these costs
are paid hundreds of times; the rules here catch them while the card is written.

Lint is static and fast: it reads ``cards.yaml`` only, runs no computation and imports no torch.
Where a rule needs rendered size it estimates it from the Markdown with the card stylesheet's
numbers (``templates/card.css``): each ``{{ value }}`` counts as a short placeholder and each figure
as its height at the full card width.

Each rule has a stable id and a one-line explanation (``deckgen lint --rules``). A card silences a
rule with ``lint: {rule-id: reason}``; a silence that no longer matches a finding is itself a
finding (``unused-silence``), so silences cannot outlive the problem they excused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import DeckgenError, Problem
from .project import Project
from .records import Card, CardType, Text
from .refs import VALUE_RE

# ---------------------------------------------------------------------------------------------------------------
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
FIGURE_PX = WIDTH * 3.0 / 4.2 + 2 * 0.6 * FONT  # a 4.2x3.0 in figure shown at the full width: 284 px
BLOCK_GAP_PX = 0.5 * FONT  # paragraph margins (collapsed)
TABLE_ROW_PX = 0.9 * LINE + 0.4 * 0.9 * FONT + 1  # .dg table font-size 0.9em, cell padding 0.2em
VALUE_CHARS = 6  # a {{ value }} counts as a short number

# Rule thresholds. A question is read at a glance: 7 lines is about 45 words. `extra` is the short note
# under the answer (the authoring guide says 50 words or fewer: 7 lines of its smaller text). Five or
# more list items, table rows or statements is an enumeration, which SuperMemo's rules ("avoid sets
# and enumerations") single out as the hardest thing to retain; four still passes, so a contrast of
# two or a short chain of reasons does not fire. A deletion over 10 words asks for a sentence, not a
# key term. Twelve lines of code is more than any one question about code needs.
FRONT_LINES = 7
EXTRA_LINES = 7
FACT_ITEMS = 5
FACT_SENTENCES = 5
DELETION_WORDS = 10
CODE_LINES = 12
YEARS = range(1900, 2100)


# ---------------------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Rule:
    """One lint rule: a stable id (used in ``lint:`` silences), a one-line explanation, its check."""

    id: str
    explanation: str
    check: Callable[[Card], Iterator[Hit]] | None  # None: computed across rules (unused-silence)


@dataclass(frozen=True)
class Hit:
    """What a check found: the file line it is on and a message saying what was measured and the fix."""

    line: int
    message: str


@dataclass(frozen=True, order=True)
class Finding:
    """A rule that fired on a card, located like every other deckgen problem."""

    file: str
    line: int
    card: str
    rule: str
    message: str

    def problem(self) -> Problem:
        return Problem(self.file, self.line, self.card, f"{self.rule}: {self.message}")

    def __str__(self) -> str:
        return str(self.problem())


# ---------------------------------------------------------------------------------------------------------------
# Reading Markdown well enough to measure it


@dataclass(frozen=True)
class Block:
    """A piece of a field as it will be laid out: prose, a list item, a table row, code, math or an image."""

    kind: str  # "para" | "item" | "row" | "code" | "math" | "image"
    text: str  # prose, code (lines joined), TeX, or the image's alt text
    offset: int  # where it starts in the field, for line numbers
    src: str = ""  # an image's target (``fig:name`` or a file)


FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
ITEM_RE = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
IMAGE_RE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]*)\)")
INLINE_DISPLAY_RE = re.compile(r"\\\[(?P<tex>.+?)\\\]", re.S)
INLINE_MATH_RE = re.compile(r"\\\((?P<tex>.+?)\\\)", re.S)
CODE_SPAN_RE = re.compile(r"(`+)(?P<code>.+?)\1", re.S)
CLOZE_OPEN_RE = re.compile(r"\{\{c(?P<n>\d+)::")


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
                    + [(m.start(), m.end(), "math", m) for m in INLINE_DISPLAY_RE.finditer(text)])
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


def _placeholders(text: str) -> str:
    """Values as a short number, as the reader will see them (``{{ lr:g }}`` -> ``000000``)."""
    return VALUE_RE.sub("0" * VALUE_CHARS, text)


def visible(text: str) -> str:
    """Prose as it reads on the card: values as placeholders, math and markup reduced to what shows."""
    text = _placeholders(text)
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
    rows = re.split(r"\\\\", _placeholders(tex))
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


def _wrapped_lines(chars: int, cpl: int) -> int:
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
            n = _wrapped_lines(len(visible(b.text)), int((CPL_ITEM if b.kind == "item" else CPL) / scale))
            total += Height(n * LINE * scale + BLOCK_GAP_PX * scale, prose_lines=n)
        elif b.kind == "row":
            cells = [visible(c) for c in b.text.strip().strip("|").split("|")]
            chars = sum(len(c) + 2 for c in cells)  # a cell's padding is about two characters
            n = _wrapped_lines(chars, int(CPL / 0.9 / scale))
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


# ---------------------------------------------------------------------------------------------------------------
# Rules


def _answer_side(card: Card) -> tuple[str, Height, Text]:
    """(what it is, height of what the learner reads to grade the card, the field to point at).

    A reversed card's second side shows the same two fields the other way round: same height.
    """
    f = card.fields
    if card.type is CardType.CLOZE:
        return "the cloze text", height(f["text"].text), f["text"]
    return "question and answer", height(f["front"].text) + Height(HR_PX) + height(f["back"].text), f["back"]


def check_long_answer(card: Card) -> Iterator[Hit]:
    side, h, text = _answer_side(card)
    if h.px > SCREEN_PX:
        yield Hit(text.line, f"{side}: about {h.lines():.0f} lines, a {SCREEN} shows {SCREEN_LINES} "
                             f"({h.parts()}); cut it to the essential, move the rest to `extra` or a new card")


def check_long_front(card: Card) -> Iterator[Hit]:
    text = card.fields.get("front")
    if text is None:
        return
    h = height(text.text)
    if h.lines() > FRONT_LINES:
        yield Hit(text.line, f"the question takes about {h.lines():.0f} lines ({h.parts()}), over {FRONT_LINES}: "
                             "ask one precise question and move the set-up into a short code block or figure")


def check_long_extra(card: Card) -> Iterator[Hit]:
    text = card.fields.get("extra")
    if text is None:
        return
    h = height(text.text, EXTRA_SCALE)
    if h.px > EXTRA_LINES * LINE:
        yield Hit(text.line, f"`extra` takes about {h.lines():.0f} lines ({h.parts()}), over {EXTRA_LINES}: "
                             "keep one note (why it matters, a common mistake) and make the rest its own card")


def check_empty_extra(card: Card) -> Iterator[Hit]:
    text = card.fields.get("extra")
    if text is not None and not text.text.strip():
        yield Hit(text.line, "`extra` is empty: remove the key")


_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z(`\\]|\s*$)")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|vs|etc|cf|approx|Fig|Eq|resp|Dr|Mr)\.$", re.I)


def sentences(prose: str) -> int:
    """Sentences in prose: ends of ``.``, ``!``, ``?`` before a capital or the end, abbreviations excluded."""
    count = 0
    for m in _SENTENCE_END.finditer(prose):
        if not _ABBREV.search(prose[max(0, m.start() - 8):m.end()]):
            count += 1
    if prose.strip() and not re.search(r"[.!?]\s*$", prose):
        count += 1  # a final fragment without a full stop
    return count


def check_several_facts(card: Card) -> Iterator[Hit]:
    if card.type is CardType.CLOZE:
        return
    back = card.fields["back"]
    parts = blocks(back.text)
    items = [b for b in parts if b.kind == "item"]
    rows = [b for b in parts if b.kind == "row"]
    prose = " ".join(visible(b.text) for b in parts if b.kind == "para")
    n_sentences = sentences(prose)
    if len(items) >= FACT_ITEMS:
        yield Hit(back.line_of(items[0].offset),
                  f"the answer lists {len(items)} items: a set of {FACT_ITEMS} or more is recalled as a whole or "
                  "not at all; make it a cloze with one deletion per item, or split it into cards")
    elif len(rows) - 1 >= FACT_ITEMS:
        yield Hit(back.line_of(rows[0].offset),
                  f"the answer is a table of {len(rows) - 1} rows: each row is a fact to recall; split the table "
                  "into cards or turn it into a cloze")
    elif n_sentences + len(items) >= FACT_SENTENCES:
        yield Hit(back.line, f"the answer makes {n_sentences + len(items)} statements ({n_sentences} sentences, "
                             f"{len(items)} list items): ask for one fact, and give the others their own cards "
                             "or move the context to `extra`")


def deletions(text: str) -> Iterator[tuple[int, int, int, str]]:
    """(cloze number, start, end, hidden text) of each deletion as Anki reads it: the first ``}}`` ends it.

    Values are replaced by placeholders of the same length first, because the build fills them in
    before Anki parses the cloze (``{{c1::{{ n }}}}`` is a deletion holding a number).
    """
    masked = VALUE_RE.sub(lambda m: "\x00" * len(m.group()), text)
    for m in CLOZE_OPEN_RE.finditer(masked):
        end = masked.find("}}", m.end())
        if end < 0:
            continue
        body = text[m.end():end]
        yield int(m.group("n")), m.start(), end + 2, body.split("::")[0] if "::" in masked[m.end():end] else body


def check_cloze_math_braces(card: Card) -> Iterator[Hit]:
    if card.type is not CardType.CLOZE:
        return
    text = card.fields["text"]
    masked = VALUE_RE.sub(lambda m: "0" * len(m.group()), text.text)
    for m in CLOZE_OPEN_RE.finditer(masked):
        end = masked.find("}}", m.end())
        if end < 0:
            continue
        inside = masked[m.end():end]
        opened = inside.count("\\(") + inside.count("\\[") - inside.count("\\)") - inside.count("\\]")
        if opened > 0:
            yield Hit(text.line_of(end), "a `}}` inside math ends the deletion early, so Anki shows broken TeX: "
                                         "put a space between the math's closing braces and the cloze's `}}`")


_DOLLAR_RE = re.compile(r"\$\$.+?\$\$|(?<![\\$\w])\$(?=\S)[^$\n]+?(?<=\S)(?<!\\)\$(?!\d)", re.S)


def _outside_code(text: str) -> str:
    """The text with fenced code and code spans blanked out (same length, so offsets still hold)."""
    out = list(text)
    for b in blocks(text):
        if b.kind == "code":
            for i in range(b.offset, min(len(text), b.offset + len(b.text))):
                if out[i] != "\n":
                    out[i] = " "
    blanked = "".join(out)
    return CODE_SPAN_RE.sub(lambda m: " " * len(m.group()), blanked)


def check_dollar_math(card: Card) -> Iterator[Hit]:
    for text in card.fields.values():
        m = _DOLLAR_RE.search(_outside_code(text.text))
        if m:
            shown = " ".join(m.group().split())[:30]
            yield Hit(text.line_of(m.start()), f"math written with $ ({shown}): Anki's MathJax does not read $, "
                                               "write \\( ... \\) inline or \\[ ... \\] for display")


_PLACEHOLDER_ALT = {"", "figure", "image", "plot", "chart", "graph", "picture", "alt", "alt text", "todo", "tbd",
                    "fig", "img", "diagram", "screenshot"}


def check_figure_alt(card: Card) -> Iterator[Hit]:
    for text in card.fields.values():
        for m in IMAGE_RE.finditer(text.text):
            alt = " ".join(VALUE_RE.sub("0", m.group("alt")).split())
            name = m.group("src").removeprefix("fig:").rsplit(".", 1)[0]
            words = re.findall(r"[A-Za-z]+", alt)
            if (alt.lower().strip(" .") in _PLACEHOLDER_ALT or alt.lower() == name.lower().replace("_", " ")
                    or alt == name or len(words) < 3):
                yield Hit(text.line_of(m.start()),
                          f"figure {m.group('src')} has alt text \"{alt}\": say what it shows (axes, the curve "
                          "that matters, the takeaway) in a few words; screen readers and searches use it")


def check_no_covers(card: Card) -> Iterator[Hit]:
    if not card.covers:
        yield Hit(card.line, "the card names no question id in `covers`: say which interview question it "
                             "answers, or drop the card if it answers none")


def _norm(text: str) -> str:
    """Lower-case words for comparing phrases: markup, math delimiters and punctuation dropped."""
    text = re.sub(r"\\[()\[\]]|\*\*|`", " ", text)
    return " ".join(re.findall(r"\{\{\s*\w+[^{}]*\}\}|[\w.+-]+", text.lower()))


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


def check_giveaway(card: Card) -> Iterator[Hit]:
    if card.type is CardType.CLOZE:
        yield from _cloze_giveaway(card)
        return
    front, back = card.fields["front"], card.fields["back"]
    q = _norm(front.text)
    prose = [b for b in blocks(back.text) if b.kind in ("para", "item", "row")]
    # One bold phrase marks the answer's key term; several are labels of an enumeration.
    bold = [(m.group(1), back.line_of(b.offset + m.start())) for b in prose
            for m in re.finditer(r"\*\*(.+?)\*\*", b.text)]
    keys = bold if len({_norm(k) for k, _ in bold}) == 1 else []
    whole = " ".join(b.text for b in prose)
    if not bold and len(_norm(whole).split()) <= 4 and len(prose) == 1:
        keys = [(whole, back.line)]
    for key, line in keys:
        k = _norm(key)
        if len(k) >= 3 and _contains(q, k):
            yield Hit(line, f"the answer's key term \"{key.strip()}\" is in the question: the card tests reading, "
                            "not recall; ask without naming it")
            return
    if card.type is CardType.REVERSED:
        term = _norm(front.text)
        if 0 < len(term.split()) <= 5 and _contains(_norm(back.text), term):
            yield Hit(back.line, f"the reversed card shows the answer \"{front.text.strip()}\" inside its own "
                                 "question: rephrase the definition without the term")


def _cloze_giveaway(card: Card) -> Iterator[Hit]:
    text = card.fields["text"]
    dels = list(deletions(text.text))
    for n, start, _end, hidden in dels:
        shown = text.text
        for other_n, s, e, h in sorted(dels, key=lambda d: -d[1]):
            shown = shown[:s] + ("[...]" if other_n == n else h) + shown[e:]
        k = _norm(hidden)
        if len(k.replace(" ", "")) >= 3 and _contains(_norm(shown), k):
            yield Hit(text.line_of(start), f"deletion c{n} hides \"{hidden.strip()}\", but the card shows the same "
                                           "text elsewhere: reword or delete the other occurrence too")


# A number typed in card text: a decimal (0.5, .9), scientific (1e-3), a percentage, a number with
# thousands separators or a whole number of 5+ digits. Smaller whole numbers (counts, layers, a year) are
# structural and fine. In math, exponents, subscripts and whole numbers are part of the formula; a decimal
# and a power of ten (10^{-8}, 3 \times 10^{4}) are still quantities.
_NUMBER_RE = re.compile(
    r"(?<![\w.\\])(?:"
    r"\d+(?:\.\d+)?[eE][-+]?\d+"  # 1e-3
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 12,580
    r"|\d*\.\d+\s*%?"  # 0.5, .9, 99.5%
    r"|\d+\s*%"  # 95%
    r"|\d{5,}"  # 50257
    r")(?![\w.]\w|\.\d)")
_MATH_RE = re.compile(r"\\\((?P<inline>.+?)\\\)|\\\[(?P<display>.+?)\\\]", re.S)
_POWER_OF_TEN_RE = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?\s*(?:\\times|\\cdot|×)\s*10\s*\^\s*\{?\s*-?\s*\d+\s*\}?"
                              r"|10\s*\^\s*\{\s*-\s*\d+\s*\})")
_SCRIPT_RE = re.compile(r"[\^_](?:\{(?:[^{}]|\{[^{}]*\})*\}|-?[\d.]+|\\?\w)")
# Version numbers are names, not quantities: "PyTorch 2.0", "Python 3.11", "GPT-3.5", "opset 17".
_VERSIONED = re.compile(r"(?:pytorch|python|torch|tensorflow|tf|cuda|cudnn|numpy|anki|onnx|opset|version|v|gpt|"
                        r"llama|release|keras|jax|triton|sm|compute capability)[\s-]*$", re.I)


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group())


def typed_numbers(text: str) -> Iterator[tuple[int, str]]:
    """(offset, number) of each hand-typed quantity outside code and ``{{ }}`` values, in text order."""
    scan = VALUE_RE.sub(_blank, _outside_code(text))
    scan = re.sub(r"\{\{c\d+::|\]\([^)\s]*\)", _blank, scan)  # cloze markers, image targets
    found = []
    for math_m in _MATH_RE.finditer(scan):
        at, tex = math_m.start(), math_m.group()
        found += [(at + m.start(), " ".join(m.group().split())) for m in _POWER_OF_TEN_RE.finditer(tex)]
        tex = _SCRIPT_RE.sub(_blank, _POWER_OF_TEN_RE.sub(_blank, tex))
        found += [(at + m.start(), m.group().strip()) for m in _NUMBER_RE.finditer(tex) if not m.group().isdigit()]
        scan = scan[:at] + " " * len(tex) + scan[at + len(tex):]
    for m in _NUMBER_RE.finditer(scan):
        number = m.group().strip()
        if _VERSIONED.search(scan[max(0, m.start() - 30):m.start()]):
            continue
        if number.isdigit() and int(number) in YEARS:
            continue
        found.append((m.start(), number))
    yield from sorted(found)


def check_typed_number(card: Card) -> Iterator[Hit]:
    for text in card.fields.values():
        for offset, number in typed_numbers(text.text):
            yield Hit(text.line_of(offset), f"{number!r} is typed by hand: compute it in compute.py "
                                            "(`ctx.value`) and write `{{ name:spec }}`, so it cannot drift "
                                            "from the code")


def check_code_too_wide(card: Card) -> Iterator[Hit]:
    for text in card.fields.values():
        for b in blocks(text.text):
            if b.kind != "code":
                continue
            for i, line in enumerate(b.text.splitlines()):
                width = len(_placeholders(line).rstrip())
                if width > CODE_COLS:
                    yield Hit(text.line_of(b.offset) + i,
                              f"code line of {width} characters: a {SCREEN} shows {CODE_COLS} before the block "
                              "scrolls sideways; shorten names, split the line, or drop the comment")
                    break


def check_code_too_long(card: Card) -> Iterator[Hit]:
    for text in card.fields.values():
        for b in blocks(text.text):
            n = len(b.text.splitlines())
            if b.kind == "code" and n > CODE_LINES:
                yield Hit(text.line_of(b.offset), f"code block of {n} lines, over {CODE_LINES}: show only the "
                                                  "lines the question is about")


def check_wide_math(card: Card) -> Iterator[Hit]:
    for text in card.fields.values():
        for b in blocks(text.text):
            if b.kind == "math":
                w = tex_width(b.text)
                if w > MATH_COLS:
                    yield Hit(text.line_of(b.offset),
                              f"display math about {w:.0f} symbols wide, a {SCREEN} fits {MATH_COLS}: split it "
                              "over two lines (\\\\ in an aligned block) or name a sub-expression")


def check_long_deletion(card: Card) -> Iterator[Hit]:
    if card.type is not CardType.CLOZE:
        return
    text = card.fields["text"]
    for n, start, _end, hidden in deletions(text.text):
        words = len(visible(hidden).split())
        if words > DELETION_WORDS:
            yield Hit(text.line_of(start), f"deletion c{n} hides {words} words: recalling a whole phrase "
                                           "verbatim is a lottery; hide the key term or split the deletion")


_YES_NO = re.compile(r"^\W*(yes|no)\b", re.I)
_OPEN_QUESTION = re.compile(r"\b(what|why|how|which|when|where|who|explain|name|describe|compare|give|show)\b", re.I)


def check_yes_no(card: Card) -> Iterator[Hit]:
    if card.type is CardType.CLOZE:
        return
    front, back = card.fields["front"], card.fields["back"]
    m = _YES_NO.match(visible(back.text))
    if m and not _OPEN_QUESTION.search(visible(front.text)):
        yield Hit(front.line, f"a yes/no question (the answer starts with {m.group(1)!r}) is passed by a coin flip "
                              "half the time; ask for what happens or why, e.g. append \"What does it do "
                              "instead?\"")


RULES: tuple[Rule, ...] = (
    Rule("long-answer", f"The answer side (question above the answer; a cloze's whole text) must fit one screen of a "
                        f"{SCREEN}: about {SCREEN_LINES} lines of 19 px text ({CPL} characters each), a figure "
                        f"counting {FIGURE_PX / LINE:.0f} lines; `extra` is not counted.", check_long_answer),
    Rule("long-front", f"The question is read at a glance: at most {FRONT_LINES} lines on a phone, code and "
                       "figures included.", check_long_front),
    Rule("long-extra", f"`extra` is a short note under the answer: at most {EXTRA_LINES} lines of its smaller "
                       "text.", check_long_extra),
    Rule("empty-extra", "An `extra` key with no text.", check_empty_extra),
    Rule("several-facts", f"One fact per card: a basic answer with {FACT_ITEMS}+ list items, a {FACT_ITEMS}+ row "
                          f"table or {FACT_SENTENCES}+ statements (sentences plus list items) asks for several "
                          "facts at once.", check_several_facts),
    Rule("long-deletion", f"A cloze deletion hides a key term, not a sentence: at most {DELETION_WORDS} words.",
         check_long_deletion),
    Rule("cloze-math-braces", "Anki ends a deletion at the first `}}`, so `}}` inside math in a deletion breaks "
                              "the math.", check_cloze_math_braces),
    Rule("dollar-math", "Math must be written \\( ... \\) or \\[ ... \\]; Anki's MathJax ignores $ ... $.",
         check_dollar_math),
    Rule("figure-alt", "Every figure needs alt text that says what it shows (at least three words, not a "
                       "placeholder or the figure's name).", check_figure_alt),
    Rule("no-covers", "Every card names the interview question(s) it answers in `covers`.", check_no_covers),
    Rule("giveaway", "The question must not contain its answer: a basic answer's key term (its one bold phrase, or "
                     "a short whole answer) in the front, a cloze deletion's text visible elsewhere on its card, "
                     "a reversed card's term inside its definition.", check_giveaway),
    Rule("yes-no", "A question answered by yes or no alone is guessed right half the time: a front whose answer "
                   "starts with yes/no must also ask what, why or how.", check_yes_no),
    Rule("typed-number", "Numbers come from code: a decimal, scientific, percentage, comma-grouped or 5+ digit "
                         "number typed into text or alt text (outside code and {{ }} values; version numbers "
                         "after a product name are fine) should be a computed value.", check_typed_number),
    Rule("code-too-wide", f"A code line longer than {CODE_COLS} characters scrolls sideways on a phone "
                          "(0.78em monospace in a 366 px card).", check_code_too_wide),
    Rule("code-too-long", f"A code block longer than {CODE_LINES} lines is more than one question needs.",
         check_code_too_long),
    Rule("wide-math", f"Display math wider than about {MATH_COLS} symbols scrolls sideways on a phone.",
         check_wide_math),
    Rule("unused-silence", "A `lint:` silence that no longer matches a finding on its card; remove it.", None),
)
BY_ID = {r.id: r for r in RULES}
# Rule ids a card may switch off with ``lint:`` (an unused silence cannot itself be silenced).
SILENCEABLE: tuple[str, ...] = tuple(r.id for r in RULES if r.check is not None)


def lint_card(card: Card) -> list[Finding]:
    """Every finding on one card, after its silences, plus a finding for each silence that matched nothing."""
    silenced = {s.rule: s for s in card.silences}
    used: set[str] = set()
    out = []
    for rule in RULES:
        if rule.check is None:
            continue
        for hit in rule.check(card):
            if rule.id in silenced:
                used.add(rule.id)
            else:
                out.append(Finding(card.file, hit.line, card.id, rule.id, hit.message))
    for s in card.silences:
        if s.rule not in used:
            out.append(Finding(card.file, s.line, card.id, "unused-silence",
                               f"`lint: {s.rule}` is silenced but the rule finds nothing on this card; "
                               "remove the silence"))
    return out


def lint(project: Project, topics: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    """Lint the named topics (all when none); a content error stops it with a DeckgenError listing them all."""
    # Imported here: content imports this module for the rule ids a `lint:` key may name.
    from .content import load_topics

    loaded, problems = load_topics(project, project.select(topics))
    if problems:
        raise DeckgenError(problems)
    return sorted(f for topic in loaded for card in topic.cards for f in lint_card(card))
