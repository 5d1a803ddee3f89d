"""The code base stays ruff-clean (content code included: it is part of the product)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "deckgen", "tests", "content"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_cli_command_is_documented():
    """sqlite-utils' rule: a command the README does not mention does not exist for users."""
    from deckgen.cli import main

    readme = (ROOT / "README.md").read_text()
    for name in main.commands:
        assert f"deckgen {name}" in readme, name


def _topic_table() -> str:
    from deckgen.core.project import load_project
    from deckgen.pipeline import list_topics

    summaries, problems = list_topics(load_project(ROOT))
    assert problems == []
    rows = ["| topic | title | notes | output cards | drill notes | figures |", "|---|---|---:|---:|---:|---:|"]
    rows += [f"| `{s.name}` | {s.title} | {s.notes} | {s.kinds['output']} | {s.kinds['drill']} | {s.figures} |"
             for s in summaries]
    total = [sum(getattr(s, k) for s in summaries) for k in ("notes", "figures")]
    rows.append(f"| **{len(summaries)} topics** | | **{total[0]}** | **{sum(s.kinds['output'] for s in summaries)}** "
                f"| **{sum(s.kinds['drill'] for s in summaries)}** | **{total[1]}** |")
    return "\n".join(rows)


def test_readme_topic_table_is_current():
    """The README's table of topics is the content's own count (`deckgen list`); the failure shows the table."""
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- topics: generated from deckgen list -->\n", "\n<!-- /topics -->"
    assert start in readme and end in readme, "README lacks the topic table markers"
    current = readme[readme.index(start) + len(start):readme.index(end)]
    expected = _topic_table()
    assert current == expected, "README topic table out of date; paste:\n" + expected
