"""Run each topic's computation in a worker process, in parallel, with a time limit and a cache.

Topics whose cached result is still valid are not run at all; if none needs running, no worker
starts and torch is never imported. Otherwise a fork server is started with torch and matplotlib
preloaded, and each topic runs in its own process forked from it (so a hang can be killed
without harming other topics, and no topic pays the import again).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..core.errors import Problem
from ..core.fs import atomic_write
from ..core.project import Project
from ..core.records import CardType, Topic, TopicResult
from .cache import Cache, drill_requests

if TYPE_CHECKING:  # imported where used: a build with every result cached never loads them
    import multiprocessing
    import multiprocessing.context
    from multiprocessing.connection import Connection

    from . import worker

class Progress(Protocol):
    """Told what happens to each topic: ``cached``, ``started``, ``done`` or ``failed`` (with the seconds
    it ran), and ``stderr`` with what the computation wrote to stderr (warnings, debugging prints)."""

    def __call__(self, topic: str, status: str, seconds: float, detail: str = "") -> None: ...


@dataclass(frozen=True)
class ComputeOptions:
    jobs: int  # computations at once (the pipeline resolves the default: core.project.default_jobs)
    timeout: float  # seconds per topic (the pipeline resolves the default: the project's settings)
    fresh: bool = False  # ignore cached results (they are still replaced on success)


@dataclass(frozen=True)
class _Job:
    """A topic that needs its worker: to run its computation (``base`` None), its new snippets, or both."""

    topic: Topic
    key: str  # the computation's cache key ("" for a topic without compute.py)
    base: TopicResult | None  # the cached computation, when only snippets run
    outputs: dict[str, str]  # snippet outputs found in the cache
    snippets: tuple[tuple[str, str], ...]  # (output card id, code) to run


@dataclass
class _Running:
    job: _Job
    process: multiprocessing.process.BaseProcess
    conn: Connection
    started: float

    @property
    def topic(self) -> Topic:
        return self.job.topic


def silent(topic: str, status: str, seconds: float, detail: str = "") -> None:
    """The default progress callback: report nothing."""


def compute_topics(project: Project, topics: list[Topic], options: ComputeOptions,
                   progress: Progress = silent) -> tuple[dict[str, TopicResult], list[Problem]]:
    """Results for every topic (empty for topics without code) and the problems of failed runs."""
    cache = Cache(project.cache_dir)
    results: dict[str, TopicResult] = {}
    problems: list[Problem] = []
    todo: list[_Job] = []
    for topic in topics:
        outputs, snippets = {}, []
        for card in topic.cards:
            if card.type is CardType.OUTPUT:
                code = card.fields["code"].text
                hit = None if options.fresh else cache.load_snippet(cache.snippet_key(code))
                if hit is None:
                    snippets.append((card.id, code))
                else:
                    outputs[card.id] = hit
        drills = [c for c in topic.cards if c.drill is not None]
        if topic.compute_path is None:
            if drills:
                problems += [Problem(c.file, c.drill.line if c.drill else c.line, c.id,
                                     f"drill function {c.drill.function if c.drill else ''!r}: the topic has no "
                                     "compute.py to define it") for c in drills]
                continue
            key, base = "", TopicResult(topic.name, {}, {}, cached=True)
        else:
            key = cache.key(topic)
            base = None if options.fresh else cache.load(topic.name, key, project.root)
        if base is not None and not snippets:
            results[topic.name] = replace(base, outputs=outputs)
            if topic.compute_path is not None or outputs:
                progress(topic.name, "cached", base.seconds)
        else:
            todo.append(_Job(topic, key, base, outputs, tuple(snippets)))
    if not todo:
        return results, problems
    timings = _Timings(project.cache_dir / "timings.json")
    todo.sort(key=lambda job: timings.estimate(job.topic), reverse=True)
    for name, result in _run_all(project, cache, todo, options, progress, problems).items():
        results[name] = result
        timings.seconds[name] = round(result.seconds, 2)
    with contextlib.suppress(OSError):
        timings.save()
    return results, problems


def warm_up() -> None:
    """Start the fork server now, so that a long-running caller's first computation does not wait for it.

    ``deckgen serve`` calls it at start: the server preloads torch and matplotlib (about 3 s) in the
    background while the author reads, and every later computation in the process forks from it.
    Returns at once.
    """
    from multiprocessing import forkserver

    _context()
    with _bare_main():
        forkserver.ensure_running()


class _Timings:
    """How long each topic took last time, to start the longest first.

    With two cores, a long topic that starts last leaves one core idle at the end; ordering
    longest-first fills both. Kept by topic name, since cache keys change with every code edit.
    A topic never run is estimated from its figures, which are most of a computation's time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_bytes())
            self.seconds: dict[str, float] = {k: float(v) for k, v in data.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            self.seconds = {}

    def estimate(self, topic: Topic) -> float:
        if topic.name in self.seconds:
            return self.seconds[topic.name]
        return 1.0 + 0.6 * len(topic.figure_names())

    def save(self) -> None:
        atomic_write(self.path, json.dumps(self.seconds, indent=1, sort_keys=True).encode())


def _context() -> multiprocessing.context.ForkServerContext:
    import multiprocessing
    import multiprocessing.context

    from . import worker

    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, multiprocessing.context.ForkServerContext)
    ctx.set_forkserver_preload(worker.PRELOAD)
    return ctx


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """Hide the caller's ``__main__`` while starting a worker.

    The fork server (and each process it starts) re-runs the parent's main script unless it is
    guarded by ``if __name__ == "__main__"``. Workers need nothing from it, and a library user's
    unguarded script would otherwise recurse into a second build.
    """
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


