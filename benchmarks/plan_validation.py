"""Validate the plan's forecasts on real reviews (issue 19): replay the 12,580-review log in
``tests/data/revlogs`` up to several cut dates, forecast the next 30 days from the state at each
cut, and compare with what the learner actually did.

At each cut the log's answers before it are written into a fresh Anki collection (one note per log
card, ``tests/revlog_replay.py``), moved in time so that the cut is the start of the collection's
today, and FSRS is switched on as Anki's deck options do it (memory states from the history, every
review card rescheduled from its last answer at desired retention 0.9: the log has no due dates).
From that state, with no new cards (only cards already seen before the cut are forecast and
counted), four forecasters predict:

* **daily reviews**: how many of those cards are answered on each of the next 30 days, compared
  with the number of distinct such cards the learner answered that day (mean absolute error, and
  the 30-day total against the actual total);
* **recall**: for each such card's first answer in the 30 days, the probability that it is passed
  (not Again), from the memory state at the cut and the days since its last answer before the cut;
  log loss and mean predicted vs actual pass rate.

Forecasters: ``deckgen`` (what ``deckgen plan --collection`` runs: the standing read by
``deckgen.srs.standing.learner``, parameters fitted by deckgen on the history before the cut, and
its ``Simulator``); ``anki-optimized`` (Anki's own optimizer, ``compute_fsrs_params``, and Anki's
``simulate_fsrs_review`` as its FSRS simulator screen runs it); ``anki-default`` (Anki's simulator
with FSRS's default parameters, what a learner who never pressed "Optimize" gets); and ``naive``
(every day the mean number of distinct seen cards answered per day over the 14 days before the cut;
recall = the pass rate of review answers before the cut).

Usage::

    .venv/bin/python benchmarks/plan_validation.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CUTS = (date(2024, 8, 15), date(2024, 8, 22), date(2024, 9, 1), date(2024, 9, 6))
HORIZON = 30
ROLLOVER = 4  # hours: the day boundary used for the log (UTC) and by the collection


def log_day(t: datetime) -> int:
    return int((t.timestamp() - ROLLOVER * 3600) // 86400)


def build(folder: Path, log: list, cut: date) -> tuple[Path, dict[str, int]]:
    """A collection holding the log's answers before ``cut``, the cut moved to the start of today."""
    from anki.collection import AddNoteRequest, Collection
    from revlog_replay import log_cards, switch_on_fsrs, write_history

    from deckgen.deck.package import guid

    folder.mkdir(parents=True)
    col = Collection(str(folder / "collection.anki2"))
    cut_time = datetime(cut.year, cut.month, cut.day, ROLLOVER, tzinfo=UTC)
    seen = log_cards(a for a in log if a.time < cut_time)
    model, deck = col.models.by_name("Basic"), col.decks.id("Log")
    requests = []
    for card in seen:
        note = col.new_note(model)
        note["Front"], note["Back"] = f"log card {card}", "answer"
        note.guid = guid(f"log-{card}")
        requests.append(AddNoteRequest(note=note, deck_id=deck))
    col.add_notes(requests)
    by_guid = dict(col.db.all("select n.guid, c.id from cards c join notes n on n.id = c.nid"))
    mapping = {card: by_guid[guid(f"log-{card}")] for card in seen}
    today_start = datetime.fromtimestamp(col.sched.day_cutoff - 86400, UTC)
    write_history(col, mapping, [a for a in log if a.time < cut_time], today_start - cut_time)
    switch_on_fsrs(col, deck)
    col.close(downgrade=False)
    return folder / "collection.anki2", mapping


