"""Invariants a reorganisation of the code could break without any other test noticing.

Each test here was written against a fault injected into a copy of the code that the rest of the
suite let through: a dropped GUID namespace, a stamp that trusts the output file, a sweep that
deletes a live writer's temp file, a deleted dependency read as unchanged, one-digit cloze
numbers, a duplicate id seen only when both topics are selected, a format-spec guard blind to
the precision, a time-zone offset with the wrong sign, and expectations checked only through the
real deck.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import run_cli, write_project

from deckgen.core.fs import atomic_write
from deckgen.core.records import Expectation
from deckgen.core.syntax import format_value
from deckgen.deck.package import deck_id, guid
from deckgen.deck.render import check_expectations
from deckgen.srs.reviews import day_of, read_collection

# ------------------------------------------------------------------ identity


def test_guids_of_shipped_cards_never_change():
    """Every learner's notes are matched by these: a different GUID is a new note and lost history."""
    assert guid("opt-gd-update-rule") == "behCDto+|H"
    assert guid("act-sigmoid-formula") == "GFBqk2d3%p"
    assert guid("cnn-1x1-conv-is-linear") == "NM`mx0=;9{"
    assert deck_id("Deep Learning::Optimizers") == 1635894525


# ------------------------------------------------------------------ the package stamp

ONE = "title: One\ncards:\n  - id: one-1\n    front: Q?\n    back: A.\n    covers: [q-one]\n"


def test_a_hand_edited_output_is_written_again_by_a_no_change_rebuild(tmp_path):
    root = write_project(tmp_path / "p", {"one": {"cards": ONE}})
    assert run_cli("build", "--project", root, "-q").exit_code == 0
    out = root / "build/test-deck.apkg"
    good = out.read_bytes()
    out.write_bytes(b"not a package")
    result = run_cli("build", "--project", root, "-q")
    assert result.exit_code == 0 and "wrote" in result.output
    assert out.read_bytes() == good


# ------------------------------------------------------------------ temp files of killed writers


