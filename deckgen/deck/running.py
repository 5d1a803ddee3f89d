"""Rendering the cards whose answer comes from running code: output cards and drill instances.

An output card's ``Code`` field is the snippet exactly as it ran (highlighted, nothing filled in)
and its ``Output`` field what it printed, escaped and kept verbatim (the note type shows it in a
``<pre>``). A drill card is one template rendered once per parameter set, with the parameters and
what the family's function returned as its values.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import replace

from ..core.errors import Problem
from ..core.records import Card, CardType, DrillInstance, TopicResult


def code_html(code: str) -> str:
    """A Markdown fence around the snippet, longer than any run of backticks inside it."""
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", code)), default=0))
    return f"{fence}python\n{code.rstrip()}\n{fence}"


def output_field(card: Card, result: TopicResult) -> tuple[str | None, list[Problem]]:
    """The Output field's HTML, or None when the snippet did not run (the runner reported why)."""
    output = result.outputs.get(card.id)
    if output is None:
        return None, []
    problems = []
    if card.expect_output is not None:
        want = card.expect_output.text.rstrip("\n")
        if output != want:
            problems.append(Problem(card.file, card.expect_output.line, card.id,
                                    f"the snippet's output differs from `expect` ({_difference(want, output)}): "
                                    "the pinned behaviour changed; check the card and update `expect`"))
    if card.typed:
        problems += typed_problems(card, output, card.fields["code"].line, "the snippet prints")
    return htmllib.escape(output, quote=False), problems


def typed_problems(card: Card, answer: str, line: int, what: str) -> list[Problem]:
    """Anki compares a typed answer with one line: anything else cannot be typed."""
    if "\n" in answer.strip():
        return [Problem(card.file, line, card.id, f"a typed answer must be one line, and {what} "
                                                  f"{len(answer.strip().splitlines())} lines; remove `typed: true`")]
    if not answer.strip():
        return [Problem(card.file, line, card.id, f"a typed answer cannot be empty, and {what} nothing")]
    return []


def plain_text(html_text: str) -> str:
    """What a learner reads of rendered HTML (for the one-line check of a typed drill answer)."""
    text = re.sub(r"</p>\s*<p>|<br\s*/?>|</li>|</tr>", "\n", html_text)
    return htmllib.unescape(re.sub(r"<[^>]+>", "", text))


def drill_instance(card: Card, instance: DrillInstance, result: TopicResult) -> tuple[Card, TopicResult] | None:
    """The card and values one instance of a drill family renders with (None: not computed)."""
    answer = result.drills.get(instance.id)
    if answer is None:
        return None
    values = {**result.values, **instance.params, **answer}
    one = replace(card, id=instance.id, type=CardType.BASIC, drill=None,
                  tags=(*card.tags, f"drill::{card.id}"))
    return one, replace(result, values=values)


def _difference(want: str, got: str) -> str:
    for i, (a, b) in enumerate(zip(want.splitlines(), got.splitlines(), strict=False)):
        if a != b:
            return f"line {i + 1}: expected {a[:60]!r}, got {b[:60]!r}"
    return f"expected {len(want.splitlines())} lines, got {len(got.splitlines())}"
