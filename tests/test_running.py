"""Cards that run, proven in real Anki: output cards, drill families and typed answers.

An output card's answer is what its snippet printed; a drill family is one note per parameter set
with an id from the family and the parameters alone, so a learner's reviews survive any change to
the family's list; a typed answer reaches Anki's type-in comparison. A change of style only must
reach a learner's collection through Anki's default import (the note type's mod moves), and a
rebuild with nothing changed is the same bytes.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import json
import re
from pathlib import Path

import pytest
from anki_helpers import answer, fresh_collection, import_package, note_by_card_id
from conftest import run_cli, write_project

from deckgen.deck import package

pytestmark = pytest.mark.slow  # real Anki and several builds

CARDS = """\
title: Shapes
cards:
  - id: out-broadcast
    type: output
    typed: true
    code: |
      import torch
      a = torch.ones(3, 1)
      print((a + torch.ones(4)).shape)
    expect: torch.Size([3, 4])
    extra: Trailing dimensions are aligned; size 1 stretches.
  - id: out-view
    type: output
    code: |
      import torch
      x = torch.arange(6).view(2, 3).t()
      print(x.is_contiguous())
      x.view(6)
  - id: conv
    type: drill
    function: conv_out
    typed: true
    params:
{params}
    front: "`nn.Conv2d(1, 1, {{{{ k }}}}, stride={{{{ s }}}})` on a {{{{ n }}}}×{{{{ n }}}} input: output height?"
    back: "{{{{ out }}}}"
"""
COMPUTE = """\
import torch


def conv_out(n, k, s):
    conv = torch.nn.Conv2d(1, 1, k, stride=s)
    out = conv(torch.zeros(1, 1, n, n)).shape[-1]
    assert out == (n - k) // s + 1
    return {"out": out}
