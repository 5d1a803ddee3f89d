"""End to end with real Anki: build, import, review, edit, rebuild, re-import.

The promise under test: re-importing a rebuilt deck with Anki's default options updates exactly
the notes whose content changed, adds nothing, and keeps every review the learner did.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from anki_helpers import answer, fresh_collection, import_package, note_by_card_id

CARDS = """\
title: Basics
cards:
  - id: rate
    front: What is the learning rate?
    back: "{{ lr:g }}"
    covers: [q-one]
  - id: shape
    type: cloze
    text: "The output shape is {{c1::{{ shape }}}}."
  - id: picture
    type: basic-reversed
    front: A line
    back: "![a straight line](fig:line)"
"""

COMPUTE = """\
import torch


def compute(ctx):
    ctx.value("lr", 0.01)
    ctx.value("shape", torch.zeros(2, 4, 128).shape)

    def draw(fig):
        fig.subplots().plot([0, 1], [0, 1])
    ctx.figure("line", draw)
"""

OTHER = """\
title: Other
cards:
  - id: other-card
    front: Another topic?
    back: Yes.
"""


@pytest.mark.slow  # starts torch in a fresh process
def test_build_import_review_edit_reimport(make_project, cli, tmp_path):
    root = make_project({"basics": {"cards": CARDS, "compute": COMPUTE}, "other": {"cards": OTHER}})
    result = cli("build", "--project", root)
    assert result.exit_code == 0, result.output
    apkg = root / "build/test-deck.apkg"
    assert "wrote build/test-deck.apkg: 4 notes, 5 cards, 1 figure " in result.output

    col = fresh_collection(tmp_path / "anki")
    log = import_package(col, apkg)
    assert len(log.new) == 4 and not log.updated and not log.conflicting
    names = {d.name for d in col.decks.all_names_and_ids()}
    assert {"Test Deck", "Test Deck::Basics", "Test Deck::Other"} <= names

    # Rendered by Anki itself: computed values and the figure are on the cards.
    (rate_card,) = note_by_card_id(col, "rate").cards()
    assert "0.01" in rate_card.answer()
    (cloze_card,) = note_by_card_id(col, "shape").cards()
    assert "[...]" in cloze_card.question() and "(2, 4, 128)" in cloze_card.answer()
    picture = note_by_card_id(col, "picture")
    media = sorted(f.name for f in Path(col.media.dir()).iterdir())
    assert len(media) == 2 and all(name.startswith("dg-") for name in media)  # the figure by day and by night
    shown = picture.cards()[0].answer()
    assert all(f'src="{name}"' in shown for name in media)
    assert re.search(r'<img class="dg-fig dg-night" src="dg-\w+\.png"', shown)
    assert len(picture.cards()) == 2

    # The learner reviews a card.
    answer(col, rate_card.id)
    reviewed = col.get_card(rate_card.id)
    assert reviewed.reps == 1
    revlog_before = col.db.scalar("select count() from revlog")

    # No-change rebuild: identical bytes, and importing it changes nothing.
    before = apkg.read_bytes()
    assert cli("build", "--project", root).exit_code == 0
    assert apkg.read_bytes() == before
    log = import_package(col, apkg)
    assert not log.new and not log.updated and len(log.duplicate) == 4

    # The author edits one card's text and rebuilds (a second later: mods are whole seconds).
    time.sleep(1.1)
    cards = root / "content/basics/cards.yaml"
    cards.write_text(cards.read_text().replace("What is the learning rate?", "Which learning rate is used?"))
    result = cli("build", "--project", root)
    assert "1 note changed since the manifest\n  changed 1: rate\n" in result.output
    log = import_package(col, apkg)
    assert [n.fields[0] for n in log.updated] == ["Which learning rate is used?"]  # the log strips HTML
    assert not log.new and not log.conflicting and len(log.duplicate) == 3
    assert col.note_count() == 4

    # The review history survived the update.
    after = col.get_card(rate_card.id)
    assert "Which learning rate" in after.question()
    assert (after.reps, after.ivl, after.type) == (reviewed.reps, reviewed.ivl, reviewed.type)
    assert col.db.scalar("select count() from revlog") == revlog_before
    col.close()


def test_two_clones_built_at_different_times_are_byte_identical(make_project, cli, monkeypatch):
    first = make_project({"basics": {"cards": CARDS, "compute": COMPUTE}}, name="clone1")
    assert cli("build", "--project", first).exit_code == 0
    # A second clone: same content and the committed manifest, no cache, built "a day later".
    second = make_project({"basics": {"cards": CARDS, "compute": COMPUTE}}, name="clone2")
    (second / "content/manifest.json").write_bytes((first / "content/manifest.json").read_bytes())
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86400)
    assert cli("build", "--project", second).exit_code == 0
    assert (first / "build/test-deck.apkg").read_bytes() == (second / "build/test-deck.apkg").read_bytes()
