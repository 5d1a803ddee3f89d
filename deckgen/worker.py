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
import hashlib
import io
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .refs import Value

SEED = 0
DPI = 150
# Figures are read on phones: larger type than matplotlib's default, no top/right spines.
STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 2.0,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.hashsalt": "deckgen",
}
# Imported once by the fork server, so each topic's process starts with them loaded. torch._dynamo
# is imported lazily by the first optimizer step (0.85 s here): pay for it once, not once per topic.
PRELOAD = [
    "torch", "torch._dynamo", "torch.nn", "torch.nn.functional", "torch.optim", "torch.optim.lr_scheduler",
    "numpy", "matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.pyplot",
]


@dataclass(frozen=True)
class Request:
    topic: str
    compute_path: str
    project_root: str
    content_dir: str
    ignore_dirs: tuple[str, ...]  # project folders whose reads are not dependencies (cache, build, ...)


@dataclass(frozen=True)
class Success:
    values: dict[str, Value]
    figures: dict[str, bytes]
    deps: list[str]  # files read during the run, besides compute.py (absolute paths)
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class Failure:
    file: str | None
    line: int | None
    message: str
    extra: list[str] = field(default_factory=list)


def run(conn: Connection, request: Request) -> None:
    """Process entry point: compute one topic and send back a Success or a Failure."""
    try:
        result: Success | Failure = _run(request)
    except BaseException as exc:  # anything at all: the parent must get an answer
        result = _failure(exc, request)
    try:
        conn.send(result)
    finally:
        conn.close()


def _failure(exc: BaseException, request: Request) -> Failure:
    from .context import ContentError

    message = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, ContentError):
        return Failure(exc.file or request.compute_path, exc.line, str(exc))
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
    import importlib.util

    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    from .context import Context

    opened: set[str] = set()

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            opened.add(os.fsdecode(args[0]))

    sys.addaudithook(audit)
    _seed()
    path = Path(request.compute_path)
    topic_dir = str(path.parent)
    sys.path[:0] = [topic_dir, request.content_dir]
    start = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    ctx = Context()
    # A scratch working directory: relative writes by the author's code land outside the project.
    with tempfile.TemporaryDirectory(prefix="deckgen-") as scratch:
        os.chdir(scratch)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            spec = importlib.util.spec_from_file_location(f"deckgen_topic_{request.topic.replace('-', '_')}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            # Registered like an imported module: dataclasses, pickling and inspect.getsource on a
            # class look their module up in sys.modules. The process is used once, so nothing leaks.
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            compute = getattr(module, "compute", None)
            if not callable(compute):
                return Failure(str(path), None, "defines no compute(ctx) function")
            compute(ctx)
            figures: dict[str, bytes] = {}
            for spec_ in ctx.figures.values():
                with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
                    fig = Figure(figsize=(spec_.width, spec_.height), dpi=DPI, layout="constrained")
                    spec_.draw(fig)
                    if not fig.axes:
                        return Failure(spec_.file, spec_.line, f"figure {spec_.name!r} drew nothing")
                    buf = io.BytesIO()
                    fig.savefig(buf, format="png", metadata={"Software": None})
                figures[spec_.name] = buf.getvalue()
        os.chdir(request.project_root)
    seconds = time.perf_counter() - start
    deps = _dependencies(opened, sys.modules.values(), request)
    return Success(ctx.values, figures, deps, out.getvalue(), err.getvalue(), seconds)


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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
