"""Render cards to note fields: computed values filled in, Markdown to HTML, math kept for
MathJax, code highlighted at build time.

Order matters and is fixed here: values and figure names are substituted into the Markdown
*first* (so a value can sit inside math, a code block or a cloze), then Markdown runs with
``pymdownx.arithmatex`` protecting ``\\( \\)`` and ``\\[ \\]`` from Markdown's own escaping,
and ``pymdownx.highlight`` colouring fenced code with Pygments CSS classes (the note type
carries the stylesheet, so phones show colours offline).
"""

from __future__ import annotations

import hashlib
import html as htmllib
import json
import re
import xml.etree.ElementTree as etree
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..core.errors import Problem
from ..core.fs import dist_version
from ..core.records import FIELDS, Asset, Card, CardType, Figure, Note, NoteKind, Retirement, Text, Topic, TopicResult
from ..core.syntax import (
    ASSET_RE,
    ASSET_SUFFIXES,
    REF_RE,
    VALUE_RE,
    cloze_numbers,
    format_value,
    math_spans,
    ref_of,
    rendered_cloze_numbers,
)
from .expectations import check_expectations, known_names
from .running import code_html, drill_instance, output_field, plain_text, typed_problems

MD_EXTENSIONS = ["tables", "sane_lists", "pymdownx.arithmatex", "pymdownx.superfences", "pymdownx.highlight"]
MD_CONFIG = {
    "pymdownx.arithmatex": {
        "generic": True,  # emit \( \) and \[ \] for Anki's own MathJax, never $
        "inline_syntax": ["round"],
        "block_syntax": ["square"],
        "smart_dollar": False,
    },
    "pymdownx.highlight": {"use_pygments": True, "noclasses": False, "css_class": "highlight", "guess_lang": False},
}


_TEXT_RE = re.compile(f"{REF_RE.pattern}|{ASSET_RE.pattern}")
# Images are put in after Markdown, so their HTML (two <img>, day and night) is not re-parsed.
_SLOT = "dgimageslot{}x"
_SLOT_RE = re.compile(r"dgimageslot(\d+)x")

_EXPONENT = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)e([+-]?)0*(\d+)\b")


def tex_number(shown: str) -> str:
    """``4.5e-05`` reads as "4.5 e minus 05" once TeX typesets it; inside math write 4.5 x 10^-5."""
    def sub(m: re.Match[str]) -> str:
        mantissa, sign, exponent = m.group(1), m.group(2), m.group(3)
        power = f"10^{{{'-' if sign == '-' else ''}{exponent}}}"
        return power if mantissa in ("1", "1.0") else f"{mantissa} \\times {power}"

    return _EXPONENT.sub(sub, shown)


def figure_html(fig: Figure, alt: str) -> str:
    """Both variants of a figure; card.css shows the one that matches the reviewer's mode."""
    a = htmllib.escape(alt, quote=True)
    return (f'<img class="dg-fig dg-day" src="{fig.media_name}" alt="{a}">'
            f'<img class="dg-fig dg-night" src="{fig.night_media_name}" alt="{a}">')


def asset_html(asset: Asset, alt: str) -> str:
    return f'<img class="dg-fig" src="{asset.media_name}" alt="{htmllib.escape(alt, quote=True)}">'


