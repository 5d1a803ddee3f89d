"""Build, check and list: the deck pipeline that the CLI and the library API call.

Every entry point runs the same pipeline (load -> compute -> render) and collects every problem
before deciding anything, so ``check`` lists all of them and ``build`` writes nothing at all when
there is one.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .compute.runner import ComputeOptions, Progress, compute_topics, silent
from .core.errors import DeckgenError, Problem
from .core.project import Project, default_jobs
from .core.records import CardType, Note, NoteKind, Topic, TopicResult
from .deck.cards import check_covers, load_all, load_topics
from .deck.history import Account, account, resolve
from .deck.manifest import ACTIVE, RETIRED, Manifest, Shipment
from .deck.package import NOTE_TYPES, DeckSpec, signatures, write_package_if_changed
from .deck.render import RETIRED_TAG, MarkdownMemo, content_hash, render_retired, render_topic
from .deck.syllabus import project_questions


@dataclass(frozen=True)
class BuildOptions:
    topics: tuple[str, ...] = ()
    out: Path | None = None
    jobs: int | None = None  # None: one per core (core.project.default_jobs)
    fresh: bool = False
    timeout: float | None = None  # None: the project's setting (deckgen.yaml, else core.project.DEFAULT_TIMEOUT)

    def compute_options(self, project: Project) -> ComputeOptions:
        """The one place the defaults for jobs and the time limit are decided."""
        return ComputeOptions(jobs=self.jobs or default_jobs(), timeout=self.timeout or project.settings.timeout,
                              fresh=self.fresh)


@dataclass(frozen=True)
class Prepared:
    """Everything the pipeline produced before packaging."""

    topics: list[Topic]
    results: dict[str, TopicResult]
    notes: dict[str, list[Note]]  # by topic: its cards' notes, then the notices of its retired cards
    problems: list[Problem]
    manifest: Manifest
    renamed: dict[str, str]  # old id -> new id, renames this build records

    def shipments(self) -> list[Shipment]:
        """Every note as the manifest records it: id, topic, content hash, type, identity, state."""
        return [Shipment(n.card_id, n.topic, content_hash(n, NOTE_TYPES[n.type].id), n.type.value, n.guid_id,
                         RETIRED if RETIRED_TAG in n.tags else ACTIVE, n.family)
                for t in self.topics for n in self.notes.get(t.name, [])]

    def account(self) -> Account:
        return account(self.manifest, self.shipments(), self.renamed, signatures())


@dataclass(frozen=True)
class BuildReport:
    out: Path
    notes: int
    cards: int
    figures: int  # figures and static images shown on cards (each computed figure is two files: day, night)
    media: int  # files in the package
    bytes: int
    written: bool  # False when the output already held exactly this package
    account: Account  # what the build changed for learners, against the manifest
    computed: list[str]
    cached: list[str]

    def to_dict(self) -> dict[str, object]:
        """The report as ``deckgen build --json`` prints it."""
        return {"out": str(self.out), "written": self.written, "notes": self.notes, "cards": self.cards,
                "figures": self.figures, "media": self.media, "bytes": self.bytes, **self.account.to_dict(),
                "computed": self.computed, "cached": self.cached}


@dataclass(frozen=True)
class TopicSummary:
    name: str
    title: str
    notes: int
    cards: int
    figures: int
    kinds: dict[str, int]  # notes per kind of card: basic (with reversed), cloze, output, drill

    def to_dict(self) -> dict[str, object]:
        return {"title": self.title, "notes": self.notes, "cards": self.cards, "figures": self.figures,
                "kinds": self.kinds}


KINDS = ("basic", "cloze", "output", "drill")


def prepare(project: Project, options: BuildOptions, progress: Progress = silent) -> Prepared:
    """Load, validate, compute and render the selected topics, collecting every problem."""
    manifest = Manifest.load(project.manifest_path, project.rel(project.manifest_path))
    selected = project.select(options.topics)
    loaded = load_all(project, selected)
    topics, problems = loaded.topics, list(loaded.problems)
    questions, _, question_problems = project_questions(project)
    problems += question_problems  # the question list is part of the content: a broken one fails the build
    if not question_problems:  # covers are checked against a list that could be read whole
        problems += check_covers(topics, questions)
    history = resolve(manifest, loaded.everything, {t.name for t in topics},
                      {t.name: project.rel(t.cards_path) for t in loaded.everything})
    problems += history.problems
    results, compute_problems = compute_topics(project, topics, options.compute_options(project), progress)
    problems += compute_problems
    notes: dict[str, list[Note]] = {}
    memo = MarkdownMemo.open(project.cache_dir)
    for topic in topics:
        if topic.name in results:
            rendered, found = render_topic(topic, results[topic.name], memo)
            problems += found
            notes[topic.name] = [replace(n, identity=history.identity.get(n.card_id, n.card_id)) for n in rendered]
    for retirement, topic_name, entry in history.retired:
        if topic_name in notes:
            notes[topic_name].append(render_retired(retirement, topic_name, NoteKind(entry.type),
                                                    manifest.identity(retirement.id)))
    if not problems:
        with contextlib.suppress(OSError):  # a read-only cache folder only costs speed
            memo.save(prune=not options.topics)
    return Prepared(topics, results, notes, sorted(set(problems), key=_order), manifest, history.renamed)


def _order(p: Problem) -> tuple[str, int, str, str]:
    return (p.file or "", p.line or 0, p.card or "", p.message)


def deck_specs(project: Project, prepared: Prepared) -> list[DeckSpec]:
    """One subdeck per topic, ``<deck>::<topic title>``, with its notes in authored order."""
    return [DeckSpec(f"{project.settings.deck}::{t.title}", tuple(prepared.notes[t.name])) for t in prepared.topics]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "deck"


def output_path(project: Project, options: BuildOptions, topics: list[Topic]) -> Path:
    """Where a build writes: ``--out`` (with ``.apkg`` added when missing), else a name that says what
    it holds, so building some topics never overwrites the whole deck's file."""
    if options.out is not None:
        out = options.out if options.out.is_absolute() else Path.cwd() / options.out
        return out if out.suffix.lower() == ".apkg" else out.with_name(out.name + ".apkg")
    if options.topics:
        return project.build_dir / f"{'+'.join(t.name for t in topics)}.apkg"
    return project.build_dir / f"{slug(project.settings.deck)}.apkg"


