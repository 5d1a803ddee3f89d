"""The keys of the card kinds that run code: drills (``function`` + ``params``) and output cards
(``code``, and ``expect`` as the pinned output).

A drill family's instances are separate notes whose ids come from the family id and each
parameter set alone (``cnn-conv-out`` with ``{n: 32, k: 3}`` is ``cnn-conv-out--k3-n32``): adding,
removing or reordering parameter sets never changes another instance's id, so no learner's review
history is disturbed. The derivation is part of every shipped id: it must never change.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.records import Drill, DrillInstance, Text
from ..core.syntax import Value
from ..core.yamlfile import LocDict, LocList

FUNCTION = re.compile(r"^[A-Za-z_]\w*$")
PARAM = re.compile(r"^[A-Za-z_]\w*$")
MAX_INSTANCES = 200  # a family is practice on many instances, not a table of every case


def instance_id(family: str, params: dict[str, Value]) -> str:
    """``family--key1value1-key2value2`` with keys sorted; ``.`` becomes ``p``, ``-`` becomes ``m``."""
    def slug(value: Value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return "x".join(slug(v) for v in value)
        text = str(value).lower().replace(".", "p").replace("-", "m")
        return re.sub(r"[^a-z0-9]", "", text)

    parts = [f"{re.sub(r'[^a-z0-9]', '', key.lower())}{slug(value)}" for key, value in sorted(params.items())]
    return f"{family}--{'-'.join(parts)}"


def drill(raw: LocDict, card_id: str, bad: Any) -> Drill | None:
    """The ``function`` and ``params`` of a drill card; ``bad(key, message)`` reports a problem."""
    function, params = raw.get("function"), raw.get("params")
    if not isinstance(function, str) or not FUNCTION.match(function):
        bad("function", "a drill names the compute.py function that answers it: `function: name` "
                        f"(got {function!r})")
        return None
    if not isinstance(params, LocList) or not params:
        bad("params", "a drill lists its parameter sets: `params:` with one mapping per card, e.g. "
                      "`- {n: 32, k: 3}`")
        return None
    if len(params) > MAX_INSTANCES:
        bad("params", f"{len(params)} parameter sets; a drill family holds at most {MAX_INSTANCES}")
        return None
    instances: list[DrillInstance] = []
    seen: dict[str, int] = {}
    for item, line in zip(params, params.item_lines, strict=True):
        if not isinstance(item, LocDict) or not item:
            bad("params", f"params at line {line}: each parameter set is a mapping of names to values")
            return None
        names = [k for k in item if not isinstance(k, str) or not PARAM.match(k)]
        if names:
            bad("params", f"params at line {line}: {names[0]!r} is not a parameter name (an identifier)")
            return None
        values: dict[str, Value] = {k: _plain(v) for k, v in item.items()}
        if any(not _simple(v) for v in values.values()):
            bad("params", f"params at line {line}: values are numbers, text, booleans or lists of them")
            return None
        iid = instance_id(card_id, values)
        if iid in seen:
            bad("params", f"params at lines {seen[iid]} and {line} give the same card id {iid} "
                          "(two parameter sets that differ only in case or punctuation, or a repeat)")
            return None
        seen[iid] = line
        instances.append(DrillInstance(iid, values, line))
    return Drill(function, tuple(instances), raw.value_lines.get("function", raw.line))


def expected_output(raw: LocDict, bad: Any) -> Text | None:
    """``expect: |`` on an output card: the exact output the snippet must print (a torch upgrade that
    changes it fails the build)."""
    want = raw.get("expect")
    if want is None:
        return None
    if not isinstance(want, str):
        bad("expect", "an output card's `expect` is the output it must print, as text (expect: |)")
        return None
    return Text(want, raw.value_lines["expect"], raw.literal["expect"])


def _plain(value: Any) -> Value:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value  # type: ignore[no-any-return]


def _simple(value: Value) -> bool:
    if isinstance(value, list):
        return all(_simple(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)
