"""YAML mistakes explained in the author's terms: where, in which card, and how to fix it.

PyYAML reports what its parser expected ("mapping values are not allowed here", "expected <block
end>, but found '<scalar>'"), at the token where it gave up, which is often not where the author
went wrong. The common mistakes in card files have recognisable shapes; for each, this module
finds the line to point at, the card it belongs to, and the fix:

* a ``: `` inside unquoted text (YAML reads a new key);
* text that starts with ``{``, ``[``, `` ` `` or ``*`` (a mapping, a list, a reserved character,
  an alias);
* a line of a ``|`` block indented less than the block (YAML ends the block there);
* a second ``id:`` in one card (the ``- `` that starts the next card is missing).

Anything else keeps PyYAML's words, with the line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"^(?P<indent>\s*)(?:-\s+)?(?P<key>[A-Za-z_][\w-]*):(?:\s+(?P<value>.*))?$")
_BLOCK_START = re.compile(r":\s*[|>][-+]?\d?\s*(?:#.*)?$")
_READ_AS = {"{": "the start of a mapping", "[": "the start of a list", "*": "an alias", "&": "an anchor",
            "`": "a reserved character", "@": "a reserved character", "%": "a directive", "!": "a tag"}
_CARD_ID = re.compile(r"^\s*(?:-\s+)?id:\s*[\"']?(?P<id>[a-z0-9][a-z0-9-]*)")


@dataclass(frozen=True)
class Explained:
    line: int
    column: int | None
    card: str | None
    message: str


def card_at(lines: list[str], line: int) -> str | None:
    """The id of the card the 1-based ``line`` belongs to: the nearest ``id:`` at or above it."""
    found = None
    for i in range(min(line, len(lines)) - 1, -1, -1):
        m = _CARD_ID.match(lines[i])
        if m and found is None:
            found = m.group("id")
        if lines[i].startswith("cards:"):
            return found
    return None  # not in a cards file's `cards:` list


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def explain(text: str, line: int, column: int | None, problem: str, context_line: int | None = None,
            plain: str | None = None) -> Explained:
    """An author-facing explanation of a YAML syntax error at 1-based ``line`` and ``column``.

    ``plain`` is the message to fall back on (default: PyYAML's words after "YAML syntax error").
    """
    lines = text.splitlines()
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    plain = plain or f"YAML syntax error: {problem}"

    if "mapping values are not allowed here" in problem:
        m = _KEY.match(src)
        above = _key_above(lines, line)
        if m and above is not None and column is not None and column - 1 == src.index(":") \
                and _indent(src) > above[1]:
            return Explained(line, _indent(src) + 1, card_at(lines, line),
                             f"`{m.group('key')}:` is indented more than `{above[0]}:` above it, so YAML reads it as "
                             f"part of that value; give them the same indentation")
        if m and m.group("value") and ": " in m.group("value") and column is not None \
                and column - 1 > src.index(":"):
            key = m.group("key")
            return Explained(line, column, card_at(lines, line),
                             f"the text after `{key}:` contains `: `, which YAML reads as the start of a new key; "
                             f"put the text in quotes ({key}: \"...\") or on a block of its own ({key}: |)")

    if any(what in problem for what in ("alias", "cannot start any token", "unhashable key", "a key must be",
                                         "expected <block end>", "expected ',' or")):
        for n in range(line, max(1, min(context_line or line, line), line - 3) - 1, -1):
            m = _KEY.match(lines[n - 1]) if n <= len(lines) else None
            value = (m.group("value") or "") if m else ""
            start = value[:1]
            if start == "*" and re.fullmatch(r"\*[^\s,\[\]{}]+\s*", value):
                break  # a real alias (`key: *name`): the loader's own message says what to do
            if m and start in _READ_AS:
                key = m.group("key")
                return Explained(n, lines[n - 1].index(m.group("value")) + 1, card_at(lines, n),
                                 f"the text of `{key}:` starts with '{start}', which YAML reads as {_READ_AS[start]}; "
                                 f"put the text in quotes ({key}: \"...\") or on a block of its own ({key}: |)")

    if "could not find expected ':'" in problem or "expected <block end>" in problem:
        dedented = _dedented_block_line(lines, context_line or line, line)
        if dedented is not None:
            n, key, key_line = dedented
            return Explained(n, _indent(lines[n - 1]) + 1, card_at(lines, n),
                             f"this line is indented less than the `{key}:` block it continues (line {key_line}), so "
                             "YAML ends the block above it; indent it like the block's other lines")

    if "found character '\\t'" in problem:
        return Explained(line, column, card_at(lines, line), f"{plain}: indent with spaces, never tabs")

    return Explained(line, column, card_at(lines, line), plain)


def _key_above(lines: list[str], line: int) -> tuple[str, int] | None:
    """(key, indentation) of the nearest ``key:`` line above ``line``."""
    for n in range(line - 1, 0, -1):
        m = _KEY.match(lines[n - 1])
        if m:
            return m.group("key"), _indent(lines[n - 1]) + (len(lines[n - 1].lstrip()) - len(
                lines[n - 1].lstrip().removeprefix("-").lstrip()))
    return None


def _dedented_block_line(lines: list[str], first: int, last: int) -> tuple[int, str, int] | None:
    """(line, key, key's line) of a line between ``first`` and ``last`` indented less than the ``|``
    block above it but more than that block's key: the author meant it as part of the block."""
    for n in range(max(1, first), min(last, len(lines)) + 1):
        src = lines[n - 1]
        if not src.strip() or _KEY.match(src):
            continue
        for k in range(n - 1, 0, -1):
            if _BLOCK_START.search(lines[k - 1]):
                m = _KEY.match(lines[k - 1].split(":")[0] + ":")
                body = [ln for ln in lines[k:n - 1] if ln.strip()]
                if m and body and _indent(src) < min(map(_indent, body)):
                    return n, m.group("key"), k
                break
            if lines[k - 1].strip() and _indent(lines[k - 1]) <= _indent(src):
                break
    return None


def duplicate_key(text: str, line: int, column: int | None, key: object) -> Explained:
    """A key written twice in one mapping; a second ``id:`` means a card lost its ``- ``."""
    lines = text.splitlines()
    if key == "id":
        return Explained(line, column, card_at(lines, line - 1),
                         "a second `id:` in the same card: is the `- ` that starts the next card missing? "
                         "(each card starts with `- id:`)")
    return Explained(line, column, card_at(lines, line), f"duplicate key {key!r}: write each key once")
