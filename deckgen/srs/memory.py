"""The learner's memory model: FSRS parameters fitted on review history, and their evaluation.

All FSRS arithmetic comes from fsrs-rs through its Python binding (PyPI ``fsrs-rs-python``):
it is the implementation Anki's own backend runs, so parameters fitted here mean the same thing
in Anki's "FSRS parameters" box. Measured on the shared 12,580-review log, it fits in 0.02 s,
where py-fsrs's torch optimizer took 33 s and needs pandas as well (see design.md).

Items are built the way the srs-benchmark builds them: every review on a later day than the
card's previous review becomes one prediction target, with the card's history before it as input.
Same-day repeats (learning steps) are history, never targets: FSRS predicts day-scale recall.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import fsrs_rs_python as fsrs

from ..core.errors import DeckgenError, Problem
from .reviews import MANUAL, Review, day_of

DEFAULT_PARAMETERS: tuple[float, ...] = tuple(fsrs.DEFAULT_PARAMETERS)
TEST_FRACTION = 0.2  # the last 20% of the log, by time, is held out
MIN_TRAIN_ITEMS = 300  # fewer, and fsrs-rs returns the defaults unchanged (it did below 229 on the shared log)


@dataclass(frozen=True)
class Item:
    """One prediction target: a card's reviews up to and including the one to predict."""

    card_id: int
    time: datetime  # of the target review
    reviews: tuple[tuple[int, int], ...]  # (rating, days since the previous review)

    def to_fsrs(self) -> fsrs.FSRSItem:
        return fsrs.FSRSItem([fsrs.FSRSReview(r, d) for r, d in self.reviews])


@dataclass(frozen=True)
class Evaluation:
    log_loss: float
    rmse_bins: float


@dataclass(frozen=True)
class FitReport:
    params: tuple[float, ...]
    default: Evaluation
    fitted: Evaluation
    reviews: int  # reviews read
    train_items: int
    test_items: int
    split_time: datetime  # held-out targets are at or after this time
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """The report as ``deckgen fit --json`` prints it and ``--out`` saves it."""
        return {
            "params": list(self.params),
            "log_loss": {"default": self.default.log_loss, "fitted": self.fitted.log_loss},
            "rmse_bins": {"default": self.default.rmse_bins, "fitted": self.fitted.rmse_bins},
            "reviews": self.reviews, "train_items": self.train_items, "test_items": self.test_items,
            "split_time": self.split_time.isoformat(),
        }


def items_from_reviews(reviews: Sequence[Review], rollover_hours: int = 4, utc_offset_minutes: int = 0) -> list[Item]:
    """Prediction items in time order (see the module docstring).

    Manual entries (Anki's "set due date", "forget") are not answers and are skipped; a "forget"
    resets the card, so its history starts again after it.
    """
    by_card: dict[int, list[Review]] = defaultdict(list)
    for r in sorted(reviews, key=lambda r: r.time):
        if r.reset:
            by_card[r.card_id].clear()
            continue
        if r.kind == MANUAL or r.rating not in (1, 2, 3, 4):
            continue
        by_card[r.card_id].append(r)
    items: list[Item] = []
    for card_id, history in by_card.items():
        days = [day_of(r.time, rollover_hours, utc_offset_minutes) for r in history]
        seq: list[tuple[int, int]] = []
        for i, r in enumerate(history):
            delta = 0 if i == 0 else days[i] - days[i - 1]
            seq.append((r.rating, delta))
            if i > 0 and delta > 0:
                items.append(Item(card_id, r.time, tuple(seq)))
    items.sort(key=lambda it: it.time)
    return items


def split_time(reviews: Sequence[Review], test_fraction: float = TEST_FRACTION) -> datetime:
    """The time from which the last ``test_fraction`` of the reviews happened."""
    times = sorted(r.time for r in reviews)
    return times[min(len(times) - 1, int(len(times) * (1 - test_fraction)))]


def split_by_time(items: Sequence[Item], cut: datetime) -> tuple[list[Item], list[Item]]:
    """Train on the past, test on the future: every held-out target is at or after ``cut``."""
    return [it for it in items if it.time < cut], [it for it in items if it.time >= cut]


def evaluate(params: Sequence[float], items: Sequence[Item]) -> Evaluation:
    result = fsrs.FSRS(list(params)).evaluate([it.to_fsrs() for it in items])
    return Evaluation(result.log_loss, result.rmse_bins)


def fit(reviews: Sequence[Review], shown: str, rollover_hours: int = 4, utc_offset_minutes: int = 0) -> FitReport:
    """Fit on the first 80% of the reviews (by time); compare with the defaults on later-day reviews after that."""
    if not reviews:
        raise DeckgenError(Problem(shown, None, None, "no reviews to fit"))
    items = items_from_reviews(reviews, rollover_hours, utc_offset_minutes)
    cut = split_time(reviews)
    train, test = split_by_time(items, cut)
    needed = MIN_TRAIN_ITEMS
    if len(train) < needed or not test:
        raise DeckgenError(Problem(
            shown, None, None,
            f"too few reviews to fit: {len(reviews)} reviews give {len(items)} later-day reviews, "
            f"{len(train)} of them for training; at least {needed} are needed for training "
            f"(about {math.ceil(needed / (1 - TEST_FRACTION))} later-day reviews in all)"))
    start = time.perf_counter()
    model = fsrs.FSRS(list(DEFAULT_PARAMETERS))
    params = tuple(model.compute_parameters([it.to_fsrs() for it in train]))
    seconds = time.perf_counter() - start
    if params == DEFAULT_PARAMETERS:
        raise DeckgenError(Problem(shown, None, None,
                                   f"too few usable reviews to fit: fsrs-rs kept the default parameters for "
                                   f"{len(train)} training reviews; review longer and try again"))
    return FitReport(params, evaluate(DEFAULT_PARAMETERS, test), evaluate(params, test), len(reviews),
                     len(train), len(test), cut, seconds)


def save_params(report: FitReport, path: Path) -> None:
    """Write the parameters for ``deckgen plan --params`` (and Anki's FSRS box), with their evidence."""
    from ..core.fs import atomic_write

    atomic_write(path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())


def load_params(path: Path, shown: str) -> tuple[float, ...]:
    """Parameters from a file written by ``deckgen fit`` (or a bare JSON list of 17, 19 or 21 numbers)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeckgenError(Problem(shown, None, None, f"cannot read: {exc.strerror or exc}")) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeckgenError(Problem(shown, None, None, f"not a JSON parameters file: {exc}")) from None
    raw = data.get("params") if isinstance(data, dict) else data
    if not isinstance(raw, list) or not all(isinstance(x, int | float) and math.isfinite(x) for x in raw):
        raise DeckgenError(Problem(shown, None, None, "expected {\"params\": [numbers]} as written by `deckgen fit`"))
    if len(raw) not in (17, 19, 21):
        raise DeckgenError(Problem(shown, None, None, f"expected 17, 19 or 21 FSRS parameters, found {len(raw)}"))
    try:
        return tuple(fsrs.check_and_fill_parameters([float(x) for x in raw]))
    except Exception as exc:  # the binding raises a plain ValueError/RuntimeError for invalid values
        raise DeckgenError(Problem(shown, None, None, f"invalid FSRS parameters: {exc}")) from None