def actual(log: list, cut: date, cards: set[str]) -> tuple[list[int], list[tuple[str, int, bool]]]:
    """Distinct seen cards answered per day, and each card's first answer in the window (card, day, passed)."""
    first_day = log_day(datetime(cut.year, cut.month, cut.day, ROLLOVER, tzinfo=UTC))
    per_day: dict[int, set[str]] = defaultdict(set)
    firsts: dict[str, tuple[int, bool]] = {}
    for a in sorted(log, key=lambda a: a.time):
        d = log_day(a.time) - first_day
        if a.card in cards and 0 <= d < HORIZON:
            per_day[d].add(a.card)
            firsts.setdefault(a.card, (d, a.rating > 1))
    return [len(per_day[d]) for d in range(HORIZON)], [(c, d, ok) for c, (d, ok) in firsts.items()]


def last_days(log: list, cut: date) -> dict[str, int]:
    cut_time = datetime(cut.year, cut.month, cut.day, ROLLOVER, tzinfo=UTC)
    out: dict[str, int] = {}
    for a in log:
        if a.time < cut_time:
            out[a.card] = max(out.get(a.card, -10**9), log_day(a.time))
    return out


def retrievability(stability: float, days: float, decay: float) -> float:
    factor = 0.9 ** (-1 / decay) - 1
    return (1 + factor * days / stability) ** (-decay)


def recall_predictions(col, mapping: dict[str, int], firsts, lasts: dict[str, int], cut: date,
                       decay: float) -> list[tuple[float, bool]]:
    first_day = log_day(datetime(cut.year, cut.month, cut.day, ROLLOVER, tzinfo=UTC))
    out = []
    for card, d, ok in firsts:
        state = col.get_card(mapping[card]).memory_state
        if state is None:
            continue
        elapsed = first_day + d - lasts[card]
        if elapsed <= 0:
            continue
        out.append((retrievability(state.stability, elapsed, decay), ok))
    return out


def log_loss(pairs: Sequence[tuple[float, bool]]) -> float:
    eps = 1e-6
    return sum(-math.log(min(1 - eps, max(eps, p)) if y else 1 - min(1 - eps, max(eps, p)))
               for p, y in pairs) / len(pairs)


def anki_request(params: Sequence[float]):
    from anki.scheduler_pb2 import SimulateFsrsReviewRequest

    return SimulateFsrsReviewRequest(
        params=list(params), desired_retention=0.9, deck_size=0, days_to_simulate=HORIZON, new_limit=0,
        review_limit=1_000_000, max_interval=36500, search="", new_cards_ignore_review_limit=False,
        historical_retention=0.9, learning_step_count=2, relearning_step_count=1)


def forecast_deckgen(path: Path, mapping: dict[str, int], firsts, lasts, cut: date):
    from deckgen.deck.package import guid
    from deckgen.srs.simulate import Setting, Simulator
    from deckgen.srs.standing import DeckNotes, learner

    notes = DeckNotes({guid(f"log-{card}"): 1 for card in mapping})
    with learner(path, str(path), notes, None) as (col, deck, standing):
        today = date.today()
        run = Simulator(col, deck, standing.params, today, today + timedelta(days=HORIZON - 1)).run(Setting(0, 0.9))
        pairs = recall_predictions(col, mapping, firsts, lasts, cut, standing.params[20])
        return [d.reviews for d in run.days], pairs, standing.params_from


def forecast_anki(path: Path, mapping: dict[str, int], firsts, lasts, cut: date, optimize: bool):
    import fsrs_rs_python as fsrs
    from anki.collection import Collection
    from revlog_replay import switch_on_fsrs

    col = Collection(str(path))
    try:
        params = list(fsrs.DEFAULT_PARAMETERS)
        if optimize:
            fitted = col._backend.compute_fsrs_params(search="", current_params=[], ignore_revlogs_before_ms=0,
                                                      num_of_relearning_steps=1, health_check=False)
            params = list(fitted.params) or params
            switch_on_fsrs(col, col.decks.id("Log"), reschedule=False, params=params)
        result = col._backend.simulate_fsrs_review(anki_request(params))
        pairs = recall_predictions(col, mapping, firsts, lasts, cut, params[20])
        return list(result.daily_review_count), pairs
    finally:
        col.close(downgrade=False)


