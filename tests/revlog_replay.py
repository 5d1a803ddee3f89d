"""A learner's weeks of history in a real Anki collection: a review log's answers written onto
the collection's cards with past timestamps, then FSRS switched on the way Anki's deck options do
it (memory states computed from that history, review cards rescheduled from their last answer).

Anki's scheduler only answers cards *now*, so weeks of history cannot be produced by answering
cards; the log's answers are written into the revlog table instead, with the fields Anki's FSRS
code reads (time, card, button, review kind), and each card is left in the state its last answer
put it in. The tests of ``deckgen stats`` and ``deckgen plan --collection`` and the plan's
validation benchmark (``benchmarks/plan_validation.py``) share it.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from anki.collection import Collection
from anki.deck_config_pb2 import UpdateDeckConfigsRequest as UpdateDeckConfigs

LEARN, REVIEW, RELEARN = 0, 1, 2  # revlog.type
DAY = 86400


@dataclass(frozen=True)
class Answer:
    card: str  # the log's card id
    rating: int
    time: datetime
    ms: int


def read_log(path: Path) -> list[Answer]:
    with path.open(newline="") as f:
        return [Answer(r["card_id"], int(r["review_rating"]), datetime.fromisoformat(r["review_time"]),
                       int(float(r["review_duration"]))) for r in csv.DictReader(f)]


def log_cards(answers: Iterable[Answer]) -> list[str]:
    """The log's cards in the order they were first answered."""
    seen: dict[str, None] = {}
    for a in sorted(answers, key=lambda a: a.time):
        seen.setdefault(a.card, None)
    return list(seen)


def write_history(col: Collection, mapping: dict[str, int], answers: Sequence[Answer], shift: timedelta) -> int:
    """Write the answers of the mapped log cards (log card -> collection card id), moved by ``shift``.

    Returns the number of revlog rows written. Answers that would land in the future are dropped.
    """
    now = datetime.now(UTC)
    by_card: dict[int, list[Answer]] = defaultdict(list)
    for a in sorted(answers, key=lambda a: a.time):
        if a.card in mapping and a.time + shift <= now:
            by_card[mapping[a.card]].append(a)
    rows = []
    used = set(col.db.list("select id from revlog"))
    today = col.sched.today
    for cid, history in by_card.items():
        state = LEARN
        lapses = 0
        last_day_ivl = 0
        for i, a in enumerate(history):
            rid = int((a.time + shift).timestamp() * 1000)
            while rid in used:
                rid += 1
            used.add(rid)
            kind = state
            if state == LEARN:
                state = REVIEW if a.rating >= 3 else LEARN
            elif state == REVIEW:
                if a.rating == 1:
                    state, lapses = RELEARN, lapses + 1
            elif a.rating >= 3:
                state = REVIEW
            later = [b for b in history[i + 1:] if (b.time - a.time).total_seconds() >= DAY / 2]
            ivl = max(1, round((later[0].time - a.time).total_seconds() / DAY)) if later and state == REVIEW else 0
            rows.append((rid, cid, -1, a.rating, ivl, last_day_ivl, 2500 if state == REVIEW else 0, a.ms, kind))
            last_day_ivl = ivl or last_day_ivl
        last = int((history[-1].time + shift).timestamp())
        if state == REVIEW:  # due date and interval are placeholders until FSRS reschedules the card
            ctype, queue, due, ivl = 2, 2, today, 1
        else:
            ctype, queue, due, ivl = (1 if state == LEARN else 3), 1, last + 600, 0
        col.db.execute("update cards set type=?, queue=?, due=?, ivl=?, reps=?, lapses=?, left=?, factor=?, mod=? "
                       "where id=?", ctype, queue, due, ivl, len(history), lapses, 1 if queue == 1 else 0,
                       2500 if ctype == 2 else 0, last, cid)
    col.db.executemany("insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) "
                       "values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def switch_on_fsrs(col: Collection, deck_id: int, reschedule: bool = True, params: Sequence[float] = ()) -> None:
    """FSRS on for the collection, as the deck options screen does: memory states from the history,
    and (``reschedule``) every review card's due date recomputed from its last answer."""
    current = col.decks.get_deck_configs_for_update(deck_id)
    configs = [c.config for c in current.all_config]
    for c in configs:
        if params:
            del c.config.fsrs_params_6[:]
            c.config.fsrs_params_6.extend(params)
    col.decks.update_deck_configs(UpdateDeckConfigs(
        target_deck_id=deck_id, configs=configs, mode=0, limits=current.current_deck.limits,
        new_cards_ignore_review_limit=current.new_cards_ignore_review_limit, fsrs=True,
        apply_all_parent_limits=current.apply_all_parent_limits, fsrs_reschedule=reschedule))


SHARED_LOG = Path(__file__).resolve().parent / "data" / "revlogs" / "pyfsrs_review_logs.csv"


def history_collection(folder: Path, apkg: Path, with_history: int, *, fsrs: bool = True,
                       ago: timedelta = timedelta(hours=2)) -> Collection:
    """A fresh collection with ``apkg`` imported and the shared log's first ``with_history`` cards'
    answers written onto its first cards (in card order), the log's last answer ``ago`` before now."""
    from anki_helpers import fresh_collection, import_package

    col = fresh_collection(folder)
    import_package(col, apkg)
    ids = sorted(col.find_cards(""))
    log = read_log(SHARED_LOG)
    cards = log_cards(log)[:with_history]
    shift = datetime.now(UTC) - ago - max(a.time for a in log)
    write_history(col, dict(zip(cards, ids, strict=False)), log, shift)
    if fsrs:
        switch_on_fsrs(col, col.get_card(ids[0]).did)
    return col
