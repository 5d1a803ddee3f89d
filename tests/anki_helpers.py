"""Real Anki: import a package into a fresh collection and answer cards with Anki's scheduler."""

from __future__ import annotations

from pathlib import Path

from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from anki.scheduler.v3 import CardAnswer


def fresh_collection(folder: Path) -> Collection:
    folder.mkdir(parents=True, exist_ok=True)
    return Collection(str(folder / "collection.anki2"))


def import_package(col: Collection, apkg: Path, options: ImportAnkiPackageOptions | None = None):
    """Import with Anki's defaults (update notes if newer) unless options are given; returns the log."""
    request = ImportAnkiPackageRequest(package_path=str(apkg), options=options or ImportAnkiPackageOptions())
    return col.import_anki_package(request).log


def answer(col: Collection, card_id: int, rating=CardAnswer.GOOD) -> None:
    card = col.get_card(card_id)
    card.start_timer()
    states = col._backend.get_scheduling_states(card.id)
    col.sched.answer_card(col.sched.build_answer(card=card, states=states, rating=rating))


def note_by_card_id(col: Collection, card_id: str):
    """The note built from a content card id (looked up by GUID, which comes from the id alone)."""
    from deckgen.deck.package import guid

    nid = col.db.scalar("select id from notes where guid = ?", guid(card_id))
    assert nid, f"no note for card {card_id}"
    return col.get_note(nid)