def build(project: Project, options: BuildOptions, progress: Progress = silent) -> BuildReport:
    """Build a package. Raises DeckgenError with every problem, leaving any old package as it was."""
    prepared = prepare(project, options, progress)
    if prepared.problems:
        raise DeckgenError(prepared.problems)
    manifest, shipments = prepared.manifest, prepared.shipments()
    done = prepared.account()
    now = int(time.time())
    mods = manifest.ship(shipments, prepared.renamed, now)
    type_mods = manifest.ship_note_types(signatures(), now)
    decks = deck_specs(project, prepared)
    out = output_path(project, options, prepared.topics)
    try:
        stats = write_package_if_changed(decks, mods, out, project.cache_dir / "packages", type_mods)
        manifest.save()
    except OSError as exc:
        detail = f" ({exc.filename})" if isinstance(exc.filename, str) and exc.filename != str(out) else ""
        raise DeckgenError(f"cannot write {out}: {exc.strerror or exc}{detail}") from None
    return BuildReport(
        out=out, notes=stats.notes, cards=stats.cards, bytes=stats.bytes, account=done, media=stats.media,
        written=stats.written,
        figures=len({m.media_name for d in decks for n in d.notes for m in n.media}),
        computed=[n for n, r in prepared.results.items() if not r.cached],
        cached=[n for n, r in prepared.results.items() if r.cached],
    )


@dataclass(frozen=True)
class CheckReport:
    """Every problem in the selected content, and what a build would change against the manifest."""

    problems: list[Problem]
    account: Account


def check(project: Project, options: BuildOptions, progress: Progress = silent) -> CheckReport:
    """Every problem in the selected content, the syllabus files and the manifest. Writes no package.

    A build that would still change something (the committed manifest is behind the content) is a
    problem too: a fresh clone would then build a different package than the author's.
    """
    prepared = prepare(project, options, progress)
    problems = list(prepared.problems)
    pending = Account() if problems else prepared.account()
    if not problems and pending.empty and prepared.manifest.unrecorded_note_types(signatures()):
        problems.append(Problem(project.rel(project.manifest_path), None, None, "manifest out of date: it records "
                                "no mod for some note types; run `deckgen build` and commit content/manifest.json"))
    if not pending.empty:
        problems.append(Problem(project.rel(project.manifest_path), None, None,
                                f"manifest out of date: a build would change {pending.count} "
                                f"note{'s' * (pending.count != 1)} ({'; '.join(pending.lines(3))}); "
                                "run `deckgen build` and commit content/manifest.json"))
    return CheckReport(problems, pending)


def list_topics(project: Project) -> tuple[list[TopicSummary], list[Problem]]:
    """Card and figure counts per topic, from the content alone (nothing is computed)."""
    topics, problems = load_topics(project, project.topics())
    out = []
    for t in topics:
        kinds = dict.fromkeys(KINDS, 0)
        for c in t.cards:
            kinds["basic" if c.type is CardType.REVERSED else c.type.value] += len(c.note_ids())
        notes = sum(len(c.note_ids()) for c in t.cards)
        cards = sum(c.anki_cards() * len(c.note_ids()) for c in t.cards)
        out.append(TopicSummary(t.name, t.title, notes, cards, len(t.figure_names()), kinds))
    return out, problems

