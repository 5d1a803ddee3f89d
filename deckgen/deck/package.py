"""Notes -> a deterministic ``.apkg`` (genanki for the collection, our own zip writer).

Stable identity is the point of this module:

* note types have fixed ids, and every field and template carries a fixed ``id``, so Anki
  recognises them across rebuilds and never forks a copy of the note type;
* a note's GUID comes from its card id alone, so an edit updates the note instead of adding one;
* deck ids come from the deck's name, so a topic built alone and the full deck land in the same
  subdeck;
* each note's ``mod`` comes from the manifest, and the package timestamp (which genanki uses for
  note ids and note-type mods) is the largest of them, so the same content gives the same bytes;
* the zip is written with sorted entries and fixed dates (genanki's is neither).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a build with nothing to package never loads it
    import genanki

from ..core.fs import atomic_write, dist_version, sha256_bytes
from ..core.records import Note, NoteKind

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
GUID_NAMESPACE = "deckgen"


def _css() -> str:
    from pygments.formatters import HtmlFormatter

    base = (Path(__file__).parent / "templates" / "card.css").read_text(encoding="utf-8")
    light = HtmlFormatter(style="default").get_style_defs(".dg .highlight")
    night = HtmlFormatter(style="github-dark").get_style_defs(
        [".nightMode .dg .highlight", ".night_mode .dg .highlight"])
    return f"{base}\n/* Pygments, light */\n{light}\n/* Pygments, night */\n{night}\n"


_EXTRA = "{{#Extra}}<div class=\"dg-extra\">{{Extra}}</div>{{/Extra}}"


@dataclass(frozen=True)
class NoteType:
    """A frozen Anki note type. Never change ids or field lists of a shipped note type."""

    id: int
    name: str
    fields: tuple[tuple[str, int], ...]  # (name, fixed id)
    templates: tuple[tuple[str, int, str, str], ...]  # (name, fixed id, question, answer)
    cloze: bool = False

    def signature(self, css: str) -> str:
        """A hash of what a re-import must bring into a learner's collection: CSS, templates, fields."""
        return hashlib.sha256(json.dumps([self.name, self.fields, self.templates, self.cloze, css]).encode()
                              ).hexdigest()

    def model(self, css: str) -> genanki.Model:
        import genanki

        return genanki.Model(
            self.id,
            self.name,
            fields=[{"name": n, "id": i} for n, i in self.fields],
            templates=[{"name": n, "id": i, "qfmt": q, "afmt": a} for n, i, q, a in self.templates],
            css=css,
            model_type=genanki.Model.CLOZE if self.cloze else genanki.Model.FRONT_BACK,
        )


_OUTPUT_FRONT = ('<div class="dg dg-front dg-output-card"><div class="dg-ask">What does this print (or raise)?</div>'
                 "{{Code}}</div>")

