"""The manifest keeps a card's mod while its content is unchanged and moves it on an edit."""

from __future__ import annotations

import pytest

from deckgen.core.errors import DeckgenError
from deckgen.deck.manifest import Manifest


def test_mods_move_only_for_changed_cards(tmp_path):
    m = Manifest(tmp_path / "manifest.json", {})
    mods, changed = m.assign({"a": ("t", "h1"), "b": ("t", "h2")}, now=1000)
    assert mods == {"a": 1000, "b": 1000} and changed == ["a", "b"]
    mods, changed = m.assign({"a": ("t", "h1"), "b": ("t", "h2-edited")}, now=2000)
    assert mods == {"a": 1000, "b": 2000} and changed == ["b"]


def test_new_mod_is_always_greater_even_if_the_clock_went_back(tmp_path):
    m = Manifest(tmp_path / "manifest.json", {})
    m.assign({"a": ("t", "h1")}, now=5000)
    mods, _ = m.assign({"a": ("t", "h2")}, now=100)
    assert mods["a"] == 5001


def test_save_load_roundtrip_and_no_rewrite_when_unchanged(tmp_path):
    path = tmp_path / "manifest.json"
    m = Manifest(path, {})
    m.assign({"b": ("t", "h2"), "a": ("t", "h1")}, now=7)
    assert m.save() is True
    assert m.save() is False
    again = Manifest.load(path, "manifest.json")
    assert again.entries == m.entries
    assert list(again.entries) == ["a", "b"]  # sorted on disk: stable diffs


def test_stale_and_prune(tmp_path):
    m = Manifest(tmp_path / "manifest.json", {})
    m.assign({"a": ("t", "h1"), "gone": ("t", "h"), "other": ("u", "h")}, now=1)
    assert m.stale({"a": ("t", "h1"), "new": ("t", "h")}, {"t"}) == ["gone", "new"]
    assert m.prune({"t"}, {"a"}) == ["gone"]
    assert set(m.entries) == {"a", "other"}


def test_unreadable_manifest_is_a_clear_error(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{ not json")
    with pytest.raises(DeckgenError, match=r"manifest\.json: manifest is unreadable"):
        Manifest.load(path, "manifest.json")
