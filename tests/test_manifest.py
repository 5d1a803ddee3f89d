"""The manifest keeps a card's mod while its content is unchanged and moves it on an edit."""

from __future__ import annotations

import pytest

from deckgen.core.errors import DeckgenError
from deckgen.deck.history import account
from deckgen.deck.manifest import ACTIVE, RENAMED, RETIRED, Manifest, Shipment


def ship(*items: tuple[str, str, str], state: str = ACTIVE) -> list[Shipment]:
    return [Shipment(cid, topic, h, "basic", cid, state) for cid, topic, h in items]


def test_mods_move_only_for_changed_cards(tmp_path):
    m = Manifest(tmp_path / "manifest.json", {})
    assert m.ship(ship(("a", "t", "h1"), ("b", "t", "h2")), {}, now=1000) == {"a": 1000, "b": 1000}
    before = Manifest(m.path, dict(m.entries))
    shipments = ship(("a", "t", "h1"), ("b", "t", "h2-edited"))
    assert account(before, shipments, {}).changed == ("b",)
    assert m.ship(shipments, {}, now=2000) == {"a": 1000, "b": 2000}


def test_new_mod_is_always_greater_even_if_the_clock_went_back(tmp_path):
    m = Manifest(tmp_path / "manifest.json", {})
    m.ship(ship(("a", "t", "h1")), {}, now=5000)
    assert m.ship(ship(("a", "t", "h2")), {}, now=100)["a"] == 5001


def test_a_rename_moves_past_the_old_notes_mod_and_records_both_ids(tmp_path):
    m = Manifest(tmp_path / "manifest.json", {})
    m.ship(ship(("old", "t", "h1")), {}, now=5000)
    mods = m.ship([Shipment("new", "t", "h2", "basic", "old")], {"old": "new"}, now=100)
    assert mods == {"new": 5001}
    assert m.identity("new") == "old" and m.entries["old"].state == RENAMED and m.entries["old"].renamed_to == "new"


def test_save_load_roundtrip_and_no_rewrite_when_unchanged(tmp_path):
    path = tmp_path / "manifest.json"
    m = Manifest(path, {})
    m.ship(ship(("b", "t", "h2"), ("a", "t", "h1")), {}, now=7)
    m.ship([Shipment("c", "t", "h3", "cloze", "a-old")], {}, now=8)
    m.ship(ship(("r", "u", "notice"), state=RETIRED), {}, now=9)
    assert m.save() is True
    assert m.save() is False
    again = Manifest.load(path, "manifest.json")
    assert again.entries == m.entries
    assert list(again.entries) == ["a", "b", "c", "r"]  # sorted on disk: stable diffs
    assert again.entries["c"].identity == "a-old" and again.entries["r"].state == RETIRED


def test_a_format_1_manifest_still_loads(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text('{"format": 1, "cards": {"a": {"topic": "t", "hash": "h", "mod": 3}}}')
    entry = Manifest.load(path, "manifest.json").entries["a"]
    assert (entry.topic, entry.hash, entry.mod, entry.type, entry.state) == ("t", "h", 3, "", ACTIVE)


def test_unreadable_manifest_is_a_clear_error(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{ not json")
    with pytest.raises(DeckgenError, match=r"manifest\.json: manifest is unreadable"):
        Manifest.load(path, "manifest.json")
