"""A browsable preview of every card, front and back, exactly as Anki renders it.

The notes are packaged as for a build, the package is imported into a throw-away collection with
the official ``anki`` package, and each card's question and answer come from Anki's own template
renderer (``Card.render_output``), so cloze numbering, ``{{FrontSide}}``-style templates and
field escaping are Anki's, not ours. The page then does what an Anki client adds on top: the
note type's CSS, the ``card`` class, the night-mode classes on ``<body>``, media next to the page,
and MathJax.

Math is typeset in the browser by a MathJax 3 bundle that ``setup.sh`` fetched from npm (pinned),
configured like Anki's own (``\\( \\)`` inline, ``\\[ \\]`` display, no ``$``, no escapes or
environments). We use MathJax's SVG output rather than the CHTML output Anki uses: CHTML loads web
fonts, which Chromium and Firefox refuse to load for a page opened from disk (``file://`` fonts are
cross-origin), while SVG carries its glyphs inside the script, so ``index.html`` works offline in
any browser. The TeX layout is the same; glyph shapes may differ by a pixel.

The folder is written next to its final place and renamed into it, so an interrupted preview
never leaves half a folder.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..compute.runner import Progress, silent
from ..core.errors import DeckgenError, Problem
from ..core.project import Project
from ..core.records import Note
from ..deck.package import DeckSpec, media_files, write_package
from ..pipeline import BuildOptions, deck_specs, prepare

MATHJAX_VERSION = "3.2.2"
MATHJAX_FILE = "tex-svg-full.js"
MATHJAX_DIR = Path(__file__).parent.parent / "vendor" / "mathjax"
VIEWPORT_WIDTHS = (320, 390, 430)

# Anki's MathJax settings (ts/mathjax/index.ts in Anki's source), for the SVG output.
MATHJAX_CONFIG = {
    "tex": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": False,
        "processEnvironments": False,
        "processRefs": False,
        "packages": {"[+]": ["noerrors", "mathtools", "mhchem"], "[-]": ["textmacros"]},
    },
    "svg": {"fontCache": "global"},
}


@dataclass(frozen=True)
class Face:
    """One side of one Anki card, as Anki's renderer produced it."""

    card_id: str  # the content card id (the note's Id field)
    ordinal: int  # Anki's card ordinal within the note (1-based, as Anki shows "Card 1")
    topic: str
    side: str  # "front" or "back"
    html: str
    where: str  # file:line of the card in the content


@dataclass(frozen=True)
class PreviewReport:
    out: Path
    cards: int
    media: int


def mathjax_path() -> Path:
    """The MathJax bundle, or a clear error saying how to get it."""
    path = MATHJAX_DIR / MATHJAX_FILE
    if not path.is_file():
        raise DeckgenError(Problem(None, None, None,
                                   f"missing asset {path}: the MathJax {MATHJAX_VERSION} bundle is fetched from npm "
                                   "by ./setup.sh; run it again"))
    return path


def preview(project: Project, options: BuildOptions, out_dir: Path | None = None,
            progress: Progress = silent) -> PreviewReport:
    """Render every selected card through Anki and write ``index.html`` with its media and MathJax."""
    mathjax = mathjax_path()
    prepared = prepare(project, options, progress)
    if prepared.problems:
        raise DeckgenError(prepared.problems)
    out = out_dir if out_dir is not None else project.build_dir / "preview"
    out = out if out.is_absolute() else Path.cwd() / out
    # Where each note comes from: its card, or the `retired:` entry a withdrawal notice ships for.
    cards = {c.id: (t.name, f"{c.file}:{c.line}") for t in prepared.topics for c in t.cards}
    cards |= {r.id: (t.name, f"{r.file}:{r.line}") for t in prepared.topics for r in t.retired}
    decks = deck_specs(project, prepared)
    notes = [n for d in decks for n in d.notes]
    faces, css = _render_with_anki(decks, cards, project)
    titles = {t.name: t.title for t in prepared.topics}
    page = _page(faces, css, titles, project.settings.deck)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        media_dir = staging / "media"
        media_dir.mkdir()
        media = _media(notes)
        for name, path in media.items():
            shutil.copyfile(path, media_dir / name)
        (staging / "mathjax").mkdir()
        shutil.copyfile(mathjax, staging / "mathjax" / MATHJAX_FILE)
        if (MATHJAX_DIR / "LICENSE").is_file():
            shutil.copyfile(MATHJAX_DIR / "LICENSE", staging / "mathjax" / "LICENSE")
        (staging / "index.html").write_text(page, encoding="utf-8")
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PreviewReport(out, len({(f.card_id, f.ordinal) for f in faces}), len(media))


