"""Where one topic's figure time goes, and what the cold-build proposals in docs/performance.md save.

Runs a topic's ``compute.py`` in this process the way deckgen's worker does (seeded, Agg, the
deck's style), then times each registered figure several ways (minimum of ``--repeat``):

* ``draw``: the author's callback alone; ``savefig``: Agg + PNG, with constrained layout as
  deckgen uses it; ``savefig_nolayout``: the same without a layout engine (the layout's share);
* ``q_opt`` / ``q_noopt``: the palette re-encoding (``deckgen.worker._compress``) with and
  without PIL's ``optimize=True``, and the bytes each gives;
* ``day_night_now``: both variants as deckgen makes them (two draws, two layouts, two savefigs);
  ``day_night_frozen``: one draw, the day savefig, the layout frozen, night colours, a second
  savefig; ``frozen_same_bytes``: whether that gives the very same night PNG.

Usage (a project copy, e.g. from ``bench.py --keep``; deckgen from the tree or a snapshot)::

    PYTHONPATH=SNAPSHOT .venv/bin/python benchmarks/figtopic.py PROJECT optimizers
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

from whatif import best  # a sibling script: benchmarks/ is on sys.path when one is run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("topic")
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from PIL import Image

    from deckgen import worker
    from deckgen.context import Context

    worker._seed()
    path = opts.project / "content" / opts.topic / "compute.py"
    sys.path[:0] = [str(path.parent), str(opts.project / "content")]
    spec = importlib.util.spec_from_file_location(f"figtopic_{opts.topic.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    ctx = Context()
    start = time.perf_counter()
    module.compute(ctx)
    print(f"{opts.topic}: compute() {time.perf_counter() - start:.2f} s, {len(ctx.figures)} figures")

    def draw(s: Any, layout: Any = "constrained") -> Any:
        with matplotlib.rc_context(worker.STYLE):  # type: ignore[arg-type]
            fig = Figure(figsize=(s.width, s.height), dpi=worker.DPI, layout=layout)
            s.draw(fig)
        return fig

    def save(fig: Any, background: str = worker.DAY_BACKGROUND) -> bytes:
        buf = io.BytesIO()
        with matplotlib.rc_context(worker.STYLE):  # type: ignore[arg-type]
            fig.savefig(buf, format="png", facecolor=background, metadata={"Software": None})
        return buf.getvalue()

    def quantize(png: bytes, optimize: bool) -> bytes:
        with Image.open(io.BytesIO(png)) as im:
            out = io.BytesIO()
            im.convert("RGB").quantize(worker.PALETTE_COLORS).save(out, format="PNG", optimize=optimize)
        return out.getvalue()

    def night(fig: Any) -> bytes:
        worker._to_night(fig)
        return save(fig, worker.NIGHT_BACKGROUND)

    totals: dict[str, float] = {}
    for s in ctx.figures.values():
        row: dict[str, float] = {}

        def day(s: Any = s, layout: Any = "constrained") -> bytes:
            return save(draw(s, layout))

        def both(s: Any = s) -> tuple[bytes, bytes]:
            return save(draw(s)), night(draw(s))

        row["draw"], _ = best(functools.partial(draw, s), opts.repeat)
        t, png = best(day, opts.repeat)
        row["savefig"] = t - row["draw"]
        row["savefig_nolayout"] = best(functools.partial(day, s, None), opts.repeat)[0] - row["draw"]
        row["q_opt"], q_opt = best(functools.partial(quantize, png, True), opts.repeat)
        row["q_noopt"], q_noopt = best(functools.partial(quantize, png, False), opts.repeat)
        row["bytes_q_opt"], row["bytes_q_noopt"] = len(q_opt), len(q_noopt)
        row["day_night_now"], (_, night_now) = best(both, opts.repeat)

        def frozen(s: Any = s) -> bytes:
            fig = draw(s)
            save(fig)
            fig.set_layout_engine("none")  # keep the day layout for the night variant
            return night(fig)

        row["day_night_frozen"], night_frozen = best(frozen, opts.repeat)
        row["frozen_same_bytes"] = float(night_frozen == night_now)
        for k, v in row.items():
            totals[k] = totals.get(k, 0.0) + v
        print(f"  {s.name}: " + ", ".join(f"{k} {v:.3f}" if k[:5] != "bytes" else f"{k} {v:.0f}"
                                          for k, v in row.items()))
    print("total: " + ", ".join(f"{k} {v:.3f}" if k[:5] != "bytes" else f"{k} {v:.0f}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
