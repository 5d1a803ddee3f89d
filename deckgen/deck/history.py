"""What happened to every card ever shipped, and what a build does to learners' collections.

Anki matches notes by GUID and never deletes one on import. So a shipped card can leave the deck
only by a declaration the learner will see:

* ``retired: {id: reason}`` in a topic's cards.yaml: the note ships on, tagged ``deckgen::retired``,
  with a short notice in place of its content, so a learner finds every withdrawn note with one
  search and deletes it;
* ``renamed_from: old-id`` on the card that replaces it: the new card carries the old note's GUID,
  so the learner's note is updated in place and keeps its review history.

A shipped id that disappears without either is an error: silently, it would orphan the note in
every collection (a rename would look like a new note beside the old one and cut the history off).
:func:`resolve` checks this over the whole project and decides each card's identity;
:class:`Account` says what a build adds, changes, retires and renames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..core.errors import Problem
from ..core.records import Card, Retirement, Topic
from .manifest import ACTIVE, RENAMED, RETIRED, Entry, Manifest, Shipment


@dataclass(frozen=True)
class Resolution:
    """Each card's identity (the id its GUID comes from), the retirements and renames to ship, and
    every problem with the project's history."""

    identity: dict[str, str]
    retired: list[tuple[Retirement, str, Entry]]  # (declaration, topic, what the manifest knows of it)
    renamed: dict[str, str]  # old id -> new id, renames not yet recorded in the manifest
    problems: list[Problem] = field(default_factory=list)


def resolve(manifest: Manifest, everything: Iterable[Topic], selected: set[str], cards_file: dict[str, str]
            ) -> Resolution:
    """Identities for every card, and the history problems of the whole project.

    ``selected`` names the topics being built: only their retirements and renames are shipped, but
    a shipped id missing anywhere is reported (like a duplicate id, it is a fault of the project).
    ``cards_file`` maps each topic to its cards.yaml as messages show it.
    """
    topics = list(everything)
    cards: dict[str, Card] = {nid: c for t in topics for c in t.cards for nid in c.note_ids()}
    families = {c.id: (t, c) for t in topics for c in t.cards if c.drill is not None}
    problems: list[Problem] = []
    identity: dict[str, str] = {}
    renamed: dict[str, str] = {}
    claimed: dict[str, Card] = {}
    for nid, card in cards.items():
        identity[nid] = manifest.identity(nid)
        shipped = manifest.entries.get(nid)
        if shipped is not None and shipped.type and shipped.state != RENAMED and shipped.type != card.kind.value:
            problems.append(_at(card, f"{nid} shipped as a {shipped.type} note and is now {card.kind.value}: Anki "
                                      "cannot change a note's type on import; keep the type (and `typed`), or "
                                      "retire this id and give the new card a new one"))
    for card in {id(c): c for c in cards.values()}.values():
        old_id = card.renamed_from
        if old_id is not None and card.drill is not None:
            problems.append(Problem(card.file, card.renamed_line or card.line, card.id,
                                    "renamed_from: a drill family cannot be renamed (its instances' ids come from "
                                    "its id); retire the old family and add the new one"))
            continue
        if old_id is None:
            entry = manifest.entries.get(card.id)
            if entry is not None and entry.state == RENAMED:
                problems.append(_at(card, f"{card.id} was renamed to {entry.renamed_to} and cannot be used again: "
                                          "its note belongs to that card now; choose another id"))
            continue
        old = manifest.entries.get(old_id)
        line = card.renamed_line or card.line
        if old_id in claimed:
            other = claimed[old_id]
            problems.append(Problem(card.file, line, card.id, f"renamed_from: {old_id} is already claimed by "
                                    f"{other.id} ({other.file}:{other.renamed_line or other.line})"))
        elif old_id in cards:
            where = cards[old_id]
            problems.append(Problem(card.file, line, card.id, f"renamed_from: {old_id} is still a card "
                                    f"({where.file}:{where.line}); a rename replaces it"))
        elif old is None:
            problems.append(Problem(card.file, line, card.id, f"renamed_from: {old_id} was never shipped "
                                    "(it is not in content/manifest.json): there is no note to carry on; "
                                    "remove renamed_from"))
        elif old.state == RENAMED and old.renamed_to != card.id:
            problems.append(Problem(card.file, line, card.id, f"renamed_from: {old_id} was already renamed to "
                                    f"{old.renamed_to}; rename from {old.renamed_to} instead"))
        elif old.type and old.type != card.kind.value:
            claimed[old_id] = card  # the intent is clear: one error, not a second one for the old id
            problems.append(Problem(card.file, line, card.id, f"renamed_from: {old_id} shipped as a {old.type} "
                                    f"card and this is {card.kind.value}: Anki cannot change a note's type on import; "
                                    "keep the type, or retire the old card and add this one as new"))
        else:
            claimed[old_id] = card
            identity[card.id] = manifest.identity(old_id)
            if old.state != RENAMED:
                renamed[old_id] = card.id
    retired: list[tuple[Retirement, str, Entry]] = []
    declared: dict[str, Retirement] = {}
    members: dict[str, list[str]] = {}  # drill family -> its shipped instances
    for cid, entry in manifest.entries.items():
        if entry.family:
            members.setdefault(entry.family, []).append(cid)
    for topic in topics:
        for r in topic.retired:
            entry = manifest.entries.get(r.id)
            if entry is None and r.id in members and r.id not in cards:  # a whole drill family
                for cid in sorted(members[r.id]):
                    inst = manifest.entries[cid]
                    if inst.state != RENAMED and cid not in cards:
                        declared[cid] = Retirement(cid, r.reason, r.file, r.line)
                        if topic.name in selected:
                            retired.append((declared[cid], topic.name, inst))
                continue
            if r.id in declared:
                first = declared[r.id]
                problems.append(Problem(r.file, r.line, r.id, f"retired twice (first at {first.file}:{first.line})"))
            elif r.id in cards:
                where = cards[r.id]
                problems.append(Problem(r.file, r.line, r.id, f"retired, but still a card ({where.file}:{where.line}); "
                                        "delete the card or the retirement"))
            elif entry is None or entry.state == RENAMED:
                why = "was never shipped" if entry is None else f"was renamed to {entry.renamed_to}"
                problems.append(Problem(r.file, r.line, r.id, f"retired, but it {why}: there is no note to "
                                        "withdraw; remove the retirement"))
            elif not entry.type:
                problems.append(Problem(r.file, r.line, r.id, "retired, but the manifest does not know its note "
                                        "type (a format-1 manifest): restore the card, build once, then retire it"))
            else:
                declared[r.id] = r
                if topic.name in selected:
                    retired.append((r, topic.name, entry))
    for cid, entry in sorted(manifest.entries.items()):
        if entry.state == RENAMED or cid in cards or cid in declared or cid in claimed:
            continue
        if entry.family in families:  # an instance dropped from a drill family that is still there
            topic, family = families[entry.family]
            if entry.type:
                notice = Retirement(cid, f"This practice card was removed from its drill ({family.id}).",
                                    family.file, family.line)
                if topic.name in selected:
                    retired.append((notice, topic.name, entry))
            continue
        if entry.state != ACTIVE:
            continue
        problems.append(Problem(cards_file.get(entry.topic, f"content/{entry.topic}/cards.yaml"), None, cid,
                                "shipped (content/manifest.json) but no longer in the content: learners would keep "
                                "its note forever. Say what happened: `retired: {" + cid + ": <reason for "
                                "learners>}` in the topic's cards.yaml, or `renamed_from: " + cid + "` on the "
                                "card that replaces it"))
    selected_cards = {nid for t in topics if t.name in selected for c in t.cards for nid in c.note_ids()}
    renamed = {old: new for old, new in renamed.items() if new in selected_cards}
    return Resolution(identity, retired, renamed, problems)


