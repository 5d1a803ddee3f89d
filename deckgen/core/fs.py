"""Files: atomic writes, content hashes, and installed package versions.

Every file deckgen writes (packages, the manifest, cache entries, figures, stamps) goes through
:func:`atomic_write`, so a reader never sees half a file and a killed build leaves the previous
output whole. Hashes name cached results and media; versions of the installed rendering and
computation libraries enter the fingerprints that decide when a cached result is still valid.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file.

    The temporary name carries the writer's pid, so a later write can remove what a killed
    writer (SIGKILL, power loss) left behind without touching a live writer's file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _sweep(path: Path) -> None:
    """Remove temporary files of ``path`` left by writers that no longer run."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = stale.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@lru_cache(maxsize=1)
def _installed() -> dict[str, str]:
    """Installed distributions and versions, from the ``*.dist-info`` folder names on sys.path.

    ``importlib.metadata`` gives the same answer but costs about 35 ms per build (it imports the
    email parser); listing a few folders takes about 1 ms.
    """
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                dist, _, version = name[: -len(".dist-info")].partition("-")
                found.setdefault(_normal(dist), version)
    return found


def _normal(dist: str) -> str:
    return dist.lower().replace("_", "-").replace(".", "-")


def dist_version(dist: str) -> str:
    """The installed version of ``dist`` ("absent" if it is not installed)."""
    return _installed().get(_normal(dist), "absent")


__all__ = ["atomic_write", "dist_version", "sha256_bytes", "sha256_file"]
