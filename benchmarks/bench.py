"""Benchmark ``deckgen build`` on the full deck, and check the performance targets (issue 7).

What a user waits for is a whole process (interpreter start, imports, the build), so every timed
run is the real console script, ``<venv>/bin/deckgen build``, started as a subprocess on a
throw-away copy of the project; /work/main is never written. Timings on these shared 2-core
machines are noisy, so each scenario runs several times and the report gives the median and
the spread (min-max and IQR), the CPU time of the build process (less sensitive to other
users' load than wall time), the load average, and ratios between scenarios.

Scenarios:

* ``cold``      empty ``.deckgen-cache``: every topic computes (default 3 runs; about a minute
                each on a busy machine since figures gained night variants);
* ``cold-cached-snippets`` the same cold build with the output cards' snippets already cached:
                the difference from ``cold`` is what running the snippets adds (target: at most 5 s
                per 120 snippets);
* ``no-change`` rebuild with nothing changed (nothing computed: snippets are cached too);
* ``text-edit`` one card's ``back`` gets a different appended paragraph before each run (so the
                note really changes: the build must report exactly 1 note changed);
* ``code-edit`` one topic's ``compute.py`` gets a different appended comment line before each run:
                its code hash changes, its values do not, so exactly that topic must re-run and
                no note changes (the default topic, ``losses``, is one of the cheapest);
* ``floor``     a process that only imports the modules a warm build imports, read from the real
                CLI's ``-X importtime`` output (deckgen's own modules excluded): the start-up
                cost no optimisation of deckgen's pipeline can remove.
* ``serve``     ``deckgen serve`` on its own copy: seconds from saving one card's text, or one
                topic's compute.py, until the open page shows it (benchmarks/serve_bench.py;
                ``--serve-only`` runs just these, ``--skip-serve`` leaves them out).

Claims are verified, not just timed: each scenario's progress lines say which topics were
computed or cached, one extra run per scenario has ``PYTHONPROFILEIMPORTTIME=1`` (covers the
fork server too) to show whether torch was imported, and ``probe.py`` runs the build in-process
with stage timers for the breakdown. The last cold build also goes through the probe (the same
deckgen ``main``, plus wrappers costing well under 0.1 s of a minute-long build), for the timeline
of the workers, so no extra cold build is needed.

Bytecode: these machines set PYTHONDONTWRITEBYTECODE=1, so every deckgen start recompiles its own
modules (~0.05-0.1 s); a user's install caches bytecode, so the benchmark unsets it
(``--no-bytecode`` keeps it).

By default the deckgen package is snapshotted into the temp folder and put first on
PYTHONPATH, so other people's edits to deckgen/ during the run cannot mix two versions (the
editable install's finder comes after PYTHONPATH); ``--live-code`` uses the tree as is.

Usage::

    .venv/bin/python benchmarks/bench.py                 # full: 3.5 min at load 2, longer when busy
    .venv/bin/python benchmarks/bench.py --quick         # smoke: 1 cold build, 2 runs of the others (~2 min)
    .venv/bin/python benchmarks/bench.py --cold-runs 1   # the warm scenarios in full, one cold build
    .venv/bin/python benchmarks/bench.py --json out.json --skip-cold --code /tmp/candidate/deckgen  # A/B

The spaced-repetition toolkit has its own scripts next to this one: ``plan_bench.py`` times
``deckgen plan --collection`` on 10,000-card collections (target: under 3 s) and
``plan_validation.py`` checks the plan's forecasts against real reviews (docs/planning.md).

``--skip-cold`` starts from a copy of the tree's cache (a stale entry makes the warm-up compute).
Exit code: 0 when every target passes, 1 when one fails, 2 when the benchmark itself could not
run (a build failed, deckgen does not import, an edit did not land).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
DECKGEN = VENV / "bin" / "deckgen"
PROBE = HERE / "probe.py"

PROGRESS = re.compile(r"^\s+(?P<topic>\S+): (?P<status>cached|computing \.\.\.|computed in (?P<s>[\d.]+) s|failed.*)$")
WROTE = re.compile(r"(?:wrote .*|.* is up to date): "
                   r"(?P<notes>\d+) notes?, (?P<cards>\d+) cards?, (?P<figures>\d+) figures? "
                   r"\((?P<kib>\d+) KiB\); (?P<changed>\d+) notes? changed")  # the CLI says "1 note"
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \| (\s*)(\S+)\s*$")

NO_CHANGE_TARGET_S = 1.0
NO_CHANGE_COLD_RATIO = 0.15
NOISY = re.compile(r"^\s+(?P<topic>\S+): compute\.py wrote to stderr:$")
COLD_TARGET_S = 60.0  # issues 17 and 18: the whole deck's cold build
TOPIC_COLD_TARGET_S = 20.0  # issues 17 and 18: one topic's cold computation
APKG_TARGET_MIB = 8.0  # issues 17 and 18: the package a phone syncs
# Issue 16: "the 120 snippets add at most 5 s to a cold build". The deck has grown past 120 output
# cards, so the target is that rate (5 s per 120 snippets), scaled to the count the deck has. Each
# snippet runs twice, each run a fork of a worker holding torch: on these machines the fork and the
# child's exit alone take about 10 ms, so ~35 ms of CPU per snippet, on 2 workers.
SNIPPETS_COLD_TARGET_S = 5.0
SNIPPETS_COLD_TARGET_PER = 120


class BenchError(Exception):
    """The benchmark could not run as designed (setup failed, a build failed, an edit did not take)."""


# ---------------------------------------------------------------- statistics


@dataclass
class Stats:
    n: int
    median: float
    min: float
    max: float
    q1: float
    q3: float

    @classmethod
    def of(cls, xs: Sequence[float]) -> Stats | None:
        if not xs:
            return None
        xs = sorted(xs)
        q1, q3 = (statistics.quantiles(xs, n=4, method="inclusive")[::2] if len(xs) >= 2 else (xs[0], xs[0]))
        return cls(len(xs), statistics.median(xs), xs[0], xs[-1], q1, q3)

    def show(self) -> str:
        return f"{self.median:7.3f}  {self.min:7.3f}-{self.max:<7.3f}  IQR {self.q3 - self.q1:6.3f}"


# ---------------------------------------------------------------- one build


@dataclass
class Run:
    """One timed ``deckgen build`` and what its output says it did."""

    wall_s: float
    cpu_s: float  # user + sys of the deckgen process itself (not the fork server or workers)
    computed: list[str]
    cached: list[str]
    topic_seconds: dict[str, float]  # "computed in X s" (parent-side: fork, run, figures, transfer)
    notes: int | None
    figures: int | None
    changed: int | None
    load: float  # 1-minute load average just before the run
    imported: list[str] | None = None  # modules, when run with PYTHONPROFILEIMPORTTIME
    events: list[tuple[str, str]] = field(default_factory=list)  # (topic, started|done), in stderr order
    import_self_s: dict[str, float] = field(default_factory=dict)  # importtime self time per top-level package
    noisy: list[str] = field(default_factory=list)  # topics whose computation wrote to stderr


def run_build(env: dict[str, str], project: Path, out: Path, extra: Sequence[str] = (),
              importtime: bool = False, launcher: Sequence[str] = (str(DECKGEN),)) -> Run:
    """Run the real CLI once; raise BenchError (with its stderr) if the build fails.

    ``launcher`` is the console script, or probe.py with its options and ``--`` (same ``main``).
    """
    cmd = [*launcher, "build", "--project", str(project), "--out", str(out), *extra]
    run_env = dict(env, PYTHONPROFILEIMPORTTIME="1") if importtime else env
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=run_env, text=True,
                            cwd=env["DECKGEN_BENCH_CWD"])
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))[-2000:]
        raise BenchError(f"build failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    computed, cached, seconds = [], [], {}
    events: list[tuple[str, str]] = []
    imported: list[str] = []
    by_package: dict[str, float] = {}
    noisy: list[str] = []
    for line in stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m:
            imported.append(m.group(3))
            root = m.group(3).split(".")[0]
            by_package[root] = by_package.get(root, 0.0) + int(m.group(1)) / 1e6
            continue
        m = NOISY.match(line)
        if m:
            noisy.append(m.group("topic"))
            continue
        m = PROGRESS.match(line)
        if not m:
            continue
        if m.group("status") == "cached":
            cached.append(m.group("topic"))
        elif m.group("status").startswith("computing"):
            events.append((m.group("topic"), "started"))
        else:
            events.append((m.group("topic"), "done"))
            if m.group("s") is not None:
                computed.append(m.group("topic"))
                seconds[m.group("topic")] = float(m.group("s"))
    w = WROTE.search(stdout)
    return Run(wall, 0.0, sorted(computed), sorted(cached), seconds,
               int(w.group("notes")) if w else None, int(w.group("figures")) if w else None,
               int(w.group("changed")) if w else None, load, sorted(set(imported)) if importtime else None, events,
               dict(sorted(by_package.items(), key=lambda kv: -kv[1])), sorted(noisy))


def timed_build(env: dict[str, str], project: Path, out: Path, extra: Sequence[str] = (),
                importtime: bool = False, launcher: Sequence[str] = (str(DECKGEN),)) -> Run:
    """run_build plus the CPU time the deckgen process used (from RUSAGE_CHILDREN before/after)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = run_build(env, project, out, extra, importtime, launcher)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Only the deckgen process is a direct child; the fork server is its child and is not
    # reaped by it, so its CPU (torch import, workers) is not counted here.
    run.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return run


