"""deckgen plan: from zero and from where the learner stands (a real Anki collection with weeks of
history written from the shared review log), one verdict rule, settings to apply, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from anki_helpers import fresh_collection
from conftest import run_cli, write_project
from revlog_replay import history_collection

TODAY = date.today()
UNTIL = (TODAY + timedelta(days=45)).isoformat()


def cards_yaml(title: str, prefix: str, n: int) -> str:
    body = "".join(f"  - id: {prefix}-{i}\n    front: What is {prefix} {i}?\n    back: The answer {i}.\n"
                   f"    covers: [q-one]\n" for i in range(n))
    return f"title: {title}\ncards:\n{body}"


def files_hash(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.parent.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def deck(tmp_path_factory) -> Path:
    root = write_project(tmp_path_factory.mktemp("plan") / "proj", {
        name: {"cards": cards_yaml(name.title(), name, 40)} for name in ("alpha", "beta", "gamma")})
    assert run_cli("build", "--project", root, "--quiet").exit_code == 0
    return root


@pytest.fixture(scope="module")
def learner(deck, tmp_path_factory) -> Path:
    """120 cards imported; the log's first 100 cards' weeks of answers on the first 100 of them; FSRS on."""
    col = history_collection(tmp_path_factory.mktemp("anki") / "learner", deck / "build" / "test-deck.apkg", 100)
    path = Path(col.path)
    col.close()
    return path


def plan_json(*args: str | Path) -> dict:
    result = run_cli("plan", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_plan_starts_from_the_learners_collection(deck, learner) -> None:
    before = files_hash(learner)
    own = plan_json("--project", deck, "--until", UNTIL, "--collection", learner)
    assert files_hash(learner) == before
    con = sqlite3.connect(learner)
    studied = con.execute("select count(*) from cards where type != 0").fetchone()[0]
    later_day = con.execute("select count(*) from revlog").fetchone()[0]
    con.close()
    s = own["standing"]
    assert (s["cards"], s["in_collection"], s["studied"], s["not_imported"]) == (120, 120, studied, 0)
    assert studied == 100
    assert s["params_from"] == "fitted" and s["params"] != plan_json(
        "--project", deck, "--until", UNTIL)["standing"]["params"]
    assert 300 <= s["later_day_reviews"] < later_day
    assert s["habits"]["review_answers"] > 0 and 0 < s["habits"]["again"] < 1
    assert s["current"]["new_per_day"] == 20  # Anki's default preset, read from the collection
    fresh = plan_json("--project", deck, "--until", UNTIL)
    # From the collection, day one already knows most of the 100 studied cards; from zero, almost nothing.
    assert own["daily"][0]["recall"] > 0.5 > 0.2 > fresh["daily"][0]["recall"]
    assert own["daily"][0]["date"] == TODAY.isoformat() and own["daily"][-1]["date"] == UNTIL
    assert sum(d["new"] for d in own["daily"]) <= 20  # only the 20 unstudied cards are new


def test_cards_not_imported_yet_count_as_new(deck, learner, tmp_path: Path) -> None:
    grown = tmp_path / "grown"
    shutil.copytree(deck / "content", grown / "content")
    for name in ("deckgen.yaml", "questions.yaml"):
        shutil.copy2(deck / name, grown / name)
    (grown / "content" / "delta").mkdir()
    (grown / "content" / "delta" / "cards.yaml").write_text(cards_yaml("Delta", "delta", 10))
    data = plan_json("--project", grown, "--until", UNTIL, "--collection", learner)
    assert (data["standing"]["cards"], data["standing"]["not_imported"]) == (130, 10)
    assert sum(d["new"] for d in data["daily"]) <= 30
    # A topic none of whose cards were imported is no plan "from where the learner stands".
    alone = run_cli("plan", "--project", grown, "--topic", "delta", "--until", UNTIL, "--collection", learner)
    assert alone.exit_code == 1 and "none of this deck's 10 cards are in this collection" in alone.output


def test_too_little_history_plans_with_defaults_and_says_how_much_is_needed(deck, tmp_path: Path) -> None:
    col = history_collection(tmp_path / "short", deck / "build" / "test-deck.apkg", 3)
    path = Path(col.path)
    col.close()
    result = run_cli("plan", "--project", deck, "--until", UNTIL, "--collection", path)
    assert result.exit_code == 0, result.output
    assert "FSRS default parameters" in result.output and "at least 300 are needed to fit yours" in result.output
    data = plan_json("--project", deck, "--until", UNTIL, "--collection", path)
    assert data["standing"]["params_from"] == "defaults" and data["standing"]["later_day_reviews"] < 300


def test_plan_text_ends_with_the_settings_to_apply(deck, learner) -> None:
    result = run_cli("plan", "--project", deck, "--until", UNTIL, "--collection", learner, "--minutes-per-day", "15")
    assert result.exit_code == 0, result.output
    data = plan_json("--project", deck, "--until", UNTIL, "--collection", learner, "--minutes-per-day", "15")
    text = result.output
    settings = text[text.index("set in Anki"):]
    assert f"New cards/day        {data['settings']['new_per_day']}" in settings
    assert f"Desired retention    {data['settings']['desired_retention']:.2f}" in settings
    assert f"Maximum reviews/day  {data['settings']['max_reviews']}" in settings
    busiest = max(d["reviews"] + d["new"] for d in data["daily"])
    assert data["settings"]["max_reviews"] >= busiest  # the limit never holds back a planned review
    for s in data["strategies"]:
        beats = s["predicted_recall"] > data["predicted_recall"] and s["peak_minutes"] <= 15
        assert s["helps"] == beats, s


@pytest.mark.parametrize("case", ["no deck cards", "fsrs off", "date before today", "apkg", "today and collection",
                                  "junk"])
def test_plan_bad_collections_are_one_line_errors_and_left_untouched(deck, learner, tmp_path: Path,
                                                                     case: str) -> None:
    path, args, message = learner, ["--until", UNTIL], ""
    if case == "no deck cards":
        col = fresh_collection(tmp_path / "other")
        note = col.new_note(col.models.by_name("Basic"))
        note["Front"], note["Back"] = "another deck", "x"
        col.add_note(note, 1)
        path = Path(col.path)
        col.close()
        message = "none of this deck's 120 cards are in this collection (1 other cards)"
    elif case == "fsrs off":
        col = history_collection(tmp_path / "off", deck / "build" / "test-deck.apkg", 20, fsrs=False)
        path = Path(col.path)
        col.close()
        message = "FSRS is switched off in this collection"
    elif case == "date before today":
        args = ["--until", (TODAY - timedelta(days=1)).isoformat()]
        message = "must be after today"
    elif case == "apkg":
        path = deck / "build" / "test-deck.apkg"
        message = "a deck package (.apkg) to import into Anki, not a collection"
    elif case == "today and collection":
        args += ["--today", "2026-01-01"]
        message = "--today cannot be combined with --collection"
    else:
        path = tmp_path / "junk.anki2"
        path.write_bytes(b"not sqlite at all" * 64)
        message = "not an Anki collection"
    before = files_hash(path)
    result = run_cli("plan", "--project", deck, "--collection", path, *args)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert lines[1] == "1 problem found"
    assert files_hash(path) == before


def test_the_rate_is_what_the_learner_sets_and_the_schedule_follows_it(deck) -> None:
    for budget in ("5", "30"):
        data = plan_json("--project", deck, "--until", UNTIL, "--today", TODAY.isoformat(), "--minutes-per-day", budget)
        n, daily = data["new_per_day"], data["daily"]
        assert data["settings"]["new_per_day"] == n
        assert all(d["new"] <= n for d in daily)
        introduced = sum(d["new"] for d in daily)
        # Anki introduces exactly n a day until the deck's new cards run out.
        assert introduced == min(120, n * len(daily))
        assert n == 0 or daily[0]["new"] == n


# ------------------------------------------------------------------ one verdict, over a grid


@pytest.mark.slow
def test_verdict_never_contradicts_the_numbers() -> None:
    """Reachable exactly when recall on the date meets the target with no day over the budget; the
    recommended rate is the smallest that does; a larger budget never shows a worse plan."""
    from deckgen.srs.plan import PlanOptions, meets, plan
    from deckgen.srs.simulate import NOTHING, Deck, Setting, Simulator, empty_collection
    from deckgen.srs.standing import DeckNotes, fresh

    start = date(2026, 12, 1)
    checked = reachable = 0
    with empty_collection() as col:
        for size in (40, 300, 979):
            for span in (7, 30, 75):
                previous = None
                for budget in (5, 15, 30, 60):
                    _, standing = fresh(DeckNotes({str(i): 1 for i in range(size)}), None)
                    sim = Simulator(col, Deck(NOTHING, size, size, size), standing.params, start,
                                    start + timedelta(days=span))
                    options = PlanOptions(start, start + timedelta(days=span), 0.9, budget)
                    p = plan(options, sim, standing)
                    run = p.run
                    peak = max(d.minutes for d in run.days)
                    assert p.reachable == (run.days[-1].recall >= 0.9 and peak <= budget)
                    assert p.to_dict()["reachable"] == p.reachable
                    assert p.predicted_recall == run.days[-1].recall
                    assert all(d.new <= p.new_per_day for d in run.days)
                    if p.reachable:
                        reachable += 1
                        if p.new_per_day > 0:
                            assert not meets(sim.run(Setting(p.new_per_day - 1, 0.9)), options)
                    else:
                        assert peak <= budget  # the best within the budget is within it
                        assert run.days[-1].recall < 0.9
                        if p.needed is not None:
                            assert p.needed.recall >= 0.9 and p.needed.peak_minutes > budget
                    if previous is not None:
                        assert p.predicted_recall >= previous.predicted_recall or previous.reachable
                    previous = p
                    checked += 1
    assert checked == 36 and 0 < reachable < checked


def test_plan_reads_a_colpkg_export_like_the_collection(deck, learner, tmp_path: Path) -> None:
    from anki.collection import Collection

    copy = tmp_path / "copy.anki2"
    shutil.copy2(learner, copy)
    col = Collection(str(copy))
    col.export_collection_package(str(tmp_path / "export.colpkg"), include_media=False, legacy=False)
    col.close()
    direct = plan_json("--project", deck, "--until", UNTIL, "--collection", learner)
    exported = plan_json("--project", deck, "--until", UNTIL, "--collection", tmp_path / "export.colpkg")
    assert exported == direct
