"""Rendering: values, figures, math and code become the HTML Anki shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from deckgen.core.records import Card, CardType, Expectation, Figure, Text, TopicResult
from deckgen.core.syntax import format_value
from deckgen.deck.render import check_expectations, markdown_to_html, render_card


def card(ctype=CardType.BASIC, literal=True, **fields: str) -> Card:
    if ctype is CardType.BASIC:
        fields = {"front": "Q?", **fields}
    return Card(id="c1", type=ctype, fields={k: Text(v, 10, literal) for k, v in fields.items()}, tags=("t",),
                covers=(), expects=(), topic="demo", file="content/demo/cards.yaml", line=9)


RESULT = TopicResult("demo", {"lr": 0.001, "shape": [2, 4, 128], "n": 1234567, "name": "Adam"},
                     {"path": Figure("path", "ab" * 32, Path("/day.png"), "cd" * 32, Path("/night.png"))})


@pytest.mark.parametrize(("value", "spec", "shown"), [
    (0.1 + 0.2, "", "0.3"),
    (0.001, "g", "0.001"),
    (1234567, ",", "1,234,567"),
    ([2, 4, 128], "", "(2, 4, 128)"),
    ([5], "", "(5,)"),
    ([0.5, 0.25], ".1f", "(0.5, 0.2)"),
    (True, "", "True"),
])
def test_format_value(value, spec, shown):
    assert format_value(value, spec) == shown


def test_format_spec_that_does_not_fit_is_a_clear_error():
    with pytest.raises(ValueError, match="format spec 'd' does not fit a float"):
        format_value(0.5, "d")


def test_values_and_figures_are_filled_in():
    note, problems = render_card(card(front="Optimizer {{ name }}?",
                                      back="lr = {{ lr:g }}, shape {{ shape }}\n\n![a path](fig:path)"), RESULT)
    assert problems == []
    front, back, extra, card_id = note.fields
    assert front == "<p>Optimizer Adam?</p>"
    assert "lr = 0.001, shape (2, 4, 128)" in back
    assert '<img class="dg-fig dg-day" src="dg-abababababababababab.png" alt="a path">' in back
    assert '<img class="dg-fig dg-night" src="dg-cdcdcdcdcdcdcdcdcdcd.png" alt="a path">' in back
    assert extra == "" and card_id == "c1"
    assert [name for m in note.media for name, _ in m.files()] == ["dg-abababababababababab.png",
                                                                   "dg-cdcdcdcdcdcdcdcdcdcd.png"]
    assert note.tags == ("t", "deckgen::demo")


def test_value_inside_cloze_and_math():
    note, problems = render_card(card(CardType.CLOZE, text="{{c1::{{ n:, }}}} and \\( \\eta = {{ lr:g }} \\)"),
                                 RESULT)
    assert problems == []
    assert note.fields[0] == '<p>{{c1::1,234,567}} and <span class="arithmatex">\\( \\eta = 0.001 \\)</span></p>'


def test_unknown_names_are_located_by_line_and_list_known_names():
    _, problems = render_card(card(back="ok\n\n{{ nope }}\n![x](fig:gone)"), RESULT)
    assert [str(p) for p in problems] == [
        "content/demo/cards.yaml:12: card c1: unknown value 'nope' (did you mean name, shape, n? 1 other value)",
        "content/demo/cards.yaml:13: card c1: unknown figure 'gone' (did you mean path?)",
    ]


def test_markdown_does_not_touch_math():
    html = markdown_to_html(r"Inline \(a_1 * b_2 * c\) and display \[ x_{i} = y_{j} \]")
    assert r"\(a_1 * b_2 * c\)" in html and r"\[ x_{i} = y_{j} \]" in html
    assert "<em>" not in html


def test_dollar_is_not_math():
    assert "arithmatex" not in markdown_to_html("costs $5 and $6")


def test_code_is_highlighted_with_classes():
    html = markdown_to_html("```python\nx = torch.zeros(3)\n```")
    assert '<div class="highlight">' in html and '<span class="n">torch</span>' in html


def test_expectations():
    c = Card(id="c1", type=CardType.BASIC, fields={}, tags=(), covers=(), topic="demo", file="f.yaml", line=1,
             expects=(Expectation("lr", 5, approx=0.001, rel=0.01), Expectation("shape", 6, equals=[2, 4, 128],
                                                                                has_equals=True),
                      Expectation("n", 7, max=100.0), Expectation("ghost", 8, equals=1, has_equals=True)))
    assert [str(p) for p in check_expectations(c, RESULT.values)] == [
        "f.yaml:7: card c1: expectation failed: n is 1234567, expected at most 100.0",
        "f.yaml:8: card c1: expectation names unknown value 'ghost' (did you mean shape, name, n? 1 other value)",
    ]


def test_values_inside_figure_alt_text_are_filled_in_and_located():
    note, problems = render_card(card(back="![path for lr {{ lr:g }}](fig:path)"), RESULT)
    assert problems == []
    assert note.fields[1] == ('<p><img class="dg-fig dg-day" src="dg-abababababababababab.png" alt="path for lr 0.001">'
                              '<img class="dg-fig dg-night" src="dg-cdcdcdcdcdcdcdcdcdcd.png" alt="path for lr 0.001">'
                              '</p>')
    assert [r.name for _, r, _ in card(back="![a {{ lr }}](fig:path)").refs()] == ["path", "lr"]
    _, problems = render_card(card(back="text\n![lr {{ nope }}](fig:path)"), RESULT)
    assert [str(p) for p in problems] == [
        "content/demo/cards.yaml:11: card c1: unknown value 'nope' (did you mean name, shape, n? 1 other value)"]


def test_static_images_are_packaged_by_hash_and_a_missing_one_is_located(tmp_path):
    (tmp_path / "diagram.png").write_bytes(b"\x89PNG not really")
    note, problems = render_card(card(back='Look:\n\n![a "quoted" <diagram>](diagram.png)'), RESULT, tmp_path)
    assert problems == []
    assert [m.media_name for m in note.media] == ["dg-" + __import__("hashlib").sha256(
        b"\x89PNG not really").hexdigest()[:20] + ".png"]
    assert f'<img class="dg-fig" src="{note.media[0].media_name}" alt="a &quot;quoted&quot; &lt;diagram&gt;">' in (
        note.fields[1])
    _, problems = render_card(card(back="a\n![x](gone.png)\n![y](https://example.com/y.png)\n![z](../up.png)"),
                              RESULT, tmp_path)
    assert [str(p) for p in problems] == [
        "content/demo/cards.yaml:11: card c1: missing asset 'gone.png': no such file next to cards.yaml",
        "content/demo/cards.yaml:12: card c1: image 'https://example.com/y.png' is not a local file: reviews happen "
        "offline, so put the file next to cards.yaml (or draw it as a figure)",
        "content/demo/cards.yaml:13: card c1: image '../up.png' must be a file in the topic's folder",
    ]


def test_exponent_values_inside_math_are_typeset_as_powers_of_ten():
    result = TopicResult("demo", {"tiny": 4.5e-05, "one": 1e-24}, {})
    note, problems = render_card(card(back="\\( \\sigma(-10) = {{ tiny:.2g }} \\), {{ one:g }}, "
                                           "\\[ {{ one:g }} \\]; plain {{ tiny:.2g }}"), result)
    assert problems == []
    back = note.fields[1]
    assert "\\( \\sigma(-10) = 4.5 \\times 10^{-5} \\)" in back
    assert ", 1e-24," in back  # outside math a value is shown as formatted
    assert "\\[ 10^{-24} \\]" in back and "plain 4.5e-05" in back


@pytest.mark.parametrize(("ctype", "fields", "message"), [
    (CardType.BASIC, {"front": "{{ empty }}", "back": "b"}, "`front` renders to nothing, so Anki would make no card"),
    (CardType.BASIC, {"front": "[1]: https://example.com", "back": "b"},
     "`front` renders to nothing, so Anki would make no card"),
    (CardType.REVERSED, {"front": "f", "back": "{{ empty }}"},
     "`back` renders to nothing, so Anki would drop the reverse card"),
    (CardType.CLOZE, {"text": "```python\nx = {{c1::1}}\n```"},
     "cloze deletion c1 does not survive rendering, so Anki would make no card for it (a deletion inside a "
     "fenced code block is split by highlighting; an empty value empties a deletion)"),
    (CardType.CLOZE, {"text": "{{c2::kept}}\n\n```python\nx = {{c1::lost}}\n```"},
     "cloze deletion c1 does not survive rendering, so Anki would make no card for it (a deletion inside a "
     "fenced code block is split by highlighting; an empty value empties a deletion)"),
    (CardType.CLOZE, {"text": "a {{c1::{{ empty }}}}"},
     "cloze deletion c1 does not survive rendering, so Anki would make no card for it (a deletion inside a "
     "fenced code block is split by highlighting; an empty value empties a deletion)"),
])
def test_a_note_that_would_make_no_card_is_an_error(ctype, fields, message):
    _, problems = render_card(card(ctype, **fields), TopicResult("demo", {"empty": ""}, {}))
    assert [p.message for p in problems] == [message]
    assert problems[0].line == 10
