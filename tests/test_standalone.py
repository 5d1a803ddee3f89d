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
    alone = tmp_path / "empty" / "deckgen"  # the parent folder holds nothing else: no reference shelf beside it
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


def test_init_starts_a_project_that_builds_lints_and_imports_into_anki(tmp_path):
    from anki_helpers import fresh_collection, import_package

    project = tmp_path / "my deck"
    made = _deckgen(tmp_path, "init", str(project), "--deck", "Interview prep")
    assert made.returncode == 0, made.stderr
    assert (project / ".gitignore").is_file() and (project / "deckgen.yaml").is_file()
    built = _deckgen(tmp_path, "build", "--project", str(project), "-q")
    assert built.returncode == 0, built.stderr
    for command in ("check", "lint", "coverage"):
        done = _deckgen(tmp_path, command, "--project", str(project))
        assert done.returncode == 0, (command, done.stdout + done.stderr)

    col = fresh_collection(tmp_path / "anki")
    try:
        import_package(col, project / "build" / "interview-prep.apkg")
        fields = {n["Id"]: n for n in (col.get_note(i) for i in col.find_notes(""))}
        assert len(fields) == 6
        assert fields["fs-conv-stride-two"]["Back"].startswith("<p>16×16")  # from the real Conv2d
        assert fields["fs-out-view-shares"]["Output"].strip().endswith("1.0")  # what the snippet printed
        assert 'src="' in fields["fs-relu-derivative"]["Back"]  # the figure, shipped as media
        assert {col.decks.name(c.did) for c in (col.get_card(i) for i in col.find_cards(""))} \
            == {"Interview prep::First steps"}
    finally:
        col.close()


def test_init_never_overwrites_a_project(tmp_path):
    project = tmp_path / "p"
    assert _deckgen(tmp_path, "init", str(project)).returncode == 0
    cards = project / "content" / "first-steps" / "cards.yaml"
    cards.write_text("title: Mine\ncards: []\n")
    again = _deckgen(tmp_path, "init", str(project))
    assert again.returncode == 1
    assert again.stderr.splitlines()[0].startswith(f"error: {project}: already holds a project")
    assert "Traceback" not in again.stderr
    assert cards.read_text() == "title: Mine\ncards: []\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no staging folder left behind


def test_a_wheel_installs_a_working_deckgen(tmp_path):
    """`pip install .` (not editable) from a clone: the wheel carries the templates and the starter; with
    no MathJax bundle (a clone before ./setup.sh), preview says in one line how to get it."""
    clone = _tracked_copy(tmp_path / "clone")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(clone)], check=True, capture_output=True)
    (wheel,) = wheels.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The dependencies (torch and the rest) come from the test environment's site-packages, read as a
    # plain path: its .pth files (the editable deckgen among them) are not processed.
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "deps.pth").write_text(deps + "\n")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)

    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work)}

    def deckgen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([venv / "bin" / "deckgen", *args], cwd=work, capture_output=True, text=True, env=env)

    where = subprocess.run([venv / "bin" / "python", "-c", "import deckgen; print(deckgen.__file__)"],
                           cwd=work, capture_output=True, text=True, env=env)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    assert deckgen("init", "p").returncode == 0
    built = deckgen("build", "--project", "p", "-q")
    assert built.returncode == 0, built.stderr
    assert (work / "p" / "build" / "p.apkg").is_file()
    shown = deckgen("preview", "--project", "p", "-q")
    assert shown.returncode == 1
    first = shown.stderr.splitlines()[0]
    assert first.startswith("error: missing asset ") and "registry.npmjs.org/mathjax" in first, shown.stderr
    assert "Traceback" not in shown.stderr


def test_the_tutorial_works_as_written(tmp_path):
    """docs/content.md's ten-minute tutorial, step 3, applied to a fresh `deckgen init` project verbatim."""
    import re

    docs = (ROOT / "docs" / "content.md").read_text()
    tutorial = docs[docs.index("## Ten minutes"):docs.index("## Project layout")]
    python, yaml_card = re.findall(r"```(?:python|yaml)\n(.*?)```", tutorial, re.S)
    question = re.search(r"`(fs-04: [^`]+)`", tutorial).group(1)

    project = tmp_path / "my-deck"
    assert _deckgen(tmp_path, "init", str(project)).returncode == 0
    topic = project / "content" / "first-steps"
    code = (topic / "compute.py").read_text()
    anchor = '    ctx.figure("relu", draw)\n'
    (topic / "compute.py").write_text(code.replace(anchor, anchor + "\n" + python))
    (topic / "cards.yaml").write_text((topic / "cards.yaml").read_text().rstrip("\n") + "\n\n" + yaml_card)
    (topic / "syllabus.yaml").write_text((topic / "syllabus.yaml").read_text() + question + "\n")

    built = _deckgen(project, "build")
    assert built.returncode == 0, built.stderr
    for command in ("check", "lint", "coverage"):
        done = _deckgen(project, command)
        assert done.returncode == 0, (command, done.stdout + done.stderr)
    assert '"fs-sigmoid-grad-at-1"' in (project / "content" / "manifest.json").read_text()

    (topic / "cards.yaml").write_text((topic / "cards.yaml").read_text().replace("{{ sigmoid_grad_1:.4f }}",
                                                                                  "{{ sigmoid_grad:.4f }}"))
    wrong = _deckgen(project, "build")
    assert wrong.returncode == 1
    assert "fs-sigmoid-grad-at-1" in wrong.stderr and "sigmoid_grad_1" in wrong.stderr, wrong.stderr
