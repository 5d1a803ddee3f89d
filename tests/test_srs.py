"""The spaced-repetition toolkit on real data: the shared review log, and collections made by
importing a built deck into real Anki and answering its cards with Anki's own scheduler."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from anki_helpers import CardAnswer, answer, fresh_collection, import_package, note_by_card_id
from conftest import ROOT, run_cli

SHARED_LOG = ROOT / "tests/data/revlogs/pyfsrs_review_logs.csv"  # 12,580 real reviews (MIT, see LICENSE there)

CARDS = """\
title: {title}
cards:
{cards}
"""


def card(cid: str) -> str:
    return f"  - id: {cid}\n    front: What is {cid}?\n    back: The answer for {cid}.\n    covers: [q-one]\n"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("fit") / "params.json"
    result = run_cli("fit", SHARED_LOG, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output), out


# ------------------------------------------------------------------ fit


def test_fit_beats_defaults_on_held_out_real_reviews(fitted) -> None:
    report, out = fitted
    assert report["reviews"] == 12580
    assert len(report["params"]) == 21
    assert report["log_loss"]["fitted"] < report["log_loss"]["default"]
    assert 0 < report["rmse_bins"]["fitted"] < 0.2 and 0 < report["rmse_bins"]["default"] < 0.2
    assert report["train_items"] > 0 and report["test_items"] > 0
    saved = json.loads(out.read_text())
    assert saved["params"] == report["params"]


def test_fit_text_report(tmp_path: Path) -> None:
    result = run_cli("fit", SHARED_LOG)
    assert result.exit_code == 0, result.output
    assert "12580 reviews" in result.output and "default" in result.output and "fitted" in result.output


@pytest.mark.parametrize(("text", "message"), [
    ("card_id,review_rating,review_time\n1,3,2024-01-01T00:00:00+00:00\n",
     "log.csv:1: missing column(s) review_duration (expected card_id,review_rating,review_time,review_duration)"),
    ("card_id,review_rating,review_time,review_duration\n1,3,2024-01-01T00:00:00+00:00,100\n"
     "1,5,2024-01-02T00:00:00+00:00,100\n",
     "log.csv:3: unknown rating '5' (expected 1 again, 2 hard, 3 good, 4 easy)"),
    ("card_id,review_rating,review_time,review_duration\nx,3,2024-01-01T00:00:00+00:00,100\n",
     "log.csv:2: card_id 'x' is not an integer"),
    ("card_id,review_rating,review_time,review_duration\n1,3,yesterday,100\n",
     "log.csv:2: review_time 'yesterday' is not an ISO 8601 time"),
    ("card_id,review_rating,review_time,review_duration\n", "log.csv: no reviews in the file"),
])
def test_fit_bad_csv(tmp_path: Path, text: str, message: str) -> None:
    log = tmp_path / "log.csv"
    log.write_text(text)
    result = run_cli("fit", log)
    assert result.exit_code == 1
    assert result.output.splitlines()[0].endswith(message), result.output
    assert "Traceback" not in result.output


def test_fit_too_few_reviews_says_how_many_are_needed(tmp_path: Path) -> None:
    log = tmp_path / "small.csv"
    log.write_text("".join(SHARED_LOG.read_text().splitlines(keepends=True)[:1001]))
    out = tmp_path / "params.json"
    result = run_cli("fit", log, "--out", out)
    assert result.exit_code == 1
    assert "too few reviews to fit: 1000 reviews give" in result.output
    assert "at least 300 are needed for training" in result.output
    assert not out.exists()


def test_fit_unreadable_sources(tmp_path: Path) -> None:
    missing = run_cli("fit", tmp_path / "nope.anki2")
    assert missing.exit_code == 1 and "collection not found" in missing.output
    junk = tmp_path / "junk.anki2"
    junk.write_bytes(b"this is not sqlite" * 100)
    result = run_cli("fit", junk)
    assert result.exit_code == 1 and "not an Anki collection" in result.output
    folder = run_cli("fit", tmp_path)
    assert folder.exit_code == 1 and "not a file" in folder.output


# ------------------------------------------------------------------ plan


def test_plan_json_reaches_the_target_within_budget(tmp_path: Path) -> None:
    plot = tmp_path / "plan.png"
    result = run_cli("plan", "--project", ROOT, "--topic", "optimizers", "--until", "2027-01-31",
                     "--today", "2026-12-01", "--minutes-per-day", "20", "--json", "--plot", plot)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["reachable"] is True
    assert data["predicted_recall"] >= 0.9
    days = data["daily"]
    assert days[0]["date"] == "2026-12-01" and days[-1]["date"] == "2027-01-31" and len(days) == 62
    assert sum(d["new"] for d in days) >= data["cards"]  # every card introduced
    assert max(d["minutes"] for d in days) <= 20
    assert days[-1]["recall"] == data["predicted_recall"]
    assert all(d["new"] <= data["new_per_day"] for d in days)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert data["settings"]["new_per_day"] == data["new_per_day"]  # what to set in Anki is what was simulated


def test_plan_says_when_the_target_is_out_of_reach() -> None:
    result = run_cli("plan", "--project", ROOT, "--until", "2026-12-08", "--today", "2026-12-01",
                     "--minutes-per-day", "5")
    assert result.exit_code == 0, result.output
    assert "out of reach" in result.output and "best within the budget" in result.output
    data = json.loads(run_cli("plan", "--project", ROOT, "--until", "2026-12-08", "--today", "2026-12-01",
                              "--minutes-per-day", "5", "--json").output)
    assert data["reachable"] is False and data["predicted_recall"] < 0.9
    assert max(d["minutes"] for d in data["daily"]) <= 5  # the best within the budget is within it


def test_plan_with_fitted_params_differs(fitted) -> None:
    _, params = fitted
    args = ("plan", "--project", ROOT, "--topic", "cnn", "--until", "2027-03-01", "--today", "2026-12-01", "--json")
    default = json.loads(run_cli(*args).output)
    own = json.loads(run_cli(*args, "--params", params).output)
    assert default["daily"] != own["daily"]


@pytest.mark.parametrize(("args", "message"), [
    (("--until", "2026-11-01", "--today", "2026-12-01"), "must be after today"),
    (("--until", "2027-01-01", "--retention", "1.5"), "outside FSRS's range"),
    (("--until", "2027-01-01", "--topic", "nope"), "unknown topic nope"),
    (("--until", "2027-01-01", "--params", "/nonexistent/params.json"), "cannot read"),
])
def test_plan_bad_input(args: tuple[str, ...], message: str) -> None:
    result = run_cli("plan", "--project", ROOT, *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_plan_rejects_a_malformed_params_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"params": [1.0, 2.0]}))
    result = run_cli("plan", "--project", ROOT, "--until", "2027-01-01", "--params", bad)
    assert result.exit_code == 1 and "expected 17, 19 or 21 FSRS parameters, found 2" in result.output


# ------------------------------------------------------------------ stats on a real collection


@pytest.fixture
def studied(make_project, tmp_path: Path):
    """A two-topic deck imported into real Anki; cards answered with Anki's scheduler."""
    root = make_project({
        "alpha": {"cards": CARDS.format(title="Alpha", cards="".join(card(f"a-{i}") for i in range(4)))},
        "beta": {"cards": CARDS.format(title="Beta", cards="".join(card(f"b-{i}") for i in range(3)))},
    })
    assert run_cli("build", "--project", root, "--quiet").exit_code == 0
    col = fresh_collection(tmp_path / "anki")
    import_package(col, root / "build" / "test-deck.apkg")
    ids = {cid: note_by_card_id(col, cid).cards()[0].id for cid in ["a-0", "a-1", "a-2", "b-0", "b-1"]}
    for cid in ids.values():  # learn: Easy graduates a new card straight to review
        answer(col, cid, CardAnswer.EASY)
    col.sched.set_due_date(list(ids.values()), "0")  # due again today, in review state
    answer(col, ids["a-0"], CardAnswer.AGAIN)  # a lapse
    answer(col, ids["a-1"], CardAnswer.GOOD)
    answer(col, ids["b-0"], CardAnswer.GOOD)
    answer(col, ids["b-1"], CardAnswer.HARD)
    yield root, col, Path(col.path)
    col.close()


