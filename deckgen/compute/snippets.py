"""Running an output card's snippet the way ``python snippet.py`` would, inside the warm worker.

Each run is a child forked from the topic's worker, where torch is already imported: no
interpreter start and no torch import per snippet, yet every snippet starts from the same clean
state, and nothing it does (``torch.set_default_dtype``, a global, a seed) leaks into the next.
Like a fresh ``python`` process, the child is not seeded by deckgen, uses the default number of
threads and non-deterministic algorithms allowed, runs in an empty scratch folder, and its answer is
exactly what it writes to stdout, plus, when it raises, the last line of the traceback
(``ExceptionType: message``). Stderr (warnings) is not part of the answer, as in a terminal.

Every snippet runs twice, with different seeds: a snippet whose output differs between the runs
depends on unseeded randomness (or time, or addresses), so its card would teach one arbitrary run.
That, an output that floods the screen, a file written, a run longer than the limit, and a module
that is not installed are problems, not answers.

This module runs inside the worker (part of the compute runtime the cache fingerprints).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any

SNIPPET_SECONDS = 20.0  # one run of one snippet at most (less when the project's time limit is shorter)
MAX_OUTPUT_LINES = 40  # more floods a phone screen: the card could not be read
MAX_OUTPUT_CHARS = 4000
SEEDS = (1, 2)  # different on purpose: equal outputs show the snippet does not depend on them
_WRITE_EVENTS = {"os.mkdir": 0, "os.rename": 1, "os.link": 1, "os.symlink": 1, "shutil.copyfile": 1,
                 "shutil.copytree": 1, "shutil.move": 1, "os.remove": 0, "os.rmdir": 0}


@dataclass(frozen=True)
class SnippetOutcome:
    """What a snippet printed (its card's answer), or why it cannot be a card."""

    output: str | None
    problem: str | None = None


def run(code: str, seconds: float = SNIPPET_SECONDS) -> SnippetOutcome:
    """Run ``code`` twice, each in a clean child process of at most ``seconds``; its output, or the
    problem with it."""
    runs = []
    for seed in SEEDS:
        outcome = _run_once(code, seed, seconds)
        if outcome.problem is not None:
            return outcome
        runs.append(outcome.output or "")
    if runs[0] != runs[1]:
        return SnippetOutcome(None, "prints something different each run (" + _first_difference(*runs) + "): it "
                                    "depends on unseeded randomness, time or memory addresses; seed it "
                                    "(torch.manual_seed(0)) or print something that does not change")
    output = runs[0]
    lines = output.splitlines()
    if len(lines) > MAX_OUTPUT_LINES or len(output) > MAX_OUTPUT_CHARS:
        return SnippetOutcome(None, f"floods the screen ({len(lines)} lines, {len(output)} characters; at most "
                                    f"{MAX_OUTPUT_LINES} lines): print only what the question is about")
    return SnippetOutcome(output)


def _first_difference(a: str, b: str) -> str:
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False)):
        if x != y:
            return f"line {i + 1}: {x[:40]!r} then {y[:40]!r}"
    return "different number of lines"


def _run_once(code: str, seed: int, seconds: float) -> SnippetOutcome:
    scratch = tempfile.mkdtemp(prefix="deckgen-snippet-")
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        try:
            result: dict[str, Any] = _child(code, seed, scratch)
        except BaseException as exc:  # deckgen's own trouble: still answer the parent
            result = {"internal": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):
            os.write(write_end, json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    try:
        data = _read(read_end, pid, seconds)
    finally:
        os.close(read_end)
        shutil.rmtree(scratch, ignore_errors=True)
    if data is None:
        return SnippetOutcome(None, f"runs longer than {seconds:g} s: a card's snippet runs in a moment")
    try:
        result = json.loads(data)
    except ValueError:
        return SnippetOutcome(None, "its process ended without an answer (it exited the interpreter abruptly)")
    if "internal" in result:
        return SnippetOutcome(None, f"could not be run: {result['internal']}")
    if result["writes"]:
        return SnippetOutcome(None, f"writes a file ({result['writes'][0]}): a card's snippet only prints")
    if result["missing_module"]:
        return SnippetOutcome(None, f"imports a module that is not installed ({result['error']}); a card's "
                                    "snippet runs with the project's Python")
    output = result["stdout"]
    if result["error"]:
        output += ("" if not output or output.endswith("\n") else "\n") + result["error"]
    return SnippetOutcome(output.rstrip("\n"))


def _read(fd: int, pid: int, seconds: float) -> bytes | None:
    """The child's JSON answer, or None when it ran out of time (it is killed)."""
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def _child(code: str, seed: int, scratch: str) -> dict[str, Any]:
    """In the forked child: reset what a fresh interpreter would have, run, report."""
    import random

    import numpy as np
    import torch

    os.chdir(scratch)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.are_deterministic_algorithms_enabled():  # the call imports torch._inductor (1.4 s) when not preloaded
        torch.use_deterministic_algorithms(False)
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    captured = tempfile.TemporaryFile(dir=scratch)  # noqa: SIM115 (the child exits with it open)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(captured.fileno(), 1)
    os.dup2(devnull, 2)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8")
    writes: list[str] = []

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            mode, flags = args[1], args[2]
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)):
                writes.append(os.fsdecode(args[0]))
        elif event in _WRITE_EVENTS and isinstance(args[_WRITE_EVENTS[event]], str | bytes | os.PathLike):
            writes.append(os.fsdecode(args[_WRITE_EVENTS[event]]))

    sys.addaudithook(audit)
    error, missing = "", False
    try:
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit:
        pass
    except BaseException as exc:
        error = traceback.format_exception_only(exc)[-1].rstrip("\n")
        missing = isinstance(exc, ModuleNotFoundError)
    sys.stdout.flush()
    found = [w for w in writes if w != os.devnull]
    captured.seek(0)
    stdout = captured.read().decode("utf-8", "replace")
    return {"stdout": stdout, "error": error, "missing_module": missing, "writes": found}
