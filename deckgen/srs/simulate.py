"""The plan's simulator: Anki's own FSRS review simulator, run on a private copy of the collection.

Why Anki's backend and not fsrs-rs-python's ``simulate``: both run the same fsrs-rs simulator,
but the Python binding's ``simulate`` (0.9.3) only starts from an empty deck; it takes no
existing cards. Anki's ``simulate_fsrs_review`` takes a search and starts from the cards it
finds: their memory states and due dates, the new cards among them, plus ``deck_size`` more new
cards (this deck's cards not imported yet). It also measures the answer-button probabilities and
seconds per answer from the revlog of those cards (fsrs-rs's ``extract_simulator_config``,
smoothed toward the defaults when the log is short), and its ``new_limit`` is exactly the "New
cards/day" setting, counting the cards already introduced today. A learner who has not started
is simulated the same way, on an empty temporary collection, so both cases follow one set of rules.

One request runs one setting from today to the end; neither simulator continues from the state
another run ended in, so a change of setting in the middle of the plan cannot be simulated. The
plan therefore only offers settings kept from today to the date (see ``plan.py``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anki.collection import Collection

NO_LIMIT = 1_000_000  # reviews per day: a limit that never binds (Anki's field is 32-bit)
NOTHING = "cid:0"  # a search that finds no card: a learner who has not started


@dataclass(frozen=True)
class Setting:
    """What the learner sets in Anki's deck options, kept from today to the date."""

    new_per_day: int  # "New cards/day"
    desired_retention: float  # "Desired retention"
    max_reviews: int = NO_LIMIT  # "Maximum reviews/day"


@dataclass(frozen=True)
class Day:
    date: date
    new: int  # cards introduced
    reviews: int
    minutes: float
    recall: float  # expected share of the deck's cards remembered at the end of the day


@dataclass(frozen=True)
class Run:
    """One simulated schedule: a setting kept from today through the date (the date included)."""

    setting: Setting
    days: tuple[Day, ...]
    new_cards: int  # cards new at the start (not yet studied or not yet imported)

    @property
    def recall(self) -> float:
        return self.days[-1].recall

    @property
    def peak_minutes(self) -> float:
        return max(d.minutes for d in self.days)

    @property
    def introduced(self) -> int:
        return min(self.new_cards, sum(d.new for d in self.days))

    @property
    def last_new_day(self) -> date | None:
        """The day the last new card is introduced, if every one is before the date."""
        total = 0
        for d in self.days:
            total += d.new
            if total >= self.new_cards and self.new_cards:
                return d.date
        return None

    def within(self, minutes_per_day: float) -> bool:
        return self.peak_minutes <= minutes_per_day

    def to_dict(self) -> dict[str, object]:
        return {
            "new_per_day": self.setting.new_per_day, "desired_retention": self.setting.desired_retention,
            "predicted_recall": self.recall, "peak_minutes": round(self.peak_minutes, 2),
            "introduced": self.introduced, "new_cards": self.new_cards,
            "last_new_day": self.last_new_day.isoformat() if self.last_new_day else None,
            "daily": [{"date": d.date.isoformat(), "new": d.new, "reviews": d.reviews, "minutes": round(d.minutes, 2),
                       "recall": d.recall} for d in self.days],
        }


@dataclass(frozen=True)
class Deck:
    """The cards to plan for, as the simulator sees them."""

    search: str  # the collection's cards of this deck (NOTHING when there are none)
    cards: int  # all of the deck's cards: the denominator of recall
    new_cards: int  # new in the collection plus not imported
    not_imported: int  # added to the simulation as new cards
    learning_steps: int = 2
    relearning_steps: int = 1


class Simulator:
    """Runs settings over one collection; each distinct setting is simulated once."""

    def __init__(self, col: Collection, deck: Deck, params: Sequence[float], today: date, until: date) -> None:
        self.col, self.deck, self.params = col, deck, list(params)
        self.today, self.until = today, until
        self._runs: dict[Setting, Run] = {}

    @property
    def days(self) -> int:
        return (self.until - self.today).days + 1  # the date itself is a study day

    def run(self, setting: Setting) -> Run:
        if setting not in self._runs:
            self._runs[setting] = self._simulate(setting)
        return self._runs[setting]

    def _simulate(self, setting: Setting) -> Run:
        from anki.scheduler_pb2 import SimulateFsrsReviewRequest

        if self.deck.search == NOTHING and setting.new_per_day == 0:  # nothing to study (Anki refuses to simulate it)
            return Run(setting, tuple(Day(self.today + timedelta(days=i), 0, 0, 0.0, 0.0) for i in range(self.days)),
                       self.deck.new_cards)
        request = SimulateFsrsReviewRequest(
            params=self.params, desired_retention=setting.desired_retention, deck_size=self.deck.not_imported,
            days_to_simulate=self.days, new_limit=setting.new_per_day, review_limit=setting.max_reviews,
            max_interval=36500, search=self.deck.search, new_cards_ignore_review_limit=False,
            historical_retention=0.9, learning_step_count=self.deck.learning_steps,
            relearning_step_count=self.deck.relearning_steps)
        result = self.col._backend.simulate_fsrs_review(request)
        days = tuple(
            Day(self.today + timedelta(days=i), int(new), int(reviews), cost / 60, known / self.deck.cards)
            for i, (new, reviews, cost, known) in enumerate(zip(
                result.daily_new_count, result.daily_review_count, result.daily_time_cost,
                result.accumulated_knowledge_acquisition, strict=True)))
        return Run(setting, days, self.deck.new_cards)


@contextlib.contextmanager
def empty_collection() -> Iterator[Collection]:
    """A throw-away collection for a learner who has not started (no cards, no history)."""
    from anki.collection import Collection

    with tempfile.TemporaryDirectory(prefix="deckgen-plan-") as tmp:
        col = Collection(str(Path(tmp) / "collection.anki2"))
        try:
            yield col
        finally:
            col.close(downgrade=False)
