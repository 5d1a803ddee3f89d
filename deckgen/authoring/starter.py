"""``deckgen init DIR``: a new project that builds at once, to start a deck from.

The files come from ``starter_files/`` (package data, shipped in the wheel): settings, a
``.gitignore``, and one topic whose cards show each kind deckgen makes (a computed value, a
figure, an output card, a drill). They are copied, never generated, so what a new author reads
is what the build tests. Nothing is half-written: the project is assembled in a temporary
folder beside its target and moved into place, and an existing project is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DeckgenError, Problem

STARTER = Path(__file__).parent / "starter_files"
# Files that, if present, mean the folder already is (or holds) a project.
_PROJECT_MARKERS = ("deckgen.yaml", "content")


@dataclass(frozen=True)
class NewProject:
    root: Path
    deck: str
    files: tuple[Path, ...]  # relative to root, in the order written


def init_project(root: Path, deck: str | None = None) -> NewProject:
    """Create a project in ``root`` (new, or an existing folder without a project in it)."""
    root = root.absolute()
    deck = deck if deck is not None else (root.name or "My Deck")
    if not deck.strip() or "::" in deck:
        raise DeckgenError(Problem(None, None, None, f"deck name {deck!r}: give a non-empty name without '::' "
                                                     "(--deck)"))
    if root.exists() and not root.is_dir():
        raise DeckgenError(Problem(None, None, None, f"{root}: exists and is not a folder"))
    taken = [name for name in (*_PROJECT_MARKERS, ".gitignore") if (root / name).exists()]
    if any(name in _PROJECT_MARKERS for name in taken):
        raise DeckgenError(Problem(None, None, None, f"{root}: already holds a project ({', '.join(taken)}); "
                                                     "deckgen init never overwrites one: choose a new folder"))
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.init.", dir=root.parent))
    try:
        written = _copy_starter(staging, deck, gitignore=".gitignore" not in taken)
        if not root.exists():
            os.rename(staging, root)  # the whole project appears at once
        else:
            for name in sorted(p.name for p in staging.iterdir()):
                os.rename(staging / name, root / name)
            staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return NewProject(root, deck, tuple(written))


def _copy_starter(dest: Path, deck: str, gitignore: bool) -> list[Path]:
    written = []
    for src in sorted(STARTER.rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        rel = src.relative_to(STARTER)
        if rel == Path("gitignore"):  # stored without the dot so packaging and git keep it
            if not gitignore:
                continue
            rel = Path(".gitignore")
        text = src.read_text(encoding="utf-8")
        if rel == Path("deckgen.yaml"):
            text = text.replace("deck: My Deck", f"deck: {json.dumps(deck, ensure_ascii=False)}")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text, encoding="utf-8")
        written.append(rel)
    return written


__all__ = ["STARTER", "NewProject", "init_project"]
