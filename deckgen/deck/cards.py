"""Load and validate ``content/<topic>/cards.yaml`` into :class:`~deckgen.core.records.Card` records.

The YAML is read with a loader that remembers the line of every key and value and rejects
duplicate keys (PyYAML silently keeps the last one, which would hide an author's mistake).
Validation collects every problem, each with file, line and card id, rather than stopping at the
first: ``deckgen check`` shows them all at once.

File format::

    title: Optimizers            # subdeck name: "<deck>::Optimizers"
    cards:
      - id: adam-bias-correction # unique across all content, never changed once shipped
        type: basic              # basic (default) | cloze | basic-reversed
        front: Markdown
        back: Markdown           # cloze cards have `text:` instead of front/back
        extra: Markdown          # optional, shown under the answer
        tags: [adam]
        covers: [s004-q12]       # question ids this card answers
        expect:                  # optional checks on computed values
          adam_first_step: {approx: 0.001, rel: 0.01}
        lint:                    # optional: `deckgen lint` rules switched off here, each with a reason
          several-facts: a two-column comparison is one contrast
        renamed_from: adam-bias  # optional: the shipped id this card replaces (the note keeps its history)
    retired:                     # optional: shipped ids withdrawn on purpose, each with the reason learners see
      adam-old-card: merged into adam-bias-correction
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import DeckgenError, Problem, did_you_mean
from ..core.project import Project, TopicPaths
from ..core.records import REQUIRED, Card, CardType, Expectation, Retirement, Silence, Text, Topic
from ..core.syntax import Value, cloze_numbers, has_cloze_zero
from ..core.yamlfile import LocDict, LocList, parse_yaml, read_text
from . import kinds

CARD_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
TAG = re.compile(r"^[^\s\"]+$")
TOPIC_KEYS = {"title", "cards", "retired"}
CARD_KEYS = {"id", "type", "front", "back", "text", "code", "extra", "tags", "covers", "expect", "lint", "renamed_from",
             "typed", "function", "params"}
TYPED_TYPES = (CardType.BASIC, CardType.OUTPUT, CardType.DRILL)  # Anki compares one typed line
TEXT_KEYS = ("front", "back", "text", "code", "extra")
EXPECT_KEYS = {"equals", "approx", "rel", "abs", "min", "max"}
MAX_FIELD_CHARS = 20_000


@dataclass
class _Collector:
    file: str
    problems: list[Problem] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the file's text, for mistakes YAML lets through

    def add(self, line: int | None, card: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, card, message))


def load_topic(project: Project, paths: TopicPaths) -> tuple[Topic, list[Problem]]:
    """Parse one topic's cards file; returns the cards that validated and every problem found."""
    shown = project.rel(paths.cards)
    col = _Collector(shown)
    try:
        text = read_text(paths.cards.read_bytes(), shown)
        data = parse_yaml(text, shown)
    except DeckgenError as exc:
        return Topic(paths.name, paths.name, (), paths.cards, paths.compute), exc.problems
    col.lines = text.splitlines()
    if not isinstance(data, LocDict):
        col.add(1, None, "a cards file must be a mapping with `title` and `cards`")
        return Topic(paths.name, paths.name, (), paths.cards, paths.compute), col.problems
    for key in sorted(set(data) - TOPIC_KEYS, key=str):
        col.add(data.key_lines[key], None, f"unknown key {key!r} (allowed: {', '.join(sorted(TOPIC_KEYS))})")
    title = data.get("title", paths.name)
    if not isinstance(title, str) or not title.strip() or "::" in title:
        col.add(data.key_lines.get("title", data.line), None, "title must be a non-empty string without '::'")
        title = paths.name
    retired = _retired(data, col)
    raw_cards = data.get("cards")
    cards: list[Card] = []
    if not isinstance(raw_cards, LocList):
        col.add(data.key_lines.get("cards", data.line), None, "`cards` must be a list of cards")
    else:
        for raw, line in zip(raw_cards, raw_cards.item_lines, strict=True):
            card = _card(raw, line, paths.name, col)
            if card is not None:
                cards.append(card)
    drills = isinstance(raw_cards, LocList) and any(isinstance(r, dict) and r.get("type") == "drill" for r in raw_cards)
    return Topic(paths.name, title.strip(), tuple(cards), paths.cards, paths.compute, retired, drills), col.problems


