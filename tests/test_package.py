"""Packaging: stable ids, per-note mods, deterministic bytes."""

from __future__ import annotations

import contextlib
import sqlite3
import zipfile
from pathlib import Path

from deckgen.core.records import CardType, Figure, Note
from deckgen.deck.package import NOTE_TYPES, DeckSpec, deck_id, guid, write_package


def notes(tmp: Path) -> list[Note]:
    png, night = tmp / "f.png", tmp / "f.night.png"
    png.write_bytes(b"\x89PNG fake")
    night.write_bytes(b"\x89PNG fake night")
    fig = Figure("f", "cd" * 32, png, "ef" * 32, night)
    return [
        Note("n1", CardType.BASIC, "t", ("<p>q</p>", "<p>a</p>", "", "n1"), ("deckgen::t",), (fig,)),
        Note("n2", CardType.CLOZE, "t", ("<p>{{c1::x}} {{c2::y}}</p>", "", "n2"), ("deckgen::t",)),
        Note("n3", CardType.REVERSED, "t", ("f", "b", "", "n3"), ("deckgen::t",)),
    ]


def test_package_is_deterministic_and_carries_manifest_mods(tmp_path):
    deck = [DeckSpec("Deck::Topic", tuple(notes(tmp_path)))]
    mods = {"n1": 100, "n2": 300, "n3": 200}
    a, b = tmp_path / "a.apkg", tmp_path / "b.apkg"
    stats = write_package(deck, mods, a)
    write_package(deck, mods, b)
    assert a.read_bytes() == b.read_bytes()
    assert (stats.notes, stats.cards, stats.media) == (3, 5, 2)  # cloze: 2 cards, reversed: 2 cards
    with zipfile.ZipFile(a) as zf:
        assert zf.namelist() == ["collection.anki2", "media", "0", "1"]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.read("media") == b'{"0": "dg-cdcdcdcdcdcdcdcdcdcd.png", "1": "dg-efefefefefefefefefef.png"}'
        assert zf.read("1") == b"\x89PNG fake night"
        zf.extract("collection.anki2", tmp_path)
    db = sqlite3.connect(tmp_path / "collection.anki2")
    rows = dict(db.execute("SELECT guid, mod FROM notes"))
    assert rows == {guid("n1"): 100, guid("n2"): 300, guid("n3"): 200}
    card_mods = set(db.execute("SELECT n.guid, c.mod FROM cards c JOIN notes n ON n.id = c.nid"))
    assert card_mods == {(guid("n1"), 100), (guid("n2"), 300), (guid("n3"), 200)}
    dues = [d for (d,) in db.execute("SELECT c.due FROM cards c JOIN notes n ON n.id = c.nid ORDER BY n.id, c.ord")]
    assert dues == [0, 1, 1, 2, 2]  # new cards come in authored order
    db.close()


def test_identity_is_stable():
    assert guid("abc") == guid("abc") != guid("abd")
    assert deck_id("Deep Learning::Optimizers") == deck_id("Deep Learning::Optimizers")
    assert deck_id("Deep Learning::Optimizers") != deck_id("Deep Learning::CNN")
    ids = [f[1] for nt in NOTE_TYPES.values() for f in nt.fields] + [t[1] for nt in NOTE_TYPES.values()
                                                                     for t in nt.templates]
    assert len(ids) == len(set(ids))  # every field and template has its own fixed id


def test_failed_write_leaves_old_package(tmp_path, monkeypatch):
    out = tmp_path / "deck.apkg"
    out.write_bytes(b"previous")
    deck = [DeckSpec("Deck::Topic", tuple(notes(tmp_path)))]

    def boom(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("deckgen.deck.package._zip", boom)
    with contextlib.suppress(OSError):
        write_package(deck, {"n1": 1, "n2": 1, "n3": 1}, out)
    assert out.read_bytes() == b"previous"