def test_sweep_removes_a_dead_writers_temp_file_and_keeps_a_live_ones(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    target = tmp_path / "deck.apkg"
    live_tmp = tmp_path / f".deck.apkg.{os.getppid()}.abc.tmp"  # pytest's parent: alive
    dead_tmp = tmp_path / f".deck.apkg.{dead_pid}.xyz.tmp"
    live_tmp.write_bytes(b"half")
    dead_tmp.write_bytes(b"half")
    atomic_write(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert live_tmp.exists() and not dead_tmp.exists()


# ------------------------------------------------------------------ the computation cache

READS = """\
from pathlib import Path

DATA = Path(__file__).with_name("data.txt")


def compute(ctx):
    ctx.value("n", int(DATA.read_text()) if DATA.exists() else -1)
"""
SHOWS_N = "title: R\ncards:\n  - id: r-1\n    front: n is {{ n }}\n    back: A.\n"


def test_deleting_a_file_the_computation_read_recomputes(tmp_path):
    root = write_project(tmp_path / "p", {"r": {"cards": SHOWS_N, "compute": READS, "data.txt": "7"}})
    from deckgen.core.project import load_project
    from deckgen.pipeline import BuildOptions, prepare

    first = prepare(load_project(root), BuildOptions())
    assert first.results["r"].values["n"] == 7 and not first.results["r"].cached
    (root / "content/r/data.txt").unlink()
    second = prepare(load_project(root), BuildOptions())
    assert not second.results["r"].cached
    assert second.results["r"].values["n"] == -1


# ------------------------------------------------------------------ cloze numbers


def test_cloze_numbers_above_nine_make_their_own_cards(tmp_path):
    text = " ".join(f"{{{{c{i}::w{i}}}}}" for i in range(1, 12))
    cards = f"title: C\ncards:\n  - id: c-many\n    type: cloze\n    text: |\n      Words: {text}\n"
    root = write_project(tmp_path / "p", {"c": {"cards": cards}})
    result = run_cli("build", "--project", root, "-q")
    assert result.exit_code == 0, result.output
    assert re.search(r": 1 notes?, 11 cards,", result.output), result.output
    listed = run_cli("list", "--project", root).output.splitlines()
    assert listed[1].split()[:3] == ["c", "1", "11"]


# ------------------------------------------------------------------ duplicate ids across topics


def test_a_duplicate_id_fails_the_topic_built_alone(tmp_path):
    one = "title: One\ncards:\n  - id: shared-id\n    front: Q1?\n    back: A.\n"
    two = "title: Two\ncards:\n  - id: shared-id\n    front: Q2?\n    back: B.\n"
    root = write_project(tmp_path / "p", {"one": {"cards": one}, "two": {"cards": two}})
    result = run_cli("build", "--project", root, "--topic", "two")
    assert result.exit_code == 1
    assert ("error: content/two/cards.yaml:3: card shared-id: duplicate card id "
            "(first used at content/one/cards.yaml:3)") in result.output
    assert not (root / "build").exists()


# ------------------------------------------------------------------ format specs


@pytest.mark.parametrize("spec", [".100000000f", ">100000000", "1001", ".1001e"])
def test_a_huge_width_or_precision_is_refused_before_formatting(spec):
    with pytest.raises(ValueError, match="asks for more than 1000 characters or digits"):
        format_value(0.5, spec)


def test_a_precision_up_to_the_limit_is_fine():
    assert len(format_value(0.5, ".1000f")) == 1002


# ------------------------------------------------------------------ day boundaries of a collection


def _collection(path: Path, creation_offset: int, times: list[datetime]) -> None:
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE config (key TEXT, val BLOB);
        CREATE TABLE notes (id INTEGER, guid TEXT);
        CREATE TABLE cards (id INTEGER, nid INTEGER, lapses INTEGER);
        CREATE TABLE revlog (id INTEGER, cid INTEGER, ease INTEGER, time INTEGER, type INTEGER,
                             ivl INTEGER, factor INTEGER);
        INSERT INTO notes VALUES (1, 'g');
        INSERT INTO cards VALUES (10, 1, 0);
    """)
    con.execute("INSERT INTO config VALUES ('rollover', ?)", (json.dumps(4),))
    con.execute("INSERT INTO config VALUES ('creationOffset', ?)", (json.dumps(creation_offset),))
    for i, t in enumerate(times):
        con.execute("INSERT INTO revlog VALUES (?, 10, 3, 5000, 1, 1, 2500)", (int(t.timestamp() * 1000) + i,))
    con.commit()
    con.close()


def test_collection_time_zone_is_minutes_west_of_utc(tmp_path):
    """Anki stores creationOffset as minutes *west* of UTC: -600 is UTC+10 (Sydney)."""
    before = datetime(2024, 1, 1, 17, 30, tzinfo=UTC)  # 03:30 on 2 January in UTC+10: still 1 January's day
    after = datetime(2024, 1, 1, 18, 30, tzinfo=UTC)  # 04:30 in UTC+10: past the 4 am rollover
    path = tmp_path / "collection.anki2"
    _collection(path, -600, [before, after])
    data = read_collection(path, "collection.anki2")
    assert data.utc_offset_minutes == 600 and data.rollover_hours == 4
    days = [day_of(r.time, data.rollover_hours, data.utc_offset_minutes) for r in data.reviews]
    epoch = datetime(1970, 1, 1).date()
    assert days == [(datetime(2024, 1, 1).date() - epoch).days, (datetime(2024, 1, 2).date() - epoch).days]


# ------------------------------------------------------------------ expectations


def _fails(exp: Expectation, got: object) -> bool:
    from deckgen.core.records import Card, CardType, Text

    card = Card("c", CardType.BASIC, {"front": Text("q", 1, False), "back": Text("a", 2, False)}, (), (), (exp,),
                "t", "f.yaml", 1)
    return bool(check_expectations(card, {"v": got}))


@pytest.mark.parametrize(("exp", "got", "fails"), [
    (Expectation("v", 3, min=1.0), 1.0, False),
    (Expectation("v", 3, min=1.0), 0.999, True),
    (Expectation("v", 3, max=2.0), 2.0, False),
    (Expectation("v", 3, max=2.0), 2.001, True),
    (Expectation("v", 3, min=1.0, max=2.0), 1.5, False),
    (Expectation("v", 3, min=1.0), "text", True),
    (Expectation("v", 3, approx=100.0, rel=0.01), 100.9, False),
    (Expectation("v", 3, approx=100.0, rel=0.01), 101.1, True),
    (Expectation("v", 3, approx=0.0, abs=0.1), 0.09, False),
    (Expectation("v", 3, approx=0.0, abs=0.1), 0.11, True),
    (Expectation("v", 3, approx=0.0, rel=0.5), 1e-9, True),  # rel alone: nothing is relatively close to 0
    (Expectation("v", 3, approx=1.0), 1.0 + 1e-7, False),  # default rel 1e-6
    (Expectation("v", 3, approx=1.0), 1.0 + 1e-5, True),
    (Expectation("v", 3, approx=1.0), True, True),  # a boolean is not a number here
])
def test_min_max_and_approx_with_rel_or_abs_alone(exp, got, fails):
    assert _fails(exp, got) is fails
