"""The preview page: the frame around Anki's rendered cards, shared by ``deckgen preview`` and ``deckgen serve``.

Both commands show the same page (light/night switch, phone widths, every card front and back
labelled with its id and ``file:line``, MathJax configured like Anki's); ``serve`` adds a problem
banner and a script that applies live updates. Keeping the frame in one place means the static
preview and the live one can never drift apart in how a card looks.

Each Anki card is one ``<article id="<card id>-<ordinal>">``, so the live page can replace a
single card's HTML without touching the rest.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass

MATHJAX_FILE = "tex-svg-full.js"
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
class Live:
    """What ``deckgen serve`` adds to the page: where updates come from and the problems right now."""

    version: str  # the state the page shows; the update stream continues from it
    problems: tuple[str, ...]
    script: str  # the update client (authoring/live.py)


def article_id(card_id: str, ordinal: int) -> str:
    return f"{card_id}-{ordinal}"


def article_html(card_id: str, ordinal: int, where: str, several: bool, front: str, back: str) -> str:
    """One Anki card, front above back, under its label (id, ordinal when the note has several, file:line)."""
    label = card_id + (f" · card {ordinal}" if several else "")
    return (
        f'<article class="pv-card" id="{html.escape(article_id(card_id, ordinal))}" '
        f'data-card="{html.escape(card_id)}" data-ord="{ordinal}">'
        f'<header class="pv-label"><span>{html.escape(label)}</span>'
        f'<span class="pv-where">{html.escape(where)}</span></header>'
        f'<div class="pv-face pv-front"><div class="card card{ordinal}">{front}</div></div>'
        f'<div class="pv-face pv-back"><div class="card card{ordinal}">{back}</div></div>'
        "</article>")


def topic_html(name: str, title: str, articles: Iterable[str]) -> str:
    return (f'<section class="pv-topic" id="topic-{html.escape(name)}"><h2>{html.escape(title)}</h2>'
            + "\n".join(articles) + "</section>")


def toc_html(titles: dict[str, str]) -> str:
    return "".join(f'<a href="#topic-{html.escape(name)}">{html.escape(title)}</a>' for name, title in titles.items())


def faces_body(faces: list[Face], titles: dict[str, str]) -> str:
    """The page body for faces in Anki's order (front and back of each card, cards grouped by topic)."""
    by_topic: dict[str, list[str]] = {}
    for i in range(0, len(faces), 2):
        front, back = faces[i], faces[i + 1]
        several = front.ordinal > 1 or _has_siblings(faces, i)
        by_topic.setdefault(front.topic, []).append(
            article_html(front.card_id, front.ordinal, front.where, several, front.html, back.html))
    return "\n".join(topic_html(name, titles.get(name, name), arts) for name, arts in by_topic.items())


def _has_siblings(faces: list[Face], i: int) -> bool:
    card_id = faces[i].card_id
    return (i + 2 < len(faces) and faces[i + 2].card_id == card_id) or (i >= 2 and faces[i - 2].card_id == card_id)


def page_html(body: str, count: int, css: str, titles: dict[str, str], deck: str, mathjax_src: str,
              live: Live | None = None) -> str:
    """The whole page around ``body`` (the topic sections)."""
    problems = live.problems if live is not None else ()
    return _TEMPLATE.format(
        title=html.escape(f"{deck}: preview"), deck=html.escape(deck), count=count, toc=toc_html(titles), css=css,
        page_css=_PAGE_CSS, body=body, config=json.dumps(MATHJAX_CONFIG), mathjax=mathjax_src,
        widths=" ".join(f'<button type="button" data-width="{w}">{w}</button>' for w in VIEWPORT_WIDTHS),
        html_attrs=f' data-version="{html.escape(live.version)}"' if live is not None else "",
        status='<span id="pv-status" class="pv-status">live</span>' if live is not None else "",
        banner=banner_html(problems) if live is not None else "",
        live_script=f"<script>{live.script}</script>" if live is not None else "",
    )


def banner_html(problems: tuple[str, ...]) -> str:
    """The problem banner: one line per problem, ``file:line: card: message``; hidden when there are none."""
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    n = len(problems)
    head = f"{n} problem{'s' * (n != 1)}: the cards below are the last good ones" if n else ""
    return (f'<div id="pv-problems" class="pv-problems"{"" if n else " hidden"} role="alert">'
            f"<strong>{html.escape(head)}</strong><ul>{items}</ul></div>")


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
.pv-status { margin-left: auto; font-size: 12px; color: #1a7f37; }
.pv-status.pv-off { color: #cf222e; }
.pv-problems { position: sticky; top: 0; z-index: 10; max-height: 40vh; overflow: auto; padding: 6px 10px;
  background: #ffebe9; color: #82071e; border-bottom: 2px solid #cf222e; font-size: 13px; overflow-wrap: anywhere; }
.nightMode .pv-problems { background: #3d1116; color: #ffdcd7; }
.pv-problems ul { margin: 4px 0 0; padding-left: 18px; font-family: ui-monospace, monospace; }
.pv-problems[hidden] { display: none; }
.pv-fresh { outline: 2px solid #2f81f7; outline-offset: -2px; transition: outline-color 1.5s; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"{html_attrs}>
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
  <strong>{deck}</strong> <span><span id="pv-count">{count}</span> cards</span>
  <button type="button" id="pv-mode">night</button>
  <span>width</span> {widths} <button type="button" data-width="">full</button>
  {status}
</div>
{banner}
<nav class="pv-toc" id="pv-toc">{toc}</nav>
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
{live_script}
</body>
</html>
"""


__all__ = ["MATHJAX_CONFIG", "MATHJAX_FILE", "VIEWPORT_WIDTHS", "Face", "Live", "article_html", "article_id",
           "banner_html", "faces_body", "page_html", "toc_html", "topic_html"]