def test_stats_reads_an_open_collection_without_touching_it(studied, tmp_path: Path) -> None:
    root, _col, path = studied  # the collection stays open in Anki (exclusive lock held)
    before = {p.name: sha(p) for p in path.parent.iterdir() if p.is_file()}
    result = run_cli("stats", "--project", root, path, "--json", "--plot-dir", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.split("\nwrote")[0])
    assert {p.name: sha(p) for p in path.parent.iterdir() if p.is_file()} == before

    alpha, beta = data["topics"]["alpha"], data["topics"]["beta"]
    assert (alpha["cards"], alpha["studied"], alpha["answers"]) == (4, 3, 5)
    assert (alpha["review_answers"], alpha["passed"], alpha["retention"], alpha["lapses"]) == (2, 1, 0.5, 1)
    assert (beta["cards"], beta["studied"], beta["review_answers"], beta["retention"]) == (3, 2, 2, 1.0)
    assert data["answers"] == 9 and data["other_cards"] == 0
    weakest = data["weakest"][0]
    assert weakest["id"] == "a-0" and weakest["lapses"] == 1 and weakest["again"] == 1
    assert weakest["answers"] == 2 and weakest["review_answers"] == 1 and weakest["lint"] == []
    assert weakest["file"] == "content/alpha/cards.yaml" and weakest["line"] == 3
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == ["forgetting_curves.png", "retention_by_topic.png", "review_history.png"]


