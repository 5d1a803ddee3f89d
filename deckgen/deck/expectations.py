"""Expectations: what a card states about a computed value, checked against what the code computed.

``expect: {loss: {approx: 0.69, rel: 0.01}}`` on a card makes the build fail, at the expectation's
line, when the computation disagrees: a torch upgrade or an edit that changes a number the card's
prose relies on cannot slip through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..core.errors import Problem, did_you_mean
from ..core.records import Card, Expectation
from ..core.syntax import Value


def check_expectations(card: Card, values: dict[str, Value]) -> list[Problem]:
    """A card's stated expectations against what the code computed."""
    out = []
    for exp in card.expects:
        if exp.name not in values:
            out.append(Problem(card.file, exp.line, card.id,
                               f"expectation names unknown value {exp.name!r}"
                               f"{known_names(exp.name, values, 'values')}"))
            continue
        failure = _expectation_failure(exp, values[exp.name])
        if failure:
            out.append(Problem(card.file, exp.line, card.id, f"expectation failed: {exp.name} {failure}"))
    return out


def _expectation_failure(exp: Expectation, got: Value) -> str | None:
    if exp.has_equals and not _equal(got, exp.equals):
        return f"is {got!r}, expected {exp.equals!r}"
    number = isinstance(got, int | float) and not isinstance(got, bool)
    if exp.approx is not None:
        if not number:
            return f"is {got!r}, not a number to compare with approx {exp.approx!r}"
        if not math.isclose(float(got), exp.approx, rel_tol=exp.rel, abs_tol=exp.abs):  # type: ignore[arg-type]
            return f"is {got!r}, expected {exp.approx!r} (rel {exp.rel:g}, abs {exp.abs:g})"
    if exp.min is not None or exp.max is not None:
        if not number:
            return f"is {got!r}, not a number to compare with a range"
        if exp.min is not None and got < exp.min:  # type: ignore[operator]
            return f"is {got!r}, expected at least {exp.min!r}"
        if exp.max is not None and got > exp.max:  # type: ignore[operator]
            return f"is {got!r}, expected at most {exp.max!r}"
    return None


def _equal(got: Value, want: Value) -> bool:
    if isinstance(got, list | tuple) and isinstance(want, list | tuple):
        return len(got) == len(want) and all(_equal(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, bool) or isinstance(want, bool):
        return got is want
    if isinstance(got, int | float) and isinstance(want, int | float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    return got == want


def known_names(name: str, names: Mapping[str, object], what: str) -> str:
    """The closest names the topic does compute, for a message about one it does not."""
    if not names:
        return f" (the topic computes no {what})"
    return did_you_mean(name, names, what)