NOTE_TYPES: dict[NoteKind, NoteType] = {
    NoteKind.BASIC: NoteType(
        1080315892, "deckgen Basic",
        (("Front", 682340827486161), ("Back", 228451822623464), ("Extra", 597370767508740),
         ("Id", 717763601510640)),
        (("Card 1", 225770160959351,
          '<div class="dg dg-front">{{Front}}</div>',
          '<div class="dg dg-front">{{Front}}</div><hr id="answer"><div class="dg dg-back">{{Back}}'
          + _EXTRA + "</div>"),),
    ),
    NoteKind.CLOZE: NoteType(
        1795026831, "deckgen Cloze",
        (("Text", 667237038430039), ("Extra", 957427191679870), ("Id", 196314237017020)),
        (("Cloze", 543586364161827,
          '<div class="dg dg-cloze">{{cloze:Text}}</div>',
          '<div class="dg dg-cloze">{{cloze:Text}}' + _EXTRA + "</div>"),),
        cloze=True,
    ),
    NoteKind.REVERSED: NoteType(
        1705391401, "deckgen Basic (and reversed)",
        (("Front", 226787770572353), ("Back", 125039011111871), ("Extra", 534775257203476),
         ("Id", 550755440486307)),
        (("Card 1", 223308744722864,
          '<div class="dg dg-front">{{Front}}</div>',
          '<div class="dg dg-front">{{Front}}</div><hr id="answer"><div class="dg dg-back">{{Back}}'
          + _EXTRA + "</div>"),
         ("Card 2", 223308744722865,
          '<div class="dg dg-front">{{Back}}</div>',
          '<div class="dg dg-front">{{Back}}</div><hr id="answer"><div class="dg dg-back">{{Front}}'
          + _EXTRA + "</div>")),
    ),
    # The learner types the back (one line); Anki shows the comparison on the answer side.
    NoteKind.BASIC_TYPED: NoteType(
        1454731903, "deckgen Basic (type the answer)",
        (("Front", 811690524163307), ("Back", 354019871720395), ("Extra", 662198230497764),
         ("Id", 439052816657723)),
        (("Card 1", 917264073580136,
          '<div class="dg dg-front">{{Front}}</div>{{type:Back}}',
          '<div class="dg dg-front">{{Front}}</div><hr id="answer"><div class="dg dg-back">{{type:Back}}'
          + _EXTRA + "</div>"),),
    ),
    # What a snippet prints: Code is the snippet as it ran, Output what it printed (verbatim).
    NoteKind.OUTPUT: NoteType(
        1328470419, "deckgen Output",
        (("Code", 504816729365274), ("Output", 276043158827951), ("Extra", 883265401794307),
         ("Id", 147932060581852)),
        (("Card 1", 602573914084618,
          _OUTPUT_FRONT,
          _OUTPUT_FRONT + '<hr id="answer"><div class="dg dg-back"><pre class="dg-output">{{Output}}</pre>'
          + _EXTRA + "</div>"),),
    ),
    NoteKind.OUTPUT_TYPED: NoteType(
        1961305274, "deckgen Output (type the answer)",
        (("Code", 728341569201843), ("Output", 319658027461932), ("Extra", 451079836203519),
         ("Id", 965102847733604)),
        (("Card 1", 278406913557148,
          _OUTPUT_FRONT + '<div class="dg-output-typed">{{type:Output}}</div>',
          _OUTPUT_FRONT + '<hr id="answer"><div class="dg dg-back dg-output-typed">{{type:Output}}'
          + _EXTRA + "</div>"),),
    ),
}


@lru_cache(maxsize=1)
def css() -> str:
    return _css()


@lru_cache(maxsize=1)
def models() -> dict[NoteKind, genanki.Model]:
    return {t: nt.model(css()) for t, nt in NOTE_TYPES.items()}


def signatures() -> dict[str, str]:
    """Each note type's signature by kind, for the manifest: its ``mod`` moves when the signature does."""
    return {kind.value: nt.signature(css()) for kind, nt in NOTE_TYPES.items()}


def guid(card_id: str) -> str:
    import genanki

    return genanki.guid_for(GUID_NAMESPACE, card_id)  # type: ignore[no-any-return]


