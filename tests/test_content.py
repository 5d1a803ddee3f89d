"""Loading and validating cards.yaml: every problem located by file, line and card."""

from __future__ import annotations

from pathlib import Path

from deckgen.core.project import load_project
from deckgen.core.records import CardType
from deckgen.deck.cards import check_covers, load_topics
from deckgen.deck.questions import load_questions

GOOD = """\
title: Demo
cards:
  - id: demo-basic
    front: What is 1 + 1?
    back: |
      Two, shown as {{ two }}.

      Also {{ missing }}.
    tags: [arith]
    covers: [q-one]
  - id: demo-cloze
    type: cloze
    text: "A {{c1::cloze}} with {{ two }} inside {{c2::{{ two:d }}}}"
  - id: demo-rev
    type: basic-reversed
    front: front
    back: back
    expect:
      two: 2
      half: {approx: 0.5, rel: 0.01}
"""


def load(root: Path):
    project = load_project(root)
    return load_topics(project, project.topics())


def test_valid_cards_load_with_types_lines_and_refs(make_project):
    topics, problems = load(make_project({"demo": {"cards": GOOD}}))
    assert problems == []
    (topic,) = topics
    assert topic.title == "Demo"
    basic, cloze, rev = topic.cards
    assert (basic.type, cloze.type, rev.type) == (CardType.BASIC, CardType.CLOZE, CardType.REVERSED)
    assert basic.line == 3 and cloze.line == 11 and rev.line == 14
    # `|` block: text starts on the line after `back: |`; refs are located on their own lines.
    refs = [(f, r.name, line) for f, r, line in basic.refs()]
    assert refs == [("back", "two", 6), ("back", "missing", 8)]
    # Cloze markers are not values; a value inside a cloze is.
    assert [r.name for _, r, _ in cloze.refs()] == ["two", "two"]
    assert [e.name for e in rev.expects] == ["two", "half"]
    assert rev.expects[1].approx == 0.5


def problem_lines(make_project, cards: str) -> list[str]:
    _, problems = load(make_project({"demo": {"cards": cards}}))
    return [str(p) for p in problems]


def test_yaml_syntax_error_names_file_and_line(make_project):
    msgs = problem_lines(make_project, "title: x\ncards:\n  - id: a\n    front: [unclosed\n")
    assert len(msgs) == 1
    assert msgs[0].startswith("content/demo/cards.yaml:") and "YAML syntax error" in msgs[0]


def test_unknown_key_and_missing_back_are_reported_with_card(make_project):
    msgs = problem_lines(make_project, "cards:\n  - id: c1\n    front: q\n    answer: a\n")
    assert "content/demo/cards.yaml:4: card c1: unknown key 'answer'" in msgs[0] or any(
        m.startswith("content/demo/cards.yaml:4: card c1: unknown key 'answer'") for m in msgs)
    assert any("card c1: a basic card needs a non-empty `back`" in m for m in msgs)


def test_duplicate_yaml_key_is_an_error(make_project):
    msgs = problem_lines(make_project, "cards:\n  - id: c1\n    front: a\n    front: b\n    back: c\n")
    assert msgs == ["content/demo/cards.yaml:4:5: card c1: duplicate key 'front': write each key once"]


def test_duplicate_ids_across_topics(make_project):
    card = "cards:\n  - id: same\n    front: a\n    back: b\n"
    _, problems = load(make_project({"one": {"cards": card}, "two": {"cards": card}}))
    assert [str(p) for p in problems] == [
        "content/two/cards.yaml:2: card same: duplicate card id (first used at content/one/cards.yaml:2)"]


def test_cloze_without_deletion_and_bad_type(make_project):
    msgs = problem_lines(make_project, "cards:\n  - id: c1\n    type: cloze\n    text: no deletion\n"
                                       "  - id: c2\n    type: essay\n    front: a\n")
    assert msgs == [
        "content/demo/cards.yaml:4: card c1: a cloze card needs at least one {{c1::...}} deletion",
        "content/demo/cards.yaml:6: card c2: unknown type 'essay' (basic, cloze, basic-reversed, output or drill)",
    ]


def test_bad_id_tags_and_expect(make_project):
    msgs = problem_lines(make_project, "cards:\n  - id: Bad_Id\n    front: a\n    back: b\n"
                                       "  - id: ok\n    front: a\n    back: b\n    tags: [two words]\n"
                                       "    expect:\n      x: {near: 1}\n")
    assert msgs[0].startswith("content/demo/cards.yaml:2: card id must be lower-case")
    assert "card ok: bad tag 'two words'" in msgs[1]
    assert msgs[2].startswith("content/demo/cards.yaml:10: card ok: expect x: unknown key(s) near")


def test_non_utf8_file_names_the_line(make_project):
    root = make_project({"demo": {"cards": "cards: []\n"}})
    (root / "content/demo/cards.yaml").write_bytes(b"cards:\n  - id: a\n    front: caf\xe9\n")
    _, problems = load(root)
    assert [str(p) for p in problems] == ["content/demo/cards.yaml:3: not valid UTF-8 (byte 0xe9)"]


def test_unknown_covers_id(make_project):
    root = make_project({"demo": {"cards": "cards:\n  - id: c1\n    front: a\n    back: b\n"
                                            "    covers: [q-one, q-nope]\n"}})
    topics, _ = load(root)
    questions = load_questions(root / "questions.yaml", "questions.yaml")
    assert [str(p) for p in check_covers(topics, questions)] == [
        "content/demo/cards.yaml:2: card c1: unknown question id 'q-nope' in covers (did you mean q-one, q-two?)"]
