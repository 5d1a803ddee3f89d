"""Run ``deckgen`` in-process with stage timers, and report what the build did and imported.

Why a separate driver: the benchmark times the real console script as a subprocess (start-up
and imports are part of what a user waits for), but a subprocess cannot say *where* its time
went, whether torch got imported, or which topics really ran. This driver calls
``deckgen.cli.main`` exactly as the console script does, after wrapping the pipeline's stage
functions with wall-clock timers (no profiler: cProfile inflates the many small calls of the
pure-Python YAML scanner about 2.5x and would mislead the breakdown).

Usage::

    python benchmarks/probe.py --report OUT.json -- build --project P --out X.apkg

The report holds: total wall from the first line of this script, the import time of
``deckgen.cli``, per-stage seconds and call counts, which topics were computed or cached (from
the results ``compute_topics`` returned), whether torch/numpy/matplotlib ended up in
``sys.modules``, the progress timeline (for the cold build's parallelism), and the list of
modules loaded (the "floor" process imports exactly these).

Every stage it times must exist: a wrapper whose target was renamed or moved stops the probe
with an error naming it, so a reorganised deckgen cannot quietly drop a stage from the breakdown.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402  (imports after T0 on purpose: they are part of the measured time)
import functools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SECONDS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
TIMELINE: list[tuple[float, str, str]] = []  # (seconds since T0, topic, status)
RESULTS: dict[str, list[str]] = {"computed": [], "cached": []}


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SECONDS[name] += time.perf_counter() - start
            CALLS[name] += 1

    return wrapper


class ProbeError(Exception):
    """A stage the probe times no longer exists where it looks for it."""


def _wrap(owner: Any, attr: str, name: str) -> None:
    """Replace ``owner.attr`` by a timed wrapper (module function, method or classmethod)."""
    raw = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
    if raw is None:
        raise ProbeError(f"{getattr(owner, '__name__', owner)}.{attr} does not exist: update probe.py ({name})")
    if isinstance(raw, classmethod):
        setattr(owner, attr, classmethod(_timed(name, raw.__func__)))
    elif isinstance(raw, staticmethod):
        setattr(owner, attr, staticmethod(_timed(name, raw.__func__)))
    else:
        setattr(owner, attr, _timed(name, raw))


def _instrument() -> None:
    import genanki  # type: ignore[import-untyped]

    from deckgen import cli, pipeline
    from deckgen.compute import cache
    from deckgen.deck import cards, package, render

    _wrap(cli, "load_project", "load_project (deckgen.yaml)")
    _wrap(pipeline, "load_all", "load_all (read + YAML + validate)")
    _wrap(cards, "parse_yaml", "  parse_yaml (cards.yaml)")
    _wrap(pipeline, "project_questions", "project_questions (questions.yaml)")
    _wrap(pipeline, "check_covers", "check_covers")
    _wrap(pipeline, "compute_topics", "compute_topics (cache lookups or runs)")
    _wrap(pipeline, "render_topic", "render_topic (values + Markdown)")
    _wrap(render, "markdown_to_html", "  markdown_to_html")
    _wrap(render, "_md", "    _md (Markdown instance + extension imports)")
    _wrap(pipeline, "content_hash", "content_hash (manifest content hashes)")
    _wrap(package, "write_package", "write_package")
    for attr in ("load", "ship", "ship_note_types", "save"):
        _wrap(pipeline.Manifest, attr, f"Manifest.{attr}")
    _wrap(cache.Cache, "key", "  Cache.key (hash compute.py)")
    _wrap(cache.Cache, "load", "  Cache.load (entry + deps + figure hashes)")
    _wrap(package, "models", "  models (note types + Pygments CSS)")
    _wrap(genanki.Package, "write_to_db", "  genanki write_to_db (SQLite)")
    _wrap(package, "_zip", "  _zip (deflate collection + store media)")
    _wrap(package, "atomic_write", "  atomic_write (.apkg)")

    original = pipeline.compute_topics

    def compute_topics(*args: Any, **kwargs: Any) -> Any:
        results, problems = original(*args, **kwargs)
        for name, result in results.items():
            RESULTS["cached" if result.cached else "computed"].append(name)
        return results, problems

    pipeline.compute_topics = functools.wraps(original)(compute_topics)

    call = cli._Progress.__call__

    def record(self: Any, topic: str, status: str, seconds: float) -> None:
        TIMELINE.append((time.perf_counter() - T0, topic, status))
        call(self, topic, status, seconds)

    cli._Progress.__call__ = record  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, type=Path)
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the deckgen arguments")
    opts = parser.parse_args()
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args

    start = time.perf_counter()
    from deckgen.cli import main as deckgen_main

    import_s = time.perf_counter() - start
    try:
        _instrument()
    except ProbeError as exc:
        print(f"probe error: {exc}", file=sys.stderr)
        return 2
    code = 0
    try:
        deckgen_main(args, prog_name="deckgen")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    wall = time.perf_counter() - T0
    report = {
        "exit_code": code,
        "wall_s": wall,
        "import_deckgen_cli_s": import_s,
        "stages": {k: {"s": SECONDS[k], "calls": CALLS[k]} for k in SECONDS},
        "computed": sorted(RESULTS["computed"]),
        "cached": sorted(RESULTS["cached"]),
        "torch_imported": "torch" in sys.modules,
        "numpy_imported": "numpy" in sys.modules,
        "matplotlib_imported": "matplotlib" in sys.modules,
        "timeline": TIMELINE,
        "modules": sorted(sys.modules),
    }
    opts.report.write_text(json.dumps(report, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
