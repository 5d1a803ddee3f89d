"""Plan study up to an interview date: how many new cards a day, simulated with FSRS.

The simulation is fsrs-rs's review simulator (the one behind Anki's FSRS "simulator" and optimal
retention), with its defaults for answer-button probabilities and seconds per answer. Each day it
introduces up to ``new`` cards, reviews what is due at the desired retention, and records the
expected number of cards remembered (the sum of the cards' predicted recall). Predicted recall on
a day is that sum over the whole deck, so a card not yet learned counts as forgotten.

The recommendation is the smallest number of new cards per day that introduces every card before
the date and reaches the target recall on it, with no day over the time budget. Introducing
faster only moves work earlier and leaves more cards mid-interval on the day, so the smallest
feasible rate is also the lightest plan. When no rate fits the budget, the plan says so and shows
the best recall the budget allows, simulated with the budget enforced (work beyond it is skipped,
as a learner who stops at the limit would).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import fsrs_rs_python as fsrs

from ..core.errors import DeckgenError
from .memory import DEFAULT_PARAMETERS

SEED = 2024  # the simulator is Monte Carlo; a fixed seed makes plans reproducible
NO_LIMIT = 10**9


@dataclass(frozen=True)
class PlanOptions:
    cards: int
    today: date
    until: date
    retention: float = 0.9
    minutes_per_day: float = 30.0
    params: tuple[float, ...] = DEFAULT_PARAMETERS


@dataclass(frozen=True)
class Day:
    date: date
    new: int
    reviews: int
    minutes: float
    recall: float


@dataclass(frozen=True)
class Plan:
    new_per_day: int
    predicted_recall: float  # on the date
    reachable: bool  # target met within the budget
    all_learned: bool
    days: tuple[Day, ...]
    options: PlanOptions

    @property
    def peak_minutes(self) -> float:
        return max((d.minutes for d in self.days), default=0.0)

    def to_dict(self) -> dict[str, object]:
        """The plan as ``deckgen plan --json`` prints it."""
        return {
            "new_per_day": self.new_per_day, "predicted_recall": self.predicted_recall,
            "reachable": self.reachable, "cards": self.options.cards, "minutes_per_day": self.options.minutes_per_day,
            "daily": [{"date": d.date.isoformat(), "new": d.new, "reviews": d.reviews,
                       "minutes": round(d.minutes, 2), "recall": d.recall} for d in self.days],
        }


def _config(options: PlanOptions, new_per_day: int, budget_seconds: float) -> fsrs.SimulatorConfig:
    d = fsrs.default_simulator_config()
    return fsrs.SimulatorConfig(
        deck_size=options.cards, learn_span=(options.until - options.today).days + 1,
        max_cost_perday=budget_seconds, max_ivl=d.max_ivl, first_rating_prob=d.first_rating_prob,
        review_rating_prob=d.review_rating_prob, learn_limit=new_per_day, review_limit=NO_LIMIT,
        new_cards_ignore_review_limit=True, learning_step_transitions=d.learning_step_transitions,
        relearning_step_transitions=d.relearning_step_transitions, state_rating_costs=d.state_rating_costs,
        learning_step_count=d.learning_step_count, relearning_step_count=d.relearning_step_count)


def simulate(options: PlanOptions, new_per_day: int, enforce_budget: bool) -> Plan:
    budget = options.minutes_per_day * 60 if enforce_budget else float(NO_LIMIT)
    result = fsrs.simulate(list(options.params), options.retention, _config(options, new_per_day, budget), SEED)
    days = tuple(
        Day(options.today + timedelta(days=i), int(new), int(reviews), cost / 60, memorized / options.cards)
        for i, (new, reviews, cost, memorized) in enumerate(zip(
            result.learn_cnt_per_day, result.review_cnt_per_day, result.cost_per_day,
            result.memorized_cnt_per_day, strict=True))
    )
    recall = days[-1].recall
    learned = sum(d.new for d in days) >= options.cards
    within = all(d.minutes <= options.minutes_per_day + 1e-9 for d in days)
    return Plan(new_per_day, recall, learned and within and recall >= options.retention, learned, days, options)


def plan(options: PlanOptions) -> Plan:
    """The recommended plan, or the best reachable one with ``reachable`` False."""
    span = (options.until - options.today).days
    if span < 1:
        raise DeckgenError(f"--until {options.until.isoformat()} must be after today ({options.today.isoformat()})")
    if options.cards < 1:
        raise DeckgenError("no cards to plan for")
    if not 0.7 <= options.retention <= 0.99:
        raise DeckgenError(f"--retention {options.retention:g} is outside FSRS's range 0.70-0.99")
    if options.minutes_per_day <= 0:
        raise DeckgenError("--minutes-per-day must be positive")
    lowest = math.ceil(options.cards / span)  # every card introduced before the date
    candidates = sorted({min(options.cards, n) for n in range(lowest, lowest * 4 + 1)})
    for n in candidates:
        result = simulate(options, n, enforce_budget=False)
        if result.reachable:
            return result
    # Out of reach: what the budget allows, with the learner stopping at the limit each day.
    tries = sorted({max(1, n) for n in range(1, lowest * 2 + 1)} | set(candidates))
    best = max((simulate(options, n, enforce_budget=True) for n in tries),
               key=lambda p: (round(p.predicted_recall, 4), -p.new_per_day))
    return best


def write_figure(result: Plan, path: Path) -> None:
    """New and review cards per day (bars) and predicted recall (line, right axis)."""
    from .plots import new_figure, save_png

    fig = new_figure(7, 3.6)
    ax = fig.subplots()
    x = list(range(len(result.days)))
    ax.bar(x, [d.reviews for d in result.days], color="C0", label="reviews")
    ax.bar(x, [d.new for d in result.days], bottom=[d.reviews for d in result.days], color="C1", label="new")
    ax.set_xlabel(f"days from {result.options.today.isoformat()}")
    ax.set_ylabel("cards per day")
    right = ax.twinx()
    right.plot(x, [100 * d.recall for d in result.days], color="C2", label="predicted recall")
    right.axhline(100 * result.options.retention, color="C2", linestyle=":", linewidth=1)
    right.set_ylim(0, 100)
    right.set_ylabel("predicted recall (%)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    verdict = "plan" if result.reachable else "out of reach; best within budget"
    ax.set_title(f"{verdict}: {result.new_per_day} new/day, recall {result.predicted_recall:.0%} on "
                 f"{result.options.until.isoformat()}", fontsize=10)
    save_png(fig, path)