def _retired(data: LocDict, col: _Collector) -> tuple[Retirement, ...]:
    """``retired: {card-id: reason}``: shipped cards withdrawn on purpose; the reason is shown to learners."""
    spec = data.get("retired")
    if spec is None:
        return ()
    if not isinstance(spec, LocDict):
        col.add(data.value_lines.get("retired", data.line), None,
                "`retired` must map the withdrawn card ids to the reason learners will read")
        return ()
    out = []
    for cid, reason in spec.items():
        at = spec.key_lines[cid]
        if not isinstance(cid, str) or not CARD_ID.match(cid):
            col.add(at, None, f"retired: {cid!r} is not a card id")
        elif not isinstance(reason, str) or not reason.strip():
            col.add(at, cid, "retired: needs the reason learners will read (why the card was withdrawn)")
        else:
            out.append(Retirement(cid, " ".join(reason.split()), col.file, at))
    return tuple(out)


def _card(raw: Any, line: int, topic: str, col: _Collector) -> Card | None:
    if not isinstance(raw, LocDict):
        col.add(line, None, "each card must be a mapping with at least `id`")
        return None
    card_id = raw.get("id")
    if not isinstance(card_id, str) or not CARD_ID.match(card_id):
        col.add(raw.value_lines.get("id", line), None,
                f"card id must be lower-case letters, digits and '-' (got {card_id!r})")
        return None
    before = len(col.problems)

    def bad(key: str, message: str) -> None:
        col.add(raw.value_lines.get(key, raw.key_lines.get(key, line)), card_id, message)

    for key in sorted(set(raw) - CARD_KEYS, key=str):
        col.add(raw.key_lines[key], card_id, f"unknown key {key!r} (allowed: {', '.join(sorted(CARD_KEYS))})")
    try:
        ctype = CardType(raw.get("type", "basic"))
    except ValueError:
        names = [t.value for t in CardType]
        bad("type", f"unknown type {raw.get('type')!r} ({', '.join(names[:-1])} or {names[-1]})")
        return None
    fields: dict[str, Text] = {}
    reported: set[str] = set()
    for key in TEXT_KEYS:
        if raw.get(key) is None:  # absent, or `key:` with nothing after it
            continue
        value = raw[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        reported.add(key)
        if not isinstance(value, str):
            bad(key, f"`{key}` must be text")
            continue
        if len(value) > MAX_FIELD_CHARS:
            bad(key, f"`{key}` is {len(value)} characters; a card field may hold at most {MAX_FIELD_CHARS}")
            continue
        if not _encodable(value):
            bad(key, f"`{key}` contains a lone surrogate (an invalid \\u escape such as \\ud800)")
            continue
        reported.discard(key)
        fields[key] = Text(value, raw.value_lines[key], raw.literal[key])
        for message, at, column in _swallowed(key, fields[key], raw.plain.get(key, False), col.lines):
            col.problems.append(Problem(col.file, at, card_id, message, column))
    allowed = {"extra", *REQUIRED[ctype]}
    for key in fields.keys() - allowed:
        bad(key, f"a {ctype} card has no `{key}` field (it has {', '.join(sorted(allowed))})")
    for key in REQUIRED[ctype]:
        if key not in reported and (key not in fields or not fields[key].text.strip()):
            bad(key, f"a {ctype} card needs a non-empty `{key}`")
    if ctype is CardType.CLOZE and "text" in fields:
        if has_cloze_zero(fields["text"].text):
            bad("text", "cloze numbers start at 1: Anki makes no card for {{c0::...}}")
        elif not cloze_numbers(fields["text"].text):
            bad("text", "a cloze card needs at least one {{c1::...}} deletion")
    typed = raw.get("typed", False)
    if not isinstance(typed, bool):
        bad("typed", "typed must be true or false")
    elif typed and ctype not in TYPED_TYPES:
        bad("typed", f"a {ctype} card cannot be typed (typed answers: basic, output and drill cards)")
    for key in ("function", "params"):
        if key in raw and ctype is not CardType.DRILL:
            bad(key, f"`{key}` belongs to drill cards (type: drill)")
    spec = kinds.drill(raw, card_id, bad) if ctype is CardType.DRILL else None
    tags = _str_list(raw, "tags", card_id, col, TAG, "tags are single words without spaces")
    covers = _str_list(raw, "covers", card_id, col, None, "")
    expect_output = kinds.expected_output(raw, bad) if ctype is CardType.OUTPUT else None
    expects = _expects(raw, card_id, col) if ctype is not CardType.OUTPUT else []
    silences = _silences(raw, card_id, col)
    renamed_from = raw.get("renamed_from")
    if renamed_from is not None and (not isinstance(renamed_from, str) or not CARD_ID.match(renamed_from)
                                     or renamed_from == card_id):
        bad("renamed_from", f"renamed_from must be the card's previous id (got {renamed_from!r})")
    if len(col.problems) > before:
        return None
    return Card(
        id=card_id,
        type=ctype,
        fields={k: fields[k] for k in sorted(fields, key=TEXT_KEYS.index)},
        tags=tuple(tags),
        covers=tuple(covers),
        expects=tuple(expects),
        topic=topic,
        file=col.file,
        line=line,
        silences=tuple(silences),
        renamed_from=renamed_from,
        renamed_line=raw.value_lines.get("renamed_from"),
        typed=typed is True,
        drill=spec,
        expect_output=expect_output,
    )


_CARD_KEY_LINE = re.compile(r"^(?P<key>" + "|".join(sorted(CARD_KEYS)) + r"):(?:\s|$)")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def _swallowed(key: str, text: Text, plain: bool, lines: list[str]) -> list[tuple[str, int, int | None]]:
    """Two mistakes YAML accepts silently, each costing the card part of its content.

    A card key indented too far (``covers:`` under a ``back: |`` block) becomes a line of the
    answer; an unquoted field with `` #`` in it is cut there, the rest read as a comment.
    """
    found = []
    if plain and 0 < text.line <= len(lines):
        src = lines[text.line - 1]
        start = src.find(f"{key}:")
        rest = src[start + len(key) + 1:] if start >= 0 else ""
        cut = re.search(r"\s#", rest)
        if cut and "#" not in text.text and "\n" not in text.text:
            column = start + len(key) + 1 + cut.start() + 2
            found.append((f"`{key}` stops at ` #`: YAML reads the rest of the line as a comment, so the card would "
                          f"show only {text.text!r}; put the text in quotes ({key}: \"...\")", text.line, column))
    if text.literal:
        fenced = False
        for i, line in enumerate(text.text.splitlines()):
            if _FENCE.match(line):
                fenced = not fenced
            m = None if fenced else _CARD_KEY_LINE.match(line)
            if m:
                found.append((f"this line of `{key}` reads like the card key `{m.group('key')}:`: indented too far, "
                              f"it became part of the text; indent it like `{key}:`", text.line + i, None))
    return found


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _str_list(raw: LocDict, key: str, card_id: str, col: _Collector, pattern: re.Pattern[str] | None,
              hint: str) -> list[str]:
    value = raw.get(key, [])
    line = raw.value_lines.get(key, raw.line)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        col.add(line, card_id, f"`{key}` must be a list of strings")
        return []
    if pattern is not None:
        for v in value:
            if not pattern.match(v):
                col.add(line, card_id, f"bad {key[:-1]} {v!r}: {hint}")
    return list(value)


def _expects(raw: LocDict, card_id: str, col: _Collector) -> list[Expectation]:
    spec = raw.get("expect")
    if spec is None:
        return []
    line = raw.value_lines.get("expect", raw.line)
    if not isinstance(spec, LocDict):
        col.add(line, card_id, "`expect` must map value names to expected values")
        return []
    out = []
    for name, want in spec.items():
        at = spec.key_lines[name]
        if not isinstance(name, str):
            col.add(at, card_id, f"expect: {name!r} is not a value name")
            continue
        if isinstance(want, LocDict):
            unknown = set(want) - EXPECT_KEYS
            if unknown:
                col.add(at, card_id, f"expect {name}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                        f"(allowed: {', '.join(sorted(EXPECT_KEYS))})")
                continue
            nums = {k: v for k, v in want.items() if k != "equals"}
            if any(isinstance(v, bool) or not isinstance(v, int | float) for v in nums.values()):
                col.add(at, card_id, f"expect {name}: approx, rel, abs, min and max must be numbers")
                continue
            if not want:
                col.add(at, card_id, f"expect {name}: empty expectation")
                continue
            out.append(Expectation(
                name=name, line=at, equals=_plain(want.get("equals")), has_equals="equals" in want,
                approx=nums.get("approx"), rel=float(nums.get("rel", 1e-6)), abs=float(nums.get("abs", 0.0)),
                min=nums.get("min"), max=nums.get("max"),
            ))
        else:
            out.append(Expectation(name=name, line=at, equals=_plain(want), has_equals=True))
    return out


def _silences(raw: LocDict, card_id: str, col: _Collector) -> list[Silence]:
    """``lint: {rule: reason}``: which lint rules this card switches off, and why.

    A reason is required so a silence can be reviewed like code. Whether the rule exists is lint's
    to say (``deckgen lint`` reports a silence that names no rule), so loading needs no rule list.
    """
    spec = raw.get("lint")
    if spec is None:
        return []
    line = raw.value_lines.get("lint", raw.line)
    if not isinstance(spec, LocDict):
        col.add(line, card_id, "`lint` must map rule ids to the reason for switching them off")
        return []
    out = []
    for rule, reason in spec.items():
        at = spec.key_lines[rule]
        if not isinstance(rule, str):
            col.add(at, card_id, f"lint: {rule!r} is not a rule id (see `deckgen lint --rules`)")
        elif not isinstance(reason, str) or not reason.strip():
            col.add(at, card_id, f"lint: {rule} needs a reason (why the rule does not apply to this card)")
        else:
            out.append(Silence(rule, " ".join(reason.split()), at))
    return out


def _plain(value: Any) -> Value:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Loaded:
    """The selected topics (in the order asked for), every topic of the project, and the problems."""

    topics: list[Topic]
    everything: list[Topic]
    problems: list[Problem]


def load_all(project: Project, selected: list[TopicPaths]) -> Loaded:
    """Load every topic; report the selected topics' problems and duplicate ids involving them.

    Ids must be unique across all content (not only what is being built), because a note's GUID
    comes from its id: two cards sharing an id in different topics would overwrite each other in
    a learner's collection. All topics are read anyway, so they are returned too: what was shipped
    and where it went (renames, retirements) is a question about the whole project.
    """
    problems: list[Problem] = []
    topics: list[Topic] = []
    everything: list[Topic] = []
    wanted = {t.name for t in selected}
    seen: dict[str, Card] = {}
    for paths in project.topics():
        topic, found = load_topic(project, paths)
        everything.append(topic)
        if paths.name in wanted:
            problems += found
            topics.append(topic)
        for card in topic.cards:
            for nid in card.note_ids():  # a drill's instances are notes with ids of their own
                first = seen.get(nid)
                if first is None:
                    seen[nid] = card
                elif paths.name in wanted or first.topic in wanted:
                    what = "duplicate card id" if nid == card.id else f"drill card id {nid} is already used"
                    problems.append(Problem(card.file, card.line, card.id,
                                            f"{what} (first used at {first.file}:{first.line})"))
    order = {t.name: i for i, t in enumerate(selected)}
    topics.sort(key=lambda t: order[t.name])
    return Loaded(topics, everything, problems)


def load_topics(project: Project, selected: list[TopicPaths]) -> tuple[list[Topic], list[Problem]]:
    """The selected topics and their problems (see :func:`load_all`)."""
    loaded = load_all(project, selected)
    return loaded.topics, loaded.problems


def check_covers(topics: list[Topic], questions: Mapping[str, object]) -> list[Problem]:
    """Every ``covers`` id must name a question of the project's list."""
    problems = []
    for topic in topics:
        for card in topic.cards:
            for qid in card.covers:
                if qid not in questions:
                    hint = did_you_mean(qid, questions, "question ids") if questions else (
                        " (no topic's syllabus.yaml lists any question yet)")
                    problems.append(Problem(card.file, card.line, card.id,
                                            f"unknown question id {qid!r} in covers{hint}"))
    return problems