def _request(project: Project, job: _Job, timeout: float) -> worker.Request:
    from . import snippets, worker

    topic = job.topic
    package_dir = str(Path(worker.__file__).resolve().parent)
    ignore = (str(project.cache_dir), str(project.build_dir), str(project.figures_dir), package_dir,
              str(project.root / ".git"))
    compute = str(topic.compute_path) if job.base is None and topic.compute_path is not None else None
    return worker.Request(topic.name, compute, str(project.root), str(project.content_dir), ignore,
                          str(topic.cards_path.parent), drill_requests(topic) if compute else (), job.snippets,
                          min(snippets.SNIPPET_SECONDS, timeout / 2),  # a hang is the snippet's, not the topic's
                          topic.declares_drills)


def _run_all(project: Project, cache: Cache, todo: list[_Job], options: ComputeOptions,
             progress: Progress, problems: list[Problem]) -> dict[str, TopicResult]:
    from multiprocessing.connection import wait

    from . import worker

    ctx = _context()
    pending = list(todo)
    running: list[_Running] = []
    results: dict[str, TopicResult] = {}
    jobs = max(1, options.jobs)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                job = pending.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=worker.run, args=(child, _request(project, job, options.timeout)),
                                   name=f"deckgen-{job.topic.name}", daemon=True)
                with _bare_main():
                    proc.start()
                child.close()
                running.append(_Running(job, proc, parent, time.monotonic()))
                progress(job.topic.name, "started", 0.0)
            now = time.monotonic()
            deadline = min(r.started + options.timeout for r in running)
            ready = wait([r.conn for r in running] + [r.process.sentinel for r in running],
                         timeout=max(0.0, deadline - now))
            for r in list(running):
                elapsed = time.monotonic() - r.started
                if r.conn in ready or r.process.sentinel in ready:
                    outcome = _receive(r)
                elif elapsed >= options.timeout:
                    _kill(r.process)
                    outcome = worker.Failure(str(r.topic.compute_path or r.topic.cards_path), None,
                                             f"computation timed out after {options.timeout:g} s")
                else:
                    continue
                running.remove(r)
                r.process.join(0.5)
                if r.process.is_alive():  # the result is in; a thread the code left running must not hold us up
                    _kill(r.process)
                    r.process.join(5)
                r.conn.close()
                result = _finish(project, cache, r, outcome, problems)
                if result is not None:
                    results[r.topic.name] = result
                if outcome.stderr.strip():
                    progress(r.topic.name, "stderr", elapsed, outcome.stderr)
                progress(r.topic.name, "done" if result is not None else "failed", elapsed)
    finally:
        for r in running:
            _kill(r.process)
            r.process.join(5)
    return results


