"""What the live preview shows, and what changed since the last rebuild.

After every rebuild the pipeline hands over all notes (rendering them from memoised Markdown is a
fraction of a second); this module decides which of them Anki must render again (only notes whose
content changed: same note, same Anki output) and which cards of the page changed (content, or
just the ``file:line`` label after lines were inserted above), so the browser replaces only those.

The last good cards stay: in a topic with a problem (its YAML does not parse, its computation
fails, a card does not render), a card that did not come out of the rebuild keeps its last good
version, while cards that did come out are updated. Topics without problems show exactly what
the rebuild produced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import Problem
from ..core.project import Project
from ..core.records import Note
from ..deck.package import media_files
from ..pipeline import Prepared
from .anki_cards import Rendered
from .page import article_html, article_id, topic_html

Renderer = Callable[[Note], tuple[Rendered, ...]]


@dataclass(frozen=True)
class CardView:
    """One note on the page: its Anki cards' HTML, and the articles made from them."""

    card_id: str
    where: str  # file:line of the card in the content
    note: Note
    faces: tuple[Rendered, ...]
    articles: tuple[tuple[str, str], ...]  # (article id, HTML), one per Anki card

    @classmethod
    def of(cls, note: Note, where: str, faces: tuple[Rendered, ...]) -> CardView:
        several = len(faces) > 1
        arts = tuple((article_id(note.card_id, f.ordinal),
                      article_html(note.card_id, f.ordinal, where, several, f.front, f.back)) for f in faces)
        return cls(note.card_id, where, note, faces, arts)


@dataclass(frozen=True)
class TopicView:
    name: str
    title: str
    cards: tuple[CardView, ...]

    def article_ids(self) -> tuple[str, ...]:
        return tuple(a for c in self.cards for a, _ in c.articles)


@dataclass(frozen=True)
class Patch:
    """One step of the page: the articles to put in, the new order when it changed, the problems now."""

    version: int
    articles: dict[str, str]  # article id -> HTML, new or changed
    layout: tuple[tuple[str, str, tuple[str, ...]], ...] | None  # (topic, title, article ids), when it changed
    problems: tuple[str, ...]
    count: int  # Anki cards on the page
    rendered: tuple[str, ...]  # card ids Anki rendered again for this step

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "articles": self.articles,
                "layout": [list(t) for t in self.layout] if self.layout is not None else None,
                "problems": list(self.problems), "count": self.count}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


class LiveDeck:
    """The page's cards, updated from one rebuild to the next by :meth:`update` and :meth:`fail`."""

    def __init__(self, render: Renderer) -> None:
        self.render = render
        self.topics: tuple[TopicView, ...] = ()
        self.problems: tuple[str, ...] = ()
        self.version = 0
        self.media: dict[str, Path] = {}  # every media file any shown card used (kept cards still need theirs)

    def update(self, project: Project, prepared: Prepared) -> Patch | None:
        """Take a rebuild's notes; None when the page does not change."""
        where = {c.id: f"{c.file}:{c.line}" for t in prepared.topics for c in t.cards}
        troubled = _troubled(project, prepared)
        old = {t.name: t for t in self.topics}
        known = {c.card_id: c for t in self.topics for c in t.cards}
        rendered: list[str] = []

        def view(note: Note) -> CardView:
            before = known.get(note.card_id)
            shown = where.get(note.card_id, before.where if before else "")
            if before is not None and before.note == note:
                return before if before.where == shown else CardView.of(note, shown, before.faces)
            rendered.append(note.card_id)
            return CardView.of(note, shown, self.render(note))

        topics = []
        for topic in prepared.topics:
            fresh = [view(n) for n in prepared.notes.get(topic.name, [])]
            previous = old.get(topic.name)
            if topic.name in troubled and previous is not None:
                topics.append(TopicView(topic.name, previous.title, _keep(previous.cards, fresh)))
            elif fresh or topic.name not in troubled:
                topics.append(TopicView(topic.name, topic.title, tuple(fresh)))
        self.media.update(media_files([c.note for t in topics for c in t.cards]))
        return self._step(tuple(topics), tuple(str(p) for p in prepared.problems), rendered)

    def fail(self, problems: list[Problem]) -> Patch | None:
        """A rebuild that could not run at all (unreadable settings, a topic gone): every card stays."""
        return self._step(self.topics, tuple(str(p) for p in problems), [])

    def body(self) -> str:
        return "\n".join(topic_html(t.name, t.title, (h for c in t.cards for _, h in c.articles)) for t in self.topics)

    def count(self) -> int:
        return sum(len(c.articles) for t in self.topics for c in t.cards)

    def titles(self) -> dict[str, str]:
        return {t.name: t.title for t in self.topics}

    def _step(self, topics: tuple[TopicView, ...], problems: tuple[str, ...], rendered: list[str]) -> Patch | None:
        before = {a: h for t in self.topics for c in t.cards for a, h in c.articles}
        articles = {a: h for t in topics for c in t.cards for a, h in c.articles if before.get(a) != h}
        layout = tuple((t.name, t.title, t.article_ids()) for t in topics)
        old_layout = tuple((t.name, t.title, t.article_ids()) for t in self.topics)
        if not articles and layout == old_layout and problems == self.problems:
            self.topics = topics  # e.g. a note re-rendered to identical HTML: nothing to send
            return None
        self.topics, self.problems = topics, problems
        self.version += 1
        return Patch(self.version, articles, layout if layout != old_layout else None, problems, self.count(),
                     tuple(rendered))


def _troubled(project: Project, prepared: Prepared) -> set[str]:
    """Topics whose files have a problem, or whose notes did not come out (a failed computation)."""
    folders = {t.name: project.rel(t.cards_path.parent) for t in prepared.topics}
    out = {name for name in folders if name not in prepared.notes}
    for p in prepared.problems:
        if p.file is None:
            continue
        out |= {name for name, folder in folders.items() if p.file == folder or p.file.startswith(folder + "/")}
    return out


def _keep(previous: tuple[CardView, ...], fresh: list[CardView]) -> tuple[CardView, ...]:
    """The fresh cards, with each previous card that is missing from them back where it was."""
    out = list(fresh)
    ids = {c.card_id for c in fresh}
    for i, card in enumerate(previous):
        if card.card_id in ids:
            continue
        after = previous[i - 1].card_id if i else None
        at = next((j + 1 for j, c in enumerate(out) if c.card_id == after), 0 if after is None else len(out))
        out.insert(at, card)
        ids.add(card.card_id)
    return tuple(out)


__all__ = ["CardView", "LiveDeck", "Patch", "Renderer", "TopicView"]
