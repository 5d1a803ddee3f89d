"""Per-figure timing inside deckgen's computation workers (loaded by ``probe.py --figlog``).

deckgen records one number per topic (the worker's seconds, covering the module, ``compute``
and every figure), so the cost of figures cannot be told apart from the computation. This
module is imported by the fork server after torch and matplotlib (``probe.py`` appends it to
``deckgen.worker.PRELOAD``), so every worker forked from it inherits these wrappers:

* ``deckgen.worker._render`` (if present): one variant (day or night) of one figure, whole;
* ``Context.figure``: the author's ``draw(fig)`` callback, i.e. building the artists;
* ``Figure.savefig``: rasterising with Agg and encoding the PNG;
* ``deckgen.worker._compress`` (if present): re-encoding the PNG with a palette.

Each worker appends one JSON line per timed call to ``$DECKGEN_BENCH_FIGLOG/<pid>.jsonl``:
``{"what": ..., "s": ..., "topic": ..., "bytes": ...}``. The process name is
``deckgen-<topic>`` (set by deckgen.compute), which names the topic.
"""

from __future__ import annotations

import functools
import io
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.figure

from deckgen import context, worker

_LOG = os.environ.get("DECKGEN_BENCH_FIGLOG")


def _write(what: str, seconds: float, size: int | None = None) -> None:
    if not _LOG:
        return
    record = {"what": what, "s": seconds, "bytes": size,
              "topic": multiprocessing.current_process().name.removeprefix("deckgen-"), "pid": os.getpid()}
    with open(Path(_LOG) / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _size(value: Any) -> int | None:
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, io.BytesIO):
        return value.getbuffer().nbytes
    return None


def _timed(what: str, fn: Callable[..., Any], size_of: Callable[[Any, tuple[Any, ...]], int | None]) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        _write(what, time.perf_counter() - start, size_of(result, args))
        return result

    return wrapper


_original_figure = context.Context.figure


@functools.wraps(_original_figure)
def _figure(self: Any, name: str, draw: Any, *args: Any, **kwargs: Any) -> None:
    if callable(draw):
        draw = _timed("draw", draw, lambda result, args: None)
    _original_figure(self, name, draw, *args, **kwargs)


context.Context.figure = _figure  # type: ignore[method-assign]
matplotlib.figure.Figure.savefig = _timed(  # type: ignore[method-assign]
    "savefig", matplotlib.figure.Figure.savefig, lambda result, args: _size(args[1]) if len(args) > 1 else None)
if callable(getattr(worker, "_render", None)):
    worker._render = _timed("render", worker._render, lambda result, args: _size(result))
if callable(getattr(worker, "_compress", None)):
    worker._compress = _timed("compress", worker._compress, lambda result, args: _size(result))
