"""A learner's results per topic, and the weakest cards mapped back to their content files.

A note's GUID is derived from its content id alone (see ``package.guid``), so every card in the
collection that came from this deck maps back to its id, topic, file and line, whatever deck the
learner moved it to. Cards from other decks are counted and otherwise ignored.

Retention is the pass rate of review-state answers (Anki's "true retention"): answers to cards in
learning or relearning are steps, not tests of memory, so they do not count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
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
BIN_LABELS = tuple(f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10**6 else f"{lo}+") for lo, hi in FORGETTING_BINS)


@dataclass(frozen=True)
class TopicStats:
    name: str
    title: str
    cards: int  # cards of this topic in the collection
    studied: int  # of those, cards with at least one answer
    reviews: int  # all answers
    review_answers: int  # answers in review state
    passed: int  # review answers other than Again
    lapses: int

    @property
    def retention(self) -> float | None:
        return self.passed / self.review_answers if self.review_answers else None


@dataclass(frozen=True)
class WeakCard:
    id: str
    topic: str
    file: str
    line: int
    lapses: int
    reviews: int
    again: int
    review_answers: int
    passed: int

    @property
    def retention(self) -> float | None:
        return self.passed / self.review_answers if self.review_answers else None


@dataclass(frozen=True)
class Stats:
    topics: tuple[TopicStats, ...]
    weakest: tuple[WeakCard, ...]
    reviews: int  # answers to this deck's cards
    other_cards: int  # cards in the collection that did not come from this deck
    curves: dict[str, list[tuple[int, str, int, float]]]  # topic -> (bin index, label, answers, pass rate)
    daily: list[tuple[int, int, int]]  # (day number, answers, passed review answers)

    def to_dict(self) -> dict[str, object]:
        """The statistics as ``deckgen stats --json`` prints them."""
        return {
            "topics": {t.name: {"title": t.title, "cards": t.cards, "studied": t.studied, "reviews": t.reviews,
                                "review_answers": t.review_answers, "retention": t.retention, "lapses": t.lapses}
                       for t in self.topics},
            "weakest": [{"id": w.id, "topic": w.topic, "file": w.file, "line": w.line, "lapses": w.lapses,
                         "again": w.again, "reviews": w.reviews, "retention": w.retention} for w in self.weakest],
            "reviews": self.reviews, "other_cards": self.other_cards,
        }


def collect(project: Project, data: CollectionData, limit: int = 10) -> Stats:
    """Per-topic statistics and the ``limit`` weakest cards."""
    topics, problems = load_topics(project, project.topics())
    if problems:
        raise DeckgenError(problems)
    # A renamed card carries the note (and GUID) of the id it was renamed from: the manifest knows which.
    manifest = Manifest.load(project.manifest_path, project.rel(project.manifest_path))
    by_guid = {guid(manifest.identity(card.id)): (topic, card) for topic in topics for card in topic.cards}
    owner: dict[int, tuple[str, str, str, int]] = {}  # collection card id -> (topic, content id, file, line)
    other = 0
    for cid, ccard in data.cards.items():
        found = by_guid.get(ccard.note_guid)
        if found is None:
            other += 1
            continue
        topic, card = found
        owner[cid] = (topic.name, card.id, card.file, card.line)

    per_card: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # reviews, again, review answers, passed
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
            sum(r[3] for r in rows), sum(data.cards[c].lapses for c in cids)))
    weak = [
        WeakCard(owner[c][1], owner[c][0], owner[c][2], owner[c][3], data.cards[c].lapses, counts[0], counts[1],
                 counts[2], counts[3])
        for c, counts in per_card.items()
    ]
    # Weakest first: most lapses, then most Again answers, then lowest review pass rate.
    weak.sort(key=lambda w: (-w.lapses, -w.again, w.retention if w.retention is not None else 1.0, w.id))
    weakest = tuple(w for w in weak if w.lapses or w.again)[:limit]
    curve_rows = {
        name: [(i, BIN_LABELS[i], cells[i][0], cells[i][1] / cells[i][0]) for i in sorted(cells) if cells[i][0]]
        for name, cells in curves.items()
    }
    return Stats(tuple(topic_rows), weakest, sum(t.reviews for t in topic_rows), other, curve_rows,
                 sorted((d, v[0], v[1]) for d, v in daily.items()))


def write_plots(stats: Stats, folder: Path) -> list[Path]:
    """Retention per topic, review history, and forgetting curves per topic, as PNG files."""
    from .plots import new_figure, save_png

    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Figure, name: str) -> None:
        save_png(fig, folder / name)
        written.append(folder / name)

    rows = [t for t in stats.topics if t.retention is not None]
    fig = new_figure(6, max(2.5, 0.35 * len(rows) + 1))
    ax = fig.subplots()
    ax.barh([t.name for t in rows], [100 * (t.retention or 0) for t in rows], color="C0")
    for i, t in enumerate(rows):
        ax.text(1, i, f"{t.review_answers} answers", va="center", fontsize=8, color="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("retention: review answers passed (%)")
    ax.set_title("Retention per topic")
    ax.invert_yaxis()
    save(fig, "retention_by_topic.png")

    fig = new_figure(6, 3)
    ax = fig.subplots()
    if stats.daily:
        first = stats.daily[0][0]
        ax.bar([d - first for d, _, _ in stats.daily], [n for _, n, _ in stats.daily], color="C0")
    ax.set_xlabel("day (0 = first review)")
    ax.set_ylabel("answers")
    ax.set_title("Review history")
    save(fig, "review_history.png")

    fig = new_figure(6, 3.5)
    ax = fig.subplots()
    for name, points in sorted(stats.curves.items()):
        ax.plot([p[0] for p in points], [100 * p[3] for p in points], marker="o", label=name)
    ax.set_xticks(range(len(BIN_LABELS)), BIN_LABELS)
    ax.set_xlabel("days since the previous review")
    ax.set_ylabel("recalled (%)")
    ax.set_title("Forgetting curve per topic")
    if stats.curves:
        ax.legend(fontsize=7)
    save(fig, "forgetting_curves.png")
    return written
