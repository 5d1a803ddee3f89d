"""Where the learner stands: this deck's cards in their collection, their memory parameters and
their answering habits, read from a private copy opened with Anki's own code.

The copy is opened with the official ``anki`` package because the plan runs Anki's simulator on it
(see ``simulate.py``); the learner's file is only ever read (copied) and never opened.
A collection card belongs to this deck when its note's GUID is one of the deck's (GUIDs come from
content ids alone, see ``package.guid``), whatever deck the learner keeps it in.

The parameters are, in order: a file given with ``--params``; else fitted with fsrs-rs on the later-day
reviews of this deck's cards (the same items and library as ``deckgen fit``), when there are at
least ``MIN_TRAIN_ITEMS`` of them; else FSRS's defaults, and the plan says so. They are written
into the copy's deck presets, and Anki recomputes every card's memory state from its review
history with them, so the states the simulation starts from match the parameters it runs with.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import fsrs_rs_python as fsrs

from ..core.errors import DeckgenError, Problem
from ..core.project import Project
from ..deck.cards import load_topics
from ..deck.manifest import Manifest
from ..deck.package import guid
from .memory import DEFAULT_PARAMETERS, MIN_TRAIN_ITEMS, items_from_reviews
from .reviews import REVIEW, CollectionCard, CollectionData, Review, private_copy, read_connection
from .simulate import NOTHING, Deck

if TYPE_CHECKING:
    from anki.collection import Collection

SIMULATOR_ANSWERS = 20_000  # answers Anki's simulator measures habits from (see _thin_revlog)


@dataclass(frozen=True)
class DeckNotes:
    """The chosen topics' notes: GUID -> how many Anki cards the note makes."""

    cards: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.cards.values())


@dataclass(frozen=True)
class Habits:
    """The learner's answers to this deck's review cards (Anki's simulator measures the same log)."""

    review_answers: int
    seconds_per_review: float
    again: float  # share of review answers rated Again


@dataclass(frozen=True)
class Current:
    """The deck options the learner has now (the preset of the deck holding most of these cards)."""

    preset: str
    new_per_day: int
    max_reviews: int
    desired_retention: float


@dataclass(frozen=True)
class Standing:
    cards: int  # the deck's cards (chosen topics)
    in_collection: int
    studied: int  # in the collection and past the new state
    not_imported: int
    params: tuple[float, ...]
    params_from: str  # "file", "fitted" or "defaults"
    history: int  # later-day reviews of the deck's cards (what a fit trains on)
    habits: Habits | None
    current: Current | None

    @property
    def params_note(self) -> str:
        if self.params_from == "file":
            return "FSRS parameters from --params"
        if self.params_from == "fitted":
            return f"your FSRS parameters, fitted on {self.history:,} later-day reviews of this deck's cards"
        if self.in_collection:
            return (f"FSRS default parameters: {self.history} later-day reviews of this deck's cards so far, "
                    f"at least {MIN_TRAIN_ITEMS} are needed to fit yours")
        return "FSRS default parameters (no review history)"

    def to_dict(self) -> dict[str, object]:
        return {
            "cards": self.cards, "in_collection": self.in_collection, "studied": self.studied,
            "not_imported": self.not_imported, "params": list(self.params), "params_from": self.params_from,
            "params_note": self.params_note, "later_day_reviews": self.history,
            "habits": None if self.habits is None else {
                "review_answers": self.habits.review_answers, "seconds_per_review": self.habits.seconds_per_review,
                "again": self.habits.again},
            "current": None if self.current is None else {
                "preset": self.current.preset, "new_per_day": self.current.new_per_day,
                "max_reviews": self.current.max_reviews, "desired_retention": self.current.desired_retention},
        }


def deck_notes(project: Project, topics: Sequence[str]) -> DeckNotes:
    loaded, problems = load_topics(project, project.select(topics))
    if problems:
        raise DeckgenError(problems)
    # A renamed card carries the note (and GUID) of the id it was renamed from: the manifest knows which.
    manifest = Manifest.load(project.manifest_path, project.rel(project.manifest_path))
    return DeckNotes({guid(manifest.identity(nid)): c.anki_cards() for t in loaded for c in t.cards
                      for nid in c.note_ids()})



def fresh(notes: DeckNotes, params: tuple[float, ...] | None) -> tuple[Deck, Standing]:
    """A learner who has not started: every card is new."""
    standing = Standing(notes.total, 0, 0, notes.total, params or DEFAULT_PARAMETERS,
                        "file" if params else "defaults", 0, None, None)
    return Deck(NOTHING, notes.total, notes.total, notes.total), standing


@contextlib.contextmanager
def learner(path: Path, shown: str, notes: DeckNotes,
            params: tuple[float, ...] | None) -> Iterator[tuple[Collection, Deck, Standing]]:
    """The learner's collection (a private copy, opened with Anki), this deck's cards in it, and their standing."""
    from anki.collection import Collection

    with private_copy(path, shown) as copy:
        con = sqlite3.connect(copy)
        try:
            data = read_connection(con, shown)
        finally:
            con.close()
        mine = [c for c in data.cards.values() if c.note_guid in notes.cards]
        if not mine:
            raise DeckgenError(Problem(
                shown, None, None, f"none of this deck's {notes.total} cards are in this collection ({len(data.cards)} "
                "other cards): import the deck's .apkg into Anki first, or plan without --collection"))
        try:
            col = Collection(str(copy))
        except Exception as exc:  # Anki raises its own DBError/BackendError types for unreadable files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DeckgenError(Problem(shown, None, None, f"Anki cannot open this collection: {first}")) from None
        try:
            yield _standing(col, shown, notes, params, data, mine)
        finally:
            col.close(downgrade=False)


