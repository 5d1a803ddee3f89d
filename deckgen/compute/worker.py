"""What runs inside a worker process: one topic's ``compute.py``, seeded, on Agg, isolated.

This is the only module that imports torch and matplotlib, and only inside :func:`run`, so the
main process never pays for them: a rebuild with everything cached imports no torch at all.
The parent preloads torch into a fork server, so each topic's process starts already warm.

Determinism: every run seeds ``random``, numpy and torch with 0, asks torch for deterministic
algorithms and uses one intra-op thread (parallelism comes from running topics side by side;
one thread also keeps floating-point reductions in a fixed order).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .figures import FigureError, render
from .snippets import SnippetOutcome

if TYPE_CHECKING:
    from ..core.syntax import Value

SEED = 0
# Audit events that create or overwrite a file, and which argument names it.
WRITE_EVENTS = {"os.mkdir": 0, "os.rename": 1, "os.link": 1, "os.symlink": 1, "shutil.copyfile": 1,
                "shutil.copytree": 1, "shutil.move": 1}
# Imported once by the fork server, so each topic's process starts with them loaded. torch._dynamo
# is imported lazily by the first optimizer step (0.85 s here): pay for it once, not once per topic.
PRELOAD = [
    "torch", "torch._dynamo", "torch.nn", "torch.nn.functional", "torch.optim", "torch.optim.lr_scheduler",
    "numpy", "matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.pyplot",
]


@dataclass(frozen=True)
class Request:
    topic: str
    compute_path: str | None  # None: only snippets to run (the topic's computation is cached, or it has none)
    project_root: str
    content_dir: str
    ignore_dirs: tuple[str, ...]  # project folders whose reads are not dependencies (cache, build, ...)
    topic_dir: str = ""
    # (family id, compute.py function, ((instance id, parameters as JSON), ...)) for each drill family
    drills: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = ()
    snippets: tuple[tuple[str, str], ...] = ()  # (output card id, code) to run
    snippet_seconds: float = 20.0  # the time limit of one run of one snippet
    declares_drills: bool = False  # compute.py may hold only drill functions (no compute(ctx))


@dataclass(frozen=True)
class Success:
    values: dict[str, Value]
    figures: dict[str, tuple[bytes, bytes]]  # name -> (day PNG, night PNG)
    deps: list[str]  # files read during the run, besides compute.py (absolute paths)
    stdout: str
    stderr: str
    seconds: float
    left: list[str] = field(default_factory=list)  # files the code wrote into the project tree
    stdout_at: tuple[str, int] | None = None  # the author's line that first wrote to sys.stdout
    drills: dict[str, dict[str, Value]] = field(default_factory=dict)  # drill instance id -> its values
    snippets: dict[str, SnippetOutcome] = field(default_factory=dict)  # output card id -> what it prints


@dataclass(frozen=True)
class Failure:
    file: str | None
    line: int | None
    message: str
    stderr: str = ""  # what the code wrote to stderr before it failed (its debugging prints, warnings)


def run(conn: Connection, request: Request) -> None:
    """Process entry point: compute one topic and send back a Success or a Failure."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # a group of its own: the parent's kill reaches every process the run started
    try:
        result: Success | Failure = _run(request)
    except BaseException as exc:  # anything at all: the parent must get an answer
        try:
            result = _failure(exc, request)
        except BaseException:  # e.g. a traceback that cannot be formatted
            result = Failure(request.compute_path, None, f"{type(exc).__name__} (its message could not be shown)")
        result = Failure(result.file, result.line, result.message, getattr(exc, "deckgen_stderr", ""))
    try:
        conn.send(result)
    finally:
        conn.close()


def _failure(exc: BaseException, request: Request) -> Failure:
    from .context import ContentError

    try:
        text = str(exc)
    except Exception:  # an exception whose __str__ itself fails
        text = "(its message could not be shown)"
    message = f"{type(exc).__name__}: {text}".rstrip(": ")
    if isinstance(exc, ContentError):
        return Failure(exc.file or request.compute_path, exc.line, str(exc))
    if isinstance(exc, FigureError):
        return Failure(exc.spec.file, exc.spec.line, str(exc))
    if isinstance(exc, SyntaxError) and exc.filename:
        return Failure(exc.filename, exc.lineno, f"SyntaxError: {exc.msg}")
    content = Path(request.content_dir).resolve()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _inside(Path(f.filename), content)]
    if frames:
        return Failure(frames[-1].filename, frames[-1].lineno, message)
    return Failure(request.compute_path, None, message)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except (ValueError, OSError):
        return False
    return True


