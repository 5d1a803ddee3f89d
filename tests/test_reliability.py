"""A build killed while it writes, and a cache damaged on disk, never cost the learner a good deck.

1. SIGKILL during packaging: a real build runs in a subprocess (the venv's python) whose
   ``os.fdopen``/``os.replace`` are wrapped so that, when deckgen's ``atomic_write`` writes the
   package (or the manifest), half of the bytes reach the disk and the process is killed, or it
   is killed between a complete temporary file and the rename. The previous package and
   manifest must be exactly as they were (or, when the kill hits the manifest, the new package
   complete and the old manifest intact), and the next normal build must succeed.
2. Corrupted cache entries: a result JSON truncated, not JSON, or JSON of the wrong shape, and a
   figure PNG truncated, replaced or missing. Each must be detected and recomputed, and the
   rebuilt package must be byte-identical to the clean build.

About 13 s on the 2-core machine, 22 s under load (each kill is a fresh interpreter; each
corruption recomputes, most of them values only, a few with a figure).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from anki_helpers import fresh_collection, import_package, note_by_card_id
from conftest import run_cli, write_project

CARDS = """\
title: Basics
cards:
  - id: one
    front: First?
    back: The first answer.
  - id: two
    front: Second?
    back: The second answer.
  - id: three
    type: cloze
    text: A {{c1::third}} card.
"""
APKG = "build/test-deck.apkg"

# Runs one build with deckgen's file writes sabotaged. argv: project, mode, target file name.
# mode "mid-write": the first write to the target's temporary file stores half the bytes, syncs
# them, and the process is SIGKILLed; "before-replace": killed after the temporary file is
# complete, just before it would be renamed over the target.
DRIVER = """\
import os
import signal
import sys
from pathlib import Path

root, mode, target = sys.argv[1:4]
real_fdopen, real_replace = os.fdopen, os.replace


def is_target(path):
    name = Path(path).name
    return name.startswith("." + target + ".") and name.endswith(".tmp")


class HalfThenKilled:
    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        os.fsync(self.f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


def fdopen(fd, *args, **kwargs):
    f = real_fdopen(fd, *args, **kwargs)
    if mode == "mid-write" and is_target(os.readlink(f"/proc/self/fd/{fd}")):
        return HalfThenKilled(f)
    return f


def replace(src, dst, *args, **kwargs):
    if mode == "before-replace" and is_target(src):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *args, **kwargs)


os.fdopen, os.replace = fdopen, replace
from deckgen.cli import main  # noqa: E402

