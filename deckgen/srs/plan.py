"""Plan study up to an interview date: the "New cards/day" to set in Anki, simulated as such.

Every schedule is one simulation (``simulate.py``) of a setting the learner keeps from today
through the date: New cards/day ``n`` (Anki introduces at most ``n`` a day until the deck's new
cards run out), a desired retention, and every due review done. Predicted recall on the date is the
expected share of the deck's cards remembered at the end of that day, cards never introduced
counting as forgotten.

One rule decides everything: a schedule *meets the target* when its predicted recall on the date
is at least the target and no day of it is over the time budget. The plan is **reachable** exactly
when the schedule it shows meets the target; the recommended rate is the smallest ``n`` whose
schedule does (``n - 1`` is simulated too, and does not). Otherwise the plan shows the best
schedule within the budget: the highest recall among the simulated rates with no day over it, so
a larger budget never shows a worse one. Only when even no new cards at all is over the budget
(the reviews due alone are) does it cap "Maximum reviews/day" instead.

Rates are searched on a coarse grid around "every card by the date", then refined by bisection,
assuming recall and daily minutes grow with the rate between neighbouring grid points; the
verdict does not rely on that assumption, only the claim that ``n`` is the smallest does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..core.errors import DeckgenError
from ..core.project import Project
from .simulate import NO_LIMIT, Run, Setting, Simulator
from .standing import Standing

STRETCH_DAYS = 14
ANKI_MAX_REVIEWS = 200  # Anki's default "Maximum reviews/day"
GRID = (0.5, 1, 1.5, 2, 3)  # multiples of "every new card by the date"


@dataclass(frozen=True)
class PlanOptions:
    today: date
    until: date
    target: float = 0.9  # predicted recall on the date
    minutes_per_day: float = 30.0
    desired_retention: float | None = None  # what Anki schedules with; default: the target


@dataclass(frozen=True)
class Settings:
    """What to set in Anki's deck options for this deck, today."""

    new_per_day: int
    new_run_out: date | None  # the day the deck's new cards run out (nothing to change then)
    desired_retention: float
    max_reviews: int

    def to_dict(self) -> dict[str, object]:
        return {"new_per_day": self.new_per_day,
                "new_run_out": self.new_run_out.isoformat() if self.new_run_out else None,
                "desired_retention": self.desired_retention, "max_reviews": self.max_reviews}


@dataclass(frozen=True)
class Strategy:
    """An alternative setting, simulated from today like the plan, to finish stronger."""

    name: str
    advice: str
    run: Run
    helps: bool  # higher recall on the date than the plan, with no day over the budget

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "advice": self.advice, "helps": self.helps,
                "new_per_day": self.run.setting.new_per_day, "desired_retention": self.run.setting.desired_retention,
                "predicted_recall": self.run.recall, "peak_minutes": round(self.run.peak_minutes, 2)}


@dataclass(frozen=True)
class Plan:
    options: PlanOptions
    standing: Standing
    run: Run  # the recommended schedule when reachable, else the best within the budget
    needed: Run | None  # the lightest schedule reaching the target, whatever its minutes (None: none does)
    settings: Settings
    strategies: tuple[Strategy, ...]
    simulations: int

    @property
    def reachable(self) -> bool:
        return meets(self.run, self.options)

    @property
    def new_per_day(self) -> int:
        return self.run.setting.new_per_day

    @property
    def predicted_recall(self) -> float:
        return self.run.recall

    @property
    def days(self) -> tuple:
        return self.run.days

    def to_dict(self) -> dict[str, object]:
        """The plan as ``deckgen plan --json`` prints it."""
        return {
            "reachable": self.reachable, "new_per_day": self.new_per_day, "predicted_recall": self.predicted_recall,
            "peak_minutes": round(self.run.peak_minutes, 2), "target": self.options.target,
            "minutes_per_day": self.options.minutes_per_day, "today": self.options.today.isoformat(),
            "until": self.options.until.isoformat(), "cards": self.standing.cards,
            "settings": self.settings.to_dict(), "standing": self.standing.to_dict(),
            "needed": None if self.needed is None else {
                "new_per_day": self.needed.setting.new_per_day, "predicted_recall": self.needed.recall,
                "peak_minutes": round(self.needed.peak_minutes, 2)},
            "strategies": [s.to_dict() for s in self.strategies], "simulations": self.simulations,
            "daily": self.run.to_dict()["daily"],
        }


