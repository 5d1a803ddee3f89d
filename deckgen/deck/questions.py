"""The question list that cards answer (``covers:`` ids are checked against it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DeckgenError, Problem
from ..core.yamlfile import load_file


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    scope: str


def load_questions(path: Path, shown: str) -> dict[str, Question]:
    """Questions by id. ``shown`` is the path as messages should print it."""
    try:
        data = load_file(path, shown)
    except FileNotFoundError:
        raise DeckgenError(Problem(shown, None, None, "questions file not found")) from None
    if not isinstance(data, list):
        raise DeckgenError(Problem(shown, None, None, "questions file must be a list of entries"))
    out: dict[str, Question] = {}
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise DeckgenError(Problem(shown, None, None, f"question entry without an id: {entry!r}"))
        out[entry["id"]] = Question(entry["id"], str(entry.get("question", "")), str(entry.get("scope", "")))
    return out