main(["build", "--project", root, "-q"])
"""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temp_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp"))


def killed_build(tmp_path: Path, root: Path, mode: str, target: str) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run = subprocess.run([sys.executable, driver, root, mode, target], capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, (run.returncode, run.stdout, run.stderr)


def edited_project(tmp_path: Path) -> Path:
    """A project built once, then edited so the next build would write a different package."""
    root = write_project(tmp_path / "proj", {"basics": {"cards": CARDS}})
    assert run_cli("build", "--project", root, "-q").exit_code == 0
    cards = root / "content/basics/cards.yaml"
    cards.write_text(cards.read_text().replace("The second answer.", "The edited second answer."))
    return root


def assert_rebuild_works(tmp_path: Path, root: Path) -> None:
    """The next normal build succeeds, ships the edit, and leaves the manifest in step with it."""
    assert run_cli("build", "--project", root, "-q").exit_code == 0
    col = fresh_collection(tmp_path / "anki")
    try:
        import_package(col, root / APKG)
        assert col.note_count() == 3
        assert note_by_card_id(col, "two")["Back"] == "<p>The edited second answer.</p>"
    finally:
        col.close()
    assert run_cli("check", "--project", root).exit_code == 0


@pytest.mark.parametrize("mode", ["mid-write", "before-replace"])
def test_build_killed_while_writing_the_package_keeps_the_old_one(tmp_path, mode):
    root = edited_project(tmp_path)
    apkg, manifest = root / APKG, root / "content/manifest.json"
    before = (apkg.read_bytes(), apkg.stat().st_mtime_ns, manifest.read_bytes())
    killed_build(tmp_path, root, mode, "test-deck.apkg")
    assert (apkg.read_bytes(), apkg.stat().st_mtime_ns, manifest.read_bytes()) == before
    # What the kill leaves: one orphaned temporary file beside the package, never a partial .apkg.
    (orphan,) = temp_files(root)
    assert orphan.startswith("build/.test-deck.apkg.")
    partial = root / orphan
    assert not zipfile.is_zipfile(partial) if mode == "mid-write" else zipfile.is_zipfile(partial)
    assert_rebuild_works(tmp_path, root)


def test_build_killed_while_writing_the_manifest_ships_a_whole_package(tmp_path):
    """The package is renamed into place before the manifest is written; the old manifest stays whole."""
    root = edited_project(tmp_path)
    apkg, manifest = root / APKG, root / "content/manifest.json"
    old_package, old_manifest = apkg.read_bytes(), manifest.read_bytes()
    killed_build(tmp_path, root, "mid-write", "manifest.json")
    assert manifest.read_bytes() == old_manifest
    assert apkg.read_bytes() != old_package and zipfile.ZipFile(apkg).testzip() is None
    assert_rebuild_works(tmp_path, root)


def test_next_build_removes_what_a_killed_build_left(tmp_path):
    root = edited_project(tmp_path)
    killed_build(tmp_path, root, "before-replace", "test-deck.apkg")
    assert run_cli("build", "--project", root, "-q").exit_code == 0
    assert temp_files(root) == []


# --- corrupted cache entries ----------------------------------------------------------------------

DEMO_CARDS = """\
title: Demo
cards:
  - id: demo-value
    front: "x is {{ x:.3f }}, shape {{ shape }}"
    back: "![a rising line](fig:line)"
"""
DEMO_CODE = """\
import torch


def compute(ctx):
    ctx.value("x", torch.tensor(0.25) * 2)
    ctx.value("shape", torch.zeros(2, 3).shape)

    def draw(fig):
        fig.subplots().plot([0, 1], [0, 1])
    ctx.figure("line", draw)
"""


VALUES_CODE = """\
def compute(ctx):
    ctx.value("x", 0.5)
    ctx.value("shape", [2, 3])
