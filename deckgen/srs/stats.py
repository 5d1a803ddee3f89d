"""A learner's results per topic, and the weakest cards mapped back to their content files.

A note's GUID is derived from its content id alone (see ``package.guid``), so every card in the
collection that came from this deck maps back to its id, topic, file and line, whatever deck the
learner moved it to. Cards from other decks are counted and otherwise ignored.

Retention is the pass rate of review-state answers (Anki's "true retention"): answers to cards in
learning or relearning are steps, not tests of memory, so they do not count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import DeckgenError
from ..core.project import Project
from ..deck.cards import load_topics
from ..deck.manifest import Manifest
from ..deck.package import guid
from .reviews import REVIEW, CollectionData, day_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORGETTING_BINS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 10**6))  # days since the previous review
MIN_CURVE_ANSWERS = 5  # a pass rate over fewer answers is noise, not a curve
BIN_LABELS = tuple(f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10**6 else f"{lo}+") for lo, hi in FORGETTING_BINS)


@dataclass(frozen=True)
class TopicStats:
    """One topic's cards and answers. Every count below is a subset of the one before it:
    answers (all, learning steps included) >= review answers (cards in review state) >= passed;
    lapses are the review answers not passed (Again), so retention = passed / review answers."""

    name: str
    title: str
    cards: int  # cards of this topic in the collection
    studied: int  # of those, cards with at least one answer
    answers: int  # every answer, learning and relearning steps included
    review_answers: int  # answers to cards in review state: what retention and the forgetting curves count
    passed: int  # review answers other than Again

    @property
    def lapses(self) -> int:
        return self.review_answers - self.passed

    @property
    def retention(self) -> float | None:
        return self.passed / self.review_answers if self.review_answers else None


@dataclass(frozen=True)
class WeakCard:
    id: str
    topic: str
    file: str
    line: int
    answers: int  # every answer to the card
    again: int  # of those, Again (in any state)
    review_answers: int
    passed: int
    lint: tuple[str, ...] = ()  # the author's lint findings for the card, when the caller looked them up

    @property
    def lapses(self) -> int:
        return self.review_answers - self.passed

    @property
    def retention(self) -> float | None:
        return self.passed / self.review_answers if self.review_answers else None


@dataclass(frozen=True)
class Stats:
    topics: tuple[TopicStats, ...]
    weakest: tuple[WeakCard, ...]
    answers: int  # answers to this deck's cards
    other_cards: int  # cards in the collection that did not come from this deck
    curves: dict[str, list[tuple[int, str, int, float]]]  # topic -> (bin index, label, review answers, pass rate)
    daily: list[tuple[int, int, int]]  # (day number, answers, passed review answers)

    def with_lint(self, findings: dict[str, list[str]]) -> Stats:
        """The same statistics with each weak card's lint findings (looked up by the caller: the toolkit
        does not import the author's aids)."""
        return replace(self, weakest=tuple(replace(w, lint=tuple(findings.get(w.id, ()))) for w in self.weakest))

    def to_dict(self) -> dict[str, object]:
        """The statistics as ``deckgen stats --json`` prints them."""
        return {
            "topics": {t.name: {"title": t.title, "cards": t.cards, "studied": t.studied, "answers": t.answers,
                                "review_answers": t.review_answers, "passed": t.passed, "retention": t.retention,
                                "lapses": t.lapses}
                       for t in self.topics},
            "weakest": [{"id": w.id, "topic": w.topic, "file": w.file, "line": w.line, "answers": w.answers,
                         "again": w.again, "review_answers": w.review_answers, "passed": w.passed,
                         "lapses": w.lapses, "retention": w.retention, "lint": list(w.lint)} for w in self.weakest],
            "answers": self.answers, "other_cards": self.other_cards,
            "forgetting_curves": {
                name: [{"days": label, "review_answers": n, "passed": rate} for _, label, n, rate in rows]
                for name, rows in self.curves.items()},
        }


