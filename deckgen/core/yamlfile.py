"""Reading the project's YAML files (cards, syllabus, settings, questions) with lines for errors.

The loader remembers the line of every mapping, key, value and list item, so any later check can
point at the author's line. It is stricter than PyYAML where PyYAML would hide a mistake:

* a duplicate key is an error (PyYAML silently keeps the last value);
* a key must be a plain scalar (a list or mapping as a key is a typo, not a feature);
* aliases (``*name``) are rejected: repeating a card through an alias would give two notes one
  identity, and errors would point at the anchor rather than at the repetition;
* nesting deeper than ``MAX_DEPTH`` is an error at its line instead of a RecursionError.

Every syntax problem becomes one :class:`~deckgen.errors.Problem` with the file and line.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent

from .errors import DeckgenError, Problem
from .yamlhints import card_at, duplicate_key, explain

MAX_DEPTH = 50  # far deeper than any content needs; PyYAML's recursion fails near 1,000


class LocDict(dict[Any, Any]):
    """A YAML mapping that knows the line of itself and of each key and value."""

    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]
    literal: dict[Any, bool]
    plain: dict[Any, bool]  # an unquoted scalar (where a ` #` starts a comment)


class LocList(list[Any]):
    """A YAML sequence that knows the line of each item."""

    line: int
    item_lines: list[int]


class _Located(yaml.YAMLError):
    """A problem the loader found itself, with its line (and the key, for a duplicate)."""

    def __init__(self, line: int, message: str, column: int | None = None, duplicate: object = None) -> None:
        super().__init__(message)
        self.line, self.message, self.column, self.duplicate = line, message, column, duplicate


class _Loader(yaml.SafeLoader):
    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, AliasEvent):
            raise _Located(line,
                           f"YAML alias *{event.anchor} is not allowed here: write the content out")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Located(line, f"YAML nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    out = LocDict()
    out.line = node.start_mark.line + 1
    out.key_lines, out.value_lines, out.literal, out.plain = {}, {}, {}, {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise _Located(line, "a key must be a plain name, not a list or mapping")
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise _Located(line, f"duplicate key {key!r}", key_node.start_mark.column + 1, key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
        style = getattr(value_node, "style", None)
        block = style in ("|", ">")
        # A block scalar's text starts on the line after its `|` indicator.
        out.value_lines[key] = value_node.start_mark.line + 1 + (1 if block else 0)
        out.literal[key] = style == "|"
        out.plain[key] = isinstance(value_node, yaml.ScalarNode) and not style  # libyaml says "", PyYAML None
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


# libyaml parses the same documents into the same nodes, with the same marks, about 8x faster than
# the pure-Python scanner (the largest cost of a no-change rebuild). It composes nodes in C, so
# the checks in _Loader.compose_node do not run there: the node tree is walked once instead, and
# anything unusual (an error, an alias, deep nesting, a control character) is parsed again by the
# Python loader, whose messages and lines are the ones users see.
_CSafeLoader = getattr(yaml, "CSafeLoader", None)
_FALLBACK = object()


if _CSafeLoader is not None:
    class _CLoader(_CSafeLoader):  # type: ignore[misc, valid-type]
        pass

    _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def _plain_tree(root: yaml.Node) -> bool:
    """True if no node is reached twice (an alias) and nothing nests deeper than MAX_DEPTH."""
    seen: set[int] = set()
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen or depth > MAX_DEPTH:
            return False
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += [(key, depth + 1), (value, depth + 1)]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
    return True


def _fast(text: str) -> Any:
    """The document parsed by libyaml, or _FALLBACK when the Python loader must decide."""
    if _CSafeLoader is None or yaml.reader.Reader.NON_PRINTABLE.search(text):
        return _FALLBACK
    loader = _CLoader(text)
    try:
        node = loader.get_single_node()
        if node is None or not _plain_tree(node):
            return _FALLBACK
        return loader.construct_document(node)
    except (yaml.YAMLError, _Located):
        return _FALLBACK
    finally:
        loader.dispose()


def parse_yaml(text: str, shown: str) -> Any:
    """Parse YAML with line tracking; a syntax error becomes a DeckgenError with its line."""
    data = _fast(text)
    if data is not _FALLBACK:
        return data
    try:
        return yaml.load(text, Loader=_Loader)
    except _Located as exc:
        if exc.duplicate is not None:
            found = duplicate_key(text, exc.line, exc.column, exc.duplicate)
            raise DeckgenError(Problem(shown, found.line, found.card, found.message, found.column)) from None
        found = explain(text, exc.line, None, exc.message, plain=exc.message)
        raise DeckgenError(Problem(shown, found.line, found.card, found.message, found.column)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or str(exc)
        if exc.context_mark is not None and ("end of stream" in what or "<stream end>" in what):
            # An unclosed quote or bracket: the end of the file is not where the mistake is.
            mark = exc.context_mark
            opened = str(exc.context).removeprefix("while scanning ").removeprefix("while parsing ")
            line = mark.line + 1
            raise DeckgenError(Problem(shown, line, card_at(text.splitlines(), line),
                                       f"YAML syntax error: {opened} is never closed", mark.column + 1)) from None
        if mark is None:
            raise DeckgenError(Problem(shown, None, None, f"YAML syntax error: {what}")) from None
        context = exc.context_mark.line + 1 if exc.context_mark is not None else None
        found = explain(text, mark.line + 1, mark.column + 1, what, context)
        raise DeckgenError(Problem(shown, found.line, found.card, found.message, found.column)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise DeckgenError(Problem(shown, line, None, f"control character U+{code:04X} is not allowed in a YAML "
                                   "file (write it as an escape in a double-quoted string)")) from None
    except yaml.YAMLError as exc:
        raise DeckgenError(Problem(shown, None, None, f"YAML error: {' '.join(str(exc).split())}")) from None


def read_text(data: bytes, shown: str) -> str:
    """Decode UTF-8, naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DeckgenError(
            Problem(shown, line, None, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")
        ) from None


def load_file(path: Any, shown: str) -> Any:
    """Read and parse one YAML file; every problem is a located DeckgenError."""
    return parse_yaml(read_text(path.read_bytes(), shown), shown)


__all__ = ["LocDict", "LocList", "load_file", "parse_yaml", "read_text"]
