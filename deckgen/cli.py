"""The ``deckgen`` command line: a thin click layer over :mod:`deckgen.build`.

User mistakes arrive as DeckgenError and are printed one problem per line, with exit code 1.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .build import BuildOptions, build, check, default_jobs, list_topics
from .errors import DeckgenError, Problem
from .project import Project, load_project
from .syllabus import Coverage, coverage

F = TypeVar("F", bound=Callable[..., Any])


def project_option(f: F) -> F:
    return click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("."), show_default="current directory",
                        help="The project folder (holding content/).")(f)  # type: ignore[return-value]


def compute_options(f: F) -> F:
    f = click.option("--topic", "topics", multiple=True, metavar="T", help="Only this topic (repeatable).")(f)
    f = click.option("--jobs", "-j", type=click.IntRange(min=1), default=default_jobs, show_default="all cores",
                     help="Computations to run at once.")(f)
    f = click.option("--fresh", is_flag=True, help="Ignore cached computation results.")(f)
    f = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Seconds a topic's computation may run (default: deckgen.yaml, else 300).")(f)
    return f


def _fail(problems: list[Problem]) -> None:
    for p in problems:
        click.echo(f"error: {p}", err=True)
    n = len(problems)
    click.echo(f"{n} problem{'s' if n != 1 else ''} found", err=True)
    sys.exit(1)


def _project(project_dir: Path) -> Project:
    try:
        return load_project(project_dir)
    except DeckgenError as exc:
        _fail(exc.problems)
        raise  # unreachable


class _Progress:
    """Progress lines on stderr while computing, so stdout stays clean for results."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, topic: str, status: str, seconds: float) -> None:
        if self.quiet:
            return
        text = {
            "cached": "cached",
            "started": "computing ...",
            "done": f"computed in {seconds:.1f} s",
            "failed": f"failed after {seconds:.1f} s",
        }[status]
        click.echo(f"  {topic}: {text}", err=True)


@click.group()
@click.version_option(__version__, prog_name="deckgen")
def main() -> None:
    """Build Anki decks whose numbers and figures are computed by PyTorch."""


@main.command("build")
@project_option
@compute_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output .apkg (default: build/<topic>.apkg for one topic, else build/<deck>.apkg).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def build_cmd(project_dir: Path, topics: tuple[str, ...], jobs: int, fresh: bool, timeout: float | None,
              out: Path | None, quiet: bool) -> None:
    """Build a deck: one topic, several, or (with no --topic) all of them as subdecks."""
    project = _project(project_dir)
    options = BuildOptions(topics=topics, out=out, jobs=jobs, fresh=fresh, timeout=timeout)
    try:
        report = build(project, options, _Progress(quiet))
    except DeckgenError as exc:
        _fail(exc.problems)
        return
    size = f"{report.bytes / 1024:.0f} KiB"
    click.echo(f"wrote {project.rel(report.out)}: {report.notes} notes, {report.cards} cards, "
               f"{report.figures} figures ({size}); {len(report.changed)} notes changed since the manifest")


@main.command("check")
@project_option
@compute_options
def check_cmd(project_dir: Path, topics: tuple[str, ...], jobs: int, fresh: bool, timeout: float | None) -> None:
    """Validate all content and run every computation; write no package."""
    project = _project(project_dir)
    try:
        problems = check(project, BuildOptions(topics=topics, jobs=jobs, fresh=fresh, timeout=timeout),
                         _Progress(False))
    except DeckgenError as exc:
        problems = exc.problems
    if problems:
        _fail(problems)
    click.echo("ok: content valid, computations ran, manifest up to date")


@main.command("list")
@project_option
def list_cmd(project_dir: Path) -> None:
    """Topics with their note, card and figure counts."""
    project = _project(project_dir)
    try:
        summaries, problems = list_topics(project)
    except DeckgenError as exc:
        _fail(exc.problems)
        return
    width = max((len(s.name) for s in summaries), default=5)
    click.echo(f"{'topic':<{width}}  {'notes':>5}  {'cards':>5}  {'figures':>7}  title")
    for s in summaries:
        click.echo(f"{s.name:<{width}}  {s.notes:>5}  {s.cards:>5}  {s.figures:>7}  {s.title}")
    click.echo(f"{'total':<{width}}  {sum(s.notes for s in summaries):>5}  {sum(s.cards for s in summaries):>5}  "
               f"{sum(s.figures for s in summaries):>7}")
    if problems:
        _fail(problems)


@main.command("coverage")
@project_option
@click.option("--topic", "topics", multiple=True, metavar="T", help="Only this topic (repeatable).")
@click.option("--missing", is_flag=True, help="List only the ids that still need a card.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def coverage_cmd(project_dir: Path, topics: tuple[str, ...], missing: bool, as_json: bool) -> None:
    """Which question ids each topic's cards cover; exit 1 while a core or peripheral id is not."""
    project = _project(project_dir)
    try:
        report = coverage(project, project.select(topics))
    except DeckgenError as exc:
        _fail(exc.problems)
        return
    if as_json:
        click.echo(json.dumps(_coverage_json(report), indent=2))
    else:
        _print_coverage(report, missing)
    if not report.complete:
        sys.exit(1)


def _coverage_json(report: Coverage) -> dict[str, Any]:
    def ids(items: Any) -> list[dict[str, Any]]:
        return [{"id": i.id, "scope": i.scope, "question": i.question, "covered": i.covered, "cards": list(i.cards)}
                for i in items]

    covered, required = report.counts()
    return {
        "topics": {t.name: {"title": t.title, "ids": ids(t.ids)} for t in report.topics},
        "unclaimed": ids(report.unclaimed),
        "skipped": [{"id": qid, "reason": reason} for qid, reason in report.skipped],
        "covered": covered, "required": required, "complete": report.complete,
    }


def _print_coverage(report: Coverage, missing: bool) -> None:
    def line(i: Any) -> str:
        unclaimed = i in report.unclaimed  # missing from the syllabus even when a card covers it
        mark = "MISS" if unclaimed or (i.required and not i.covered) else ("ok  " if i.covered else "--  ")
        cards = f"  [{', '.join(i.cards[:3])}{', ...' if len(i.cards) > 3 else ''}]" if i.cards else ""
        return f"  {mark}  {i.id:<16} {i.scope:<10} {i.question}{cards}"

    for t in report.topics:
        needed = [i for i in t.ids if i.required]
        click.echo(f"{t.name} ({t.title}): {sum(i.covered for i in needed)}/{len(needed)} covered")
        for i in t.ids:
            if not missing or (i.required and not i.covered):
                click.echo(line(i))
    if report.unclaimed:
        click.echo(f"not in any syllabus ({len(report.unclaimed)}): claim each in content/<topic>/syllabus.yaml, "
                   "or skip an off-topic one in content/skipped.yaml")
        for i in report.unclaimed:
            click.echo(line(i))
    if report.skipped and not missing:
        click.echo(f"skipped ({len(report.skipped)}):")
        for qid, reason in report.skipped:
            click.echo(f"  --    {qid:<16} {reason}")
    covered, total = report.counts()
    status = "complete" if report.complete else f"{len(report.failures)} to do"
    click.echo(f"{covered}/{total} core and peripheral ids covered; {status}")
