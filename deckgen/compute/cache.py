"""Content-addressed cache of computation results.

Key: a hash of the topic's ``compute.py``, deckgen's own compute runtime (worker, context and
figure style), and the versions of Python, torch, numpy and matplotlib, all read without
importing them. Each entry also records every other project file the computation read, with its
hash; the entry is used only while they all still match. So a text-only card edit reuses the
result, and editing a data file or helper module the code reads re-runs it.

Layout::

    .deckgen-cache/results/<key>.json   values, figure hashes, dependency hashes
    .deckgen-cache/figures/<sha256>.png figure bytes, named by their own hash

Only successful runs are stored. An entry that fails to parse, whose checksum (a hash of its
own content) does not match, or whose figure bytes no longer match their hash, is treated as
missing (and removed), never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..core.fs import atomic_write, dist_version, sha256_bytes, sha256_file
from ..core.records import Figure, Topic, TopicResult
from ..core.syntax import Value

FORMAT = 4  # 2: figures have a night variant; 3: entries carry a checksum; 4: drill answers
# This package's modules that run in the worker: a change to any of them may change results.
RUNTIME_FILES = ("worker.py", "context.py", "figures.py", "snippets.py")

DrillRequest = tuple[str, str, tuple[tuple[str, str], ...]]  # (family id, function, ((instance id, params JSON)))


def drill_requests(topic: Topic) -> tuple[DrillRequest, ...]:
    """What the worker must answer for the topic's drill families (part of the computation's key:
    adding a parameter set runs the computation again)."""
    return tuple((c.id, c.drill.function, tuple((i.id, json.dumps(i.params, sort_keys=True))
                                                for i in c.drill.instances))
                 for c in topic.cards if c.drill is not None)


@lru_cache(maxsize=1)
def runtime_fingerprint() -> str:
    """What besides the topic's own code decides its results."""
    here = Path(__file__).parent
    h = hashlib.sha256(f"format={FORMAT};python={platform.python_version()}".encode())
    for dist in ("torch", "numpy", "matplotlib"):
        h.update(f";{dist}={dist_version(dist)}".encode())
    for name in RUNTIME_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def _checksum(data: dict[str, object]) -> str:
    """A hash of an entry's content: a well-formed but edited or damaged entry is never trusted."""
    return sha256_bytes(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())


@dataclass(frozen=True)
class Cache:
    root: Path

    def key(self, topic: Topic) -> str:
        """The key of the topic's computation: its code, its drills, and the compute runtime."""
        assert topic.compute_path is not None
        h = hashlib.sha256(runtime_fingerprint().encode())
        h.update(topic.name.encode() + b"\0" + topic.compute_path.read_bytes())
        drills = drill_requests(topic)
        if drills:  # topics without drills keep the keys they had
            h.update(b"\0drills\0" + json.dumps(drills).encode())
        return h.hexdigest()

    def snippet_key(self, code: str) -> str:
        """A snippet's output depends on its code and the runtime (Python, torch and deckgen's) only."""
        return sha256_bytes(f"{runtime_fingerprint()}\0snippet\0{code}".encode())

    def load_snippet(self, key: str) -> str | None:
        entry = self.root / "snippets" / f"{key}.json"
        try:
            data = json.loads(entry.read_bytes())
            if data.pop("checksum", None) != _checksum(data) or not isinstance(data.get("output"), str):
                raise ValueError("entry edited or damaged")
            return str(data["output"])
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, AttributeError, OSError):
            with contextlib.suppress(OSError):
                entry.unlink()
            return None

    def store_snippet(self, key: str, output: str) -> None:
        data: dict[str, object] = {"format": FORMAT, "output": output}
        data["checksum"] = _checksum(data)
        atomic_write(self.root / "snippets" / f"{key}.json", json.dumps(data, sort_keys=True).encode())

    def _entry(self, key: str) -> Path:
        return self.root / "results" / f"{key}.json"

    def figure_path(self, sha: str) -> Path:
        return self.root / "figures" / f"{sha}.png"

    def load(self, topic: str, key: str, project_root: Path) -> TopicResult | None:
        """The stored result if it is intact and its dependencies are unchanged, else None."""
        entry = self._entry(key)
        try:
            data = json.loads(entry.read_bytes())
            if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("topic") != topic:
                raise ValueError("wrong format")
            if data.pop("checksum", None) != _checksum(data):
                raise ValueError("entry edited or damaged")
            if not isinstance(data["values"], dict) or not isinstance(data["figures"], dict):
                raise ValueError("wrong shape")
            for rel, sha in data["deps"].items():
                dep = project_root / rel
                if not dep.is_file() or sha256_file(dep) != sha:
                    return None  # stale, not corrupt: keep it, a revert may make it valid again
            figures = {}
            for name, (day, night) in data["figures"].items():
                for sha in (day, night):
                    if sha256_file(self.figure_path(sha)) != sha:
                        raise ValueError(f"figure {name} corrupted")
                figures[name] = Figure(name, day, self.figure_path(day), night, self.figure_path(night))
            values: dict[str, Value] = data["values"]
            drills: dict[str, dict[str, Value]] = data["drills"]
            return TopicResult(topic, values, figures, float(data.get("seconds", 0.0)), cached=True, drills=drills)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            with contextlib.suppress(OSError):
                entry.unlink()
            return None

    def dependencies(self, topic: Topic, project_root: Path) -> list[Path]:
        """The project files the stored result of this code recorded reading ([] when none is stored).

        For a watcher (``deckgen serve``): a data file outside ``content/`` that a computation reads
        must trigger a rebuild when it is saved, like the code itself.
        """
        try:
            data = json.loads(self._entry(self.key(topic)).read_bytes())
            return [project_root / rel for rel in data["deps"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []

    def store(self, topic: str, key: str, values: dict[str, Value], figures: dict[str, tuple[bytes, bytes]],
              deps: list[Path], project_root: Path, seconds: float,
              drills: dict[str, dict[str, Value]] | None = None) -> TopicResult:
        stored = {}
        for name, (day, night) in figures.items():
            shas = []
            for png in (day, night):
                sha = sha256_bytes(png)
                path = self.figure_path(sha)
                if not path.is_file() or sha256_file(path) != sha:
                    atomic_write(path, png)
                shas.append(sha)
            stored[name] = Figure(name, shas[0], self.figure_path(shas[0]), shas[1], self.figure_path(shas[1]))
        dep_hashes = {str(d.relative_to(project_root)): sha256_file(d) for d in deps if d.is_file()}
        data = {
            "format": FORMAT,
            "topic": topic,
            "values": values,
            "figures": {n: [f.sha256, f.night_sha256] for n, f in stored.items()},
            "deps": dep_hashes,
            "seconds": seconds,
            "drills": drills or {},
        }
        data["checksum"] = _checksum(data)
        atomic_write(self._entry(key), json.dumps(data, indent=1, sort_keys=True).encode())
        return TopicResult(topic, values, stored, seconds, cached=False, drills=drills or {})