def _seed() -> None:
    import random

    import numpy as np
    import torch

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def _run(request: Request) -> Success | Failure:
    os.environ["MPLBACKEND"] = "Agg"
    sys.dont_write_bytecode = True  # never leave __pycache__ in the author's content folders
    import matplotlib

    matplotlib.use("Agg", force=True)

    from .context import Context

    opened: set[str] = set()

    written: set[str] = set()

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            name = os.fsdecode(args[0])
            opened.add(name)
            mode, flags = args[1], args[2]
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)):
                written.add(os.path.abspath(name))  # resolved now: the code may chdir later
        elif event in WRITE_EVENTS and isinstance(args[WRITE_EVENTS[event]], str | bytes | os.PathLike):
            written.add(os.path.abspath(os.fsdecode(args[WRITE_EVENTS[event]])))

    # Snippets first: each is forked from this process as the fork server left it, before the
    # topic's code can change torch's global state (default dtype, flags) or install audit hooks.
    from . import snippets

    start = time.perf_counter()
    outputs = {card_id: snippets.run(code, request.snippet_seconds) for card_id, code in request.snippets}
    preloaded = set(sys.modules)  # torch, matplotlib, ...: never project files, and 2,000 of them
    sys.addaudithook(audit)
    _seed()
    path = Path(request.compute_path) if request.compute_path else None
    topic_dir = str(path.parent) if path is not None else request.topic_dir
    sys.path[:0] = [topic_dir, request.content_dir]
    out, err = _LocatedStdout(Path(request.content_dir).resolve()), io.StringIO()
    raw_out, raw_err = io.BytesIO(), io.BytesIO()
    ctx = Context()
    try:
        # A scratch working directory: relative writes by the author's code land outside the project.
        with tempfile.TemporaryDirectory(prefix="deckgen-") as scratch:
            os.chdir(scratch)
            with _fd_into(1, raw_out), _fd_into(2, raw_err), contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err):
                figures, drills = _execute(request, path, ctx) if path is not None else ({}, {})
            os.chdir(request.project_root)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the parent shows it with the failure
            exc.deckgen_stderr = _joined(err, raw_err)  # type: ignore[attr-defined]
        raise
    if figures is None:
        return Failure(str(path), None, "defines no compute(ctx) function", _joined(err, raw_err))
    seconds = time.perf_counter() - start
    deps = _dependencies(opened, [m for name, m in sys.modules.items() if name not in preloaded], request)
    left = _left_in_project(written, request)
    stdout = out.getvalue() + raw_out.getvalue().decode("utf-8", "replace")
    return Success(ctx.values, figures, deps, stdout, _joined(err, raw_err), seconds, left, out.first, drills,
                   outputs)


def _execute(request: Request, path: Path, ctx: Any) -> tuple[dict[str, tuple[bytes, bytes]] | None,
                                                               dict[str, dict[str, Value]]]:
    """Import the topic's module, call ``compute(ctx)``, render its figures and answer its drills
    (figures None: the module defines neither compute nor anything a drill calls)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"deckgen_topic_{request.topic.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered like an imported module: dataclasses, pickling and inspect.getsource on a
    # class look their module up in sys.modules. The process is used once, so nothing leaks.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    compute = getattr(module, "compute", None)
    if not callable(compute):
        if not request.declares_drills:  # a compute.py that does nothing at all is a mistake
            return None, {}
    else:
        compute(ctx)
    figures = {spec_.name: render(spec_) for spec_ in ctx.figures.values()}
    return figures, _drills(request, path, module)


def _drills(request: Request, path: Path, module: Any) -> dict[str, dict[str, Value]]:
    """Each drill instance's values: what its family's function returns for its parameters."""
    import json

    from .context import ContentError, plain_values

    out: dict[str, dict[str, Value]] = {}
    for family, name, instances in request.drills:
        fn = getattr(module, name, None)
        if not callable(fn):
            raise ContentError(f"drill {family}: compute.py defines no function {name!r} (its `function:`)",
                               str(path), None)
        for instance_id, params in instances:
            answer = fn(**json.loads(params))
            out[instance_id] = plain_values(answer, f"drill {family}: {name}({params})",
                                            fn.__code__.co_filename, fn.__code__.co_firstlineno)
    return out


def _joined(err: io.StringIO, raw: io.BytesIO) -> str:
    return err.getvalue() + raw.getvalue().decode("utf-8", "replace")


class _LocatedStdout(io.StringIO):
    """sys.stdout for the author's code: keeps what is printed, and the author's line that printed first.

    Printing is an error (results go through ``ctx.value``); the line makes it a one-step fix.
    """

    def __init__(self, content: Path) -> None:
        super().__init__()
        self.content = content
        self.first: tuple[str, int] | None = None

    def write(self, text: str) -> int:
        if self.first is None and text:
            frame = sys._getframe(1)
            while frame is not None:
                if _inside(Path(frame.f_code.co_filename), self.content):
                    self.first = (frame.f_code.co_filename, frame.f_lineno)
                    break
                frame = frame.f_back  # type: ignore[assignment]
        return super().write(text)


@contextlib.contextmanager
def _fd_into(fd: int, sink: io.BytesIO) -> Iterator[None]:
    """Capture writes to file descriptor ``fd`` too (os.write, subprocesses, C code), not only sys.stdout.

    The worker's fd 1 and 2 are deckgen's own: anything the author's code writes there would
    otherwise land in the middle of deckgen's output, unlabelled, and escape the "no printing" rule.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            sink.write(tmp.read())



def _left_in_project(written: set[str], request: Request) -> list[str]:
    """Files or folders the computation created or wrote inside the project and left there."""
    root = Path(request.project_root).resolve()
    return sorted(str(p) for p in map(Path, written) if p.exists() and _inside(p, root))


def _dependencies(opened: set[str], modules: Any, request: Request) -> list[str]:
    """Files inside the project that the computation read (data files and imported helpers)."""
    root = Path(request.project_root).resolve()
    ignore = [Path(d).resolve() for d in request.ignore_dirs]
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    candidates = set(opened)
    for module in list(modules):
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            candidates.add(file)
    if request.compute_path is None:
        return []  # only snippets ran: they are cached by their own text
    compute = Path(request.compute_path).resolve()
    deps = set()
    for name in candidates:
        p = Path(name)
        if not p.is_absolute():
            continue  # relative opens happen in the scratch directory, outside the project
        p = p.resolve()
        if p == compute or not p.is_file() or not _inside(p, root) or "__pycache__" in p.parts:
            continue
        if any(_inside(p, d) for d in ignore) or any(_inside(p, pre) for pre in prefixes):
            continue
        deps.add(str(p))
    return sorted(deps)