@lru_cache(maxsize=1)
def _md() -> Any:
    """The Markdown converter, imported on first use: a build whose fields are all in the
    MarkdownMemo never loads Markdown, pymdown-extensions or Pygments."""
    import markdown
    from markdown.extensions import Extension
    from markdown.inlinepatterns import InlineProcessor
    from markdown.util import AtomicString

    class InlineDisplayMath(InlineProcessor):
        """``\\[ ... \\]`` inside a paragraph (arithmatex only knows it as a block of its own).

        Without this, Markdown's escape handling turns ``\\[`` into ``[`` and the learner sees raw TeX.
        """

        def handleMatch(self, m: re.Match[str], data: str) -> tuple[etree.Element, int, int]:  # type: ignore[override]
            el = etree.Element("span", {"class": "arithmatex"})
            el.text = AtomicString(f"\\[{m.group(1)}\\]")
            return el, m.start(0), m.end(0)

    class DisplayMathExtension(Extension):
        def extendMarkdown(self, md: markdown.Markdown) -> None:
            # Just below arithmatex's inline pattern (189.9), above backslash escapes (180).
            pattern = InlineDisplayMath(r"\\\[((?:\\[^\]]|[^\\])+?)\\\]", md)
            md.inlinePatterns.register(pattern, "display-math-inline", 189.8)

    return markdown.Markdown(extensions=[*MD_EXTENSIONS, DisplayMathExtension()], extension_configs=MD_CONFIG,
                             output_format="html")


def markdown_to_html(text: str) -> str:
    md = _md()
    md.reset()
    return md.convert(text).strip()


class MarkdownMemo:
    """Markdown -> HTML results of earlier builds, so an unchanged field is not converted again.

    Converting ~2,200 fields is a third of a no-change rebuild. Entries are keyed by the sha256 of
    the Markdown after values are filled in; the file name carries a fingerprint of this module and
    of the Markdown, pymdown-extensions and Pygments versions, so a renderer change starts afresh.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.known: dict[str, str] = {}
        self.used: set[str] = set()
        self.added = False

    @classmethod
    def open(cls, folder: Path) -> MarkdownMemo:
        h = hashlib.sha256(Path(__file__).read_bytes())
        h.update(json.dumps([MD_EXTENSIONS, MD_CONFIG], sort_keys=True).encode())
        for dist in ("markdown", "pymdown-extensions", "pygments"):
            h.update(f";{dist}={dist_version(dist)}".encode())
        memo = cls(folder / "render" / f"{h.hexdigest()[:24]}.json")
        try:
            data = json.loads(memo.path.read_bytes())  # type: ignore[union-attr]
            if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
                memo.known = data
        except (OSError, ValueError):
            pass  # missing or damaged: convert everything again
        return memo

    def convert(self, text: str) -> str:
        key = hashlib.sha256(text.encode()).hexdigest()
        self.used.add(key)
        html = self.known.get(key)
        if html is None:
            html = self.known[key] = markdown_to_html(text)
            self.added = True
        return html

    def save(self, *, prune: bool) -> None:
        """Store what this build converted; ``prune`` (a whole-deck build) drops unused entries."""
        if self.path is None:
            return
        from ..core.fs import atomic_write

        keep = {k: v for k, v in self.known.items() if k in self.used} if prune else self.known
        if self.added or len(keep) != len(self.known):
            atomic_write(self.path, json.dumps(keep, sort_keys=True).encode())


def card_tags(card: Card) -> tuple[str, ...]:
    """The author's tags plus one per topic, so a learner can filter by topic in Anki."""
    return tuple(dict.fromkeys((*card.tags, f"deckgen::{card.topic}")))


RETIRED_TAG = "deckgen::retired"
_HOW_TO_DELETE = ("<p>To delete every withdrawn note: in Anki's card browser, search "
                  f"<code>tag:{RETIRED_TAG}</code>, select all, and delete the notes.</p>")