def deck_id(name: str) -> int:
    """A stable positive id from the deck's full name (``Deep Learning::Optimizers``)."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return (1 << 30) + digest % (1 << 30)


@dataclass(frozen=True)
class DeckSpec:
    """One (sub)deck and its notes, in study order."""

    name: str
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class PackageStats:
    notes: int
    cards: int
    media: int
    bytes: int
    written: bool = True  # False: the file already held exactly this package


def write_package(decks: list[DeckSpec], mods: dict[str, int], out: Path,
                  type_mods: dict[str, int] | None = None) -> PackageStats:
    """Write the package atomically: the old file stays until the new one is complete.

    ``type_mods`` are the note types' mods by kind (from the manifest). Anki's default import
    updates a note type only when the package's is newer; genanki would stamp every note type with
    the largest note mod, which a style-only change does not move, so a new stylesheet would never
    reach a collection that has the deck.
    """
    import genanki

    timestamp = max([*mods.values(), *(type_mods or {}).values()], default=0)
    built = []
    position = itertools.count()
    for spec in decks:
        deck = genanki.Deck(deck_id(spec.name), spec.name)
        for note in spec.notes:
            deck.add_note(genanki.Note(model=models()[note.type], fields=list(note.fields), tags=list(note.tags),
                                       guid=guid(note.guid_id), due=next(position)))
        built.append(deck)
    media = media_files([n for spec in decks for n in spec.notes])
    with tempfile.TemporaryDirectory(prefix="deckgen-pkg-") as tmp:
        db_path = Path(tmp) / "collection.anki2"
        conn = sqlite3.connect(db_path)
        try:
            cursor = conn.cursor()
            genanki.Package(built).write_to_db(cursor, timestamp, itertools.count(timestamp * 1000))
            # genanki stamps every note with one timestamp; each note gets its manifest mod instead.
            # By id, the primary key: notes has no index on guid, so `WHERE guid = ?` scanned the
            # table once per note (0.4 s at 1,800 notes, quadratic in the deck).
            ids = dict(cursor.execute("SELECT guid, id FROM notes").fetchall())
            cursor.executemany("UPDATE notes SET mod = ? WHERE id = ?",
                               [(mods[n.card_id], ids[guid(n.guid_id)]) for s in decks for n in s.notes])
            cursor.execute("UPDATE cards SET mod = (SELECT mod FROM notes WHERE notes.id = cards.nid)")
            if type_mods:
                _set_note_type_mods(cursor, type_mods)
            n_notes = cursor.execute("SELECT count(*) FROM notes").fetchone()[0]
            n_cards = cursor.execute("SELECT count(*) FROM cards").fetchone()[0]
            conn.commit()
        finally:
            conn.close()
        data = _zip(db_path, media)
    atomic_write(out, data)
    return PackageStats(n_notes, n_cards, len(media), len(data))


def _set_note_type_mods(cursor: sqlite3.Cursor, type_mods: dict[str, int]) -> None:
    kinds = {nt.id: kind.value for kind, nt in NOTE_TYPES.items()}
    (raw,) = cursor.execute("SELECT models FROM col").fetchone()
    stored = json.loads(raw)
    for model_id, model in stored.items():
        kind = kinds.get(int(model_id))
        if kind in type_mods:
            model["mod"] = type_mods[kind]
    cursor.execute("UPDATE col SET models = ?", (json.dumps(stored),))


def media_files(notes: list[Note]) -> dict[str, Path]:
    """Every media file the notes show (both variants of each figure): media name -> cached file."""
    return {name: path for note in notes for item in note.media for name, path in item.files()}


def package_key(decks: list[DeckSpec], mods: dict[str, int], type_mods: dict[str, int] | None = None) -> str:
    """A hash of everything that decides the package's bytes (for skipping an identical rewrite)."""
    here = Path(__file__).parent
    h = hashlib.sha256((here / "package.py").read_bytes() + (here / "templates" / "card.css").read_bytes())
    h.update(f"genanki={dist_version('genanki')};types={json.dumps(type_mods, sort_keys=True)}".encode())
    for spec in decks:
        h.update(b"\0deck\0" + spec.name.encode())
        for note in spec.notes:
            media = sorted(name for item in note.media for name, _ in item.files())
            h.update(json.dumps([note.card_id, note.guid_id, note.type, note.fields, note.tags, mods[note.card_id],
                                 media],
                                ensure_ascii=False).encode())
    return h.hexdigest()


def write_package_if_changed(decks: list[DeckSpec], mods: dict[str, int], out: Path, stamps: Path,
                             type_mods: dict[str, int] | None = None) -> PackageStats:
    """``write_package``, skipped when these exact inputs already wrote the file that is there.

    The stamp records the inputs' key and the sha256 of the file written; a deleted, replaced or
    hand-edited output no longer matches and is written again.
    """
    key = package_key(decks, mods, type_mods)
    stamp = stamps / f"{sha256_bytes(str(out.resolve()).encode())[:24]}.json"
    try:
        old = json.loads(stamp.read_bytes())
        if old["key"] == key and sha256_bytes(out.read_bytes()) == old["sha256"]:
            return PackageStats(**{**old["stats"], "written": False})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    stats = write_package(decks, mods, out, type_mods)
    record = {"key": key, "sha256": sha256_bytes(out.read_bytes()), "stats": stats.__dict__}
    atomic_write(stamp, json.dumps(record, sort_keys=True).encode())
    return stats


def _zip(db_path: Path, media: dict[str, Path]) -> bytes:
    names = sorted(media)
    with tempfile.SpooledTemporaryFile() as buf:
        with zipfile.ZipFile(buf, "w") as zf:
            def add(name: str, data: bytes, compress: int = zipfile.ZIP_DEFLATED) -> None:
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = compress
                info.create_system = 3
                info.external_attr = 0o644 << 16
                zf.writestr(info, data, compresslevel=9 if compress == zipfile.ZIP_DEFLATED else None)

            add("collection.anki2", db_path.read_bytes())
            add("media", json.dumps({str(i): n for i, n in enumerate(names)}).encode())
            for i, name in enumerate(names):
                # PNG is already compressed; storing it saves time and changes little.
                add(str(i), media[name].read_bytes(), zipfile.ZIP_STORED)
        buf.seek(0)
        return buf.read()


__all__ = ["NOTE_TYPES", "DeckSpec", "PackageStats", "deck_id", "guid", "media_files", "write_package",
           "write_package_if_changed"]
