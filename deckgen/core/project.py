"""Where a project keeps things, and its settings (``deckgen.yaml``).

A project is a folder with ``content/<topic>/cards.yaml`` (and optionally
``content/<topic>/compute.py``) per topic. Everything deckgen writes lives beside it:
``build/`` for packages, ``.deckgen-cache/`` for computation results, ``figures/`` for a
browsable copy of the latest figures, and ``content/manifest.json`` (committed) for note mods.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DeckgenError, Problem, did_you_mean, display_path
from .yamlfile import load_file

SETTINGS_FILE = "deckgen.yaml"
CARDS_FILE = "cards.yaml"
COMPUTE_FILE = "compute.py"
TOPIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFAULT_TIMEOUT = 300.0  # seconds one topic's computation may run, unless deckgen.yaml says otherwise


def default_jobs() -> int:
    """Computations to run at once unless told otherwise: one per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@dataclass(frozen=True)
class Settings:
    """Project-wide settings; every field has a default so ``deckgen.yaml`` is optional."""

    deck: str = "Deep Learning"
    questions: Path | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class TopicPaths:
    """The files of one topic. ``compute`` is None for a topic without computations."""

    name: str
    dir: Path
    cards: Path
    compute: Path | None


@dataclass(frozen=True)
class Project:
    """A content project rooted at ``root``."""

    root: Path
    settings: Settings

    @property
    def content_dir(self) -> Path:
        return self.root / "content"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".deckgen-cache"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    @property
    def manifest_path(self) -> Path:
        return self.content_dir / "manifest.json"

    def rel(self, path: Path) -> str:
        """A path as shown in messages."""
        return display_path(path)

    def topics(self) -> list[TopicPaths]:
        """All topics, sorted by name so every build sees them in the same order."""
        if not self.content_dir.is_dir():
            raise DeckgenError(f"{self.rel(self.content_dir)}: no content folder in {self.root}")
        found = []
        for d in sorted(self.content_dir.iterdir()):
            cards = d / CARDS_FILE
            if not d.is_dir() or d.name.startswith((".", "_")) or not cards.is_file():
                continue
            if not TOPIC_NAME.match(d.name):
                raise DeckgenError(Problem(self.rel(cards), None, None,
                                           f"topic folder name {d.name!r} must be lower-case letters, digits and '-' "
                                           "(it becomes the topic's tag and --topic name)"))
            compute = d / COMPUTE_FILE
            found.append(TopicPaths(d.name, d, cards, compute if compute.is_file() else None))
        return found

    def select(self, names: tuple[str, ...] | list[str]) -> list[TopicPaths]:
        """The named topics (all when none named); an unknown name is an error."""
        topics = self.topics()
        if not names:
            return topics
        by_name = {t.name: t for t in topics}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DeckgenError([Problem(None, None, None,
                                        f"unknown topic {name}{did_you_mean(name, by_name, 'topics')}")
                                for name in unknown])
        seen: dict[str, TopicPaths] = {}
        for n in names:
            seen.setdefault(n, by_name[n])
        return list(seen.values())


def load_project(root: Path) -> Project:
    """Read ``deckgen.yaml`` (if any) and return the project; bad settings are a DeckgenError."""
    root = root.resolve()
    if not root.is_dir():
        raise DeckgenError(f"{root}: project folder does not exist")
    path = root / SETTINGS_FILE
    if not path.is_file():
        return Project(root, Settings())
    rel = display_path(path)
    data = load_file(path, rel) or {}
    if not isinstance(data, dict):
        raise DeckgenError(Problem(rel, 1, None, "settings must be a mapping"))

    def at(key: str) -> int | None:
        return getattr(data, "value_lines", {}).get(key)

    unknown = sorted(set(data) - {"deck", "questions", "timeout"}, key=str)
    if unknown:
        raise DeckgenError(Problem(rel, getattr(data, "key_lines", {}).get(unknown[0]), None,
                                   f"unknown setting(s): {', '.join(map(str, unknown))} (deck, questions, timeout)"))
    deck = data.get("deck", Settings.deck)
    if not isinstance(deck, str) or not deck.strip() or "::" in deck:
        raise DeckgenError(Problem(rel, at("deck"), None, "deck must be a non-empty name without '::'"))
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise DeckgenError(Problem(rel, at("timeout"), None, "timeout must be a positive number of seconds"))
    questions = data.get("questions")
    qpath = None
    if questions is not None:
        if not isinstance(questions, str):
            raise DeckgenError(Problem(rel, at("questions"), None, "questions must be a path"))
        qpath = (root / questions).resolve()
    return Project(root, Settings(deck=deck.strip(), questions=qpath, timeout=float(timeout)))
