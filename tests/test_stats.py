"""deckgen stats over weeks of history: the shared review log's answers written onto a built deck's
cards in a real Anki collection (tests/revlog_replay.py), counts checked against the revlog
itself, weak cards with their lint findings, and figures readable with 22 topics."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import run_cli, write_project
from revlog_replay import history_collection

from deckgen.deck.package import guid


def cards_yaml(title: str, prefix: str, n: int) -> str:
    """Every other card types a number by hand, so lint has something to say about it."""
    body = "".join(f"  - id: {prefix}-{i}\n    front: What is {prefix} {i}?\n"
                   f"    back: {'About 3.14159 of it.' if i % 2 else f'The answer {i}.'}\n    covers: [q-one]\n"
                   for i in range(n))
    return f"title: {title}\ncards:\n{body}"


def deck_with_history(root: Path, topics: dict[str, int], with_history: int) -> tuple[Path, Path]:
    write_project(root / "proj", {name: {"cards": cards_yaml(name.title(), name, n)} for name, n in topics.items()})
    assert run_cli("build", "--project", root / "proj", "--quiet").exit_code == 0
    col = history_collection(root / "anki", root / "proj" / "build" / "test-deck.apkg", with_history)
    path = Path(col.path)
    col.close()
    return root / "proj", path


@pytest.fixture(scope="module")
def weeks(tmp_path_factory) -> tuple[Path, Path]:
    return deck_with_history(tmp_path_factory.mktemp("stats"), {"alpha": 40, "beta": 40, "gamma": 40}, 110)


def from_revlog(project: Path, collection: Path) -> dict[str, dict[str, int]]:
    """The same counts, straight from the revlog with SQL, for an independent check."""
    topic_of = {guid(f"{t}-{i}"): t for t in ("alpha", "beta", "gamma") for i in range(40)}
    con = sqlite3.connect(collection)
    rows = con.execute("select n.guid, r.ease, r.type from revlog r join cards c on c.id = r.cid "
                       "join notes n on n.id = c.nid where r.ease between 1 and 4").fetchall()
    con.close()
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g, ease, kind in rows:
        t = out[topic_of[g]]
        t["answers"] += 1
        if kind == 1:
            t["review_answers"] += 1
            t["passed"] += ease > 1
            t["lapses"] += ease == 1
    return out


def test_stats_over_weeks_agree_with_the_revlog(weeks, tmp_path: Path) -> None:
    project, collection = weeks
    result = run_cli("stats", "--project", project, collection, "--json", "--plot-dir", tmp_path)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.split("\nwrote")[0])
    expected = from_revlog(project, collection)
    for name, t in data["topics"].items():
        e = expected[name]
        assert (t["answers"], t["review_answers"], t["passed"], t["lapses"]) == (
            e["answers"], e["review_answers"], e["passed"], e["lapses"]), name
        assert t["retention"] == pytest.approx(e["passed"] / e["review_answers"])
        # The forgetting curve counts review answers on a later day than the card's previous answer.
        assert 0 < sum(b["review_answers"] for b in data["forgetting_curves"][name]) <= t["review_answers"]
    assert data["answers"] == sum(t["answers"] for t in data["topics"].values())
    # Weeks of history: the curves reach past one day since the previous answer.
    days = {b["days"] for rows in data["forgetting_curves"].values() for b in rows if b["review_answers"] >= 5}
    assert days - {"1"}, days
    weakest = data["weakest"]
    assert [w["lapses"] for w in weakest] == sorted((w["lapses"] for w in weakest), reverse=True)
    for w in weakest:
        assert w["lapses"] == w["review_answers"] - w["passed"] and w["again"] >= w["lapses"]
        assert w["answers"] >= w["review_answers"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "forgetting_curves.png", "retention_by_topic.png", "review_history.png"]


def test_each_weak_card_comes_with_its_lint_findings(weeks) -> None:
    project, collection = weeks
    data = json.loads(run_cli("stats", "--project", project, collection, "--json").output)
    linted = run_cli("lint", "--project", project)
    by_card: dict[str, list[str]] = defaultdict(list)
    for line in linted.output.splitlines():
        if ": card " in line:
            card, finding = line.split(": card ", 1)[1].split(": ", 1)
            by_card[card].append(finding)
    assert by_card, linted.output
    assert data["weakest"]
    for w in data["weakest"]:
        assert w["lint"] == by_card.get(w["id"], [])
    text = run_cli("stats", "--project", project, collection).output
    first = data["weakest"][0]
    block = text[text.index(f"card {first['id']}:"):]
    expected = first["lint"][0] if first["lint"] else "no lint findings"
    assert f"\n      lint: {expected}" in block
    assert "answers: every answer, learning steps included" in text


@pytest.mark.slow
def test_figures_stay_readable_with_22_topics(tmp_path: Path) -> None:
    from deckgen.core.project import load_project
    from deckgen.srs.reviews import read_collection
    from deckgen.srs.stats import collect, curves_figure, retention_figure

    names = {f"topic{i:02d}": 8 for i in range(22)}
    project, collection = deck_with_history(tmp_path, names, 22 * 8)
    stats = collect(load_project(project), read_collection(collection, "c"))
    with_curves = [n for n, pts in stats.curves.items() if any(p[2] >= 5 for p in pts)]
    assert len(with_curves) >= 15
    fig = curves_figure(stats)
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(with_curves)
    assert not fig.legends and all(ax.get_legend() is None for ax in panels)
    title = fig._suptitle.get_window_extent()
    for ax in panels:  # the title overlaps no panel
        assert not title.overlaps(ax.get_tightbbox())
    tall = retention_figure(stats)
    assert tall.get_size_inches()[1] >= 0.28 * 22


def test_figures_without_data_say_so(tmp_path: Path) -> None:
    from deckgen.core.project import load_project
    from deckgen.srs.reviews import CollectionData
    from deckgen.srs.stats import collect, curves_figure, history_figure, retention_figure

    root = write_project(tmp_path / "p", {"alpha": {"cards": cards_yaml("Alpha", "alpha", 3)}})
    stats = collect(load_project(root), CollectionData({}, [], 4, 0))
    for draw in (retention_figure, history_figure, curves_figure):
        fig = draw(stats)
        assert not fig.axes
        assert any("not enough data" in t.get_text() for t in fig.texts)


def test_stats_given_a_package_says_it_is_one(weeks) -> None:
    project, _ = weeks
    result = run_cli("stats", "--project", project, project / "build" / "test-deck.apkg")
    assert result.exit_code == 1
    assert "a deck package (.apkg) to import into Anki, not a collection" in result.output.splitlines()[0]
