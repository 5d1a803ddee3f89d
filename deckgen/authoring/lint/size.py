"""Rules about size: what fits one phone screen, and code or math that scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator

from ...core.records import Card, CardType, Text
from .base import Hit
from .layout import (
    CODE_COLS,
    EXTRA_SCALE,
    HR_PX,
    LINE,
    MATH_COLS,
    SCREEN,
    SCREEN_LINES,
    SCREEN_PX,
    Height,
    blocks,
    field_blocks,
    height,
    placeholders,
    prose_fields,
    tex_width,
)

# A question is read at a glance: 7 lines is about 45 words. `extra` is the short note under the
# answer (the authoring guide says 50 words or fewer: 7 lines of its smaller text). Twelve lines of
# code is more than any one question about code needs.
FRONT_LINES = 7
EXTRA_LINES = 7
CODE_LINES = 12


def _answer_side(card: Card) -> tuple[str, Height, Text]:
    """(what it is, height of what the learner reads to grade the card, the field to point at).

    A reversed card's second side shows the same two fields the other way round: same height.
    """
    f = card.fields
    if card.type is CardType.CLOZE:
        return "the cloze text", height(f["text"].text), f["text"]
    if card.type is CardType.OUTPUT:  # the prompt, the snippet, and (when pinned) the output
        code = f["code"]
        output = card.expect_output.text if card.expect_output is not None else ""
        fenced = (f"What does this print (or raise)?\n\n```\n{code.text}\n```\n"
                  + (f"```\n{output}\n```" if output else ""))
        return "snippet and output", height(fenced), code
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


def check_code_too_wide(card: Card) -> Iterator[Hit]:
    for name, text in card.fields.items():
        for b in field_blocks(name, text.text):
            if b.kind != "code":
                continue
            for i, line in enumerate(b.text.splitlines()):
                width = len(placeholders(line).rstrip())
                if width > CODE_COLS:
                    yield Hit(text.line_of(b.offset) + i,
                              f"code line of {width} characters: a {SCREEN} shows {CODE_COLS} before the block "
                              "scrolls sideways; shorten names, split the line, or drop the comment")
                    break


def check_code_too_long(card: Card) -> Iterator[Hit]:
    for name, text in card.fields.items():
        for b in field_blocks(name, text.text):
            n = len(b.text.splitlines())
            if b.kind == "code" and n > CODE_LINES:
                yield Hit(text.line_of(b.offset), f"code block of {n} lines, over {CODE_LINES}: show only the "
                                                  "lines the question is about")


def check_wide_math(card: Card) -> Iterator[Hit]:
    for text in prose_fields(card):
        for b in blocks(text.text):
            if b.kind == "math":
                w = tex_width(b.text)
                if w > MATH_COLS:
                    yield Hit(text.line_of(b.offset),
                              f"display math about {w:.0f} symbols wide, a {SCREEN} fits {MATH_COLS}: split it "
                              "over two lines (\\\\ in an aligned block) or name a sub-expression")
