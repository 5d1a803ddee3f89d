"""Rules about a card standing alone, and about the kinds that run code.

A card is reviewed months later, in random order, with no other card in sight: a front that
points at "that run" or "the same network" cannot be answered, an answer that is one seeded run's
number teaches noise, and two cards asking the same question split one memory in two. Output and
drill cards add their own limits: a typed answer is compared as one line, and an output that fills
the screen cannot be read at a glance.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from ...core.records import Card, CardType
from ...core.syntax import VALUE_RE
from .base import Hit
from .layout import CODE_COLS, blocks, visible

# Words that point outside the card: another card's run, example or model.
_ELSEWHERE = re.compile(
    r"\b(?:(?:that|the same|the earlier|the above|this same|the running|the toy|the demo's?)\s+"
    r"(?:run|runs|example|demo|experiment|set-?up|dataset)\b"
    r"|(?:the same|the earlier|the above|this same)\s+(?:model|network|net|mlp|cnn|rnn|data|batch|router|figure|plot|"
    r"table)\b|\bthe running example\b|\b(?:see|from|as|shown) above\b|\bas before\b"
    r"|\bthe (?:previous|last|next) card\b)", re.I)
# A front that talks about a run it does not show.
_RUN_WORDS = re.compile(r"\b(?:train(?:ed|ing)?|run|runs|demo|seed(?:ed)?|after \w+ (?:steps|epochs|updates)|"
                        r"experiment)\b", re.I)
OUTPUT_LINES = 12  # an output read at a glance
OUTPUT_COLS = 2 * CODE_COLS  # wider lines scroll more than a screen sideways


def check_refers_elsewhere(card: Card) -> Iterator[Hit]:
    for name in ("front", "text"):
        text = card.fields.get(name)
        if text is None:
            continue
        m = _ELSEWHERE.search(visible(text.text))
        if m:
            yield Hit(text.line, f"the question points outside the card (\"{m.group(0)}\"): it is reviewed alone, "
                                 "months later; state the set-up on the front, or ask for the rule instead")


def check_run_outcome(card: Card) -> Iterator[Hit]:
    """An answer that is a seeded run's number, asked about a run the front does not define."""
    front, back = card.fields.get("front"), card.fields.get("back")
    if front is None or back is None or card.type is CardType.DRILL or "```" in back.text:
        return  # a code answer's values are its settings, not a run's outcome
    prose = " ".join(visible(b.text) for b in blocks(back.text) if b.kind in ("para", "item"))
    values = [m for m in VALUE_RE.finditer(back.text) if (m.group("spec") or "").strip().endswith(("f", "g", "%", "e"))]
    if not values or VALUE_RE.search(front.text) or not _RUN_WORDS.search(visible(front.text)):
        return
    if len(prose.split()) > 12 + 3 * len(values):  # the answer also states the rule
        return
    yield Hit(back.line, "the answer is a number from a run the front does not define: a seeded run's outcome is "
                         "not worth remembering; ask for the rule or the direction, and put the run's numbers in "
                         "`extra`")


def check_typed_one_line(card: Card) -> Iterator[Hit]:
    if not card.typed:
        return
    back = card.fields.get("back")
    if back is not None and (len([b for b in blocks(back.text) if b.kind != "image"]) > 1
                             or any(b.kind in ("code", "math", "row", "item") for b in blocks(back.text))):
        yield Hit(back.line, "a typed answer is compared as one line: make `back` a single short line (a value, "
                             "a shape, a word), or remove `typed: true`")
    if card.expect_output is not None and "\n" in card.expect_output.text.strip():
        yield Hit(card.expect_output.line, "a typed answer is compared as one line, and this output has "
                                           f"{len(card.expect_output.text.strip().splitlines())}; remove `typed: true`")


def check_long_output(card: Card, output: str | None) -> Iterator[Hit]:
    """An output card's output (pinned by ``expect`` or from the last build) read at a glance."""
    if card.type is not CardType.OUTPUT:
        return
    if card.expect_output is not None:
        output = card.expect_output.text
    if not output:
        return
    lines = output.rstrip("\n").splitlines()
    widest = max((len(line) for line in lines), default=0)
    line = card.expect_output.line if card.expect_output is not None else card.fields["code"].line
    if len(lines) > OUTPUT_LINES or widest > OUTPUT_COLS:
        yield Hit(line, f"the output is {len(lines)} lines, the widest {widest} characters (at most {OUTPUT_LINES} "
                        f"lines of {OUTPUT_COLS}): print only what the question is about")


_WORD = re.compile(r"[a-z][a-z0-9_]+")
_STOP = frozenset((
    "a", "an", "the", "of", "in", "on", "to", "and", "or", "is", "are", "be", "by", "for", "with", "what", "which",
    "why", "how", "does", "do", "it", "its", "this", "that", "as", "at", "from", "when", "into", "than", "then", "can",
    "you", "your"))
