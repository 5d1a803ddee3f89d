"""A browsable preview of every card, front and back, exactly as Anki renders it.

The notes are rendered as for a build, then added to a throw-away collection that holds deckgen's
note types (imported from a package deckgen wrote), and each card's question and answer come from
Anki's own template renderer (``Card.render_output``, see ``anki_cards.py``), so cloze numbering,
``{{FrontSide}}``-style templates and field escaping are Anki's, not ours. The page (``page.py``,
shared with ``deckgen serve``) then does what an Anki client adds on top: the note type's CSS, the
``card`` class, the night-mode classes on ``<body>``, media next to the page, and MathJax.

Math is typeset in the browser by a MathJax 3 bundle that ``setup.sh`` fetched from npm (pinned),
configured like Anki's own (``\\( \\)`` inline, ``\\[ \\]`` display, no ``$``, no escapes or
environments). We use MathJax's SVG output rather than the CHTML output Anki uses: CHTML loads web
fonts, which Chromium and Firefox refuse to load for a page opened from disk (``file://`` fonts are
cross-origin), while SVG carries its glyphs inside the script, so ``index.html`` works offline in
any browser. The TeX layout is the same; glyph shapes may differ by a pixel.

The folder is written next to its final place and renamed into it, so an interrupted preview
never leaves half a folder.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..compute.runner import Progress, silent
from ..core.errors import DeckgenError, Problem
from ..core.project import Project
from ..core.records import Note
from ..deck.package import DeckSpec, media_files
from ..pipeline import BuildOptions, deck_specs, prepare
from .anki_cards import AnkiCards
from .page import MATHJAX_FILE, Face, faces_body, page_html

MATHJAX_VERSION = "3.2.2"
MATHJAX_DIR = Path(__file__).parent.parent / "vendor" / "mathjax"


@dataclass(frozen=True)
class PreviewReport:
    out: Path
    cards: int
    media: int


def mathjax_path() -> Path:
    """The MathJax bundle, or a clear error saying how to get it."""
    path = MATHJAX_DIR / MATHJAX_FILE
    if not path.is_file():
        raise DeckgenError(Problem(None, None, None,
                                   f"missing asset {path}: the MathJax {MATHJAX_VERSION} bundle; in a clone of deckgen "
                                   "./setup.sh fetches it, otherwise download https://registry.npmjs.org/mathjax/-/"
                                   f"mathjax-{MATHJAX_VERSION}.tgz and copy its package/es5/{MATHJAX_FILE} there"))
    return path


def preview(project: Project, options: BuildOptions, out_dir: Path | None = None,
            progress: Progress = silent) -> PreviewReport:
    """Render every selected card through Anki and write ``index.html`` with its media and MathJax."""
    mathjax = mathjax_path()
    prepared = prepare(project, options, progress)
    if prepared.problems:
        raise DeckgenError(prepared.problems)
    out = out_dir if out_dir is not None else project.build_dir / "preview"
    out = out if out.is_absolute() else Path.cwd() / out
    # Where each note comes from: its card, or the `retired:` entry a withdrawal notice ships for.
    cards = {c.id: (t.name, f"{c.file}:{c.line}") for t in prepared.topics for c in t.cards}
    cards |= {i.id: (t.name, f"{c.file}:{i.line}") for t in prepared.topics for c in t.cards if c.drill
              for i in c.drill.instances}
    cards |= {r.id: (t.name, f"{r.file}:{r.line}") for t in prepared.topics for r in t.retired}
    decks = deck_specs(project, prepared)
    notes = [n for d in decks for n in d.notes]
    faces, css = _render_with_anki(decks, cards)
    titles = {t.name: t.title for t in prepared.topics}
    page = page_html(faces_body(faces, titles), len(faces) // 2, css, titles, project.settings.deck,
                     f"mathjax/{MATHJAX_FILE}")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        media_dir = staging / "media"
        media_dir.mkdir()
        media = _media(notes)
        for name, path in media.items():
            shutil.copyfile(path, media_dir / name)
        (staging / "mathjax").mkdir()
        shutil.copyfile(mathjax, staging / "mathjax" / MATHJAX_FILE)
        if (MATHJAX_DIR / "LICENSE").is_file():
            shutil.copyfile(MATHJAX_DIR / "LICENSE", staging / "mathjax" / "LICENSE")
        (staging / "index.html").write_text(page, encoding="utf-8")
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PreviewReport(out, len({(f.card_id, f.ordinal) for f in faces}), len(media))


def _media(notes: list[Note]) -> dict[str, Path]:
    media = media_files(notes)
    for name, path in media.items():
        if not path.is_file():
            raise DeckgenError(Problem(None, None, None, f"missing asset {name} ({path})"))
    return media


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with renames only; the old folder is removed last."""
    old = None
    if out.exists():
        if not (out / "index.html").is_file() and any(out.iterdir()):
            raise DeckgenError(f"{out} exists and is not a deckgen preview folder; choose another --out")
        old = out.with_name(f".{out.name}.old-{staging.name}")
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _render_with_anki(decks: list[DeckSpec], cards: dict[str, tuple[str, str]]) -> tuple[list[Face], str]:
    """Let Anki render every card of every note, front and back, in study order."""
    faces: list[Face] = []
    with AnkiCards() as anki:
        for note in (n for d in decks for n in d.notes):
            topic, where = cards[note.card_id]
            for r in anki.render(note):
                faces.append(Face(note.card_id, r.ordinal, topic, "front", r.front, where))
                faces.append(Face(note.card_id, r.ordinal, topic, "back", r.back, where))
        css = "\n".join(anki.css)
    return faces, css


__all__ = ["MATHJAX_VERSION", "Face", "PreviewReport", "mathjax_path", "preview"]