"""
THREE = ["{n: 32, k: 3, s: 1}", "{n: 28, k: 5, s: 2}", "{n: 7, k: 3, s: 2}"]


def cards(params: list[str]) -> str:
    return CARDS.format(params="\n".join(f"      - {p}" for p in params))


def build(root: Path, *args: str) -> str:
    result = run_cli("build", "--project", root, *args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj", {"shapes": {"cards": cards(THREE), "compute": COMPUTE}},
                         settings="deck: Test Deck\ntimeout: 60\n")


def visible(html: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", "", html))


def test_output_and_drill_notes_hold_what_the_code_did(project, tmp_path):
    build(project, "-q")
    col = fresh_collection(tmp_path / "anki")
    try:
        import_package(col, project / "build/test-deck.apkg")
        shown = note_by_card_id(col, "out-broadcast")
        assert shown.note_type()["name"] == "deckgen Output (type the answer)"
        assert shown["Output"] == "torch.Size([3, 4])"
        # The Code field shows, byte for byte, the snippet that ran (highlighted).
        assert visible(shown["Code"]).strip() == ("import torch\na = torch.ones(3, 1)\n"
                                                  "print((a + torch.ones(4)).shape)")
        raised = note_by_card_id(col, "out-view")
        assert raised.note_type()["name"] == "deckgen Output"
        first, last = htmllib.unescape(raised["Output"]).splitlines()
        assert first == "False" and last.startswith("RuntimeError: view size is not compatible")
        ids = sorted(col.get_note(n)["Id"] for n in col.find_notes("tag:drill::conv"))
        assert ids == ["conv--k3-n32-s1", "conv--k3-n7-s2", "conv--k5-n28-s2"]
        drill = note_by_card_id(col, "conv--k5-n28-s2")
        assert drill.note_type()["name"] == "deckgen Basic (type the answer)"
        assert "stride=2" in drill["Front"] and "28×28" in drill["Front"]
        assert visible(drill["Back"]).strip() == "12"
        # Anki's renderer puts its type-in box on the front and compares on the back.
        card = drill.cards()[0]
        assert "[[type:Back]]" in card.question()
        assert "[[type:Back]]" in card.answer()
        compared = col.compare_answer("12", "13")
        assert "typeBad" in compared and "typeGood" in compared
        assert "typeBad" not in col.compare_answer("12", "12")
    finally:
        col.close()


def test_a_drill_family_grows_without_touching_the_learners_reviews(project, tmp_path):
    build(project, "-q")
    col = fresh_collection(tmp_path / "anki")
    try:
        import_package(col, project / "build/test-deck.apkg")
        for cid in col.find_cards(""):
            answer(col, cid)
        before = {n: (col.get_note(n).mod, col.get_note(n).fields) for n in col.find_notes("")}
        reviews = col.db.scalar("select count() from revlog")
        assert reviews == 5

        # Two new parameter sets, the old ones reordered: only two new notes, nothing else moves.
        grown = [THREE[2], "{n: 64, k: 7, s: 2}", THREE[0], "{n: 9, k: 1, s: 1}", THREE[1]]
        (project / "content/shapes/cards.yaml").write_text(cards(grown))
        out = build(project)
        assert "added 2: conv--k1-n9-s1, conv--k7-n64-s2" in out
        log = import_package(col, project / "build/test-deck.apkg")
        assert len(log.new) == 2 and len(log.updated) == 0
        after = {n: (col.get_note(n).mod, col.get_note(n).fields) for n in col.find_notes("")}
        assert {n: after[n] for n in before} == before
        assert col.db.scalar("select count() from revlog") == reviews
        assert len(col.find_notes("tag:drill::conv")) == 5

        # Removing a parameter set retires that one instance: its note is updated, the others are not.
        (project / "content/shapes/cards.yaml").write_text(cards(grown[1:]))
        out = build(project)
        assert "retired 1: conv--k3-n7-s2" in out
        log = import_package(col, project / "build/test-deck.apkg")
        assert len(log.new) == 0 and len(log.updated) == 1
        assert "deckgen::retired" in note_by_card_id(col, "conv--k3-n7-s2").tags
        assert col.db.scalar("select count() from revlog") == reviews
    finally:
        col.close()


def test_a_style_only_change_reaches_the_collection_with_default_options(project, tmp_path, monkeypatch):
    build(project, "-q")
    apkg = project / "build/test-deck.apkg"
    first = apkg.read_bytes()
    col = fresh_collection(tmp_path / "anki")
    try:
        import_package(col, apkg)
        for cid in col.find_cards(""):
            answer(col, cid)
        reviews = col.db.scalar("select count() from revlog")
        notes = {n: col.get_note(n).mod for n in col.find_notes("")}

        # Nothing changed: the same bytes, the file not even rewritten.
        mtime = apkg.stat().st_mtime_ns
        build(project, "-q")
        assert apkg.read_bytes() == first and apkg.stat().st_mtime_ns == mtime

        # Only the stylesheet changes (as a later phone fix would).
        rule = "\n.dg-restyled { color: teal; }\n"
        monkeypatch.setattr(package, "_css", lambda original=package._css: original() + rule)
        package.css.cache_clear()
        package.models.cache_clear()
        try:
            out = build(project)
            assert "  note types restyled 6: basic, basic-reversed, basic-typed, cloze, output, and 1 more" in out, out
            assert apkg.read_bytes() != first
            manifest = json.loads((project / "content/manifest.json").read_text())
            log = import_package(col, apkg)  # Anki's defaults: update note types if newer
        finally:
            monkeypatch.undo()
            package.css.cache_clear()
            package.models.cache_clear()
        for kind in ("output", "output-typed", "basic-typed"):
            assert manifest["note_types"][kind]["mod"] > 0
        col.models._clear_cache()  # the Python side caches note types; the import went through the backend
        names = {"deckgen Output", "deckgen Output (type the answer)", "deckgen Basic (type the answer)"}
        for model in col.models.all():
            if model["name"] in names:
                assert rule.strip() in model["css"], model["name"]
        assert len(log.updated) == 0 and len(log.new) == 0
        assert {n: col.get_note(n).mod for n in col.find_notes("")} == notes
        assert col.db.scalar("select count() from revlog") == reviews
    finally:
        col.close()


def test_output_is_cached_like_every_computation(project):
    build(project, "-q")
    apkg = project / "build/test-deck.apkg"
    digest = hashlib.sha256(apkg.read_bytes()).hexdigest()
    out = build(project)
    assert "computing" not in out and "shapes: cached" in out
    assert hashlib.sha256(apkg.read_bytes()).hexdigest() == digest
    # A new snippet runs alone: the topic's computation stays cached.
    text = (project / "content/shapes/cards.yaml").read_text()
    (project / "content/shapes/cards.yaml").write_text(text.replace("ones(4)).shape)", "ones(5)).shape)")
                                                       .replace("expect: torch.Size([3, 4])",
                                                                "expect: torch.Size([3, 5])"))
    out = build(project)
    assert "shapes: computed" in out
    assert "changed 1: out-broadcast" in out
