"""What-if measurements behind docs/performance.md: how much each proposed change would save.

Run on a project copy whose cache is warm (``bench.py --keep`` leaves one), with the deckgen to
study first on PYTHONPATH::

    PYTHONPATH=/tmp/deckgen-bench-XXXX/src .venv/bin/python benchmarks/whatif.py /tmp/deckgen-bench-XXXX/project

Each measurement is the minimum of ``--repeat`` runs in this one process (the minimum is the
best estimate of the intrinsic cost on a machine other people load). It changes nothing in the
project. Measured:

* YAML: deckgen's line-tracking loader (pure-Python ``SafeLoader``) against the same constructors
  on libyaml's ``CSafeLoader``, checked to give identical data and line numbers;
* rendering: all cards through ``render_topic``, the Markdown share, the Pygments share, and
  the cost of the alternative: a render cache (JSON load + sha256 of each field + lookups);
* packaging: genanki note objects, ``write_to_db``, and deflate of the collection at levels 9/6/1;
* imports (each in a fresh process, minus ``python -c pass``): what lazy imports could save.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def same(a: Any, b: Any) -> bool:
    """Equal data and equal line bookkeeping, recursively."""
    if type(a) is not type(b) or a != b:
        return False
    for attr in ("line", "key_lines", "value_lines", "literal", "item_lines"):
        if getattr(a, attr, None) != getattr(b, attr, None):
            return False
    if isinstance(a, dict):
        return all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    return True


def yaml_section(project: Path, repeat: int) -> dict[str, Any]:
    import yaml

    try:  # the loader moved from content.py to yamlfile.py; take it from wherever it is
        from deckgen import yamlfile as content
    except ImportError:
        from deckgen import content  # type: ignore[no-redef]

    class CLoader(yaml.CSafeLoader):  # type: ignore[misc, name-defined]
        pass

    for tag, fn in ((yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, content._mapping),
                    (yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, content._sequence)):
        CLoader.add_constructor(tag, fn)
    texts = [p.read_text(encoding="utf-8") for p in sorted((project / "content").glob("*/cards.yaml"))]
    py_s, py = best(lambda: [yaml.load(t, Loader=content._Loader) for t in texts], repeat)
    c_s, c = best(lambda: [yaml.load(t, Loader=CLoader) for t in texts], repeat)
    out = {"files": len(texts), "bytes": sum(len(t.encode()) for t in texts), "python_loader_s": py_s,
           "c_loader_s": c_s, "identical_with_lines": all(same(a, b) for a, b in zip(py, c, strict=True))}
    settings = (project / "deckgen.yaml").read_text(encoding="utf-8")
    qline = next((ln for ln in settings.splitlines() if ln.startswith("questions:")), None)
    if qline:
        q = Path(qline.split(":", 1)[1].strip()).read_text(encoding="utf-8")
        out["questions_safe_load_s"] = best(lambda: yaml.load(q, Loader=yaml.SafeLoader), repeat)[0]
        out["questions_csafe_load_s"] = best(lambda: yaml.load(q, Loader=yaml.CSafeLoader), repeat)[0]
    return out


def render_section(project: Path, repeat: int) -> tuple[dict[str, Any], Any]:
    from pymdownx import highlight  # type: ignore[import-untyped]

    from deckgen import render
    from deckgen.compute import ComputeOptions, compute_topics
    from deckgen.content import load_topics
    from deckgen.project import load_project

    proj = load_project(project)
    topics, problems = load_topics(proj, proj.topics())
    results, problems2 = compute_topics(proj, topics, ComputeOptions(jobs=1, fresh=False))
    if problems or problems2 or any(not r.cached for r in results.values()):
        raise SystemExit("whatif.py needs a project with valid content and a warm cache")

    md_time = [0.0]
    md_inputs: list[str] = []
    original_md = render.markdown_to_html

    def timed_md(text: str) -> str:
        start = time.perf_counter()
        try:
            return original_md(text)
        finally:
            md_time[0] += time.perf_counter() - start
            md_inputs.append(text)

    hl_time = [0.0]
    original_hl = highlight.Highlight.highlight

    def timed_hl(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original_hl(self, *args, **kwargs)
        finally:
            hl_time[0] += time.perf_counter() - start

    def render_all() -> Any:
        return {t.name: render.render_topic(t, results[t.name]) for t in topics}

    render_all()  # warm: the Markdown instance and the lexers, as in any build after the first card
    render.markdown_to_html = timed_md
    highlight.Highlight.highlight = timed_hl
    per_run: list[tuple[float, float, float]] = []
    notes = None
    try:
        for _ in range(repeat):
            md_time[0] = hl_time[0] = 0.0
            md_inputs.clear()
            start = time.perf_counter()
            notes = render_all()
            per_run.append((time.perf_counter() - start, md_time[0], hl_time[0]))
    finally:
        render.markdown_to_html = original_md
        highlight.Highlight.highlight = original_hl
    total, md, hl = min(per_run)
    # The alternative: a persistent cache from the Markdown text (values already filled in) to HTML.
    cache = {hashlib.sha256(t.encode()).hexdigest(): original_md(t) for t in md_inputs}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "render.json"
        path.write_text(json.dumps(cache))

        def cached() -> int:
            table = json.loads(path.read_bytes())
            return sum(1 for t in md_inputs if hashlib.sha256(t.encode()).hexdigest() in table)

        cache_s, hits = best(cached, repeat)
        size = path.stat().st_size
    fences = sum(t.count("```") // 2 for t in md_inputs)
    return {"fields": len(md_inputs), "code_fences": fences, "render_topic_s": total, "markdown_s": md,
            "pygments_highlight_s": hl, "render_cache_load_and_lookup_s": cache_s, "render_cache_hits": hits,
            "render_cache_bytes": size}, notes


def package_section(project: Path, apkg: Path | None, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if apkg is None or not apkg.is_file():
        return out
    with zipfile.ZipFile(apkg) as zf:
        name = next(n for n in zf.namelist() if n.startswith("collection.anki2"))
        col = zf.read(name)
        media = [zf.read(i.filename) for i in zf.infolist() if i.filename.isdigit()]
    out["collection_bytes"] = len(col)
    for level in (9, 6, 1):
        s, data = best(functools.partial(zlib.compress, col, level), repeat)
        out[f"deflate_{level}_s"] = s
        out[f"deflate_{level}_bytes"] = len(data)
    stored_s, _ = best(lambda: _store(media), repeat)
    out["store_media_s"] = stored_s
    out["media_bytes"] = sum(len(m) for m in media)
    out["sha256_apkg_s"] = best(lambda: hashlib.sha256(apkg.read_bytes()).hexdigest(), repeat)[0]
    return out


def _store(media: list[bytes]) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, m in enumerate(media):
            zf.writestr(str(i), m, compress_type=zipfile.ZIP_STORED)
    return buf.tell()


def genanki_section(notes: Any, repeat: int) -> dict[str, Any]:
    import itertools
    import sqlite3

    import genanki  # type: ignore[import-untyped]

    from deckgen import package

    def objects() -> list[Any]:
        built = []
        for topic, (topic_notes, _) in notes.items():
            deck = genanki.Deck(package.deck_id(topic), topic)
            for n in topic_notes:
                deck.add_note(genanki.Note(model=package.models()[n.type], fields=list(n.fields), tags=list(n.tags),
                                           guid=package.guid(n.card_id)))
            built.append(deck)
        return built

    objects_s, decks = best(objects, repeat)

    def write() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            conn = sqlite3.connect(Path(tmp) / "c.anki2")
            genanki.Package(decks).write_to_db(conn.cursor(), 1_700_000_000, itertools.count(1))
            conn.commit()
            conn.close()

    write_s, _ = best(write, repeat)
    return {"genanki_objects_s": objects_s, "genanki_write_to_db_s": write_s}


def import_section(repeat: int) -> dict[str, float]:
    """Wall of ``python -c 'import X'`` minus ``python -c pass`` (minimum of the repeats each)."""
    modules = {
        "deckgen.cli (everything the CLI imports up front)": "import deckgen.cli",
        "yaml": "import yaml",
        "click": "import click",
        "genanki (incl. cached_property -> asyncio)": "import genanki",
        "cached_property": "import cached_property",
        "markdown + pymdownx + pygments (as render uses them)":
            "import markdown; markdown.Markdown(extensions=['tables', 'sane_lists', 'pymdownx.arithmatex', "
            "'pymdownx.superfences', 'pymdownx.highlight']).convert('```python\\nx = 1\\n```')",
        "multiprocessing.connection (compute.py)": "import multiprocessing.connection",
        "importlib.metadata + 3 versions (cache.runtime_fingerprint)":
            "from importlib import metadata; [metadata.version(d) for d in ('torch', 'numpy', 'matplotlib')]",
        "sqlite3": "import sqlite3",
    }
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def wall(code: str) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                           cwd=tempfile.gettempdir())
            times.append(time.perf_counter() - start)
        return min(times)

    wall("import deckgen.cli")  # write bytecode caches first
    base = wall("pass")
    out = {"python -c pass": base}
    for label, code in modules.items():
        out[label] = wall(code) - base
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path, help="a project copy with a warm cache (never the real tree)")
    ap.add_argument("--apkg", type=Path, default=None, help="a built package of that project")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-imports", action="store_true", help="skip the fresh-process import timings")
    opts = ap.parse_args()
    report: dict[str, Any] = {"yaml": yaml_section(opts.project, opts.repeat)}
    report["render"], notes = render_section(opts.project, opts.repeat)
    report["genanki"] = genanki_section(notes, opts.repeat)
    report["package"] = package_section(opts.project, opts.apkg, opts.repeat)
    if not opts.no_imports:
        report["imports"] = import_section(opts.repeat)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