def _kill(process: Any) -> None:
    """Kill a worker and everything it started (a snippet's child, a subprocess of the author's code):
    the worker leads its own process group."""
    import os
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, TypeError):
        process.kill()


def _receive(r: _Running) -> worker.Success | worker.Failure:
    from . import worker

    try:
        if r.conn.poll():
            outcome: worker.Success | worker.Failure = r.conn.recv()
            return outcome
    except (EOFError, OSError):
        pass
    r.process.join(5)
    code = r.process.exitcode
    return worker.Failure(str(r.topic.compute_path or r.topic.cards_path), None,
                          f"computation process died (exit code {code})")


def _finish(project: Project, cache: Cache, r: _Running, outcome: worker.Success | worker.Failure,
            problems: list[Problem]) -> TopicResult | None:
    from . import worker

    shown = project.rel(Path(r.topic.compute_path or r.topic.cards_path))
    if isinstance(outcome, worker.Failure):
        file = project.rel(Path(outcome.file)) if outcome.file else shown
        problems.append(Problem(file, outcome.line, None, outcome.message))
        return None
    if r.job.base is not None:
        return _with_outputs(cache, r.job, r.job.base, outcome, problems)
    if outcome.stdout.strip():
        first = outcome.stdout.strip().splitlines()[0][:120]
        file, line = (project.rel(Path(outcome.stdout_at[0])), outcome.stdout_at[1]) if outcome.stdout_at else (
            shown, None)
        problems.append(Problem(file, line, None, f"computation printed to stdout ({first!r}); register results "
                                "with ctx.value(), or print to sys.stderr to debug"))
        return None
    if outcome.left:
        shown_left = ", ".join(project.rel(Path(f)) for f in outcome.left[:3])
        shown_left += ", ..." if len(outcome.left) > 3 else ""
        problems.append(Problem(shown, None, None,
                                f"computation left {len(outcome.left)} file(s) in the project: {shown_left}; "
                                "computations run in a scratch working directory, so write scratch files with "
                                "relative paths (they are deleted afterwards) and return results with ctx.value()"))
        return None
    deps = [Path(d) for d in outcome.deps]
    result = cache.store(r.topic.name, r.job.key, outcome.values, outcome.figures, deps, project.root,
                         outcome.seconds, outcome.drills)
    # A browsable copy under readable names, for authors checking their figures without Anki.
    for name, (day, night) in outcome.figures.items():
        atomic_write(project.figures_dir / r.topic.name / f"{name}.png", day)
        atomic_write(project.figures_dir / r.topic.name / f"{name}.night.png", night)
    return _with_outputs(cache, r.job, result, outcome, problems)


def _with_outputs(cache: Cache, job: _Job, result: TopicResult, outcome: worker.Success,
                  problems: list[Problem]) -> TopicResult:
    """The topic's result with every output card's output: cached ones, and those just run (stored)."""
    outputs = dict(job.outputs)
    cards = {c.id: c for c in job.topic.cards}
    for card_id, code in job.snippets:
        ran = outcome.snippets[card_id]
        if ran.problem is not None or ran.output is None:
            card = cards[card_id]
            problems.append(Problem(card.file, card.fields["code"].line, card_id, f"the snippet {ran.problem}"))
            continue
        cache.store_snippet(cache.snippet_key(code), ran.output)
        outputs[card_id] = ran.output
    return replace(result, outputs=outputs)