def meets(run: Run, options: PlanOptions) -> bool:
    """The one rule: recall on the date at least the target, and no day over the budget."""
    return run.recall >= options.target and run.within(options.minutes_per_day)


def check_options(options: PlanOptions) -> None:
    if (options.until - options.today).days < 1:
        raise DeckgenError(f"--until {options.until.isoformat()} must be after today ({options.today.isoformat()})")
    for name, value in (("--retention", options.target), ("--desired-retention", options.desired_retention)):
        if value is not None and not 0.7 <= value <= 0.99:
            raise DeckgenError(f"{name} {value:g} is outside FSRS's range 0.70-0.99")
    if not options.minutes_per_day > 0:
        raise DeckgenError("--minutes-per-day must be positive")


def plan(options: PlanOptions, sim: Simulator, standing: Standing) -> Plan:
    """The recommended plan, or the best within the budget with ``reachable`` False."""
    check_options(options)
    dr = options.desired_retention or options.target
    new_cards = sim.deck.new_cards
    runs: dict[int, Run] = {}

    def run(n: int) -> Run:
        if n not in runs:
            runs[n] = sim.run(Setting(n, dr))
        return runs[n]

    base = math.ceil(new_cards / sim.days) if new_cards else 0
    for n in sorted({0, new_cards} | {min(new_cards, max(1, round(base * f))) for f in GRID if new_cards}):
        run(n)

    def ok(r: Run) -> bool:
        return meets(r, options)

    best: Run | None = None
    while best is None:
        if any(ok(r) for r in runs.values()):
            best = runs[_smallest(runs, run, ok)]
            break
        _largest_within(runs, run, options.minutes_per_day)
        if not any(ok(r) for r in runs.values()):
            within = [r for r in runs.values() if r.within(options.minutes_per_day)]
            best = max(within, key=lambda r: (r.recall, -r.setting.new_per_day)) if within else \
                _capped(sim, dr, options.minutes_per_day)
    reaching = [n for n, r in runs.items() if r.recall >= options.target]
    needed = runs[_smallest(runs, run, lambda r: r.recall >= options.target)] if reaching else None
    settings = _settings(best, standing)
    strategies = _strategies(sim, best, options, new_cards)
    return Plan(options, standing, best, needed, settings, strategies, len(runs) + len(strategies))


def plan_for(project: Project, topics: Sequence[str], collection: Path | None, until: date, today: date | None,
             target: float, desired_retention: float | None, minutes_per_day: float,
             params_file: Path | None) -> Plan:
    """Plan the chosen topics' cards: from the learner's collection when given, else from zero."""
    from .memory import load_params
    from .simulate import empty_collection
    from .standing import deck_notes, fresh, learner

    if collection is not None and today is not None:
        raise DeckgenError("--today cannot be combined with --collection: the collection's today is today")
    options = PlanOptions(today or date.today(), until, target, minutes_per_day, desired_retention)
    check_options(options)
    notes = deck_notes(project, topics)
    if not notes.total:
        raise DeckgenError("no cards to plan for")
    params = load_params(params_file, str(params_file)) if params_file else None
    if collection is None:
        deck, standing = fresh(notes, params)
        with empty_collection() as col:
            return plan(options, Simulator(col, deck, standing.params, options.today, until), standing)
    with learner(collection, str(collection), notes, params) as (col, deck, standing):
        return plan(options, Simulator(col, deck, standing.params, options.today, until), standing)


def _smallest(runs: dict[int, Run], run: Callable[[int], Run], pred: Callable[[Run], bool]) -> int:
    """The smallest simulated rate satisfying ``pred``, refined until the rate below it is simulated and fails."""
    hi = min(n for n, r in runs.items() if pred(r))
    below = [n for n in runs if n < hi]
    lo = max(below) if below else None
    while lo is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(run(mid)):
            hi = mid
        else:
            lo = mid
    return hi


