"""The syllabus files and `deckgen coverage`: every question id claimed, covered, or skipped with a reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from conftest import MakeProject

QUESTIONS = """\
- id: q-core
  question: A core question?
  scope: core
- id: q-side
  question: A peripheral question?
  scope: peripheral
- id: q-off
  question: An off-topic question?
  scope: off-topic
"""

CARDS = """\
title: Alpha
cards:
  - id: a-one
    front: Q
    back: A
    covers: [{covers}]
"""


def project(make_project: MakeProject, covers: str = "q-core, q-side", syllabus: str | None = None,
            skipped: str | None = "q-off: Not about deep learning.\n", extra: dict[str, dict[str, str]] | None = None
            ) -> Path:
    if syllabus is None:
        syllabus = "q-core: The core question, reworded?\nq-side: The side question, reworded?\n"
    topics = {"alpha": {"cards": CARDS.format(covers=covers), "syllabus.yaml": syllabus}, **(extra or {})}
    root = make_project(topics)
    (root / "questions.yaml").write_text(QUESTIONS)
    if skipped is not None:
        (root / "content" / "skipped.yaml").write_text(skipped)
    return root


def test_complete_coverage_exits_zero(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    root = project(make_project)
    result = cli("coverage", "--project", root)
    assert result.exit_code == 0, result.output
    assert "alpha (Alpha): 2/2 covered" in result.output
    assert "The core question, reworded?  [a-one]" in result.output  # the deck's own wording is shown
    assert "q-off" in result.output and "Not about deep learning." in result.output
    assert result.output.rstrip().endswith("2/2 core and peripheral ids covered; complete")


def test_claimed_but_uncovered_id_fails(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    root = project(make_project, covers="q-core")
    result = cli("coverage", "--project", root)
    assert result.exit_code == 1
    assert "alpha (Alpha): 1/2 covered" in result.output
    assert "MISS  q-side" in result.output
    missing_only = cli("coverage", "--project", root, "--missing")
    assert "q-core" not in missing_only.output and "MISS  q-side" in missing_only.output


def test_unclaimed_ids_fail_even_off_topic(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    root = project(make_project, syllabus="q-core: Reworded?\n", skipped=None)
    result = cli("coverage", "--project", root)
    assert result.exit_code == 1
    assert "not in any syllabus (2)" in result.output
    assert "MISS  q-side" in result.output and "MISS  q-off" in result.output


def test_another_topics_card_may_cover_a_claimed_id(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    beta = {"cards": CARDS.replace("Alpha", "Beta").replace("a-one", "b-one").format(covers="q-side")}
    root = project(make_project, covers="q-core", extra={"beta": beta})
    result = cli("coverage", "--project", root)
    assert result.exit_code == 0, result.output
    assert "[b-one]" in result.output


def test_only_off_topic_ids_may_be_skipped(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    root = project(make_project, syllabus="q-core: Reworded?\n", skipped="q-off: Off.\nq-side: Too hard.\n")
    result = cli("coverage", "--project", root)
    assert result.exit_code == 1
    assert "error: content/skipped.yaml:2: q-side is peripheral: only off-topic questions may be skipped" \
        in result.output


def test_bad_syllabus_entries_are_located(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    extra = {"beta": {"cards": CARDS.replace("a-one", "b-one").format(covers="q-core"),
                      "syllabus.yaml": "q-side: Side?\nq-core: Claimed twice?\nq-nope: Unknown?\nq-off:\n"}}
    root = project(make_project, extra=extra)
    result = cli("coverage", "--project", root)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: content/beta/syllabus.yaml:1: q-side is already claimed at content/alpha/syllabus.yaml:2",
        "error: content/beta/syllabus.yaml:2: q-core is already claimed at content/alpha/syllabus.yaml:1",
        "error: content/beta/syllabus.yaml:3: unknown question id 'q-nope'",
        "error: content/beta/syllabus.yaml:4: q-off: needs one line of text, not None",
    ]
    assert "Traceback" not in result.output


def test_syllabus_yaml_errors_and_check(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    root = project(make_project, syllabus="q-core: [unclosed\n")
    result = cli("coverage", "--project", root)
    assert result.exit_code == 1
    assert "error: content/alpha/syllabus.yaml:" in result.output and "YAML syntax error" in result.output
    # `deckgen check` validates the syllabus files too, but coverage gaps are not check problems.
    checked = cli("check", "--project", root)
    assert checked.exit_code == 1 and "content/alpha/syllabus.yaml" in checked.output


def test_check_accepts_coverage_gaps(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    root = project(make_project, covers="q-core")
    assert cli("build", "--project", root, "--quiet").exit_code == 0
    result = cli("check", "--project", root)
    assert result.exit_code == 0, result.output


def test_topic_filter_and_json(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    beta = {"cards": CARDS.replace("Alpha", "Beta").replace("a-one", "b-one").format(covers="q-core"),
            "syllabus.yaml": ""}
    root = project(make_project, extra={"beta": beta})
    result = cli("coverage", "--project", root, "--topic", "beta", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data["topics"]) == ["beta"]
    assert data["topics"]["beta"]["ids"] == [] and data["unclaimed"] == []
    full = json.loads(cli("coverage", "--project", root, "--json").output)
    assert full["covered"] == 2 and full["required"] == 2 and full["complete"] is True
    core = full["topics"]["alpha"]["ids"][0]
    assert core == {"id": "q-core", "scope": "core", "question": "The core question, reworded?", "covered": True,
                    "cards": ["a-one", "b-one"]}
    assert full["skipped"] == [{"id": "q-off", "reason": "Not about deep learning."}]
    unknown = cli("coverage", "--project", root, "--topic", "gamma")
    assert unknown.exit_code == 1 and "error: unknown topic gamma" in unknown.output


def test_a_topic_covering_unclaimed_ids_is_not_complete(make_project: MakeProject,
                                                         cli: Callable[..., Result]) -> None:
    beta = {"cards": CARDS.replace("Alpha", "Beta").replace("a-one", "b-one").format(covers="q-off")}
    root = project(make_project, skipped=None, extra={"beta": beta})
    result = cli("coverage", "--project", root, "--topic", "beta")
    assert result.exit_code == 1
    assert "not in any syllabus (1)" in result.output and "q-off" in result.output


def test_the_syllabus_is_the_projects_own_question_list(make_project: MakeProject,
                                                        cli: Callable[..., Result]) -> None:
    """Without `questions:` in deckgen.yaml, the ids the syllabus files claim are the questions."""
    root = project(make_project, covers="q-core", skipped=None)
    (root / "deckgen.yaml").write_text("deck: Test\n")
    (root / "questions.yaml").unlink()  # nothing outside the content is read
    result = cli("coverage", "--project", root)
    assert result.exit_code == 1
    assert "alpha (Alpha): 1/2 covered" in result.output
    assert "MISS  q-side           core       The side question, reworded?" in result.output
    assert cli("build", "--project", root, "-q").exit_code == 0
    cards = root / "content" / "alpha" / "cards.yaml"
    cards.write_text(cards.read_text().replace("covers: [q-core]", "covers: [q-core, q-other]"))
    result = cli("build", "--project", root)
    assert result.exit_code == 1
    assert "content/alpha/cards.yaml:3: card a-one: unknown question id 'q-other' in covers" in result.output


def test_coverage_measured_against_an_outside_list(make_project: MakeProject, cli: Callable[..., Result]) -> None:
    """`--questions FILE` measures the deck against another list; the deck's own extra ids are no problem."""
    root = project(make_project, syllabus="q-core: Core, reworded?\nq-side: Side, reworded?\nq-own: Our own?\n")
    (root / "deckgen.yaml").write_text("deck: Test\n")
    outside = root.parent / "outside.yaml"
    outside.write_text(QUESTIONS + "- id: q-new\n  question: A question the deck does not claim?\n  scope: core\n")
    result = cli("coverage", "--project", root, "--questions", outside)
    assert result.exit_code == 1
    assert "alpha (Alpha): 2/2 covered" in result.output
    assert "q-own" not in result.output
    assert "MISS  q-new            core       A question the deck does not claim?" in result.output
    assert result.output.rstrip().endswith("2/3 core and peripheral ids covered; 1 to do")
    outside.write_text(QUESTIONS)
    assert cli("coverage", "--project", root, "--questions", outside).exit_code == 0