def _standing(col: Collection, shown: str, notes: DeckNotes, params: tuple[float, ...] | None,
              data: CollectionData, mine: list[CollectionCard]) -> tuple[Collection, Deck, Standing]:
    if not col.get_config("fsrs", False):
        raise DeckgenError(Problem(shown, None, None,
                                   "FSRS is switched off in this collection: the plan starts from FSRS memory states; "
                                   "switch FSRS on in Anki (Deck options, FSRS section), then try again"))
    present: dict[str, int] = {}
    for c in mine:
        present[c.note_guid] = present.get(c.note_guid, 0) + 1
    not_imported = sum(max(0, n - present.get(g, 0)) for g, n in notes.cards.items())
    ids = {c.id for c in mine}
    reviews = [r for r in data.reviews if r.card_id in ids]
    items = items_from_reviews(reviews, data.rollover_hours, data.utc_offset_minutes)
    source = "file" if params else "defaults"
    if params is None and len(items) >= MIN_TRAIN_ITEMS:
        fitted = tuple(fsrs.FSRS(list(DEFAULT_PARAMETERS)).compute_parameters([it.to_fsrs() for it in items]))
        if fitted != DEFAULT_PARAMETERS:
            params, source = fitted, "fitted"
    params = params or DEFAULT_PARAMETERS
    _use_params(col, {c.deck_id for c in mine}, params)
    _thin_revlog(col, reviews)
    new_now = sum(1 for c in mine if c.type == 0)
    current, steps = _current(col, mine)
    deck = Deck("cid:" + ",".join(map(str, sorted(ids))), notes.total, new_now + not_imported, not_imported, *steps)
    standing = Standing(notes.total, len(mine), len(mine) - new_now, not_imported, params, source, len(items),
                        _habits(reviews), current)
    return col, deck, standing


def _thin_revlog(col: Collection, reviews: list[Review]) -> None:
    """Keep the whole history of a fixed random sample of cards, at most ``SIMULATOR_ANSWERS`` answers.

    Anki's simulator measures answer-button probabilities and seconds per answer from the revlog of
    the cards it simulates, on every run; the plan runs it a dozen times or more. A sample of cards
    (all their answers, so learning steps stay whole) measures the same shares and times, and keeps
    each run fast on a large collection. The memory states were computed from the full history
    before this, and the learner's own file is never touched (this is the private copy).
    """
    per_card: dict[int, int] = {}
    for r in reviews:
        per_card[r.card_id] = per_card.get(r.card_id, 0) + 1
    if sum(per_card.values()) <= SIMULATOR_ANSWERS:
        return
    order = sorted(per_card)
    random.Random(0).shuffle(order)
    kept, total = [], 0
    for cid in order:
        if total + per_card[cid] > SIMULATOR_ANSWERS:
            continue
        kept.append(cid)
        total += per_card[cid]
    dropped = sorted(set(per_card) - set(kept))
    col.db.execute(f"delete from revlog where cid in ({','.join(map(str, dropped))})")


def _habits(reviews: list[Review]) -> Habits | None:
    answers = [r for r in reviews if r.kind == REVIEW and r.rating in (1, 2, 3, 4)]
    if not answers:
        return None
    return Habits(len(answers), statistics.fmean(r.duration_ms for r in answers) / 1000,
                  sum(r.rating == 1 for r in answers) / len(answers))


def _use_params(col: Collection, deck_ids: set[int], params: tuple[float, ...]) -> None:
    """Write the parameters into the copy's presets of these decks; Anki then recomputes the cards'
    memory states from their review history with them (as its deck options screen does on saving)."""
    from anki.deck_config_pb2 import UpdateDeckConfigsRequest

    did = min(deck_ids)
    current = col.decks.get_deck_configs_for_update(did)
    # The last config given becomes the target deck's preset: keep its own there.
    configs = sorted((c.config for c in current.all_config), key=lambda c: c.id == current.current_deck.config_id)
    for c in configs:
        del c.config.fsrs_params_6[:]
        c.config.fsrs_params_6.extend(params)
    col.decks.update_deck_configs(UpdateDeckConfigsRequest(
        target_deck_id=did, configs=configs, mode=0, limits=current.current_deck.limits,
        new_cards_ignore_review_limit=current.new_cards_ignore_review_limit, fsrs=True,
        apply_all_parent_limits=current.apply_all_parent_limits, fsrs_reschedule=False))


def _current(col: Collection, mine: list[CollectionCard]) -> tuple[Current, tuple[int, int]]:
    counts: dict[int, int] = {}
    for c in mine:
        counts[c.deck_id] = counts.get(c.deck_id, 0) + 1
    did = max(counts, key=lambda d: (counts[d], -d))
    conf = col.decks.config_dict_for_deck_id(did)
    current = Current(str(conf.get("name", "")), int(conf["new"]["perDay"]), int(conf["rev"]["perDay"]),
                      float(conf.get("desiredRetention", 0.9)))
    return current, (len(conf["new"]["delays"]), len(conf["lapse"]["delays"]))
