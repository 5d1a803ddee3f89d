"""The ``deckgen`` command line: parse the arguments, call the library, print the result.

User mistakes arrive as DeckgenError from any command; :class:`_Main` turns them into one
``error:`` line per problem and exit code 1, in one place. Results print from the records'
``to_dict()`` (``--json``) or from their fields; no command builds its own JSON shape.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .core.errors import DeckgenError, Problem, plural
from .core.project import DEFAULT_TIMEOUT, load_project
from .pipeline import BuildOptions, build, check, list_topics

F = TypeVar("F", bound=Callable[..., Any])


def project_option(f: F) -> F:
    return click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("."), show_default="current directory",
                        help="The project folder (holding content/).")(f)  # type: ignore[return-value]


def topics_option(f: F) -> F:
    return click.option("--topic", "topics", multiple=True, metavar="T",
                        help="Only this topic (repeatable).")(f)  # type: ignore[return-value]


def compute_options(f: F) -> F:
    f = topics_option(f)
    f = click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, show_default="all cores",
                     help="Computations to run at once.")(f)
    f = click.option("--fresh", is_flag=True, help="Ignore cached computation results.")(f)
    f = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Seconds a topic's computation may run "
                          f"(default: deckgen.yaml, else {DEFAULT_TIMEOUT:g}).")(f)
    return f


def _fail(problems: list[Problem]) -> None:
    for p in problems:
        click.echo(f"error: {p}", err=True)
    click.echo(f"{plural(len(problems), 'problem')} found", err=True)
    sys.exit(1)


class _Main(click.Group):
    """The command group; the one place a DeckgenError becomes its lines on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DeckgenError as exc:
            _fail(exc.problems)


class _Progress:
    """Progress lines on stderr while computing, so stdout stays clean for results."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, topic: str, status: str, seconds: float, detail: str = "") -> None:
        if status == "stderr":  # the author's own output (warnings, debugging prints): shown even with -q
            click.echo(f"  {topic}: compute.py wrote to stderr:", err=True)
            for line in detail.rstrip().splitlines():
                click.echo(f"    | {line}", err=True)
            return
        if self.quiet:
            return
        text = {
            "cached": "cached",
            "started": "computing ...",
            "done": f"computed in {seconds:.1f} s",
            "failed": f"failed after {seconds:.1f} s",
        }[status]
        click.echo(f"  {topic}: {text}", err=True)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deckgen")
def main() -> None:
    """Build Anki decks whose numbers and figures are computed by PyTorch."""


@main.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--deck", default=None, metavar="NAME", help="The deck's name in Anki (default: the folder's name).")
def init_cmd(directory: Path, deck: str | None) -> None:
    """Start a new project in DIRECTORY: settings and one topic with a card of each kind, ready to build."""
    from .authoring.starter import init_project

    made = init_project(directory, deck)
    click.echo(f"created {directory}: deck {made.deck!r}, {len(made.files)} files")
    for rel in made.files:
        click.echo(f"  {rel}")
    where = shlex.quote(str(directory))
    click.echo(f"next: deckgen build --project {where}   (or deckgen serve --project {where})")


@main.command("build")
@project_option
@compute_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output .apkg (default: build/<deck>.apkg for the whole deck, build/<topic>[+<topic>...].apkg "
                   "for chosen topics); .apkg is added when missing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="Print what the build did as JSON.")
def build_cmd(project_dir: Path, topics: tuple[str, ...], jobs: int | None, fresh: bool, timeout: float | None,
              out: Path | None, quiet: bool, as_json: bool) -> None:
    """Build a deck: one topic, several, or (with no --topic) all of them as subdecks."""
    project = load_project(project_dir)
    options = BuildOptions(topics=topics, out=out, jobs=jobs, fresh=fresh, timeout=timeout)
    report = build(project, options, _Progress(quiet or as_json))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    size = f"{report.bytes / 1024:.0f} KiB"
    what = f"wrote {project.rel(report.out)}" if report.written else f"{project.rel(report.out)} is up to date"
    n = report.account.count
    click.echo(f"{what}: {plural(report.notes, 'note')}, {plural(report.cards, 'card')}, "
               f"{plural(report.figures, 'figure')} ({size}); {plural(n, 'note')} changed since the manifest")
    for line in report.account.lines():
        click.echo(f"  {line}", err=True)


@main.command("check")
@project_option
@compute_options
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def check_cmd(project_dir: Path, topics: tuple[str, ...], jobs: int | None, fresh: bool,
              timeout: float | None, quiet: bool) -> None:
    """Validate all content and run every computation; write no package."""
    project = load_project(project_dir)
    report = check(project, BuildOptions(topics=topics, jobs=jobs, fresh=fresh, timeout=timeout), _Progress(quiet))
    for line in report.account.lines():
        click.echo(f"  a build would have {line}", err=True)
    if report.problems:
        _fail(report.problems)
    click.echo("ok: content valid, computations ran, manifest up to date")


@main.command("preview")
@project_option
@compute_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: build/preview).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def preview_cmd(project_dir: Path, topics: tuple[str, ...], jobs: int | None, fresh: bool, timeout: float | None,
                out: Path | None, quiet: bool) -> None:
    """Every card, front and back, rendered by Anki into a folder you open in any browser."""
    from .authoring.preview import preview

    project = load_project(project_dir)
    options = BuildOptions(topics=topics, jobs=jobs, fresh=fresh, timeout=timeout)
    report = preview(project, options, out, _Progress(quiet))
    click.echo(f"wrote {project.rel(report.out / 'index.html')}: {report.cards} cards, {report.media} media files "
               "(open it in a browser; light/night and phone widths are switchable)")


@main.command("serve")
@project_option
@topics_option
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port; the URL is printed).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, show_default="all cores",
              help="Computations to run at once.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"Seconds a topic's computation may run (default: deckgen.yaml, else {DEFAULT_TIMEOUT:g}).")
def serve_cmd(project_dir: Path, topics: tuple[str, ...], port: int, open_browser: bool, jobs: int | None,
              timeout: float | None) -> None:
    """The preview, live: rebuilds what you save and updates the open page; problems show in it. Ctrl-C stops."""
    from .authoring.serve import ServeOptions, serve

    options = ServeOptions(topics=topics, port=port, open_browser=open_browser, jobs=jobs, timeout=timeout)
    serve(load_project(project_dir), options, lambda line: click.echo(line, err=True), _Progress(False))
    click.echo("stopped", err=True)


@main.command("list")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON, with notes per kind of card.")
def list_cmd(project_dir: Path, as_json: bool) -> None:
    """Topics with their note, card and figure counts."""
    project = load_project(project_dir)
    summaries, problems = list_topics(project)
    if as_json and not problems:
        totals = {k: sum(s.kinds[k] for s in summaries) for k in summaries[0].kinds} if summaries else {}
        click.echo(json.dumps({"topics": {s.name: s.to_dict() for s in summaries},
                               "total": {"notes": sum(s.notes for s in summaries),
                                         "cards": sum(s.cards for s in summaries),
                                         "figures": sum(s.figures for s in summaries), "kinds": totals}}, indent=2))
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
@topics_option
@click.option("--missing", is_flag=True, help="List only the ids that still need a card.")
@click.option("--questions", "outside", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Measure against this question list (id, question, scope) instead of the project's own.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def coverage_cmd(project_dir: Path, topics: tuple[str, ...], missing: bool, outside: Path | None,
                 as_json: bool) -> None:
    """Which question ids each topic's cards cover; exit 1 while a core or peripheral id is not."""
    from .deck.syllabus import coverage

    project = load_project(project_dir)
    report = coverage(project, project.select(topics), outside)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_coverage(report, missing)
    if not report.complete:
        sys.exit(1)


