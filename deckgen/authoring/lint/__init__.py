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

from dataclasses import dataclass

from ...core.errors import DeckgenError, Problem
from ...core.project import Project
from ...core.records import Card
from ...deck.cards import load_topics
from .registry import BY_ID, RULES, SILENCEABLE


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
    loaded, problems = load_topics(project, project.select(topics))
    if problems:
        raise DeckgenError(problems)
    return sorted(f for topic in loaded for card in topic.cards for f in lint_card(card))


__all__ = ["RULES", "SILENCEABLE", "Finding", "lint", "lint_card"]