def _media(notes: list[Note]) -> dict[str, Path]:
    media = media_files(notes)
    for name, path in media.items():
        if not path.is_file():
            raise DeckgenError(Problem(None, None, None, f"missing asset {name} ({path})"))
    return media


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with renames only; the old folder is removed last."""
    old = None
    if out.exists():
        if not (out / "index.html").is_file() and any(out.iterdir()):
            raise DeckgenError(f"{out} exists and is not a deckgen preview folder; choose another --out")
        old = out.with_name(f".{out.name}.old-{staging.name}")
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _render_with_anki(decks: list[DeckSpec], cards: dict[str, tuple[str, str]],
                      project: Project) -> tuple[list[Face], str]:
    """Import the notes into a throw-away collection and let Anki render every card."""
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    with tempfile.TemporaryDirectory(prefix="deckgen-preview-") as tmp:
        apkg = Path(tmp) / "preview.apkg"
        write_package(decks, {n.card_id: 1 for d in decks for n in d.notes}, apkg)
        col = Collection(str(Path(tmp) / "collection.anki2"))
        try:
            col.import_anki_package(ImportAnkiPackageRequest(package_path=str(apkg),
                                                             options=ImportAnkiPackageOptions()))
            faces: list[Face] = []
            styles: dict[str, None] = {}
            assert col.db is not None
            for cid in col.db.list("select id from cards order by due, ord"):
                card = col.get_card(cid)
                note = card.note()
                card_id = note["Id"]
                topic, where = cards[card_id]
                out = card.render_output()
                styles[out.css] = None
                for side, text in (("front", out.question_text), ("back", out.answer_text)):
                    faces.append(Face(card_id, card.ord + 1, topic, side, _media_src(text), where))
        finally:
            col.close()
    return faces, "\n".join(styles)


_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"/:]+)(")')


def _media_src(text: str) -> str:
    """Anki resolves media against its media folder; here they live in ``media/``."""
    return _IMG_SRC.sub(r"\1media/\2\3", text)


def _page(faces: list[Face], css: str, titles: dict[str, str], deck: str) -> str:
    parts: list[str] = []
    topic = None
    for i in range(0, len(faces), 2):
        front, back = faces[i], faces[i + 1]
        if front.topic != topic:
            if topic is not None:
                parts.append("</section>")
            topic = front.topic
            parts.append(f'<section class="pv-topic" id="topic-{html.escape(topic)}">'
                         f"<h2>{html.escape(titles.get(topic, topic))}</h2>")
        several = front.ordinal > 1 or _has_siblings(faces, i)
        label = front.card_id + (f" · card {front.ordinal}" if several else "")
        parts.append(
            f'<article class="pv-card" id="{html.escape(front.card_id)}-{front.ordinal}" '
            f'data-card="{html.escape(front.card_id)}" data-ord="{front.ordinal}">'
            f'<header class="pv-label"><span>{html.escape(label)}</span>'
            f'<span class="pv-where">{html.escape(front.where)}</span></header>'
            f'<div class="pv-face pv-front"><div class="card card{front.ordinal}">{front.html}</div></div>'
            f'<div class="pv-face pv-back"><div class="card card{back.ordinal}">{back.html}</div></div>'
            "</article>")
    if topic is not None:
        parts.append("</section>")
    toc = "".join(f'<a href="#topic-{html.escape(name)}">{html.escape(title)}</a>' for name, title in titles.items())
    count = len(faces) // 2
    return _TEMPLATE.format(
        title=html.escape(f"{deck}: preview"), deck=html.escape(deck), count=count, toc=toc, css=css,
        page_css=_PAGE_CSS, body="\n".join(parts), config=json.dumps(MATHJAX_CONFIG),
        mathjax=f"mathjax/{MATHJAX_FILE}", widths=" ".join(
            f'<button type="button" data-width="{w}">{w}</button>' for w in VIEWPORT_WIDTHS),
    )


def _has_siblings(faces: list[Face], i: int) -> bool:
    card_id = faces[i].card_id
    return (i + 2 < len(faces) and faces[i + 2].card_id == card_id) or (i >= 2 and faces[i - 2].card_id == card_id)


# The page around the cards. It never styles anything inside .card: that is the note type's CSS.
_PAGE_CSS = """
html, body { margin: 0; padding: 0; }
body { background: #eaeef2; font-family: system-ui, sans-serif; }
body.nightMode { background: #0d1117; color: #e6edf3; }
.pv-bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center;
  padding: 6px 8px; background: #f6f8fa; border-bottom: 1px solid #d0d7de; font-size: 14px; }
.nightMode .pv-bar { background: #161b22; border-color: #30363d; }
.pv-bar button { font: inherit; padding: 2px 8px; }
.pv-toc { display: flex; flex-wrap: wrap; gap: 4px 10px; padding: 8px; font-size: 14px; }
.pv-toc a { color: inherit; }
.pv-topic h2 { font-size: 16px; margin: 16px 8px 4px; }
.pv-card { margin: 10px auto; max-width: var(--pv-width, 100%); }
.pv-label { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 8px; padding: 0 8px;
  font-size: 12px; color: #57606a; overflow-wrap: anywhere; }
.nightMode .pv-label { color: #9198a1; }
.pv-face { border-top: 1px solid #d0d7de; }
.nightMode .pv-face { border-color: #30363d; }
.pv-back { border-top: 3px solid #d0d7de; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{page_css}</style>
<style>{css}</style>
<script>window.MathJax = Object.assign({config}, {{
  startup: {{ ready() {{
    MathJax.startup.defaultReady();
    MathJax.startup.promise.then(() => {{ document.documentElement.dataset.mathjax = "done"; }});
  }} }}
}});</script>
<script defer src="{mathjax}"></script>
</head>
<body class="card-preview">
<div class="pv-bar">
  <strong>{deck}</strong> <span>{count} cards</span>
  <button type="button" id="pv-mode">night</button>
  <span>width</span> {widths} <button type="button" data-width="">full</button>
</div>
<nav class="pv-toc">{toc}</nav>
<main>
{body}
</main>
<script>
(function () {{
  var body = document.body, params = new URLSearchParams(location.search);
  function setNight(on) {{
    // What Anki desktop and AnkiDroid put on <body> in night mode (AnkiMobile: nightMode).
    body.classList.toggle("nightMode", on);
    body.classList.toggle("night_mode", on);
    document.getElementById("pv-mode").textContent = on ? "light" : "night";
    try {{ localStorage.setItem("deckgen-night", on ? "1" : ""); }} catch (e) {{}}
  }}
  function setWidth(w) {{
    document.documentElement.style.setProperty("--pv-width", w ? w + "px" : "100%");
  }}
  var night = params.has("night") ? params.get("night") !== "0" : (function () {{
    try {{ return localStorage.getItem("deckgen-night") === "1"; }} catch (e) {{ return false; }}
  }})();
  setNight(night);
  if (params.get("width")) setWidth(params.get("width"));
  document.getElementById("pv-mode").addEventListener("click", function () {{
    setNight(!body.classList.contains("nightMode"));
  }});
  document.querySelectorAll("[data-width]").forEach(function (b) {{
    b.addEventListener("click", function () {{ setWidth(b.dataset.width); }});
  }});
}})();
</script>
</body>
</html>
"""


__all__ = ["MATHJAX_VERSION", "Face", "PreviewReport", "mathjax_path", "preview"]