def _print_coverage(report: Any, missing: bool) -> None:
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


@main.command("lint")
@project_option
@topics_option
@click.option("--rules", "show_rules", is_flag=True, help="List the rules with their explanations and exit.")
def lint_cmd(project_dir: Path, topics: tuple[str, ...], show_rules: bool) -> None:
    """Card-quality rules for spaced repetition; exit 1 on findings. Reads cards.yaml only."""
    from .authoring.lint import RULES, lint

    if show_rules:
        width = max(len(r.id) for r in RULES)
        for r in RULES:
            click.echo(f"{r.id:<{width}}  {r.explanation}")
        return
    project = load_project(project_dir)
    findings = lint(project, topics)
    for f in findings:
        click.echo(str(f))
    if findings:
        cards = len({f.card for f in findings})
        click.echo(f"{plural(len(findings), 'finding')} on {plural(cards, 'card')}; "
                   "fix them, or silence one on its card with `lint: {rule: reason}` (`deckgen lint --rules`)")
        sys.exit(1)
    click.echo(f"ok: no findings in {plural(len(project.select(topics)), 'topic')}")


@main.command("fit")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the fitted parameters here (JSON, for `deckgen plan --params`).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def fit_cmd(source: Path, out: Path | None, as_json: bool) -> None:
    """Fit FSRS memory parameters to a collection or a review-log CSV; report held-out log loss and RMSE."""
    from .srs.memory import fit, save_params
    from .srs.reviews import read_collection, read_csv

    shown = str(source)
    if source.suffix.lower() == ".csv":
        report = fit(read_csv(source, shown), shown)
    else:
        data = read_collection(source, shown)
        report = fit(data.reviews, shown, data.rollover_hours, data.utc_offset_minutes)
    if out is not None:
        save_params(report, out)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(f"{report.reviews} reviews: trained on {report.train_items} later-day reviews, "
               f"tested on the last {report.test_items} (from {report.split_time:%Y-%m-%d %H:%M} UTC); "
               f"fit took {report.seconds:.2f} s")
    click.echo(f"{'held-out':<10} {'log loss':>9} {'RMSE(bins)':>11}")
    click.echo(f"{'default':<10} {report.default.log_loss:>9.4f} {report.default.rmse_bins:>11.4f}")
    click.echo(f"{'fitted':<10} {report.fitted.log_loss:>9.4f} {report.fitted.rmse_bins:>11.4f}")
    if report.fitted.log_loss >= report.default.log_loss:
        click.echo("note: the fitted parameters do not beat the defaults on held-out reviews; keep the defaults")
    if out is not None:
        click.echo(f"wrote {out}")