# ---------------------------------------------------------------- the copy


def copy_project(dest: Path, with_cache: bool) -> Path:
    """content/, deckgen.yaml (questions path made absolute) and the manifest, like tests' copy_real_project.

    Not imported from tests/conftest.py: that module imports pytest and deckgen.cli at import time.
    """
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "content", dest / "content", ignore=shutil.ignore_patterns("__pycache__"))
    if with_cache and (ROOT / ".deckgen-cache").is_dir():
        shutil.copytree(ROOT / ".deckgen-cache", dest / ".deckgen-cache")
    settings = (ROOT / "deckgen.yaml").read_text(encoding="utf-8")
    m = re.search(r"^questions:\s*(\S+)\s*$", settings, re.MULTILINE)
    if m:
        questions = (ROOT / m.group(1)).resolve()
        settings = settings[:m.start(1)] + str(questions) + settings[m.end(1):]
    (dest / "deckgen.yaml").write_text(settings, encoding="utf-8")
    return dest


def snapshot_code(dest: Path, package: Path) -> Path:
    """A copy of the deckgen package, put first on PYTHONPATH so every run uses the same code."""
    shutil.copytree(package, dest / "deckgen", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def code_env(src: Path | None, cwd: Path, bytecode: bool) -> dict[str, str]:
    """The environment of every process started; DECKGEN_BENCH_CWD is their working directory.

    Not /work/main: ``python -c`` puts the working directory first on sys.path, where the tree's
    deckgen/ would shadow the snapshot.

    Bytecode: a user's install caches compiled modules, but these machines set
    PYTHONDONTWRITEBYTECODE=1, which makes every start recompile deckgen's own modules (about
    0.1 s). Unless ``--no-bytecode``, it is unset; with ``--live-code`` the caches go to a
    PYTHONPYCACHEPREFIX in the temp folder, so nothing is written into the tree.
    """
    env = dict(os.environ, DECKGEN_BENCH_CWD=str(cwd))
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if src is None:
            env["PYTHONPYCACHEPREFIX"] = str(cwd / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    first = [str(src)] if src is not None else []
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*first, env.get("PYTHONPATH")) if p)
    return env


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=env["DECKGEN_BENCH_CWD"])


