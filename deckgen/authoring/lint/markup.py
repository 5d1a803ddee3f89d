"""Rules about markup and provenance: math Anki can read, cloze braces, alt text, covers, and
numbers that come from code instead of being typed."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...core.records import Card, CardType
from ...core.syntax import CLOZE_OPEN_RE, IMAGE_RE, MATH_RE, VALUE_RE, mask_values
from .base import Hit
from .layout import outside_code, prose_fields

YEARS = range(1900, 2100)  # a year is a name, not a quantity


def check_cloze_math_braces(card: Card) -> Iterator[Hit]:
    if card.type is not CardType.CLOZE:
        return
    text = card.fields["text"]
    masked = mask_values(text.text, "0")
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


def check_dollar_math(card: Card) -> Iterator[Hit]:
    for text in prose_fields(card):
        m = _DOLLAR_RE.search(outside_code(text.text))
        if m:
            shown = " ".join(m.group().split())[:30]
            yield Hit(text.line_of(m.start()), f"math written with $ ({shown}): Anki's MathJax does not read $, "
                                               "write \\( ... \\) inline or \\[ ... \\] for display")


_PLACEHOLDER_ALT = {"", "figure", "image", "plot", "chart", "graph", "picture", "alt", "alt text", "todo", "tbd",
                    "fig", "img", "diagram", "screenshot"}


def check_figure_alt(card: Card) -> Iterator[Hit]:
    for text in prose_fields(card):
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
    scan = VALUE_RE.sub(_blank, outside_code(text))
    scan = CLOZE_OPEN_RE.sub(_blank, scan)
    scan = re.sub(r"\]\([^)\s]*\)", _blank, scan)  # image targets
    found = []
    for math_m in MATH_RE.finditer(scan):
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
    for text in prose_fields(card):
        for offset, number in typed_numbers(text.text):
            yield Hit(text.line_of(offset), f"{number!r} is typed by hand: compute it in compute.py "
                                            "(`ctx.value`) and write `{{ name:spec }}`, so it cannot drift "
                                            "from the code")
