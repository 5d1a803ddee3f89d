"""The command line: outputs, and bad input giving one-line errors with the old package untouched."""

from __future__ import annotations

import pytest

GOOD = """\
title: Good
cards:
  - id: good-1
    front: Value?
    back: "{{ v }}"
    covers: [q-one]
"""
GOOD_CODE = "def compute(ctx):\n    ctx.value('v', 3)\n"


def test_list_check_and_build_outputs(make_project, cli):
    root = make_project({"good": {"cards": GOOD, "compute": GOOD_CODE},
                         "plain": {"cards": "title: Plain\ncards:\n  - id: p1\n    type: cloze\n"
                                            "    text: '{{c1::a}} {{c2::b}}'\n"}})
    result = cli("list", "--project", root)
    assert result.exit_code == 0
    assert result.output.splitlines()[1:] == [
        "good       1      1        0  Good",
        "plain      1      2        0  Plain",
        "total      2      3        0",
    ]
    result = cli("check", "--project", root)
    assert result.exit_code == 1
    assert "manifest out of date: a build would change 2 notes (added 2: good-1, p1)" in result.output
    result = cli("build", "--project", root, "--topic", "good")
    assert result.exit_code == 0
    assert "wrote build/good.apkg: 1 note, 1 card, 0 figures" in result.output
    assert "good: computed in" in result.output or "good: cached" in result.output
    assert cli("build", "--project", root, "-q").exit_code == 0
    whole = (root / "build/test-deck.apkg").read_bytes()
    result = cli("build", "--project", root, "--topic", "good", "--topic", "plain", "-q")
    # Some topics never overwrite the whole deck's file: the package is named for what it holds.
    assert "wrote build/good+plain.apkg: 2 notes, 3 cards" in result.output
    assert (root / "build/test-deck.apkg").read_bytes() == whole
    assert cli("check", "--project", root).exit_code == 0
    out = root / "elsewhere.apkg"
    assert cli("build", "--project", root, "--out", out, "-q").exit_code == 0 and out.is_file()
    result = cli("build", "--project", root, "--out", root / "no-suffix", "-q")
    assert result.exit_code == 0 and "wrote no-suffix.apkg:" in result.output
    assert (root / "no-suffix.apkg").is_file() and not (root / "no-suffix").exists()
    assert cli("build", "-h").output.startswith("Usage: ")


BAD_CASES = {
    "yaml": ("cards:\n  - id: a\n    front: [oops\n", None,
             "content/t/cards.yaml:3:12: card a: YAML syntax error: a flow sequence is never closed"),
    "unknown-key": ("cards:\n  - id: a\n    front: q\n    back: b\n    hint: h\n", None,
                    "content/t/cards.yaml:5: card a: unknown key 'hint'"),
    "unknown-value": ("cards:\n  - id: a\n    front: q\n    back: |\n      x\n      {{ nope }}\n", GOOD_CODE,
                      "content/t/cards.yaml:6: card a: unknown value 'nope' (did you mean v?)"),
    "unknown-figure": ("cards:\n  - id: a\n    front: q\n    back: '![alt](fig:nope)'\n", GOOD_CODE,
                       "content/t/cards.yaml:4: card a: unknown figure 'nope' (the topic computes no figures)"),
    "unknown-covers": ("cards:\n  - id: a\n    front: q\n    back: b\n    covers: [q-zzz]\n", None,
                       "content/t/cards.yaml:2: card a: unknown question id 'q-zzz' in covers"),
    "raises": ("cards: []\n", "def compute(ctx):\n    raise ValueError('bad input')\n",
               "content/t/compute.py:2: ValueError: bad input"),
    "non-finite": ("cards: []\n", "def compute(ctx):\n    ctx.value('x', float('inf'))\n",
                   "content/t/compute.py:2: value 'x' is not finite (inf)"),
    "expectation": ("cards:\n  - id: a\n    front: q\n    back: '{{ v }}'\n    expect:\n      v: 4\n", GOOD_CODE,
                    "content/t/cards.yaml:6: card a: expectation failed: v is 3, expected 4"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_one_clean_line_and_keeps_the_old_package(make_project, cli, case):
    cards, code, message = BAD_CASES[case]
    root = make_project({"good": {"cards": GOOD, "compute": GOOD_CODE}})
    assert cli("build", "--project", root, "-q").exit_code == 0
    apkg = root / "build/test-deck.apkg"
    manifest = root / "content/manifest.json"
    before, manifest_before = apkg.read_bytes(), manifest.read_bytes()
    files = {"cards": cards} | ({"compute": code} if code else {})
    (root / "content/t").mkdir()
    for name, text in files.items():
        (root / "content/t" / ("cards.yaml" if name == "cards" else "compute.py")).write_text(text)
    result = cli("build", "--project", root, "-q")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {message}"), result.output
    assert "Traceback" not in result.output
    assert apkg.read_bytes() == before and manifest.read_bytes() == manifest_before
    assert sorted(p.name for p in (root / "build").iterdir()) == ["test-deck.apkg"]  # no temp files left


def test_duplicate_ids_and_unknown_topic(make_project, cli):
    root = make_project({"good": {"cards": GOOD}, "copy": {"cards": GOOD}})
    result = cli("check", "--project", root)
    assert result.exit_code == 1
    assert "error: content/good/cards.yaml:3: card good-1: duplicate card id (first used at " \
           "content/copy/cards.yaml:3)" in result.output
    result = cli("build", "--project", root, "--topic", "nope")
    assert result.exit_code == 1 and "error: unknown topic nope (did you mean copy, good?)" in result.output


def test_check_lists_every_problem(make_project, cli):
    root = make_project({"a": {"cards": "cards:\n  - id: x\n    front: q\n"},
                         "b": {"cards": "cards:\n  - id: y\n    back: q\n    color: red\n"}})
    result = cli("check", "--project", root)
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and result.output.rstrip().endswith("3 problems found")


def test_bad_settings_and_missing_content(tmp_path, cli):
    (tmp_path / "deckgen.yaml").write_text("deck: X\ncolour: blue\n")
    result = cli("list", "--project", tmp_path)
    assert result.exit_code == 1
    assert "error: deckgen.yaml:2: unknown setting(s): colour (deck, questions, timeout)\n" in result.output
    (tmp_path / "deckgen.yaml").write_text("deck: X\n")
    result = cli("build", "--project", tmp_path)
    assert result.exit_code == 1 and "no content folder" in result.output
