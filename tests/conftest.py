"""Shared fixtures: small throw-away projects, the CLI, and a fresh Anki collection."""

from __future__ import annotations

import contextlib
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from deckgen.cli import main

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = """\
- id: q-one
  question: First question?
  scope: core
- id: q-two
  question: Second question?
  scope: core
"""

MakeProject = Callable[..., Path]


def write_project(root: Path, topics: dict[str, dict[str, str]], settings: str | None = None) -> Path:
    """Write a project: topics maps name -> {"cards": yaml, "compute": python (optional), other files}."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "questions.yaml").write_text(QUESTIONS)
    (root / "deckgen.yaml").write_text(settings or "deck: Test Deck\nquestions: questions.yaml\ntimeout: 60\n")
    for name, files in topics.items():
        d = root / "content" / name
        d.mkdir(parents=True, exist_ok=True)
        for fname, text in files.items():
            target = d / ("cards.yaml" if fname == "cards" else "compute.py" if fname == "compute" else fname)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeProject:
    """Write a project and stand in it, as an author does: paths in messages are relative to it."""
    def make(topics: dict[str, dict[str, str]], settings: str | None = None, name: str = "proj") -> Path:
        root = write_project(tmp_path / name, topics, settings)
        monkeypatch.chdir(root)
        return root

    return make


def run_cli(*args: str | Path) -> Result:
    """The CLI as an author runs it: standing in the project folder (``--project``), so paths in
    messages are the project-relative ones the author sees."""
    argv = [str(a) for a in args]
    where = Path(argv[argv.index("--project") + 1]) if "--project" in argv[:-1] else None
    with contextlib.chdir(where) if where is not None and where.is_dir() else contextlib.nullcontext():
        return CliRunner().invoke(main, argv, catch_exceptions=False)


@pytest.fixture
def cli() -> Callable[..., Result]:
    return run_cli


def copy_real_project(dest: Path) -> Path:
    """A copy of this repository's content, settings, manifest and computation cache.

    Tests build the real deck in a copy so they never rewrite the committed manifest; the cache
    is copied so the computations set-up already ran are not repeated.
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "content", dest / "content")
    if (ROOT / ".deckgen-cache").is_dir():
        shutil.copytree(ROOT / ".deckgen-cache", dest / ".deckgen-cache")
    shutil.copy2(ROOT / "deckgen.yaml", dest / "deckgen.yaml")
    return dest
