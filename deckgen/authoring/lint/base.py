"""What a rule is and what it finds; the rules themselves live in size, recall and markup, and are
listed in the registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ...core.records import Card


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
