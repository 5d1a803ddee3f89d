"""Rules about recall: one fact per card, no answer given away, no coin-flip questions."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...core.records import Card, CardType
from ...core.syntax import deletions
from .base import Hit
from .layout import blocks, visible

# Five or more list items, table rows or statements is an enumeration, which SuperMemo's rules
# ("avoid sets and enumerations") single out as the hardest thing to retain; four still passes, so a
# contrast of two or a short chain of reasons does not fire. A deletion over 10 words asks for a
# sentence, not a key term.
FACT_ITEMS = 5
FACT_SENTENCES = 5
DELETION_WORDS = 10


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
    if "back" not in card.fields:  # cloze and output cards have no written answer
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
    if "back" not in card.fields:
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
    if "back" not in card.fields:
        return
    front, back = card.fields["front"], card.fields["back"]
    m = _YES_NO.match(visible(back.text))
    if m and not _OPEN_QUESTION.search(visible(front.text)):
        yield Hit(front.line, f"a yes/no question (the answer starts with {m.group(1)!r}) is passed by a coin flip "
                              "half the time; ask for what happens or why, e.g. append \"What does it do "
                              "instead?\"")
