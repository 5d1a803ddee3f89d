"""Cards rendered by Anki itself: a throw-away collection that holds deckgen's note types.

``deckgen preview`` renders every card once; ``deckgen serve`` keeps the collection open and
renders again only the notes whose content changed (about a millisecond a note, against a third of a
second to package and import the whole deck again). Either way each card's question and answer come
from Anki's own template renderer (``Card.render_output``) on a note added with Anki's own card
generation, so cloze numbering, ``{{FrontSide}}``-style templates and field escaping are Anki's, not
ours.

The note types get into the collection the way a learner's get them: by importing a package that
deckgen wrote (one sample note of each type, so a type is there even when no card uses it yet).
Rendering a note added to that collection gives the same HTML as rendering the same note imported
from the real package; tests/test_serve.py checks that on every card of a project.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..core.records import FIELDS, Note, NoteKind
from ..deck.package import NOTE_TYPES, DeckSpec, write_package

if TYPE_CHECKING:
    from anki.collection import Collection

_SAMPLE_DECK = "deckgen note types"


@dataclass(frozen=True)
class Rendered:
    """One Anki card of a note: its ordinal (1-based, as Anki shows "Card 1") and both sides' HTML."""

    ordinal: int
    front: str
    back: str


class AnkiCards:
    """A collection in a temporary folder, removed on ``close`` (or leaving a ``with`` block)."""

    def __init__(self) -> None:
        from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

        # The pid in the name lets a test (or a person) tell whose folder it is.
        self.folder = Path(tempfile.mkdtemp(prefix=f"deckgen-anki-{os.getpid()}-"))
        self.css: dict[str, None] = {}  # every note type's CSS, in first-seen order
        try:
            apkg = self.folder / "note-types.apkg"
            write_package([_samples()], {f"deckgen-sample-{t.value}": 1 for t in NoteKind}, apkg)
            self.col: Collection = Collection(str(self.folder / "collection.anki2"))
            self.col.import_anki_package(ImportAnkiPackageRequest(package_path=str(apkg),
                                                                  options=ImportAnkiPackageOptions()))
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def render(self, note: Note) -> tuple[Rendered, ...]:
        """Every card Anki generates for the note, in ordinal order, with media paths under ``media/``."""
        from anki.decks import DeckId
        from anki.models import NotetypeId

        notetype = self.col.models.get(NotetypeId(NOTE_TYPES[note.type].id))
        assert notetype is not None, f"note type {note.type} missing from the collection"
        anki_note = self.col.new_note(notetype)
        for i, value in enumerate(note.fields):
            anki_note.fields[i] = value
        anki_note.tags = list(note.tags)
        self.col.add_note(anki_note, DeckId(1))  # the Default deck, which every collection has
        try:
            out = []
            for card in sorted(anki_note.cards(), key=lambda c: c.ord):
                rendered = card.render_output()
                self.css.setdefault(rendered.css)
                front, back = self._typed(rendered.question_text, rendered.answer_text, anki_note)
                out.append(Rendered(card.ord + 1, media_src(front), media_src(back)))
            return tuple(out)
        finally:
            self.col.remove_notes([anki_note.id])  # the collection only ever holds the note types' samples

    def _typed(self, front: str, back: str, note: Any) -> tuple[str, str]:
        """What Anki's reviewer puts for ``{{type:Field}}``: an input box on the front, and on the back
        the comparison with the expected answer (here as if the learner typed it right)."""
        m = _TYPE_RE.search(front) or _TYPE_RE.search(back)
        if m is None:
            return front, back
        # What the reviewer compares against: the field as one line of text (anki.utils.html_to_text_line
        # needs a language set up; the collection's backend does the same without one).
        expected = self.col._backend.html_to_text_line(text=note[m.group(1)], preserve_media_filenames=True)
        box = '<center><input type="text" id="typeans" class="dg-typeans" placeholder="type the answer" readonly>' \
              "</center>"
        shown = f'<div class="dg-typed">{self.col.compare_answer(expected, expected)}</div>'
        return _TYPE_RE.sub(box, front), _TYPE_RE.sub(shown, back)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.col.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> AnkiCards:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _samples() -> DeckSpec:
    notes = []
    for t in NoteKind:
        fields = tuple("{{c1::x}}" if (t is NoteKind.CLOZE and name == "text") else "x" for name in FIELDS[t])
        card_id = f"deckgen-sample-{t.value}"
        notes.append(Note(card_id, t, "", (*fields, card_id), ()))
    return DeckSpec(_SAMPLE_DECK, tuple(notes))


_TYPE_RE = re.compile(r"\[\[type:([^\]]+)\]\]")


_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"/:]+)(")')


def media_src(text: str) -> str:
    """Anki resolves media against its media folder; the preview pages serve them from ``media/``."""
    return _IMG_SRC.sub(r"\1media/\2\3", text)


__all__ = ["AnkiCards", "Rendered", "media_src"]