def _at(card: Card, message: str) -> Problem:
    return Problem(card.file, card.line, card.id, message)


@dataclass(frozen=True)
class Account:
    """What a build does to learners' collections, by card id (unchanged notes are not listed)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (old id, new id)
    note_types: tuple[str, ...] = ()  # note types whose style or templates changed (no note changes for it)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.retired or self.renamed or self.note_types)

    @property
    def count(self) -> int:
        return len(self.added) + len(self.changed) + len(self.retired) + len(self.renamed)

    def to_dict(self) -> dict[str, object]:
        return {"added": list(self.added), "changed": list(self.changed), "retired": list(self.retired),
                "renamed": [{"from": a, "to": b} for a, b in self.renamed], "note_types": list(self.note_types)}

    def lines(self, shown: int = 5) -> list[str]:
        """One line per kind of change: the first few ids, then how many more."""
        def ids(items: tuple[str, ...]) -> str:
            more = f", and {len(items) - shown} more" if len(items) > shown else ""
            return ", ".join(items[:shown]) + more

        out = []
        for label, items in (("added", self.added), ("changed", self.changed), ("retired", self.retired),
                             ("renamed", tuple(f"{a} -> {b}" for a, b in self.renamed)),
                             ("note types restyled", self.note_types)):
            if items:
                out.append(f"{label} {len(items)}: {ids(items)}")
        return out


def account(manifest: Manifest, shipments: list[Shipment], renamed: dict[str, str],
            signatures: dict[str, str] | None = None) -> Account:
    """What shipping ``shipments`` would change, judged against the manifest before the build."""
    added, changed, retired = [], [], []
    renamed_to = set(renamed.values())
    for s in shipments:
        old = manifest.entries.get(s.id)
        if s.state == RETIRED:
            if old is None or old.state != RETIRED:
                retired.append(s.id)
            elif old.hash != s.hash:
                changed.append(s.id)
        elif s.id in renamed_to:
            continue
        elif old is None or old.state != ACTIVE:
            added.append(s.id)
        elif old.hash != s.hash:
            changed.append(s.id)
    return Account(tuple(sorted(added)), tuple(sorted(changed)), tuple(sorted(retired)),
                   tuple(sorted(renamed.items())), tuple(manifest.changed_note_types(signatures or {})))
