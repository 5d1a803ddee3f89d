"""Card-quality lint for spaced repetition: ``deckgen lint``.

A card can be valid (it builds) and still be a bad flash card: an answer that needs scrolling on a
phone, three facts behind one prompt, a question that contains its own answer, a number typed by
hand that will silently drift from the code. Learners review each card for months, so these costs
are paid hundreds of times; the rules here catch them while the card is written.

Lint is static and fast: it reads ``cards.yaml`` only, runs no computation and imports no torch.
The parts: ``layout`` models the phone and measures Markdown on it; ``size``, ``recall`` and
``markup`` hold the rules, each a small check; ``registry`` lists them all with their ids and
explanations (``deckgen lint --rules``); this module runs them and applies the cards' silences.

A card silences a rule with ``lint: {rule-id: reason}``; a silence that names no rule, or no longer
matches a finding, is itself a finding (``unused-silence``), so silences cannot outlive the problem
they excused or hide a typo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...core.errors import DeckgenError, Problem
from ...core.project import Project
from ...core.records import Card, CardType
from ...deck.cards import load_all
from .base import Hit
from .registry import BY_ID, RULES, SILENCEABLE
from .standalone import check_long_output, near_duplicates


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


def lint_card(card: Card, output: str | None = None, more: Iterable[tuple[str, Hit]] = (),
              undecided: Iterable[str] = ()) -> list[Finding]:
    """Every finding on one card, after its silences, plus a finding for each silence that matched nothing.

    ``output`` is an output card's last computed output; ``more`` the deck-level hits on this card
    (near-duplicates), which its silences apply to like any other; ``undecided`` the rules that
    cannot tell before the code has run (a silence of one of them is not reported as unused).
    """
    silenced = {s.rule: s for s in card.silences}
    used: set[str] = {rule for rule in undecided if rule in silenced}
    out = []
    hits: list[tuple[str, Hit]] = [(rule.id, hit) for rule in RULES if rule.check is not None
                                   for hit in rule.check(card)]
    hits += [("long-output", hit) for hit in check_long_output(card, output)]
    for rule_id, hit in [*hits, *more]:
        if rule_id in silenced:
            used.add(rule_id)
        else:
            out.append(Finding(card.file, hit.line, card.id, rule_id, hit.message))
    for s in card.silences:
        if s.rule not in SILENCEABLE:
            what = "cannot be silenced" if s.rule in BY_ID else "names no rule"
            out.append(Finding(card.file, s.line, card.id, "unused-silence",
                               f"`lint: {s.rule}` {what} (rules: {', '.join(SILENCEABLE)}; "
                               "see `deckgen lint --rules`)"))
        elif s.rule not in used:
            out.append(Finding(card.file, s.line, card.id, "unused-silence",
                               f"`lint: {s.rule}` is silenced but the rule finds nothing on this card; "
                               "remove the silence"))
    return out


def lint(project: Project, topics: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    """Lint the named topics (all when none); a content error stops it with a DeckgenError listing them all."""
    loaded = load_all(project, project.select(topics))
    if loaded.problems:
        raise DeckgenError(loaded.problems)
    cards = [card for topic in loaded.topics for card in topic.cards]
    deck = [card for topic in loaded.everything for card in topic.cards]
    outputs = _last_outputs(project, deck)
    duplicates: dict[int, list[tuple[str, Hit]]] = {}
    undecided: set[int] = set()
    for card, hit in near_duplicates(cards, deck, outputs):
        if hit is None:
            undecided.add(id(card))
        else:
            duplicates.setdefault(id(card), []).append(("near-duplicate", hit))
    return sorted(f for card in cards
                  for f in lint_card(card, outputs.get(card.id), duplicates.get(id(card), ()),
                                     undecided=("near-duplicate",) if id(card) in undecided else ()))


def _last_outputs(project: Project, cards: list[Card]) -> dict[str, str]:
    """Output cards' outputs: pinned by ``expect``, else from the last build's cache (lint runs nothing;
    unbuilt ones are skipped)."""
    from ...compute.cache import Cache

    cache = Cache(project.cache_dir)
    found = {}
    for card in cards:
        if card.type is CardType.OUTPUT and card.expect_output is not None:
            found[card.id] = card.expect_output.text
        elif card.type is CardType.OUTPUT:
            output = cache.load_snippet(cache.snippet_key(card.fields["code"].text))
            if output is not None:
                found[card.id] = output
    return found


__all__ = ["RULES", "SILENCEABLE", "Finding", "lint", "lint_card"]