def check_code(env: dict[str, str], src: Path | None) -> str:
    out = subprocess.run([str(PYTHON), "-c", "import deckgen.cli, deckgen; print(deckgen.__file__)"],
                         env=env, capture_output=True, text=True, cwd=env["DECKGEN_BENCH_CWD"])
    if out.returncode != 0:
        raise BenchError(f"deckgen does not import (someone mid-edit?):\n{out.stderr[-1500:]}")
    where = out.stdout.strip()
    if src is not None and not where.startswith(str(src)):
        raise BenchError(f"the snapshot is not the deckgen being run: {where}")
    return where


# ---------------------------------------------------------------- edits


@dataclass
class TextEdit:
    """Appends a paragraph to one card's literal ``back: |`` block, a different one each time."""

    path: Path
    card: str
    original: str
    after_line: int  # 1-based line after which the paragraph goes
    indent: str
    src: Path | None

    @classmethod
    def find(cls, project: Path, src: Path | None, card_id: str | None) -> TextEdit:
        parse_yaml = _deckgen_parse_yaml(src)
        for cards in sorted((project / "content").glob("*/cards.yaml")):
            text = cards.read_text(encoding="utf-8")
            data = parse_yaml(text, str(cards))
            for raw in data.get("cards") or []:
                if not isinstance(raw, dict) or not isinstance(raw.get("back"), str):
                    continue
                if card_id is not None and raw.get("id") != card_id:
                    continue
                literal, value_lines = getattr(raw, "literal", {}), getattr(raw, "value_lines", {})
                if card_id is None and not literal.get("back"):
                    continue
                if not literal.get("back") or "back" not in value_lines:
                    raise BenchError(f"card {card_id}: back is not a literal `|` block; pick another --text-card")
                first = value_lines["back"]
                n = len(raw["back"].splitlines())
                lines = text.splitlines()
                block = [ln for ln in lines[first - 1:first - 1 + n] if ln.strip()]
                indent = min((len(ln) - len(ln.lstrip(" ")) for ln in block), default=6)
                return cls(cards, raw["id"], text, first - 1 + n, " " * indent, src)
        raise BenchError(f"no card {'with id ' + card_id if card_id else 'with a literal back: | block'} found")

    def apply(self, run: int) -> str:
        marker = f"Benchmark edit {run} ({uuid.uuid4().hex[:8]})."
        lines = self.original.splitlines(keepends=True)
        if not lines[self.after_line - 1].endswith("\n"):  # the block ends the file without a newline
            lines[self.after_line - 1] += "\n"
        lines[self.after_line:self.after_line] = ["\n", f"{self.indent}{marker}\n"]
        self.path.write_text("".join(lines), encoding="utf-8")
        # Check the edit landed in this card's back, as a paragraph of its own.
        data = _deckgen_parse_yaml(self.src)(self.path.read_text(encoding="utf-8"), str(self.path))
        back = next(c["back"] for c in data["cards"] if isinstance(c, dict) and c.get("id") == self.card)
        if not back.rstrip("\n").endswith(f"\n\n{marker}"):
            self.restore()
            raise BenchError(f"text edit of card {self.card} in {self.path} did not land in its back text")
        return marker

    def restore(self) -> None:
        self.path.write_text(self.original, encoding="utf-8")


@dataclass
class CodeEdit:
    """Appends a distinct comment line to a topic's compute.py: new code hash, same values."""

    path: Path
    topic: str
    original: str

    @classmethod
    def find(cls, project: Path, topic: str | None) -> CodeEdit:
        candidates = sorted(p.parent.name for p in (project / "content").glob("*/compute.py"))
        if not candidates:
            raise BenchError("no topic has a compute.py")
        name = topic or ("losses" if "losses" in candidates else candidates[0])
        if name not in candidates:
            raise BenchError(f"topic {name!r} has no compute.py (topics with code: {', '.join(candidates)})")
        path = project / "content" / name / "compute.py"
        return cls(path, name, path.read_text(encoding="utf-8"))

    def apply(self, run: int) -> None:
        sep = "" if self.original.endswith("\n") else "\n"
        self.path.write_text(f"{self.original}{sep}# deckgen benchmark: code edit {run} {uuid.uuid4().hex[:8]}\n",
                             encoding="utf-8")

    def restore(self) -> None:
        self.path.write_text(self.original, encoding="utf-8")


