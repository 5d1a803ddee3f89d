"""The committed manifest: each card's rendered-content hash and the ``mod`` it ships with.

Anki's default import ("update if newer") replaces a note only when the package's ``notes.mod``
is greater than the collection's. So a note's mod must move exactly when its content changes:
never on a no-change rebuild (that would overwrite a learner's own edits and make builds
irreproducible), always on a real edit (or the edit never reaches the phone). The manifest
remembers, per card id, the hash of what was last shipped and the mod it got; a rebuild reuses
that mod while the hash matches and stamps the current time when it does not.

Committing ``content/manifest.json`` is what makes two clones built on different days produce
byte-identical packages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DeckgenError, Problem
from ..core.fs import atomic_write


@dataclass(frozen=True)
class Entry:
    topic: str
    hash: str
    mod: int


@dataclass
class Manifest:
    path: Path
    entries: dict[str, Entry]

    @classmethod
    def load(cls, path: Path, shown: str) -> Manifest:
        if not path.is_file():
            return cls(path, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {cid: Entry(str(e["topic"]), str(e["hash"]), int(e["mod"])) for cid, e in data["cards"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeckgenError(Problem(shown, None, None, f"manifest is unreadable ({exc}); "
                                       "restore it from version control")) from None
        return cls(path, entries)

    def assign(self, hashes: dict[str, tuple[str, str]], now: int) -> tuple[dict[str, int], list[str]]:
        """Mods for the given cards (id -> (topic, hash)); returns (mods, ids whose content changed).

        A new mod is always greater than the card's previous one, even if the clock went back.
        """
        mods, changed = {}, []
        for cid, (topic, h) in hashes.items():
            old = self.entries.get(cid)
            if old is not None and old.hash == h:
                mods[cid] = old.mod
                if old.topic != topic:
                    self.entries[cid] = Entry(topic, h, old.mod)
                continue
            mod = now if old is None else max(now, old.mod + 1)
            self.entries[cid] = Entry(topic, h, mod)
            mods[cid] = mod
            changed.append(cid)
        return mods, changed

    def prune(self, topics: set[str], keep: set[str]) -> list[str]:
        """Forget cards of the given topics that no longer exist; returns their ids."""
        gone = [cid for cid, e in self.entries.items() if e.topic in topics and cid not in keep]
        for cid in gone:
            del self.entries[cid]
        return gone

    def stale(self, hashes: dict[str, tuple[str, str]], topics: set[str]) -> list[str]:
        """Card ids whose manifest entry is missing, different, or left over (for ``check``)."""
        out = [cid for cid, (topic, h) in hashes.items()
               if cid not in self.entries or self.entries[cid].hash != h or self.entries[cid].topic != topic]
        out += [cid for cid, e in self.entries.items() if e.topic in topics and cid not in hashes]
        return sorted(out)

    def to_bytes(self) -> bytes:
        cards = {cid: {"topic": e.topic, "hash": e.hash, "mod": e.mod} for cid, e in sorted(self.entries.items())}
        return (json.dumps({"format": 1, "cards": cards}, indent=1, sort_keys=True) + "\n").encode()

    def save(self) -> bool:
        """Write if changed; returns whether anything was written."""
        data = self.to_bytes()
        if self.path.is_file() and self.path.read_bytes() == data:
            return False
        atomic_write(self.path, data)
        return True
