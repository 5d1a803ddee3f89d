"""The project stands on its own: its tracked files, copied into an empty folder with nothing beside
it, build, check, measure and lint the deck. Nothing outside the repository is read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

SMALL_TOPIC = "metrics"


def _tracked_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _deckgen(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Started from the copy, with the copy's own package first on the path: nothing of /work/main is used.
    return subprocess.run([sys.executable, "-m", "deckgen", *args], cwd=project, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project), "HOME": str(project)})


def test_a_lone_copy_builds_checks_measures_and_lints(tmp_path):
    alone = tmp_path / "empty" / "deckgen"  # the parent folder holds nothing else: no ../shared
    alone.mkdir(parents=True)
    project = _tracked_copy(alone)
    assert sorted(p.name for p in alone.parent.iterdir()) == ["deckgen"]

    where = subprocess.run([sys.executable, "-c", "import deckgen; print(deckgen.__file__)"], cwd=project,
                           capture_output=True, text=True, env={"PYTHONPATH": str(project)})
    assert where.stdout.strip() == str(project / "deckgen" / "__init__.py")

    built = _deckgen(project, "build", "--topic", SMALL_TOPIC, "-q")
    assert built.returncode == 0, built.stderr
    assert (project / "build" / f"{SMALL_TOPIC}.apkg").is_file()
    checked = _deckgen(project, "check", "--topic", SMALL_TOPIC)
    assert checked.returncode == 0, checked.stderr
    covered = _deckgen(project, "coverage")
    assert covered.returncode == 0, covered.stdout + covered.stderr
    assert covered.stdout.rstrip().endswith("complete")
    linted = _deckgen(project, "lint")
    assert linted.returncode == 0, linted.stdout + linted.stderr