def collect(project: Project, data: CollectionData, limit: int = 10) -> Stats:
    """Per-topic statistics and the ``limit`` weakest cards."""
    topics, problems = load_topics(project, project.topics())
    if problems:
        raise DeckgenError(problems)
    # A renamed card carries the note (and GUID) of the id it was renamed from: the manifest knows which.
    manifest = Manifest.load(project.manifest_path, project.rel(project.manifest_path))
    by_guid = {guid(manifest.identity(nid)): (topic, card) for topic in topics for card in topic.cards
               for nid in card.note_ids()}
    owner: dict[int, tuple[str, str, str, int]] = {}  # collection card id -> (topic, content id, file, line)
    other = 0
    for cid, ccard in data.cards.items():
        found = by_guid.get(ccard.note_guid)
        if found is None:
            other += 1
            continue
        topic, card = found
        owner[cid] = (topic.name, card.id, card.file, card.line)

    per_card: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # answers, again, review answers, passed
    curves: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    daily: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    last_day: dict[int, int] = {}
    for r in data.reviews:
        if r.card_id not in owner or r.rating not in (1, 2, 3, 4):
            continue
        day = day_of(r.time, data.rollover_hours, data.utc_offset_minutes)
        counts = per_card[r.card_id]
        counts[0] += 1
        counts[1] += r.rating == 1
        daily[day][0] += 1
        if r.kind == REVIEW:
            counts[2] += 1
            counts[3] += r.rating > 1
            daily[day][1] += r.rating > 1
            previous = last_day.get(r.card_id)
            if previous is not None and day > previous:
                elapsed = day - previous
                for i, (lo, hi) in enumerate(FORGETTING_BINS):
                    if lo <= elapsed <= hi:
                        cell = curves[owner[r.card_id][0]][i]
                        cell[0] += 1
                        cell[1] += r.rating > 1
        last_day[r.card_id] = day

    titles = {t.name: t.title for t in topics}
    topic_rows = []
    for t in topics:
        cids = [cid for cid, o in owner.items() if o[0] == t.name]
        if not cids:
            continue
        rows = [per_card[c] for c in cids if c in per_card]
        topic_rows.append(TopicStats(
            t.name, titles[t.name], len(cids), len(rows), sum(r[0] for r in rows), sum(r[2] for r in rows),
            sum(r[3] for r in rows)))
    weak = [WeakCard(owner[c][1], owner[c][0], owner[c][2], owner[c][3], *counts) for c, counts in per_card.items()]
    # Weakest first: most lapses, then most Again answers, then lowest review pass rate.
    weak.sort(key=lambda w: (-w.lapses, -w.again, w.retention if w.retention is not None else 1.0, w.id))
    weakest = tuple(w for w in weak if w.lapses or w.again)[:limit]
    curve_rows = {
        name: [(i, BIN_LABELS[i], cells[i][0], cells[i][1] / cells[i][0]) for i in sorted(cells) if cells[i][0]]
        for name, cells in curves.items()
    }
    return Stats(tuple(topic_rows), weakest, sum(t.answers for t in topic_rows), other, curve_rows,
                 sorted((d, v[0], v[1]) for d, v in daily.items()))


def write_plots(stats: Stats, folder: Path) -> list[Path]:
    """Retention per topic, review history, and forgetting curves per topic, as PNG files.

    Readable with the whole deck's 22 topics: bars get a row each, forgetting curves a small panel
    each (one legend over 22 lines hid the title), and a figure without data says so instead of
    drawing empty axes.
    """
    from .plots import save_png

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (("retention_by_topic.png", retention_figure), ("review_history.png", history_figure),
                       ("forgetting_curves.png", curves_figure)):
        save_png(draw(stats), folder / name)
        written.append(folder / name)
    return written


def retention_figure(stats: Stats) -> Figure:
    from .plots import new_figure, not_enough_data

    rows = [t for t in stats.topics if t.retention is not None]
    if not rows:
        return not_enough_data("Retention per topic", "no review answers yet (cards still in learning)")
    fig = new_figure(6.5, max(2.5, 0.28 * len(rows) + 1.2))
    ax = fig.subplots()
    ax.barh([t.name for t in rows], [100 * (t.retention or 0) for t in rows], color="C0")
    for i, t in enumerate(rows):
        ax.text(101, i, f"{t.passed}/{t.review_answers}", va="center", fontsize=7)
    ax.set_xlim(0, 115)
    ax.set_xticks(range(0, 101, 20))
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("retention: review answers passed (%); passed/review answers at the right")
    ax.set_title("Retention per topic")
    ax.invert_yaxis()
    return fig


def history_figure(stats: Stats) -> Figure:
    from .plots import new_figure, not_enough_data

    if not stats.daily:
        return not_enough_data("Review history", "no answers yet")
    fig = new_figure(6.5, 3)
    ax = fig.subplots()
    first = stats.daily[0][0]
    ax.bar([d - first for d, _, _ in stats.daily], [n for _, n, _ in stats.daily], color="C0")
    ax.set_xlabel("day (0 = first answer)")
    ax.set_ylabel("answers (all)")
    ax.set_title(f"Review history: {sum(n for _, n, _ in stats.daily)} answers on {len(stats.daily)} days")
    return fig


def curves_figure(stats: Stats) -> Figure:
    """One small panel per topic with enough data (a shared legend over 22 lines is unreadable)."""
    from .plots import new_figure, not_enough_data

    curves = {name: [p for p in points if p[2] >= MIN_CURVE_ANSWERS] for name, points in sorted(stats.curves.items())}
    curves = {name: points for name, points in curves.items() if points}
    if not curves:
        return not_enough_data("Forgetting curve per topic",
                               f"it needs {MIN_CURVE_ANSWERS}+ review answers in one interval bin (days since the "
                               "card's previous answer) for some topic")
    cols = min(4, len(curves))
    nrows = -(-len(curves) // cols)
    fig = new_figure(2.1 * cols + 0.6, 1.7 * nrows + 0.9)
    axes = fig.subplots(nrows, cols, sharex=True, sharey=True, squeeze=False)
    for ax, (name, points) in zip(axes.flat, curves.items(), strict=False):
        ax.plot([p[0] for p in points], [100 * p[3] for p in points], marker="o", markersize=3, color="C0")
        ax.set_title(f"{name} ({sum(p[2] for p in points)})", fontsize=8)
        ax.set_ylim(0, 105)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(curves):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xticks(range(len(BIN_LABELS)), BIN_LABELS, rotation=45)
    fig.suptitle("Forgetting curve per topic: review answers passed (%) by days since the previous answer\n"
                 f"(bins with {MIN_CURVE_ANSWERS}+ answers; the topic's answers in brackets)", fontsize=9)
    return fig