def _largest_within(runs: dict[int, Run], run: Callable[[int], Run], budget: float) -> None:
    """Refine the budget's edge: the largest rate whose schedule has no day over the budget."""
    inside = [n for n, r in runs.items() if r.within(budget)]
    if not inside:
        return
    lo = max(inside)
    above = [n for n in runs if n > lo]
    hi = min(above) if above else None
    while hi is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        if run(mid).within(budget):
            lo = mid
        else:
            hi = mid


def _capped(sim: Simulator, dr: float, budget: float) -> Run:
    """No new cards and the reviews alone over the budget: the highest review limit that fits it."""
    lo, hi = 0, max(d.reviews for d in sim.run(Setting(0, dr)).days)
    while hi - lo > max(1, lo // 20):  # to within 5%: a limit, not a count the learner must hit
        mid = (lo + hi) // 2
        if sim.run(Setting(0, dr, mid)).within(budget):
            lo = mid
        else:
            hi = mid
    return sim.run(Setting(0, dr, lo))


def _settings(run: Run, standing: Standing) -> Settings:
    limit = run.setting.max_reviews
    if limit == NO_LIMIT:
        # Any limit at or above the busiest planned day leaves the schedule as simulated: keep the
        # learner's own (or Anki's default, 200) unless the plan needs more.
        busiest = 10 * math.ceil(max(d.reviews + d.new for d in run.days) / 10)
        limit = max(busiest, standing.current.max_reviews if standing.current else ANKI_MAX_REVIEWS)
    return Settings(run.setting.new_per_day, run.last_new_day, run.setting.desired_retention, limit)


def _strategies(sim: Simulator, plan_run: Run, options: PlanOptions, new_cards: int) -> tuple[Strategy, ...]:
    """Settings kept from today that may finish stronger, each simulated like the plan itself."""
    setting = plan_run.setting
    out = []
    higher = round(min(0.97, setting.desired_retention + 0.05), 2)
    if higher > setting.desired_retention and setting.max_reviews == NO_LIMIT:
        out.append(("higher-retention", f"desired retention {higher:.2f} instead of {setting.desired_retention:.2f}",
                    Setting(setting.new_per_day, higher)))
    if sim.days > STRETCH_DAYS + 7 and new_cards:
        early = math.ceil(new_cards / (sim.days - STRETCH_DAYS))
        if early > setting.new_per_day:
            out.append(("finish-early", f"{early} new cards/day, so the last {STRETCH_DAYS} days are reviews only",
                        Setting(early, setting.desired_retention)))
    strategies = []
    for name, advice, s in out:
        r = sim.run(s)
        strategies.append(Strategy(name, advice, r, r.recall > plan_run.recall and r.within(options.minutes_per_day)))
    return tuple(strategies)


def write_figure(result: Plan, path: Path) -> None:
    """New and review cards per day (bars) and predicted recall (line, right axis)."""
    from .plots import new_figure, save_png

    days = result.run.days
    fig = new_figure(7, 3.6)
    ax = fig.subplots()
    x = list(range(len(days)))
    ax.bar(x, [d.reviews for d in days], color="C0", label="reviews")
    ax.bar(x, [d.new for d in days], bottom=[d.reviews for d in days], color="C1", label="new")
    ax.set_xlabel(f"days from {result.options.today.isoformat()}")
    ax.set_ylabel("cards per day")
    right = ax.twinx()
    right.plot(x, [100 * d.recall for d in days], color="C2", label="predicted recall")
    right.axhline(100 * result.options.target, color="C2", linestyle=":", linewidth=1)
    right.set_ylim(0, 100)
    right.set_ylabel("predicted recall (%)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    verdict = "plan" if result.reachable else "out of reach; best within budget"
    ax.set_title(f"{verdict}: {result.new_per_day} new/day, recall {floor_pct(result.predicted_recall)} on "
                 f"{result.options.until.isoformat()}", fontsize=10)
    save_png(fig, path)


def floor_pct(x: float) -> str:
    """A share as a percentage rounded *down* to 0.1%, so 89.96% never shows as a met 90.0% target."""
    return f"{math.floor(x * 1000 + 1e-9) / 10:.1f}%"
