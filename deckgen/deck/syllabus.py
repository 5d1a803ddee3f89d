"""The project's syllabus and the coverage report built from it.

The questions file is quoted from interview-prep pages, wording and mistakes included. The
syllabus is the project's own account of it: every question id is either claimed by exactly one
topic (``content/<topic>/syllabus.yaml``, the question re-phrased in the deck's words) or skipped
with a reason (``content/skipped.yaml``; only off-topic ids may be skipped). Coverage then asks,
per topic, which claimed ids some card's ``covers:`` names. Keeping the syllabus in files, not
in a report, means a question can never silently fall out of the deck: an id nobody claims is
itself a coverage failure.

File formats::

    # content/optimizers/syllabus.yaml
    s004-q12: What goes wrong in Adam without bias correction?

    # content/skipped.yaml
    s003-q02: Trivia about people, not deep learning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import DeckgenError, Problem
from ..core.project import Project, TopicPaths
from ..core.yamlfile import LocDict, parse_yaml, read_text
from .cards import load_topics
from .questions import Question, load_questions

SYLLABUS_FILE = "syllabus.yaml"
SKIPPED_FILE = "skipped.yaml"
REQUIRED_SCOPES = ("core", "peripheral")


@dataclass(frozen=True)
class Claim:
    """A question id claimed by a topic (or skipped), with where the claim is written."""

    id: str
    text: str  # the question in the deck's words, or the reason for skipping
    file: str
    line: int


@dataclass(frozen=True)
class Syllabus:
    """Claimed ids per topic (in file order) and skipped ids."""

    topics: dict[str, list[Claim]] = field(default_factory=dict)
    skipped: dict[str, Claim] = field(default_factory=dict)


@dataclass(frozen=True)
class IdCoverage:
    """One question id: what it asks, who claims it, which cards cover it."""

    id: str
    scope: str
    question: str  # the syllabus wording when claimed, else the source's
    cards: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return bool(self.cards)

    @property
    def required(self) -> bool:
        return self.scope in REQUIRED_SCOPES

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "scope": self.scope, "question": self.question, "covered": self.covered,
                "cards": list(self.cards)}


@dataclass(frozen=True)
class TopicCoverage:
    name: str
    title: str
    ids: tuple[IdCoverage, ...]

    @property
    def missing(self) -> list[IdCoverage]:
        return [i for i in self.ids if i.required and not i.covered]


@dataclass(frozen=True)
class Coverage:
    """Everything ``deckgen coverage`` prints; ``complete`` decides its exit status."""

    topics: tuple[TopicCoverage, ...]
    unclaimed: tuple[IdCoverage, ...]  # neither claimed by a topic nor skipped
    skipped: tuple[tuple[str, str], ...]  # (id, reason)

    @property
    def failures(self) -> list[IdCoverage]:
        return [i for t in self.topics for i in t.missing] + list(self.unclaimed)

    @property
    def complete(self) -> bool:
        return not self.failures

    def counts(self) -> tuple[int, int]:
        """(covered, required) over the ids shown."""
        ids = [i for t in self.topics for i in t.ids if i.required] + [i for i in self.unclaimed if i.required]
        return sum(i.covered for i in ids), len(ids)

    def to_dict(self) -> dict[str, object]:
        """The report as ``deckgen coverage --json`` prints it."""
        covered, required = self.counts()
        return {
            "topics": {t.name: {"title": t.title, "ids": [i.to_dict() for i in t.ids]} for t in self.topics},
            "unclaimed": [i.to_dict() for i in self.unclaimed],
            "skipped": [{"id": qid, "reason": reason} for qid, reason in self.skipped],
            "covered": covered, "required": required, "complete": self.complete,
        }


def _read_mapping(path: Path, shown: str, what: str) -> tuple[list[Claim], list[Problem]]:
    """A YAML mapping of question id -> one line of text, with each entry's line."""
    try:
        data = parse_yaml(read_text(path.read_bytes(), shown), shown)
    except DeckgenError as exc:
        return [], exc.problems
    if data is None:
        return [], []
    if not isinstance(data, LocDict):
        return [], [Problem(shown, 1, None, f"{what} must be a mapping of question id to text")]
    claims, problems = [], []
    for key, value in data.items():
        line = data.key_lines[key]
        if not isinstance(key, str):
            problems.append(Problem(shown, line, None, f"{key!r} is not a question id"))
        elif not isinstance(value, str) or not value.strip():
            problems.append(Problem(shown, line, None, f"{key}: needs one line of text, not {value!r}"))
        else:
            claims.append(Claim(key, " ".join(value.split()), shown, line))
    return claims, problems