@main.command("plan")
@project_option
@click.option("--until", "until", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The interview date (YYYY-MM-DD).")
@click.option("--topic", "topics", multiple=True, metavar="T", help="Only this topic's cards (repeatable).")
@click.option("--collection", type=click.Path(path_type=Path), default=None,
              help="Plan from where you stand: your collection.anki2 or a .colpkg (read from a copy).")
@click.option("--retention", type=float, default=0.9, show_default=True, help="Target recall on the date.")
@click.option("--desired-retention", type=float, default=None,
              help="Anki's desired retention to schedule with (default: the target).")
@click.option("--minutes-per-day", type=float, default=30.0, show_default=True, help="Daily time budget.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FSRS parameters from `deckgen fit --out` (default: fitted from --collection, else defaults).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a figure: new and review cards per day, predicted recall.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, hidden=True)
def plan_cmd(project_dir: Path, until: Any, topics: tuple[str, ...], collection: Path | None, retention: float,
             desired_retention: float | None, minutes_per_day: float, params_file: Path | None, plot: Path | None,
             as_json: bool, today: Any) -> None:
    """The New cards/day to set in Anki so the deck is recalled on an interview date."""
    from .srs.plan import plan_for

    project = load_project(project_dir)
    result = plan_for(project, topics, collection, until.date(), today.date() if today else None, retention,
                      desired_retention, minutes_per_day, params_file)
    if plot is not None:
        from .srs.plan import write_figure

        write_figure(result, plot)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    from .srs.plan_text import plan_lines

    for line in plan_lines(result):
        click.echo(line)
    if plot is not None:
        click.echo(f"wrote {plot}")


@main.command("stats")
@project_option
@click.argument("collection", type=click.Path(path_type=Path))
@click.option("--plot-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write retention, review-history and forgetting-curve figures here.")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Weakest cards to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def stats_cmd(project_dir: Path, collection: Path, plot_dir: Path | None, limit: int, as_json: bool) -> None:
    """Per-topic results from an Anki collection (read from a copy); the weakest cards with their lint findings."""
    from .authoring.lint import lint
    from .srs.reviews import read_collection
    from .srs.stats import collect, write_plots

    project = load_project(project_dir)
    stats = collect(project, read_collection(collection, str(collection)), limit)
    if stats.weakest:  # composed here: the toolkit does not import the author's aids
        findings: dict[str, list[str]] = {}
        for f in lint(project, sorted({w.topic for w in stats.weakest})):
            findings.setdefault(f.card, []).append(f"{f.rule}: {f.message}")
        stats = stats.with_lint(findings)
    plots = write_plots(stats, plot_dir) if plot_dir is not None else []
    if as_json:
        click.echo(json.dumps(stats.to_dict(), indent=2))
        return
    if not stats.topics:
        click.echo(f"no cards of this deck in {collection} ({stats.other_cards} other cards)")
        return
    width = max(len(t.name) for t in stats.topics)
    click.echo(f"{'topic':<{width}}  {'cards':>5}  {'studied':>7}  {'answers':>7}  {'review answers':>14}  "
               f"{'passed':>6}  {'retention':>9}  {'lapses':>6}")
    for t in stats.topics:
        ret = f"{t.retention:.0%}" if t.retention is not None else "-"
        click.echo(f"{t.name:<{width}}  {t.cards:>5}  {t.studied:>7}  {t.answers:>7}  {t.review_answers:>14}  "
                   f"{t.passed:>6}  {ret:>9}  {t.lapses:>6}")
    click.echo("answers: every answer, learning steps included; review answers: answers to cards in review state, "
               "which retention (passed / review answers) and lapses (review answers rated Again) count")
    if stats.weakest:
        click.echo("weakest cards (rewrite or split them):")
        for w in stats.weakest:
            click.echo(f"  {w.file}:{w.line}: card {w.id}: {_n(w.lapses, 'lapse')} in "
                       f"{_n(w.review_answers, 'review answer')}, {w.again} Again in {_n(w.answers, 'answer')}")
            for finding in w.lint or ("no lint findings",):
                click.echo(f"      lint: {finding}")
    for p in plots:
        click.echo(f"wrote {p}")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"