def _deckgen_parse_yaml(src: Path | None) -> Any:
    """deckgen's own line-tracking YAML loader (from the snapshot when there is one)."""
    if src is not None and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    from deckgen.core.yamlfile import parse_yaml

    return parse_yaml


# ---------------------------------------------------------------- other measurements


def time_process(env: dict[str, str], code: str) -> tuple[float, float]:
    """(wall, cpu) seconds of ``python -c code`` in a fresh process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = _run([str(PYTHON), "-c", code], env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise BenchError(f"python -c failed: {code[:200]}\n{out.stderr[-1500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def floor_code(modules: Sequence[str]) -> str:
    """A program importing the given modules (each guarded: private or platform modules may refuse)."""
    wanted = [m for m in modules if m != "__main__" and m.split(".")[0] != "deckgen"]
    return (f"import importlib\nfor m in {wanted!r}:\n    try:\n        importlib.import_module(m)\n"
            "    except Exception:\n        pass\n")


def probe_launcher(report: Path) -> list[str]:
    """Run the build through probe.py: same deckgen main, plus stage timers."""
    return [str(PYTHON), str(PROBE), "--report", str(report), "--"]


def probe(env: dict[str, str], project: Path, out: Path, report: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    run_build(env, project, out, extra, launcher=probe_launcher(report))
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def cache_seconds(project: Path) -> dict[str, float]:
    """Per-topic worker seconds from the cache entries (module + compute + figures, in the worker)."""
    out: dict[str, float] = {}
    for entry in (project / ".deckgen-cache" / "results").glob("*.json"):
        data = json.loads(entry.read_text())
        out[data["topic"]] = float(data.get("seconds", 0.0))
    return out


def makespan(seconds: dict[str, float], order: Sequence[str], jobs: int) -> float:
    """When the last of the topics ends if each goes, in order, to the first free worker."""
    free = [0.0] * max(1, jobs)
    for topic in order:
        i = free.index(min(free))
        free[i] += seconds.get(topic, 0.0)
    return max(free)


def max_concurrency(stderr_order: list[tuple[str, str]]) -> int:
    running: set[str] = set()
    best = 0
    for topic, status in stderr_order:
        if status == "started":
            running.add(topic)
            best = max(best, len(running))
        else:
            running.discard(topic)
    return best


def apkg_info(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        col = next(i for i in infos if i.filename in ("collection.anki21", "collection.anki2"))
        mapping = json.loads(zf.read("media")) if "media" in zf.namelist() else {}
        media = [i for i in infos if i.filename in mapping]
    media_bytes = sum(i.compress_size for i in media)
    return {
        "bytes": path.stat().st_size,
        "collection_bytes": col.file_size,
        "collection_zipped_bytes": col.compress_size,
        "media_files": len(media),
        "media_bytes": media_bytes,
        "bytes_per_media_file": media_bytes / len(media) if media else None,
        "png_files": sum(1 for n in mapping.values() if n.endswith(".png")),
    }


# ---------------------------------------------------------------- the benchmark


@dataclass
class Scenario:
    name: str
    runs: list[Run] = field(default_factory=list)
    verify: Run | None = None

    def wall(self) -> Stats | None:
        return Stats.of([r.wall_s for r in self.runs])

    def cpu(self) -> Stats | None:
        return Stats.of([r.cpu_s for r in self.runs])


@dataclass
class Check:
    target: str
    ok: bool | None  # None: reported, no pass/fail
    detail: str


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="deckgen-bench-"))
    try:
        yield tmp
    finally:
        if keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per warm scenario (default 5)")
    ap.add_argument("--cold-runs", type=int, default=3, help="cold builds (default 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 cold build, 2 runs of the others")
    ap.add_argument("--skip-cold", action="store_true", help="no cold builds (warms the copied cache instead)")
    ap.add_argument("--jobs", type=int, default=None, help="passed to deckgen build (default: deckgen's, all cores)")
    ap.add_argument("--code-topic", default=None, help="topic whose compute.py the code-edit scenario edits")
    ap.add_argument("--text-card", default=None, help="card id whose back the text-edit scenario edits")
    ap.add_argument("--live-code", action="store_true", help="run deckgen from the tree instead of a snapshot")
    ap.add_argument("--code", type=Path, default=ROOT / "deckgen", metavar="DIR",
                    help="the deckgen package to snapshot (default: the tree's), e.g. a candidate optimisation")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="keep Python from caching bytecode (PYTHONDONTWRITEBYTECODE=1), as on these machines")
    ap.add_argument("--json", default=None, metavar="PATH", help="also write the full results as JSON ('-': stdout)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    ap.add_argument("--serve-only", action="store_true", help="only the `deckgen serve` scenarios (serve_bench.py)")
    ap.add_argument("--skip-serve", action="store_true", help="no `deckgen serve` scenarios")
    opts = ap.parse_args(argv)
    sys.dont_write_bytecode = True  # this process imports deckgen's loader; with --live-code, from the tree
    runs = 2 if opts.quick else opts.runs
    cold_runs = 0 if opts.skip_cold else (1 if opts.quick else opts.cold_runs)
    if runs < 1 or cold_runs < 0:
        ap.error("--runs must be at least 1")
    try:
        with workdir(opts.keep) as tmp:
            results = {"checks": []} if opts.serve_only else bench(tmp, opts, runs, cold_runs)
            if not opts.skip_serve:
                results["serve"] = serve_section(tmp, opts, runs)
                results["checks"] += results["serve"]["checks"]
    except BenchError as exc:
        say(f"benchmark error: {exc}")
        return 2
    # With --json -, stdout is the JSON alone and the table goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if opts.json == "-" else contextlib.nullcontext():
        if not opts.serve_only:
            print_table(results)
        if "serve" in results:
            print_serve_table(results)
    if opts.json:
        text = json.dumps(results, indent=1, default=_jsonable)
        if opts.json == "-":
            print(text)
        else:
            Path(opts.json).write_text(text + "\n")
    return 0 if all(c["ok"] is not False for c in results["checks"]) else 1


def serve_section(tmp: Path, opts: argparse.Namespace, runs: int) -> dict[str, Any]:
    """The `deckgen serve` scenarios (benchmarks/serve_bench.py), on a copy of the project of their own."""
    sys.modules.setdefault("bench", sys.modules[__name__])  # serve_bench imports this module: share one copy
    from serve_bench import main_serve

    src = tmp / "src" if (tmp / "src" / "deckgen").is_dir() else None
    if src is None and not opts.live_code:
        src = snapshot_code(tmp / "src", opts.code)
    env = code_env(src, tmp, bytecode=not opts.no_bytecode)
    project = copy_project(tmp / "serve-project", with_cache=True)
    return main_serve(tmp, env, project, runs, opts.text_card, opts.code_topic)


def print_serve_table(r: dict[str, Any]) -> None:
    from serve_bench import print_serve

    print_serve(r["serve"])
    if "info" not in r:  # --serve-only: print_table did not list the targets
        print("targets:")
        for ch in r["checks"]:
            mark = "INFO" if ch["ok"] is None else ("PASS" if ch["ok"] else "FAIL")
            print(f"  {mark}  {ch['target']}: {ch['detail']}")


def _jsonable(o: Any) -> Any:
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def bench(tmp: Path, opts: argparse.Namespace, runs: int, cold_runs: int) -> dict[str, Any]:
    src = None if opts.live_code else snapshot_code(tmp / "src", opts.code)
    env = code_env(src, tmp, bytecode=not opts.no_bytecode)
    where = check_code(env, src)
    project = copy_project(tmp / "project", with_cache=cold_runs == 0)
    edit = TextEdit.find(project, src, opts.text_card)  # before any build: a bad option fails fast
    cedit = CodeEdit.find(project, opts.code_topic)
    out = tmp / "out.apkg"
    extra = ["--jobs", str(opts.jobs)] if opts.jobs else []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    jobs = opts.jobs or cores
    started = time.perf_counter()
    say(f"benchmark in {tmp} (deckgen from {where}); {cores} cores, load {os.getloadavg()[0]:.2f}")
    scen: dict[str, Scenario] = {}
    info: dict[str, Any] = {"cores": cores, "jobs": jobs, "deckgen": where, "python": sys.version.split()[0],
                            "bytecode_cache": not opts.no_bytecode,
                            "tmp": str(tmp), "git": _git_state()}

    # Cold: an empty cache each time (figures/ and the output too, as on a fresh clone). The last
    # cold run goes through probe.py (the same deckgen main, plus stage timers costing well under
    # 0.1 s of a minute-long build), for the timeline of the workers.
    cold = scen["cold"] = Scenario("cold")
    worker_seconds: list[dict[str, float]] = []
    cold_probe: dict[str, Any] | None = None
    for i in range(cold_runs):
        for d in (".deckgen-cache", "figures", "build"):
            shutil.rmtree(project / d, ignore_errors=True)
        out.unlink(missing_ok=True)
        instrumented = i == cold_runs - 1
        say(f"cold {i + 1}/{cold_runs}{' (with stage timers)' if instrumented else ''} ...")
        if instrumented:
            report = tmp / "probe-cold.json"
            run = timed_build(env, project, out, extra, launcher=probe_launcher(report))
            cold_probe = json.loads(report.read_text())
        else:
            run = timed_build(env, project, out, extra)
        cold.runs.append(run)
        worker_seconds.append(cache_seconds(project))
        say(f"  {run.wall_s:.1f} s, {len(run.computed)} computed")

    # Cold without snippets: the same cold build, except that the output cards' snippets are cached
    # (their cache folder kept): the difference from ``cold`` is what running the snippets adds.
    nosnip = scen["cold-cached-snippets"] = Scenario("cold-cached-snippets")
    for i in range(cold_runs):
        for d in (".deckgen-cache", "figures", "build"):
            if d == ".deckgen-cache" and (project / d).is_dir():
                for entry in (project / d).iterdir():
                    if entry.name != "snippets":
                        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            else:
                shutil.rmtree(project / d, ignore_errors=True)
        out.unlink(missing_ok=True)
        say(f"cold with cached snippets {i + 1}/{cold_runs} ...")
        nosnip.runs.append(timed_build(env, project, out, extra))
        say(f"  {nosnip.runs[-1].wall_s:.1f} s")
    snippets = len(list((project / ".deckgen-cache" / "snippets").glob("*.json")))
    info["snippets"] = snippets

    # Make sure the cache and the manifest are current (also after --skip-cold).
    warm = timed_build(env, project, out, extra)
    say(f"warm-up: {warm.wall_s:.2f} s, {len(warm.computed)} computed, {warm.changed} notes changed")

    # No-change and text edit, interleaved so that drifting load from other users hits both alike:
    # each text-edit build changes one note, and the build after it has nothing left to change.
    nc = scen["no-change"] = Scenario("no-change")
    te = scen["text-edit"] = Scenario("text-edit")
    try:
        for i in range(runs):
            nc.runs.append(timed_build(env, project, out, extra))
            edit.apply(i)
            te.runs.append(timed_build(env, project, out, extra))
        nc.verify = timed_build(env, project, out, extra, importtime=True)
        edit.apply(runs)
        te.verify = timed_build(env, project, out, extra, importtime=True)
    finally:
        edit.restore()
    timed_build(env, project, out, extra)  # back to the original notes
    say(f"no-change: median {nc.wall().median:.3f} s; text-edit (card {edit.card}): "  # type: ignore[union-attr]
        f"median {te.wall().median:.3f} s")  # type: ignore[union-attr]

    # Floor: the modules the warm build imported (from -X importtime), deckgen's own excluded.
    floor = scen["floor"] = Scenario("floor")
    code = floor_code(nc.verify.imported or [])
    for _ in range(runs):
        load = os.getloadavg()[0]
        floor.runs.append(Run(*time_process(env, code), [], [], {}, None, None, None, load))
    bare = Stats.of([time_process(env, "pass")[0] for _ in range(runs)])

    # Stage breakdown of the no-change build (in-process timers).
    probes = [probe(env, project, out, tmp / f"probe-{i}.json", extra) for i in range(min(runs, 3))]

    # Code edit.
    ce = scen["code-edit"] = Scenario("code-edit")
    try:
        for i in range(runs):
            cedit.apply(i)
            ce.runs.append(timed_build(env, project, out, extra))
    finally:
        cedit.restore()
    timed_build(env, project, out, extra)  # the original code's entry is still cached
    say(f"code-edit (topic {cedit.topic}): median {ce.wall().median:.3f} s")  # type: ignore[union-attr]

    # import torch (and everything the fork server preloads) in a fresh process.
    torch_s = Stats.of([time_process(env, "import torch")[0] for _ in range(min(runs, 3))])
    preload = ("from deckgen.compute.worker import PRELOAD\nimport importlib\n"
               "for m in PRELOAD: importlib.import_module(m)")
    preload_s = Stats.of([time_process(env, preload)[0] for _ in range(min(runs, 3))])

    apkg = apkg_info(out)
    results = analyse(scen, info, worker_seconds, bare, torch_s, preload_s, probes, cold_probe, apkg,
                      edit, cedit, jobs)
    results["bench_seconds"] = time.perf_counter() - started
    return results


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    return {"head": git("rev-parse", "--short", "HEAD"),
            "dirty": [line[3:] for line in git("status", "--porcelain", "deckgen", "content").splitlines()]}


def analyse(scen: dict[str, Scenario], info: dict[str, Any], worker_seconds: list[dict[str, float]],
            bare: Stats | None,
            torch_s: Stats | None, preload_s: Stats | None, probes: list[dict[str, Any]],
            cold_probe: dict[str, Any] | None, apkg: dict[str, Any],
            edit: TextEdit, cedit: CodeEdit, jobs: int) -> dict[str, Any]:
    med = {k: s.wall().median for k, s in scen.items() if s.runs}  # type: ignore[union-attr]
    checks: list[Check] = []
    nc, te, ce, cold = scen["no-change"], scen["text-edit"], scen["code-edit"], scen["cold"]
    all_topics = sorted(set(nc.runs[0].cached) | set(nc.runs[0].computed))

    def torch_in(run: Run | None) -> bool | None:
        return None if run is None or run.imported is None else any(m.split(".")[0] == "torch" for m in run.imported)

    checks.append(Check(f"no-change median <= {NO_CHANGE_TARGET_S:g} s", med["no-change"] <= NO_CHANGE_TARGET_S,
                        f"{med['no-change']:.3f} s"))
    nc_computed = sorted({t for r in nc.runs for t in r.computed})
    checks.append(Check("no-change: no topic computed, no note changed",
                        not nc_computed and all(r.changed == 0 for r in nc.runs),
                        f"computed {nc_computed or 'none'}; changed {[r.changed for r in nc.runs]}"))
    checks.append(Check("no-change: torch not imported (-X importtime, fork server included)",
                        torch_in(nc.verify) is False, f"torch imported: {torch_in(nc.verify)}"))
    if "cold" in med and "cold-cached-snippets" in med:
        added = med["cold"] - med["cold-cached-snippets"]
        n_snippets = int(info.get("snippets", 0))
        target = SNIPPETS_COLD_TARGET_S * max(n_snippets, SNIPPETS_COLD_TARGET_PER) / SNIPPETS_COLD_TARGET_PER
        checks.append(Check(f"{n_snippets} snippets add <= {target:.1f} s to a cold build "
                            f"({SNIPPETS_COLD_TARGET_S:g} s per {SNIPPETS_COLD_TARGET_PER})",
                            added <= target,
                            f"median cold {med['cold']:.1f} s - with snippets cached "
                            f"{med['cold-cached-snippets']:.1f} s = {added:+.1f} s"))
    if "cold" in med:
        checks.append(Check(f"no-change / cold <= {NO_CHANGE_COLD_RATIO:.0%}",
                            med["no-change"] / med["cold"] <= NO_CHANGE_COLD_RATIO,
                            f"{med['no-change'] / med['cold']:.1%}"))
    te_computed = sorted({t for r in [*te.runs, te.verify] if r for t in r.computed})
    checks.append(Check("text edit: no computation re-runs, exactly 1 note changed",
                        not te_computed and all(r.changed == 1 for r in te.runs),
                        f"card {edit.card}; computed {te_computed or 'none'}; changed {[r.changed for r in te.runs]}"))
    checks.append(Check("text edit: torch not imported", torch_in(te.verify) is False,
                        f"torch imported: {torch_in(te.verify)}"))
    wrong = [r.computed for r in ce.runs if r.computed != [cedit.topic]]
    checks.append(Check(f"code edit: only {cedit.topic} re-runs", not wrong and all(r.changed == 0 for r in ce.runs),
                        f"computed per run {[r.computed for r in ce.runs]}; changed {[r.changed for r in ce.runs]}"))

    cold_info: dict[str, Any] = {}
    if cold.runs:
        missing = sorted({t for r in cold.runs for t in set(all_topics) - set(r.computed)})
        checks.append(Check("cold: every topic computed", not missing and all(not r.cached for r in cold.runs),
                            f"{[len(r.computed) for r in cold.runs]} computed, missing {missing or 'none'}"))
        per_run = []
        for r, ws in zip(cold.runs, worker_seconds, strict=True):
            parent, worker = sum(r.topic_seconds.values()), sum(ws.values())
            per_run.append({"wall_s": r.wall_s, "sum_topic_s_parent": parent, "sum_topic_s_worker": worker,
                            "efficiency_parent": parent / (r.wall_s * jobs),
                            "efficiency_worker": worker / (r.wall_s * jobs),
                            "max_concurrency": max_concurrency(r.events)})
        mid = sorted(range(len(cold.runs)), key=lambda i: cold.runs[i].wall_s)[len(cold.runs) // 2]
        run = cold.runs[mid]
        order = [t for t, status in run.events if status == "started"]
        cold_info = {
            "runs": per_run,
            "median_run": per_run[mid],
            "efficiency_worker_median": statistics.median(p["efficiency_worker"] for p in per_run),
            "efficiency_parent_median": statistics.median(p["efficiency_parent"] for p in per_run),
            "max_concurrency": max(p["max_concurrency"] for p in per_run),
            "slowest_topics": sorted(run.topic_seconds.items(), key=lambda kv: -kv[1])[:3],
            # The compute phase replayed from the median run's per-topic times: deckgen's order
            # (topics by name) against longest-first, and the bound no order can beat.
            "schedule_s": {"current_order": makespan(run.topic_seconds, order, jobs),
                           "longest_first": makespan(run.topic_seconds, sorted(order, key=lambda t:
                                                                               -run.topic_seconds[t]), jobs),
                           "bound": max(sum(run.topic_seconds.values()) / jobs,
                                        max(run.topic_seconds.values(), default=0.0))},
        }
        checks.append(Check(f"cold: median wall <= {COLD_TARGET_S:g} s", med["cold"] <= COLD_TARGET_S,
                            f"{med['cold']:.1f} s"))
        slowest = max(((t, s) for r in cold.runs for t, s in r.topic_seconds.items()), key=lambda kv: kv[1])
        checks.append(Check(f"cold: every topic computes in <= {TOPIC_COLD_TARGET_S:g} s", slowest[1]
                            <= TOPIC_COLD_TARGET_S, f"slowest: {slowest[0]} {slowest[1]:.1f} s (parent-side)"))
        noisy = sorted({t for r in cold.runs for t in r.noisy})
        checks.append(Check("cold: no computation writes to stderr (warnings an author should fix)", not noisy,
                            f"topics: {', '.join(noisy) or 'none'}"))
        checks.append(Check(f"cold: computations run in parallel on all {jobs} cores",
                            cold_info["max_concurrency"] >= jobs,
                            f"max topics running at once: {cold_info['max_concurrency']}"))
        checks.append(Check("cold: parallel efficiency, sum of topic times / (wall x jobs), median", None,
                            f"{cold_info['efficiency_worker_median']:.0%} (worker-side times), "
                            f"{cold_info['efficiency_parent_median']:.0%} (parent-side)"))
    if cold_probe is not None:
        tl = cold_probe["timeline"]
        starts = [t for t, _, s in tl if s == "started"]
        ends = [t for t, _, s in tl if s in ("done", "failed")]
        cold_info["probe"] = {
            "wall_s": cold_probe["wall_s"], "first_worker_started_s": min(starts) if starts else None,
            "last_worker_done_s": max(ends) if ends else None, "stages": cold_probe["stages"],
        }
    if torch_s and cold.runs:
        cold_info["cold_vs_import_torch"] = med["cold"] / torch_s.median

    ratios = {}
    if "cold" in med:
        ratios["no-change / cold"] = med["no-change"] / med["cold"]
    ratios["no-change / floor"] = med["no-change"] / med["floor"]
    ratios["text-edit / no-change"] = med["text-edit"] / med["no-change"]
    ratios["code-edit / no-change"] = med["code-edit"] / med["no-change"]
    # CPU time of the deckgen process: steadier than wall on a shared machine (not for code edits,
    # whose work happens in the fork server, outside the measured process).
    cpu = {k: s.cpu().median for k, s in scen.items() if s.runs}  # type: ignore[union-attr]
    ratios["cpu: no-change / floor"] = cpu["no-change"] / cpu["floor"]
    ratios["cpu: text-edit / no-change"] = cpu["text-edit"] / cpu["no-change"]
    checks.append(Check(f"apkg size (phone sync) <= {APKG_TARGET_MIB:g} MiB", apkg["bytes"] / 2**20 <= APKG_TARGET_MIB,
                        f"{apkg['bytes'] / 2**20:.2f} MiB, {apkg['media_files']} media files, "
                        f"{(apkg['bytes_per_media_file'] or 0) / 1024:.1f} KiB per media file"))

    stage_names = list(dict.fromkeys(k for p in probes for k in p["stages"]))
    stages = {k: statistics.median([p["stages"].get(k, {"s": 0.0})["s"] for p in probes]) for k in stage_names}
    return {
        "info": info,
        "scenarios": {k: {"wall": s.wall(), "cpu": s.cpu(), "runs": s.runs, "verify": s.verify}
                      for k, s in scen.items() if s.runs},
        "python_bare_start": bare,
        "import_torch": torch_s,
        "import_preload": preload_s,
        "ratios": ratios,
        "cold": cold_info,
        "worker_seconds": worker_seconds,
        "no_change_stages_median_s": stages,
        "no_change_import_self_s_by_package": nc.verify.import_self_s if nc.verify else {},
        "no_change_probe_wall_s": [p["wall_s"] for p in probes],
        "no_change_import_deckgen_cli_s": [p["import_deckgen_cli_s"] for p in probes],
        "probe_torch_imported": [p["torch_imported"] for p in probes],
        "apkg": apkg,
        "edits": {"text_card": edit.card, "text_file": str(edit.path), "code_topic": cedit.topic},
        "checks": [asdict(c) for c in checks],
    }


def print_table(r: dict[str, Any]) -> None:
    info = r["info"]
    print(f"deckgen build benchmark: {info['cores']} cores, jobs {info['jobs']}, Python {info['python']}, "
          f"git {info['git']['head']}{' (dirty)' if info['git']['dirty'] else ''}")
    print("wall seconds; cpu = user+sys of the deckgen process alone (cold and code-edit work in the fork server "
          "is not in it); load = 1-min load average before the run")
    print(f"{'scenario':<20} {'n':>2}  {'median':>7}  {'min-max':<15}  {'IQR':>10}   {'cpu med':>7}  {'load':>5}")
    for name in ("cold", "cold-cached-snippets", "no-change", "text-edit", "code-edit", "floor"):
        s = r["scenarios"].get(name)
        if not s:
            continue
        cpu = s["cpu"].median if s["cpu"] else float("nan")
        load = statistics.median([run.load for run in s["runs"]])
        print(f"{name:<20} {s['wall'].n:>2}  {s['wall'].show()}   {cpu:7.3f}  {load:5.2f}")
    for label, key in (("python -c pass", "python_bare_start"), ("import torch", "import_torch"),
                       ("preload (fork server)", "import_preload")):
        if r[key]:
            print(f"{label:<22} {r[key].median:7.3f} s  ({r[key].min:.3f}-{r[key].max:.3f})")
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in r["ratios"].items()))
    c = r["cold"]
    if c:
        m = c["median_run"]
        print(f"cold (median run): wall {m['wall_s']:.1f} s; sum of topic times {m['sum_topic_s_worker']:.1f} s "
              f"(worker) / {m['sum_topic_s_parent']:.1f} s (parent); parallel efficiency "
              f"{m['efficiency_worker']:.0%} / {m['efficiency_parent']:.0%}; slowest "
              + ", ".join(f"{t} {v:.1f} s" for t, v in c["slowest_topics"]))
        sch = c["schedule_s"]
        print(f"      compute phase replayed from those times on {r['info']['jobs']} workers: current order "
              f"{sch['current_order']:.1f} s, longest first {sch['longest_first']:.1f} s, bound {sch['bound']:.1f} s")
        if "probe" in c:
            p = c["probe"]
            print(f"      instrumented cold run: wall {p['wall_s']:.1f} s, first worker started at "
                  f"{p['first_worker_started_s']:.1f} s, last done at {p['last_worker_done_s']:.1f} s")
        if c.get("cold_vs_import_torch"):
            print(f"      median cold / import torch = {c['cold_vs_import_torch']:.1f}")
    a = r["apkg"]
    print(f"apkg: {a['bytes'] / 2**20:.2f} MiB; collection {a['collection_bytes'] / 1024:.0f} KiB "
          f"({a['collection_zipped_bytes'] / 1024:.0f} KiB zipped); {a['media_files']} media files, "
          f"{a['media_bytes'] / 1024:.0f} KiB, {(a['bytes_per_media_file'] or 0) / 1024:.1f} KiB each")
    print("no-change stages (median s, in-process; indented = inside the line above):")
    for k, v in r["no_change_stages_median_s"].items():
        print(f"  {k:<58} {v:7.3f}")
    imports = r["no_change_import_self_s_by_package"]
    if imports:
        top = list(imports.items())[:12]
        print(f"no-change imports, self time by package (-X importtime, total {sum(imports.values()):.3f} s): "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in top))
    print("targets:")
    for ch in r["checks"]:
        mark = "INFO" if ch["ok"] is None else ("PASS" if ch["ok"] else "FAIL")
        print(f"  {mark}  {ch['target']}: {ch['detail']}")
    print(f"(benchmark took {r['bench_seconds']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