def load_syllabus(project: Project, questions: Mapping[str, Question] | None) -> tuple[Syllabus, list[Problem]]:
    """Read every topic's syllabus and the skip list.

    ``questions`` is the list they are checked against (a questions file); None means the syllabus
    files *are* the project's question list, so no claim can be unknown, and the skip list (which
    names ids of an outside list) is kept as written.
    """
    syllabus = Syllabus()
    problems: list[Problem] = []
    first: dict[str, Claim] = {}

    def admit(claim: Claim) -> bool:
        if questions is not None and claim.id not in questions:
            problems.append(Problem(claim.file, claim.line, None, f"unknown question id {claim.id!r}"))
            return False
        if claim.id in first:
            other = first[claim.id]
            problems.append(Problem(claim.file, claim.line, None,
                                    f"{claim.id} is already claimed at {other.file}:{other.line}"))
            return False
        first[claim.id] = claim
        return True

    for paths in project.topics():
        path = paths.dir / SYLLABUS_FILE
        if not path.is_file():
            syllabus.topics[paths.name] = []
            continue
        claims, found = _read_mapping(path, project.rel(path), "a syllabus")
        problems += found
        syllabus.topics[paths.name] = [c for c in claims if admit(c)]
    skip_path = project.content_dir / SKIPPED_FILE
    if skip_path.is_file():
        claims, found = _read_mapping(skip_path, project.rel(skip_path), "the skip list")
        problems += found
        for c in claims:
            if not admit(c):
                continue
            scope = questions[c.id].scope if questions is not None else "off-topic"
            if scope in REQUIRED_SCOPES:
                problems.append(Problem(c.file, c.line, None,
                                        f"{c.id} is {scope}: only off-topic questions may be skipped"))
            else:
                syllabus.skipped[c.id] = c
    return syllabus, sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.message))


def project_questions(project: Project) -> tuple[dict[str, Question], Syllabus, list[Problem]]:
    """The questions cards may cover, the syllabus, and every problem in reading them.

    With ``questions:`` in deckgen.yaml, that file is the list (and the syllabus is checked against
    it). Without it, the project's own list is what its syllabus files claim, in the deck's words:
    nothing outside the repository is needed to build, check or measure the deck.
    """
    path = project.settings.questions
    if path is None:
        syllabus, problems = load_syllabus(project, None)
        own = {c.id: Question(c.id, c.text, "core") for claims in syllabus.topics.values() for c in claims}
        return own, syllabus, problems
    try:
        questions = load_questions(path, project.rel(path))
    except DeckgenError as exc:
        return {}, Syllabus(), exc.problems
    syllabus, problems = load_syllabus(project, questions)
    return questions, syllabus, problems


def coverage(project: Project, selected: list[TopicPaths], outside: Path | None = None) -> Coverage:
    """Per selected topic, which claimed ids are covered; raises DeckgenError on broken content.

    ``outside`` measures the deck against another question list (``coverage --questions FILE``):
    its ids are reported as claimed (under their topic), skipped or unclaimed, and its scopes decide
    which are required. A card in any topic may cover an id (near-duplicate questions share cards),
    so all topics' cards are read even when only some topics are shown.
    """
    questions, syllabus, problems = project_questions(project)
    if outside is not None:
        try:
            questions = load_questions(outside, str(outside))
        except DeckgenError as exc:
            problems += exc.problems
        for c in syllabus.skipped.values():
            scope = questions.get(c.id, Question(c.id, "", "off-topic")).scope
            if scope in REQUIRED_SCOPES:
                problems.append(Problem(c.file, c.line, None,
                                        f"{c.id} is {scope} in {outside}: only off-topic questions may be skipped"))
    topics, found = load_topics(project, project.topics())
    problems += found
    if problems:
        raise DeckgenError(problems)
    cards_for: dict[str, list[str]] = {}
    for topic in topics:
        for card in topic.cards:
            for qid in card.covers:
                cards_for.setdefault(qid, []).append(card.id)

    def entry(qid: str, wording: str | None) -> IdCoverage:
        q = questions[qid]
        return IdCoverage(qid, q.scope, wording or q.question, tuple(cards_for.get(qid, ())))

    titles = {t.name: t.title for t in topics}
    shown = tuple(
        TopicCoverage(p.name, titles.get(p.name, p.name),
                      tuple(entry(c.id, c.text) for c in syllabus.topics[p.name] if c.id in questions))
        for p in selected
    )
    # Ids nobody claims: all of them when every topic is shown, else those the shown topics' cards cover.
    claimed = {c.id for claims in syllabus.topics.values() for c in claims} | set(syllabus.skipped)
    names = {p.name for p in selected}
    relevant = set(questions) if names == set(syllabus.topics) else {
        qid for t in topics if t.name in names for card in t.cards for qid in card.covers}
    unclaimed = tuple(entry(qid, None) for qid in questions if qid in relevant and qid not in claimed)
    skipped = tuple((c.id, c.text) for c in syllabus.skipped.values())
    return Coverage(shown, unclaimed, skipped)
