"""The typed records that flow between stages.

Cards come out of ``content``, results out of ``compute``, notes out of ``render``; ``package``
turns notes into a file. Keeping them small and frozen makes each stage testable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .syntax import Ref, Value, cloze_numbers, find_refs


class CardType(StrEnum):
    """What the author writes in ``type:``.

    ``output``: a PyTorch snippet whose answer is what it really prints (or the error it raises);
    ``drill``: a family of cards, one per parameter set, answered by a function in compute.py.
    """

    BASIC = "basic"
    CLOZE = "cloze"
    REVERSED = "basic-reversed"
    OUTPUT = "output"
    DRILL = "drill"


class NoteKind(StrEnum):
    """The fixed Anki note types a note can be. A card's type (and ``typed:``) decides its kind.

    A shipped note never changes kind: Anki cannot change a note's type on import.
    """

    BASIC = "basic"
    CLOZE = "cloze"
    REVERSED = "basic-reversed"
    BASIC_TYPED = "basic-typed"  # the learner types the (one-line) back
    OUTPUT = "output"
    OUTPUT_TYPED = "output-typed"  # the learner types the (one-line) output


# The fields each note kind has, in note-type order (the card id follows as the last field, Id).
# Frozen: adding a field to a shipped note type makes Anki report every existing note as
# conflicting instead of updating it.
FIELDS: dict[NoteKind, tuple[str, ...]] = {
    NoteKind.BASIC: ("front", "back", "extra"),
    NoteKind.CLOZE: ("text", "extra"),
    NoteKind.REVERSED: ("front", "back", "extra"),
    NoteKind.BASIC_TYPED: ("front", "back", "extra"),
    NoteKind.OUTPUT: ("code", "output", "extra"),
    NoteKind.OUTPUT_TYPED: ("code", "output", "extra"),
}
# The text keys a card of each type must have (``output`` comes from running ``code``).
REQUIRED: dict[CardType, tuple[str, ...]] = {
    CardType.BASIC: ("front", "back"),
    CardType.CLOZE: ("text",),
    CardType.REVERSED: ("front", "back"),
    CardType.OUTPUT: ("code",),
    CardType.DRILL: ("front", "back"),
}


def note_kind(ctype: CardType, typed: bool) -> NoteKind:
    """The note type a card ships as."""
    if ctype is CardType.OUTPUT:
        return NoteKind.OUTPUT_TYPED if typed else NoteKind.OUTPUT
    if ctype in (CardType.BASIC, CardType.DRILL):
        return NoteKind.BASIC_TYPED if typed else NoteKind.BASIC
    return NoteKind(ctype.value)


@dataclass(frozen=True)
class DrillInstance:
    """One parameter set of a drill family: its own note, with an id derived from the parameters."""

    id: str
    params: dict[str, Value]
    line: int


@dataclass(frozen=True)
class Drill:
    """A drill family: the compute.py function that answers it, and its parameter sets."""

    function: str
    instances: tuple[DrillInstance, ...]
    line: int


@dataclass(frozen=True)
class Text:
    """A card's Markdown field with where it starts, so references can be located by line."""

    text: str
    line: int
    literal: bool  # a ``|`` block: text line i is file line ``line + i``

    def line_of(self, offset: int) -> int:
        if not self.literal:
            return self.line
        return self.line + self.text.count("\n", 0, offset)


@dataclass(frozen=True)
class Expectation:
    """A check a card states about a computed value; the build fails if the code disagrees."""

    name: str
    line: int
    equals: Value = None
    approx: float | None = None
    rel: float = 1e-6
    abs: float = 0.0
    min: float | None = None
    max: float | None = None
    has_equals: bool = False


@dataclass(frozen=True)
class Silence:
    """A lint rule switched off for one card (``lint: {rule: reason}``), with the author's reason.

    The line is kept so that a silence which no longer matches any finding can be reported where
    it is written; it never reaches the note (it is not a field).
    """

    rule: str
    reason: str
    line: int


