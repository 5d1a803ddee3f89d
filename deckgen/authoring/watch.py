"""Notice saved content: a polled snapshot of the files a project's cards depend on.

Polling, not an operating-system watcher: the set is small (every file under ``content/``, the
settings and question files, and whatever else the computations recorded reading), so a scan is
about a millisecond, every editor's way of saving (rewrite in place, write and rename, delete and
create) looks the same to it, and it needs no extra dependency or platform backend. A file counts
as changed only when its bytes changed: a save without edits, or ``touch``, rebuilds nothing.

Editors save in more than one write (truncate, then write; or a temporary file, then rename), so
after a change the watcher waits until a scan sees nothing new before it reports.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..core.fs import sha256_file

POLL_SECONDS = 0.1  # between scans: the mean delay a save waits to be noticed is half of it
SETTLE_SECONDS = 0.05  # after a change, until a scan sees nothing new

# Editors' and deckgen's own temporary files (atomic writes are ``.<name>.<pid>.*.tmp``), vim's probe file.
_IGNORED_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".pyc")
_IGNORED_NAMES = {"4913"}


@dataclass(frozen=True)
class _Seen:
    mtime_ns: int
    size: int
    sha256: str


class Watcher:
    """Every file under ``tree`` (recursively; temporary, hidden and ``ignore`` files left out) plus ``files``."""

    def __init__(self, tree: Path, files: Iterable[Path] = (), ignore: Iterable[Path] = ()) -> None:
        self.tree = tree
        self.files = set(files)
        self.ignore = set(ignore)
        self.seen: dict[Path, _Seen] = {}
        self.changes()  # the starting point: nothing before now counts as a change

    def watch(self, files: Iterable[Path]) -> None:
        """Replace the explicit files (settings, question list, computations' recorded inputs).

        A file newly watched is taken as it is now; changes from here on count.
        """
        self.files = set(files)
        for path, (mtime, size) in self._scan().items():
            if path not in self.seen:
                self.seen[path] = _seen(path, mtime, size)

    def changes(self) -> list[Path]:
        """Files whose bytes changed, that appeared or that went away since the last call, sorted."""
        now = self._scan()
        changed = [p for p in self.seen if p not in now]
        for path in changed:
            del self.seen[path]
        for path, (mtime, size) in now.items():
            old = self.seen.get(path)
            if old is not None and (old.mtime_ns, old.size) == (mtime, size):
                continue
            self.seen[path] = seen = _seen(path, mtime, size)
            if old is None or old.sha256 != seen.sha256:
                changed.append(path)
        return sorted(changed)

    def wait(self, stop: threading.Event, poll: float = POLL_SECONDS, settle: float = SETTLE_SECONDS) -> list[Path]:
        """Block until something changed (and settled); [] once ``stop`` is set."""
        while not stop.wait(poll):
            changed = set(self.changes())
            if not changed:
                continue
            while not stop.wait(settle):
                more = self.changes()
                if not more:
                    break
                changed.update(more)
            return sorted(changed)
        return []

    def _scan(self) -> dict[Path, tuple[int, int]]:
        found: dict[Path, tuple[int, int]] = {}
        for folder, dirs, names in os.walk(self.tree):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for name in names:
                if name.startswith(".") or name in _IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES):
                    continue
                _stat(Path(folder) / name, found)
        for path in self.files:
            _stat(path, found)
        for path in self.ignore:
            found.pop(path, None)
        return found


def _stat(path: Path, found: dict[Path, tuple[int, int]]) -> None:
    try:
        st = path.stat()
    except OSError:  # gone between listing and stat, or never there: absent
        return
    if stat.S_ISREG(st.st_mode):
        found[path] = (st.st_mtime_ns, st.st_size)


def _seen(path: Path, mtime_ns: int, size: int) -> _Seen:
    try:
        return _Seen(mtime_ns, size, sha256_file(path))
    except OSError:  # unreadable right now (mid-save): an impossible time makes the next scan look again
        return _Seen(-1, -1, "")


__all__ = ["POLL_SECONDS", "SETTLE_SECONDS", "Watcher"]