"""
VALUES_CARDS = DEMO_CARDS.replace('back: "![a rising line](fig:line)"', "back: A line.")


def _build_clean(root: Path) -> tuple[Path, bytes, dict]:
    result = run_cli("build", "--project", root)
    assert result.exit_code == 0 and "demo: computed in" in result.output, result.output
    return root, (root / APKG).read_bytes(), json.loads(_entry(root).read_bytes())


@pytest.fixture(scope="module")
def values(tmp_path_factory) -> tuple[Path, bytes, dict]:
    """A project whose computation registers values only (cheap to recompute): folder, package, entry."""
    folder = tmp_path_factory.mktemp("values") / "proj"
    return _build_clean(write_project(folder, {"demo": {"cards": VALUES_CARDS, "compute": VALUES_CODE}}))


@pytest.fixture(scope="module")
def figure(tmp_path_factory) -> tuple[Path, bytes, dict]:
    """The same with a figure (day and night PNGs in the cache)."""
    folder = tmp_path_factory.mktemp("figure") / "proj"
    return _build_clean(write_project(folder, {"demo": {"cards": DEMO_CARDS, "compute": DEMO_CODE}}))


def _entry(root: Path) -> Path:
    (entry,) = (root / ".deckgen-cache/results").glob("*.json")
    return entry


def _figure_files(root: Path) -> list[Path]:
    """The cached PNGs the entry names, day variant first (whatever shape the entry gives them)."""
    shas: list[str] = []
    for v in json.loads(_entry(root).read_bytes())["figures"].values():
        shas += [v] if isinstance(v, str) else list(v)
    return [root / ".deckgen-cache/figures" / f"{s}.png" for s in shas]


def _edit_entry(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def corrupt(root: Path) -> None:
        data = json.loads(_entry(root).read_bytes())
        change(data)
        _entry(root).write_text(json.dumps(data))
    return corrupt


def _rewrite(data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def corrupt(root: Path) -> None:
        entry = _entry(root)
        entry.write_bytes(data(entry.read_bytes()) if callable(data) else data)
    return corrupt


def _damage_figure(index: int, how: str) -> Callable[[Path], None]:
    def corrupt(root: Path) -> None:
        files = _figure_files(root)
        png = files[index]
        if how == "truncate":
            png.write_bytes(png.read_bytes()[:200])
        elif how == "replace":  # a valid PNG, just not this one
            png.write_bytes(files[1 - index].read_bytes())
        else:
            png.unlink()
    return corrupt


CORRUPTIONS = [
    pytest.param("values", _rewrite(lambda b: b[: len(b) // 2]), id="result-truncated"),
    pytest.param("values", _rewrite(b"\x89PNG\r\n\x1a\n\xff\xfe not json"), id="result-binary-garbage"),
    pytest.param("values", _rewrite(b"[]"), id="result-json-list"),
    pytest.param("values", _edit_entry(lambda d: d.update(format=999)), id="result-other-format"),
    pytest.param("values", _edit_entry(lambda d: d.update(topic="other")), id="result-other-topic"),
    pytest.param("values", _edit_entry(lambda d: d.pop("values")), id="result-values-missing"),
    pytest.param("values", _edit_entry(lambda d: d.update(seconds="fast")), id="result-seconds-not-a-number"),
    pytest.param("values", _edit_entry(lambda d: d.update(values=[])), id="result-values-a-list"),
    pytest.param("values", _edit_entry(lambda d: d["values"].update(x=7.0)), id="result-value-changed"),
    pytest.param("values", _edit_entry(lambda d: d["values"].pop("x")), id="result-value-dropped"),
    pytest.param("figure", _edit_entry(lambda d: d.update(figures={"line": "0" * 64})), id="result-figure-not-a-pair"),
    pytest.param("figure", _damage_figure(0, "truncate"), id="figure-truncated"),
    pytest.param("figure", _damage_figure(0, "replace"), id="figure-replaced"),
    pytest.param("figure", _damage_figure(0, "delete"), id="figure-missing"),
    pytest.param("figure", _damage_figure(1, "truncate"), id="night-figure-truncated"),
]


@pytest.mark.parametrize("kind", ["values", "figure"])
def test_intact_cache_is_used(request, tmp_path, kind):
    """The control for the cases below: a copied project with an intact cache computes nothing."""
    root, package, _ = request.getfixturevalue(kind)
    copy = shutil.copytree(root, tmp_path / "proj")
    result = run_cli("build", "--project", copy)
    assert result.exit_code == 0 and "demo: cached" in result.output, result.output
    assert (copy / APKG).read_bytes() == package


@pytest.mark.parametrize(("kind", "corrupt"), CORRUPTIONS)
def test_corrupted_cache_entry_is_recomputed_never_trusted(request, tmp_path, kind, corrupt):
    root, package, entry = request.getfixturevalue(kind)
    copy = shutil.copytree(root, tmp_path / "proj")
    corrupt(copy)
    result = run_cli("build", "--project", copy)
    assert result.exit_code == 0, result.output
    assert "demo: computed in" in result.output, result.output
    assert (copy / APKG).read_bytes() == package
    healed = json.loads(_entry(copy).read_bytes())
    # Timing and the checksum over it differ between runs; everything the deck uses must not.
    volatile = {"seconds", "checksum"}
    assert {k: v for k, v in healed.items() if k not in volatile} == {k: v for k, v in entry.items()
                                                                      if k not in volatile}
    assert all(sha(f) == f.stem for f in _figure_files(copy))
    assert temp_files(copy) == []