# Cosine similarity of TF-IDF word vectors, over the question alone and over question plus answer.
# Calibrated on the deck: two cards that share both most of their question and most of their answer
# are one card twice; a contrast pair (same vs valid padding) shares the question but is meant.
NEAR_QUESTION, NEAR_CARD = 0.6, 0.6
# Two snippets of one API share its vocabulary (nn, Conv2d, zeros, shape) whatever behaviour they
# test, so word overlap says little between two output cards. One card twice is the same code,
# token for token once imports and the snippet's own variable names are set aside, printing the
# same thing; the same code printing something else is a minimal pair (a slice is a view, an index
# list copies), the sharpest contrast a deck can teach. Among the deck's first 123 output cards the
# most alike pair scores 89%, and every pair above 80% is such a contrast.
NEAR_CODE = 0.8
_BOILERPLATE = re.compile(r"^\s*(import |from \S+ import )")
_ASSIGNED = re.compile(r"^\s*([A-Za-z_][\w, ]*?)\s*=(?!=)")
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?|\S")


def _code_tokens(card: Card) -> list[str]:
    """An output card's snippet as tokens, imports dropped and its own variable names made one."""
    code = card.fields.get("code")
    if card.type is not CardType.OUTPUT or code is None:
        return []
    lines = [line for line in code.text.splitlines() if not _BOILERPLATE.match(line)]
    local = {w for line in lines if (m := _ASSIGNED.match(line)) for w in _TOKEN.findall(m.group(1))}
    return ["_" if t in local else t for line in lines for t in _TOKEN.findall(line)]


def _words(card: Card, names: tuple[str, ...]) -> Counter[str]:
    out: Counter[str] = Counter()
    for name in names:
        text = card.fields.get(name)
        if text is not None:
            out.update(w for w in _WORD.findall(visible(text.text).lower()) if w not in _STOP)
    return out


def near_duplicates(cards: Iterable[Card], everything: Iterable[Card],
                    outputs: Mapping[str, str] | None = None) -> Iterator[tuple[Card, Hit | None]]:
    """Cards (of ``cards``) that ask nearly what an earlier card of the deck asks, with nearly its answer.

    ``outputs`` holds output cards' known outputs (pinned or last built). Lint runs no code, so two
    nearly equal snippets whose outputs are not both known yield ``(card, None)``: undecided.
    """
    outputs = outputs or {}
    deck = list(everything)
    questions = [_words(c, ("front", "text", "code")) for c in deck]
    wholes = [q + _words(c, ("back",)) for c, q in zip(deck, questions, strict=True)]
    df: Counter[str] = Counter(w for whole in wholes for w in set(whole))
    n = len(deck)

    def vector(counts: Counter[str]) -> dict[str, float]:
        v = {w: (1 + math.log(k)) * math.log(n / df[w]) for w, k in counts.items() if df[w]}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {w: x / norm for w, x in v.items()}

    def cosine(a: dict[str, float], b: dict[str, float]) -> float:
        return sum(x * b.get(w, 0.0) for w, x in a.items())

    vq = [vector(q) for q in questions]
    vw = [vector(w) for w in wholes]
    code = [_code_tokens(c) for c in deck]
    mine = {id(c) for c in cards}
    for i, card in enumerate(deck):
        if id(card) not in mine or len(questions[i]) < 3:
            continue
        for j in range(i):
            if code[i] and code[j]:
                match = difflib.SequenceMatcher(None, code[i], code[j], autojunk=False)
                if match.real_quick_ratio() < NEAR_CODE or match.quick_ratio() < NEAR_CODE \
                        or (same := match.ratio()) < NEAR_CODE:
                    continue
                mine_out, other_out = outputs.get(card.id), outputs.get(deck[j].id)
                if mine_out is None or other_out is None:
                    yield card, None  # undecided until both have run: a silence here is not unused
                    break
                if mine_out.strip() == other_out.strip():
                    other = deck[j]
                    yield card, Hit(card.line, f"its snippet is {other.id}'s ({other.file}:{other.line}) with small "
                                               f"changes ({same:.0%} of the tokens alike) and prints the same: "
                                               "keep one card per behaviour, or change the snippet so the output "
                                               "shows the difference (or silence with the reason)")
                    break
                continue
            q, w = cosine(vq[i], vq[j]), cosine(vw[i], vw[j])
            if q >= NEAR_QUESTION and w >= NEAR_CARD:
                other = deck[j]
                yield card, Hit(card.line, f"asks nearly what {other.id} asks ({other.file}:{other.line}; question "
                                           f"{q:.0%} and card {w:.0%} alike): keep one card per question, or make "
                                           "the difference the point of the front (or silence with the reason)")
                break