def render_retired(retired: Retirement, topic: str, kind: NoteKind, identity: str) -> Note:
    """The note a retired card ships as: its type and identity, a withdrawal notice in place of its content.

    It keeps the note type it shipped with (Anki cannot change a note's type on import) and is
    tagged, so the learner's note is updated in place and found with one search.
    """
    notice = f"<p><strong>Withdrawn from the deck.</strong> {htmllib.escape(retired.reason)}</p>"
    if kind is NoteKind.CLOZE:
        fields: dict[str, str] = {"text": notice.replace("Withdrawn from the deck.",
                                                        "{{c1::Withdrawn}} from the deck.") + _HOW_TO_DELETE}
    elif kind in (NoteKind.OUTPUT, NoteKind.OUTPUT_TYPED):
        fields = {"code": notice, "output": "withdrawn", "extra": _HOW_TO_DELETE}
    elif kind is NoteKind.BASIC_TYPED:
        fields = {"front": notice, "back": "withdrawn", "extra": _HOW_TO_DELETE}
    else:
        fields = {"front": notice, "back": _HOW_TO_DELETE}
    values = (*tuple(fields.get(name, "") for name in FIELDS[kind]), retired.id)
    return Note(retired.id, kind, topic, values, (RETIRED_TAG, f"deckgen::{topic}"), (), identity)


def render_card(card: Card, result: TopicResult, folder: Path | None = None,
                memo: MarkdownMemo | None = None) -> tuple[Note | None, list[Problem]]:
    """Fill in values and figures, convert Markdown; problems name the card and its line.

    ``folder`` is the topic's folder, where static images a card shows are looked up.
    """
    problems: list[Problem] = []
    media: dict[str, Figure | Asset] = {}

    def fail(line: int, message: str) -> None:
        problems.append(Problem(card.file, line, card.id, message))

    html: dict[str, str] = {}
    for fname, text in card.fields.items():
        if fname == "code":  # a snippet is shown byte for byte as it ran: nothing filled in
            html[fname] = memo.convert(code_html(text.text)) if memo is not None else markdown_to_html(
                code_html(text.text))
            continue
        images: list[str] = []

        def slot(image_html: str, images: list[str] = images) -> str:
            images.append(image_html)
            return _SLOT.format(len(images) - 1)

        math = math_spans(text.text)

        def substitute(m: re.Match[str], text: Text = text, base: int = 0, math: list[tuple[int, int]] = math) -> str:
            if m.groupdict().get("src") is not None:
                return asset(m, text)
            ref = ref_of(m)
            line = text.line_of(base + ref.offset)
            if ref.kind == "figure":
                fig = result.figures.get(ref.name)
                if fig is None:
                    fail(line, f"unknown figure {ref.name!r}{known_names(ref.name, result.figures, 'figures')}")
                    return ""
                media[fig.media_name] = fig
                # Values in the alt text are filled in too, located at their own line.
                alt_start = m.start("alt")
                alt = VALUE_RE.sub(lambda vm: substitute(vm, text, base + alt_start), ref.spec)
                return slot(figure_html(fig, alt))
            if ref.name not in result.values:
                fail(line, f"unknown value {ref.name!r}{known_names(ref.name, result.values, 'values')}")
                return ""
            try:
                shown = format_value(result.values[ref.name], ref.spec)
            except ValueError as exc:
                fail(line, f"value {ref.name!r}: {exc}")
                return ""
            if base == 0 and any(a <= m.start() < b for a, b in math):
                shown = tex_number(shown)
            return shown

        def asset(m: re.Match[str], text: Text = text) -> str:
            found = _asset(m.group("src"), folder)
            if isinstance(found, str):
                fail(text.line_of(m.start()), found)
                return ""
            media[found.media_name] = found
            return slot(asset_html(found, m.group("asset_alt")))

        # One pass over the author's text, so every reference is located at its own line.
        filled = _TEXT_RE.sub(substitute, text.text)
        converted = memo.convert(filled) if memo is not None else markdown_to_html(filled)
        html[fname] = _SLOT_RE.sub(_refill(images), converted)
    if card.type is CardType.OUTPUT:
        output, found = output_field(card, result)
        if output is None:
            return None, problems  # the snippet did not run; the computation reported why
        html["output"] = output
        problems += found
    elif card.typed and "back" in html:
        problems += typed_problems(card, plain_text(html["back"]), card.fields["back"].line, "the back reads")
    for name, value in html.items():
        if len(value) > MAX_RENDERED_CHARS:
            problems.append(Problem(card.file, card.fields[name].line, card.id,
                                    f"`{name}` renders to {len(value):,} characters of HTML; at most "
                                    f"{MAX_RENDERED_CHARS:,} fit a card (is a value a huge list or a wide format?)"))
    if not problems:
        for name, why in _cardless(card, html):
            problems.append(Problem(card.file, card.fields[name].line if name in card.fields else card.line,
                                    card.id, why))
    if problems:
        return None, problems
    fields = (*tuple(html.get(name, "") for name in FIELDS[card.kind]), card.id)
    return Note(card.id, card.kind, card.topic, fields, card_tags(card),
                tuple(media[k] for k in sorted(media))), []