def naive(log: list, cut: date, cards: set[str]) -> tuple[list[float], float]:
    cut_time = datetime(cut.year, cut.month, cut.day, ROLLOVER, tzinfo=UTC)
    first_day = log_day(cut_time)
    per_day: dict[int, set[str]] = defaultdict(set)
    passed = total = 0
    seen_before: set[str] = set()
    last: dict[str, int] = {}
    for a in sorted(log, key=lambda a: a.time):
        if a.time >= cut_time:
            break
        d = log_day(a.time)
        if first_day - 14 <= d < first_day and a.card in cards:
            per_day[d].add(a.card)
        if a.card in seen_before and d > last[a.card]:
            total += 1
            passed += a.rating > 1
        seen_before.add(a.card)
        last[a.card] = d
    mean = sum(len(v) for v in per_day.values()) / 14
    return [mean] * HORIZON, passed / total


def main(argv: list[str] | None = None) -> int:
    from revlog_replay import SHARED_LOG, read_log

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    opts = ap.parse_args(argv)
    log = read_log(SHARED_LOG)
    rows = []
    with tempfile.TemporaryDirectory(prefix="deckgen-validate-") as tmp:
        for cut in CUTS:
            path, mapping = build(Path(tmp) / cut.isoformat(), log, cut)
            cards = set(mapping)
            counts, firsts = actual(log, cut, cards)
            lasts = last_days(log, cut)
            pristine = path.with_name("pristine.anki2")
            shutil.copy2(path, pristine)
            forecasts = {}
            daily, pairs, source = forecast_deckgen(path, mapping, firsts, lasts, cut)
            forecasts["deckgen"] = (daily, pairs)
            for name, optimize in (("anki-optimized", True), ("anki-default", False)):
                shutil.copy2(pristine, path)
                forecasts[name] = forecast_anki(path, mapping, firsts, lasts, cut, optimize)
            base_daily, base_rate = naive(log, cut, cards)
            forecasts["naive"] = (base_daily, [(base_rate, ok) for _, _, ok in firsts])
            for name, (daily, pairs) in forecasts.items():
                rows.append({
                    "cut": cut.isoformat(), "forecaster": name, "seen_cards": len(cards),
                    "mae_daily": sum(abs(f - a) for f, a in zip(daily, counts, strict=True)) / HORIZON,
                    "forecast_total": round(sum(daily)), "actual_total": sum(counts),
                    "log_loss": log_loss(pairs), "answers": len(pairs),
                    "predicted_pass": sum(p for p, _ in pairs) / len(pairs),
                    "actual_pass": sum(y for _, y in pairs) / len(pairs),
                    "params": {"deckgen": source, "naive": None}.get(name, name.removeprefix("anki-")),
                })
    print(f"{'cut':<11} {'forecaster':<15} {'MAE/day':>8} {'30-day total':>13} {'log loss':>9} "
          f"{'pass: predicted':>16} {'actual':>7} {'answers':>8}")
    for r in rows:
        print(f"{r['cut']:<11} {r['forecaster']:<15} {r['mae_daily']:>8.1f} "
              f"{r['forecast_total']:>6}/{r['actual_total']:<6} {r['log_loss']:>9.4f} {r['predicted_pass']:>16.3f} "
              f"{r['actual_pass']:>7.3f} {r['answers']:>8}")
    print("mean over the cuts:")
    for name in ("deckgen", "anki-optimized", "anki-default", "naive"):
        mine = [r for r in rows if r["forecaster"] == name]
        print(f"  {name:<15} MAE/day {sum(r['mae_daily'] for r in mine) / len(mine):.1f}  "
              f"log loss {sum(r['log_loss'] for r in mine) / len(mine):.4f}")
    if opts.json:
        opts.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