def test_stats_text_names_the_weakest_cards_source(studied) -> None:
    root, _col, path = studied
    result = run_cli("stats", "--project", root, path)
    assert result.exit_code == 0, result.output
    assert ("content/alpha/cards.yaml:3: card a-0: 1 lapse in 1 review answer, 1 Again in 2 answers\n"
            "      lint: no lint findings") in result.output


def test_stats_reads_a_colpkg_export(studied, tmp_path: Path) -> None:
    root, col, path = studied
    direct = json.loads(run_cli("stats", "--project", root, path, "--json").output)
    colpkg = tmp_path / "export.colpkg"
    col.export_collection_package(str(colpkg), include_media=False, legacy=False)
    result = run_cli("stats", "--project", root, colpkg, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == direct


def test_fit_on_a_small_collection_says_how_many_are_needed(studied, tmp_path: Path) -> None:
    _root, _col, path = studied
    before = sha(path)
    result = run_cli("fit", path)
    assert result.exit_code == 1 and "too few reviews to fit" in result.output
    assert sha(path) == before


def test_items_skip_manual_entries_and_restart_after_a_reset() -> None:
    from datetime import UTC, datetime, timedelta

    from deckgen.srs.memory import items_from_reviews
    from deckgen.srs.reviews import LEARN, MANUAL, REVIEW, Review

    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    day = timedelta(days=1)
    log = [
        Review(1, 3, t0, 1000, LEARN),
        Review(1, 0, t0 + day, 0, MANUAL),  # set due date: not an answer
        Review(1, 3, t0 + 3 * day, 1000, REVIEW),
        Review(1, 0, t0 + 4 * day, 0, MANUAL, reset=True),  # forget
        Review(1, 1, t0 + 5 * day, 1000, LEARN),
        Review(1, 3, t0 + 7 * day, 1000, REVIEW),
    ]
    # As in Anki: after a reset only the later history counts; the manual entry is no answer.
    assert [it.reviews for it in items_from_reviews(log)] == [((1, 0), (3, 2))]
    assert [it.reviews for it in items_from_reviews(log[:3])] == [((3, 0), (3, 3))]