@dataclass(frozen=True)
class Card:
    """One card as the author wrote it."""

    id: str
    type: CardType
    fields: dict[str, Text]
    tags: tuple[str, ...]
    covers: tuple[str, ...]
    expects: tuple[Expectation, ...]
    topic: str
    file: str  # as shown in messages (relative to the project)
    line: int
    silences: tuple[Silence, ...] = ()
    renamed_from: str | None = None  # a shipped id this card replaces: the note keeps that identity
    renamed_line: int | None = None
    typed: bool = False  # the learner types the answer (one line), Anki compares
    drill: Drill | None = None  # for ``type: drill``
    expect_output: Text | None = None  # for ``type: output``: the output the snippet must print

    @property
    def kind(self) -> NoteKind:
        return note_kind(self.type, self.typed)

    def anki_cards(self) -> int:
        """How many Anki cards each of the card's notes makes: two for reversed, one per cloze number."""
        if self.type is CardType.REVERSED:
            return 2
        if self.type is CardType.CLOZE:
            return len(cloze_numbers(self.fields["text"].text))
        return 1

    def note_ids(self) -> tuple[str, ...]:
        """The ids of the notes the card ships as: its own, or one per drill instance."""
        return tuple(i.id for i in self.drill.instances) if self.drill is not None else (self.id,)

    def refs(self) -> list[tuple[str, Ref, int]]:
        """(field name, reference, file line) for every value and figure the card uses."""
        out = []
        for name, text in self.fields.items():
            for ref in find_refs(text.text):
                out.append((name, ref, text.line_of(ref.offset)))
        return out

    def figure_names(self) -> set[str]:
        return {ref.name for _, ref, _ in self.refs() if ref.kind == "figure"}


@dataclass(frozen=True)
class Retirement:
    """A shipped card withdrawn on purpose (``retired: {id: reason}`` in a topic's cards.yaml)."""

    id: str
    reason: str
    file: str
    line: int


@dataclass(frozen=True)
class Topic:
    """A topic: its title (the subdeck name), its cards, and where its files are."""

    name: str
    title: str
    cards: tuple[Card, ...]
    cards_path: Path
    compute_path: Path | None
    retired: tuple[Retirement, ...] = ()
    # cards.yaml has drill cards, valid or not: its compute.py may then hold only drill functions
    declares_drills: bool = False

    def figure_names(self) -> set[str]:
        """Every computed figure the topic's cards show (each counted once)."""
        return {name for card in self.cards for name in card.figure_names()}


@dataclass(frozen=True)
class Figure:
    """A rendered figure in its day and night variants; PNG bytes live in the cache by sha256."""

    name: str
    sha256: str
    path: Path
    night_sha256: str
    night_path: Path

    @property
    def media_name(self) -> str:
        # Named by content hash: Anki renames a changed file that keeps its old name on import,
        # which would leave stale images on cards.
        return media_name(self.sha256)

    @property
    def night_media_name(self) -> str:
        return media_name(self.night_sha256)

    def files(self) -> tuple[tuple[str, Path], ...]:
        """(media name, cached file) of both variants, for packaging."""
        return (self.media_name, self.path), (self.night_media_name, self.night_path)


def media_name(sha256: str, suffix: str = ".png") -> str:
    return f"dg-{sha256[:20]}{suffix}"


@dataclass(frozen=True)
class Asset:
    """A static file a card shows (``![alt](diagram.png)`` next to cards.yaml), named by hash."""

    sha256: str
    path: Path

    @property
    def media_name(self) -> str:
        return media_name(self.sha256, self.path.suffix.lower())

    def files(self) -> tuple[tuple[str, Path], ...]:
        return ((self.media_name, self.path),)


@dataclass(frozen=True)
class TopicResult:
    """What one topic's computation produced."""

    topic: str
    values: dict[str, Value]
    figures: dict[str, Figure]
    seconds: float = 0.0
    cached: bool = False
    outputs: dict[str, str] = field(default_factory=dict)  # output card id -> what its snippet prints
    drills: dict[str, dict[str, Value]] = field(default_factory=dict)  # drill instance id -> its values


@dataclass(frozen=True)
class Note:
    """A rendered note, ready to package: fields are final HTML."""

    card_id: str
    type: NoteKind
    topic: str
    fields: tuple[str, ...]
    tags: tuple[str, ...]
    media: tuple[Figure | Asset, ...] = field(default=())
    identity: str = ""  # the id the note's GUID comes from: the card's own, or the one it was renamed from
    family: str = ""  # a drill instance's family (the drill card's id)

    @property
    def guid_id(self) -> str:
        return self.identity or self.card_id