MAX_RENDERED_CHARS = 100_000  # a source field holds at most 20,000; values must not blow it up


def _cardless(card: Card, html: dict[str, str]) -> list[tuple[str, str]]:
    """Fields whose rendered HTML would make Anki generate fewer cards than the author wrote."""
    def blank(name: str) -> bool:
        text = re.sub(r"<[^>]*>", "", html.get(name, ""))
        return not text.strip() and "<img" not in html.get(name, "")

    if card.type is CardType.CLOZE:
        missing = sorted(cloze_numbers(card.fields["text"].text) - rendered_cloze_numbers(html.get("text", "")))
        if missing:
            shown = ", ".join(f"c{n}" for n in missing)
            return [("text", f"cloze deletion {shown} does not survive rendering, so Anki would make no card for it "
                             "(a deletion inside a fenced code block is split by highlighting; an empty value "
                             "empties a deletion)")]
        return []
    if card.type is CardType.OUTPUT:
        return []  # the front is the snippet, which cannot be empty
    out = []
    if blank("front"):
        out.append(("front", "`front` renders to nothing, so Anki would make no card"))
    if card.type is CardType.REVERSED and blank("back"):
        out.append(("back", "`back` renders to nothing, so Anki would drop the reverse card"))
    return out


def _refill(images: list[str]) -> Callable[[re.Match[str]], str]:
    """Put each image's HTML back where its placeholder went through Markdown."""
    return lambda m: images[int(m.group(1))]


def _asset(src: str, folder: Path | None) -> Asset | str:
    """The static image ``src`` names, or why it cannot be used."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE):
        return (f"image {src!r} is not a local file: reviews happen offline, so put the file next to "
                "cards.yaml (or draw it as a figure)")
    if not src.lower().endswith(ASSET_SUFFIXES):
        return f"image {src!r} is not one of {', '.join(ASSET_SUFFIXES)}"
    path = (folder / src).resolve() if folder is not None else None
    if path is None or folder is None or not path.is_relative_to(folder.resolve()):
        return f"image {src!r} must be a file in the topic's folder"
    if not path.is_file():
        return f"missing asset {src!r}: no such file next to cards.yaml"
    return Asset(hashlib.sha256(path.read_bytes()).hexdigest(), path)


def render_topic(topic: Topic, result: TopicResult,
                 memo: MarkdownMemo | None = None) -> tuple[list[Note], list[Problem]]:
    notes, problems = [], []
    for card in topic.cards:
        problems += check_expectations(card, result.values)
        if card.drill is None:
            note, found = render_card(card, result, topic.cards_path.parent, memo)
            problems += found
            notes += [note] if note is not None else []
            continue
        for instance in card.drill.instances:
            one = drill_instance(card, instance, result)
            if one is None:
                continue  # the computation failed; it said why
            note, found = render_card(*one, topic.cards_path.parent, memo)
            problems += found
            notes += [replace(note, family=card.id)] if note is not None else []
    return notes, problems


def content_hash(note: Note, notetype_id: int) -> str:
    """What the manifest compares: everything of the note that Anki stores."""
    payload = json.dumps([notetype_id, list(note.fields), list(note.tags)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


__all__ = ["MarkdownMemo", "check_expectations", "content_hash", "markdown_to_html", "render_card", "render_topic"]
