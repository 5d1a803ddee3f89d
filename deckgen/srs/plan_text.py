"""The plan as a person reads it: where they stand, the verdict, the weeks, and what to set in Anki.

Every figure printed comes from the plan's records (the same ones ``--json`` prints); shares are
rounded down (``floor_pct``) so a recall just under the target never reads as meeting it.
"""

from __future__ import annotations

from .plan import Plan, floor_pct


def plan_lines(p: Plan) -> list[str]:
    o, s, run = p.options, p.standing, p.run
    out = []
    if s.in_collection:
        out.append(f"{s.cards} cards: {s.studied} studied and {s.in_collection - s.studied} new in your collection, "
                   f"{s.not_imported} not imported yet (counted as new)")
    else:
        out.append(f"{s.cards} cards, all new")
    out.append(s.params_note)
    if s.habits:
        out.append(f"from your log: {s.habits.review_answers} review answers, {s.habits.seconds_per_review:.1f} s each "
                   f"on average, Again {s.habits.again:.0%} (Anki's simulator measures answer times and buttons "
                   "from the same log)")
    span = (o.until - o.today).days
    out.append(f"{span} days until {o.until} (studying through the date), budget {o.minutes_per_day:g} min/day, "
               f"target recall {o.target:.0%} on the date")
    if p.reachable:
        out.append(f"plan: {run.setting.new_per_day} new cards per day; predicted recall on {o.until}: "
                   f"{floor_pct(run.recall)}; busiest day {run.peak_minutes:.1f} min")
    else:
        out.append(f"out of reach within {o.minutes_per_day:g} min/day.")
        limit = "" if run.setting.max_reviews >= 10**6 else f", at most {run.setting.max_reviews} reviews/day"
        out.append(f"best within the budget: {run.setting.new_per_day} new cards per day{limit}, "
                   f"{run.introduced} of {run.new_cards} new cards introduced, predicted recall "
                   f"{floor_pct(run.recall)} (busiest day {run.peak_minutes:.1f} min)")
        if p.needed is not None:
            out.append(f"reaching {o.target:.0%} needs {p.needed.setting.new_per_day} new cards per day and "
                       f"{p.needed.peak_minutes:.0f} min on the busiest day")
        else:
            out.append(f"no rate reaches {o.target:.0%} by {o.until}, whatever the time")
    out.append(f"{'week of':<11} {'new':>5} {'reviews':>8} {'min/day':>8} {'max min':>8} {'recall':>7}")
    for i in range(0, len(run.days), 7):
        week = run.days[i:i + 7]
        out.append(f"{week[0].date.isoformat():<11} {sum(d.new for d in week):>5} {sum(d.reviews for d in week):>8} "
                   f"{sum(d.minutes for d in week) / len(week):>8.1f} {max(d.minutes for d in week):>8.1f} "
                   f"{floor_pct(week[-1].recall):>7}")
    st = p.settings
    out.append("set in Anki (Deck options of the deck holding these cards):")
    run_out = (f"; the deck's new cards run out on {st.new_run_out}, nothing to change then" if st.new_run_out
               else f"; {run.new_cards - run.introduced} stay unseen on the date" if run.introduced < run.new_cards
               else "")
    out.append(f"  New cards/day        {st.new_per_day}{run_out}")
    out.append(f"  Desired retention    {st.desired_retention:.2f}")
    out.append(f"  Maximum reviews/day  {st.max_reviews}")
    if s.current is not None:
        c = s.current
        out.append(f"  (now, preset {c.preset!r}: New cards/day {c.new_per_day}, Maximum reviews/day {c.max_reviews}, "
                   f"desired retention {c.desired_retention:.2f})")
    if p.strategies:
        out.append("to finish stronger (each simulated from today like the plan):")
        for g in p.strategies:
            gain = 100 * (g.run.recall - run.recall)
            verdict = "helps" if g.helps else ("over the budget" if not g.run.within(o.minutes_per_day)
                                               else "no gain")
            out.append(f"  {g.advice}: recall {floor_pct(g.run.recall)} ({gain:+.1f} points), "
                       f"busiest day {g.run.peak_minutes:.1f} min: {verdict}")
    return out
