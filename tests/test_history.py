"""Retiring and renaming shipped cards, proven in real Anki, and every way to get it wrong.

Anki never deletes a note on import and matches notes by GUID, so: a retired card's note must be
updated in place (notice, tag) with its reviews kept; a renamed card must update the one note it
replaces (none added) with its reviews kept; a shipped id that vanishes undeclared is an error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from anki_helpers import answer, fresh_collection, import_package
from conftest import run_cli, write_project

from deckgen.deck.package import guid

CARDS = """\
title: Basics
cards:
  - id: keep
    front: What stays?
    back: This card.
  - id: gone
    front: What is withdrawn?
    back: This card, soon.
  - id: old-name
    type: cloze
    text: "A card that gets a {{c1::new id}}."
"""


def build(root: Path, *args: str) -> tuple[int, str]:
    result = run_cli("build", "--project", root, *args)
    return result.exit_code, result.output


def note(col, card_id: str):
    nid = col.db.scalar("select id from notes where guid = ?", guid(card_id))
    assert nid, card_id
    return col.get_note(nid)


def reviews(col) -> int:
    return col.db.scalar("select count() from revlog")


@pytest.fixture
def learner(tmp_path):
    """A project built once, imported into real Anki, every card answered once."""
    root = write_project(tmp_path / "proj", {"basics": {"cards": CARDS}})
    code, out = build(root, "-q")
    assert code == 0, out
    col = fresh_collection(tmp_path / "anki")
    import_package(col, root / "build/test-deck.apkg")
    for cid in col.find_cards(""):
        answer(col, cid)
    assert reviews(col) == 3
    yield root, col
    col.close()


def edit(root: Path, old: str, new: str) -> None:
    path = root / "content/basics/cards.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_retired_card_updates_the_learners_note_and_keeps_its_reviews(learner):
    root, col = learner
    card_before = note(col, "gone").cards()[0].id
    edit(root, "  - id: gone\n    front: What is withdrawn?\n    back: This card, soon.\n", "")
    (root / "content/basics/cards.yaml").write_text((root / "content/basics/cards.yaml").read_text()
                                                   + "retired:\n  gone: merged into keep\n")
    code, out = build(root)
    assert code == 0, out
    assert "  retired 1: gone\n" in out
    log = import_package(col, root / "build/test-deck.apkg")
    assert len(log.new) == 0 and len(log.updated) == 1 and not log.conflicting
    withdrawn = note(col, "gone")
    assert "deckgen::retired" in withdrawn.tags
    assert "Withdrawn from the deck." in withdrawn["Front"] and "merged into keep" in withdrawn["Front"]
    assert "tag:deckgen::retired" in withdrawn["Back"]
    assert withdrawn.cards()[0].id == card_before and reviews(col) == 3
    assert col.find_notes("tag:deckgen::retired") == [withdrawn.id]
    manifest = json.loads((root / "content/manifest.json").read_text())
    assert manifest["cards"]["gone"]["state"] == "retired"
    # Nothing left to do: a rebuild changes nothing.
    code, out = build(root)
    assert "0 notes changed" in out


def test_a_renamed_card_updates_one_note_adds_none_and_keeps_its_reviews(learner):
    root, col = learner
    card_before = note(col, "old-name").cards()[0].id
    edit(root, "  - id: old-name\n", "  - id: new-name\n    renamed_from: old-name\n")
    result = run_cli("build", "--project", root, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["renamed"] == [{"from": "old-name", "to": "new-name"}]
    assert report["added"] == report["changed"] == report["retired"] == []
    log = import_package(col, root / "build/test-deck.apkg")
    assert len(log.new) == 0 and len(log.updated) == 1 and not log.conflicting
    renamed = note(col, "old-name")  # the GUID is the old id's: the same note
    assert renamed["Id"] == "new-name" and renamed.cards()[0].id == card_before
    assert reviews(col) == 3 and col.note_count() == 3
    # The manifest remembers: dropping renamed_from later keeps the identity, and the old id stays taken.
    edit(root, "    renamed_from: old-name\n", "")
    code, out = build(root)
    assert code == 0 and "0 notes changed" in out, out
    edit(root, "  - id: keep\n", "  - id: old-name\n")
    code, out = build(root)
    assert code == 1
    assert ("error: content/basics/cards.yaml:3: card old-name: old-name was renamed to new-name and cannot be "
            "used again: its note belongs to that card now; choose another id") in out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


VANISHED_KEEP = ("content/basics/cards.yaml: card keep: shipped (content/manifest.json) but no longer in the "
                 "content: learners would keep its note forever. Say what happened: `retired: {keep: <reason for "
                 "learners>}` in the topic's cards.yaml, or `renamed_from: keep` on the card that replaces it")


@pytest.mark.parametrize(("old", "new", "errors"), [
    pytest.param("  - id: gone\n    front: What is withdrawn?\n    back: This card, soon.\n", "",
                 "content/basics/cards.yaml: card gone: shipped (content/manifest.json) but no longer in the content: "
                 "learners would keep its note forever. Say what happened: `retired: {gone: <reason for learners>}` "
                 "in the topic's cards.yaml, or `renamed_from: gone` on the card that replaces it", id="vanished"),
    pytest.param("  - id: old-name\n", "  - id: other\n",
                 "content/basics/cards.yaml: card old-name: shipped (content/manifest.json) but no longer in the "
                 "content: learners would keep its note forever. Say what happened: `retired: {old-name: <reason for "
                 "learners>}` in the topic's cards.yaml, or `renamed_from: old-name` on the card that replaces it",
                 id="renamed-undeclared"),
    pytest.param("  - id: keep\n", "  - id: keep2\n    renamed_from: never-shipped\n",
                 ("content/basics/cards.yaml:4: card keep2: renamed_from: never-shipped was never shipped (it is not "
                  "in content/manifest.json): there is no note to carry on; remove renamed_from", VANISHED_KEEP),
                 id="rename-unknown"),
    pytest.param("  - id: keep\n", "  - id: keep2\n    renamed_from: gone\n",
                 ("content/basics/cards.yaml:4: card keep2: renamed_from: gone is still a card "
                  "(content/basics/cards.yaml:7); a rename replaces it", VANISHED_KEEP), id="rename-still-there"),
    pytest.param("  - id: keep\n", "  - id: keep2\n    renamed_from: old-name\n",
                 ("content/basics/cards.yaml:4: card keep2: renamed_from: old-name is still a card "
                  "(content/basics/cards.yaml:10); a rename replaces it", VANISHED_KEEP), id="rename-of-a-card-in-use"),
    pytest.param("  - id: old-name\n    type: cloze\n    text: \"A card that gets a {{c1::new id}}.\"\n",
                 "  - id: new-name\n    renamed_from: old-name\n    front: Q?\n    back: A.\n",
                 "content/basics/cards.yaml:10: card new-name: renamed_from: old-name shipped as a cloze card and "
                 "this is basic: Anki cannot change a note's type on import; keep the type, or retire the old card "
                 "and add this one as new", id="rename-changes-type"),
    pytest.param("cards:\n", "retired:\n  keep: no longer needed\ncards:\n",
                 "content/basics/cards.yaml:3: card keep: retired, but still a card (content/basics/cards.yaml:5); "
                 "delete the card or the retirement", id="retired-but-present"),
    pytest.param("cards:\n", "retired:\n  nothing: never existed\ncards:\n",
                 "content/basics/cards.yaml:3: card nothing: retired, but it was never shipped: there is no note to "
                 "withdraw; remove the retirement", id="retired-never-shipped"),
    pytest.param("cards:\n", "retired:\n  gone: ''\ncards:\n",
                 "content/basics/cards.yaml:3: card gone: retired: needs the reason learners will read (why the card "
                 "was withdrawn)", id="retired-without-reason"),
])
def test_history_mistakes_are_clean_lines_and_write_nothing(tmp_path, old, new, errors):
    errors = (errors,) if isinstance(errors, str) else errors
    root = write_project(tmp_path / "proj", {"basics": {"cards": CARDS}})
    assert build(root, "-q")[0] == 0
    apkg, manifest = root / "build/test-deck.apkg", root / "content/manifest.json"
    before = (sha(apkg), sha(manifest))
    edit(root, old, new)
    code, out = build(root)
    assert code == 1
    assert sorted(line for line in out.splitlines() if line.startswith("error:")) == sorted(f"error: {e}"
                                                                                             for e in errors)
    assert (sha(apkg), sha(manifest)) == before
    check = run_cli("check", "--project", root)
    assert check.exit_code == 1 and all(f"error: {e}" in check.output for e in errors)
