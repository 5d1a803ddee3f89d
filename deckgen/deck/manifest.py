"""The committed manifest: every card id ever shipped, its rendered-content hash and the ``mod`` it
ships with, and what became of it (still a card, retired, or renamed).

Anki's default import ("update if newer") replaces a note only when the package's ``notes.mod``
is greater than the collection's. So a note's mod must move exactly when its content changes:
never on a no-change rebuild (that would overwrite a learner's own edits and make builds
irreproducible), always on a real edit (or the edit never reaches the phone). The manifest
remembers, per card id, the hash of what was last shipped and the mod it got; a rebuild reuses
that mod while the hash matches and stamps the current time when it does not.

It also remembers what left: Anki never deletes a note on import, so a card that vanishes from the
content would stay in every learner's collection forever, unexplained. An id once shipped stays in
the manifest: as ``retired`` (its note shipped with a withdrawal notice) or ``renamed`` (another
card carries its note, GUID and history, on).

Committing ``content/manifest.json`` is what makes two clones built on different days produce
byte-identical packages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.errors import DeckgenError, Problem
from ..core.fs import atomic_write

FORMAT = 2  # 2: every id ever shipped, with its note type, identity and state
ACTIVE, RETIRED, RENAMED = "active", "retired", "renamed"


@dataclass(frozen=True)
class Entry:
    topic: str
    hash: str
    mod: int
    type: str = ""  # the note type it shipped as ("" in a format-1 manifest until the next build)
    identity: str = ""  # the id its GUID comes from, when it carries a renamed card's note ("": its own)
    state: str = ACTIVE
    renamed_to: str = ""
    family: str = ""  # the drill family a drill instance belongs to

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"topic": self.topic, "hash": self.hash, "mod": self.mod, "type": self.type}
        if self.identity:
            out["identity"] = self.identity
        if self.state != ACTIVE:
            out["state"] = self.state
        if self.renamed_to:
            out["renamed_to"] = self.renamed_to
        if self.family:
            out["family"] = self.family
        return out


@dataclass(frozen=True)
class Shipment:
    """One note as this build ships it: a card, or the withdrawal notice of a retired id."""

    id: str
    topic: str
    hash: str
    type: str
    identity: str  # the id its GUID comes from
    state: str = ACTIVE  # ACTIVE for a card, RETIRED for a notice
    family: str = ""  # the drill family of a drill instance


@dataclass(frozen=True)
class TypeEntry:
    """A note type as shipped: the signature of its CSS, templates and fields, and the mod it got."""

    hash: str
    mod: int


@dataclass
class Manifest:
    path: Path
    entries: dict[str, Entry]
    note_types: dict[str, TypeEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, shown: str) -> Manifest:
        if not path.is_file():
            return cls(path, {}, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {
                cid: Entry(str(e["topic"]), str(e["hash"]), int(e["mod"]), str(e.get("type", "")),
                           str(e.get("identity", "")), str(e.get("state", ACTIVE)), str(e.get("renamed_to", "")),
                           str(e.get("family", "")))
                for cid, e in data["cards"].items()
            }
            if any(e.state not in (ACTIVE, RETIRED, RENAMED) for e in entries.values()):
                raise ValueError("unknown state")
            types = {kind: TypeEntry(str(e["hash"]), int(e["mod"])) for kind, e in data.get("note_types", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeckgenError(Problem(shown, None, None, f"manifest is unreadable ({exc}); "
                                       "restore it from version control")) from None
        return cls(path, entries, types)

    def identity(self, card_id: str) -> str:
        """The id whose GUID a card's note carries: its own unless it was renamed from a shipped one."""
        entry = self.entries.get(card_id)
        return entry.identity if entry is not None and entry.identity else card_id

    def ship(self, shipments: list[Shipment], renamed: dict[str, str], now: int) -> dict[str, int]:
        """Record what this build ships and return each note's mod (by shipment id).

        ``renamed`` maps old id -> new id for renames this build makes. A note's new mod is always
        greater than any mod its identity shipped with before (also across a rename), even if the
        clock went back, so Anki's "update if newer" takes it.
        """
        mods = {}
        for s in shipments:
            old = self.entries.get(s.id)
            family = s.family or (old.family if old is not None else "")  # a retired instance stays in its family
            if old is not None and old.hash == s.hash and old.state == s.state:
                mods[s.id] = old.mod
                if (old.topic, old.type, old.identity, old.family) != (s.topic, s.type, self._own(s), family):
                    self.entries[s.id] = replace(old, topic=s.topic, type=s.type, identity=self._own(s), family=family)
                continue
            before = [e.mod for e in (old, self.entries.get(s.identity)) if e is not None]
            mod = max([now, *(m + 1 for m in before)])
            self.entries[s.id] = Entry(s.topic, s.hash, mod, s.type, self._own(s), s.state, family=family)
            mods[s.id] = mod
        for old_id, new_id in renamed.items():
            entry = self.entries.get(old_id)
            if entry is not None:
                self.entries[old_id] = replace(entry, state=RENAMED, renamed_to=new_id)
        return mods

    def ship_note_types(self, signatures: dict[str, str], now: int) -> dict[str, int]:
        """Each note type's mod: kept while its signature is unchanged, moved (past the old one) when not."""
        mods = {}
        for kind, sig in signatures.items():
            old = self.note_types.get(kind)
            if old is None or old.hash != sig:
                self.note_types[kind] = TypeEntry(sig, now if old is None else max(now, old.mod + 1))
            mods[kind] = self.note_types[kind].mod
        return mods

    def changed_note_types(self, signatures: dict[str, str]) -> list[str]:
        """Note types shipped before whose style or templates changed since."""
        return sorted(k for k, sig in signatures.items() if k in self.note_types and self.note_types[k].hash != sig)

    def unrecorded_note_types(self, signatures: dict[str, str]) -> list[str]:
        return sorted(k for k in signatures if k not in self.note_types)

    @staticmethod
    def _own(s: Shipment) -> str:
        return "" if s.identity == s.id else s.identity

    def to_bytes(self) -> bytes:
        cards = {cid: e.to_dict() for cid, e in sorted(self.entries.items())}
        types = {k: {"hash": e.hash, "mod": e.mod} for k, e in sorted(self.note_types.items())}
        return (json.dumps({"format": FORMAT, "cards": cards, "note_types": types}, indent=1, sort_keys=True)
                + "\n").encode()

    def save(self) -> bool:
        """Write if changed; returns whether anything was written."""
        data = self.to_bytes()
        if self.path.is_file() and self.path.read_bytes() == data:
            return False
        atomic_write(self.path, data)
        return True
