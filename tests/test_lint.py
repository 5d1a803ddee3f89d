"""`deckgen lint`: each card-quality rule fires on a real mistake and stays quiet on a good card.

Every case is a card as an author would write it, loaded through cards.yaml (so lines are real
file lines); the assertion names the exact rules that fire, so a rule that fires too widely
breaks the other rules' quiet examples.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from conftest import ROOT

from deckgen.authoring.lint import RULES, SILENCEABLE, lint
from deckgen.authoring.lint.layout import CODE_COLS, height, tex_width
from deckgen.authoring.lint.markup import typed_numbers
from deckgen.authoring.lint.size import CODE_LINES
from deckgen.core.project import load_project
from deckgen.core.records import TopicResult
from deckgen.deck.cards import load_topics
from deckgen.deck.render import render_card

HEAD = "title: T\ncards:\n"


def cards_file(*cards: str) -> str:
    """A cards.yaml with the given cards (each a YAML mapping written flush left)."""
    return HEAD + "".join(textwrap.indent("- " + c.strip().replace("\n", "\n  ") + "\n", "  ") for c in cards)


def findings(make_project, *cards: str) -> list[tuple[str, int]]:
    root = make_project({"t": {"cards": cards_file(*cards)}})
    return [(f.rule, f.line) for f in lint(load_project(root))]


def rules(make_project, *cards: str) -> set[str]:
    return {rule for rule, _ in findings(make_project, *cards)}


GOOD = """\
id: good
front: Why does a deep network need a non-linearity between its layers?
back: |
  Without one, the layers compose to a single affine map, so depth adds nothing.
extra: Measured gap {{ gap:.1e }}.
covers: [q-one]
"""


def basic(front: str, back: str, extra: str | None = None, card_id: str = "c1") -> str:
    out = f"id: {card_id}\nfront: |\n{textwrap.indent(front, '  ')}\nback: |\n{textwrap.indent(back, '  ')}\n"
    if extra is not None:
        out += f"extra: |\n{textwrap.indent(extra, '  ')}\n"
    return out + "covers: [q-one]\n"


def cloze(text: str, card_id: str = "c1") -> str:
    return f"id: {card_id}\ntype: cloze\ntext: |\n{textwrap.indent(text, '  ')}\ncovers: [q-one]\n"


PROSE = "A sentence of about sixty characters that keeps on going on"  # 59 characters, no full stop


def test_a_good_card_has_no_findings(make_project):
    assert findings(make_project, GOOD) == []


def test_rules_have_ids_and_explanations():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.id == r.id.lower() and " " not in r.id and r.explanation.strip() for r in RULES)
    assert "unused-silence" in ids and "unused-silence" not in SILENCEABLE


# ----------------------------------------------------------------------------------------- length on a phone

def test_long_answer_counts_lines_and_figures(make_project):
    short = basic("What is it?", "It is short.")
    # 14 paragraphs of 59 characters wrap to 2 lines each: 28 lines, beyond the 23 a phone shows.
    long_text = "\n\n".join(PROSE for _ in range(14))
    assert rules(make_project, short) == set()
    assert rules(make_project, basic("What is it?", long_text)) == {"long-answer"}
    # Three lines of text are fine alone, but not under two figures of ten lines each.
    figs = "Three lines of text.\n\n![A curve that falls then flattens out](fig:a)\n\n![Another curve rising](fig:b)"
    assert rules(make_project, basic("What is it?", figs)) == {"long-answer"}
    assert rules(make_project, basic("What is it?", figs.split("\n\n![Another")[0])) == set()


def test_long_answer_points_at_the_back(make_project):
    long_text = "\n\n".join(PROSE for _ in range(14))
    assert findings(make_project, basic("What is it?", long_text)) == [("long-answer", 7)]


def test_height_model():
    """The numbers the length rules rest on: 38 characters per line, values as short numbers."""
    one, two = "x" * 38, "x" * 39
    assert height(one).prose_lines == 1 and height(two).prose_lines == 2
    # A value counts as six characters whatever its name's length.
    assert height("x" * 32 + "{{ a_very_long_value_name:.3f }}").prose_lines == 1
    assert height("```python\na = 1\nb = 2\n```").code_lines == 2
    assert height("![A figure of a curve](fig:c)").images == 1
    assert height("\\[ a = b \\]").math == 1


def test_phone_model_matches_the_stylesheet():
    """The length rules copy numbers from card.css; a change there must be carried into lint.py."""
    css = (ROOT / "deckgen/deck/templates/card.css").read_text()

    def rule(selector: str) -> str:
        found = re.search(r"(?m)^" + re.escape(selector) + r"\s*\{([^}]*)\}", css)
        assert found, selector
        return " ".join(found.group(1).split())

    card = rule(".card")
    assert "font-size: 19px;" in card and "line-height: 1.45;" in card and "padding: 12px;" in card
    assert "font-size: 0.78em;" in rule(".dg pre code")
    assert "padding: 0.6em 0.7em;" in rule(".dg pre") and "line-height: 1.35;" in rule(".dg pre")
    assert "font-size: 0.85em;" in rule(".dg-extra")
    assert "max-width: 100%; height: auto;" in rule(".dg img")
    assert CODE_COLS == 38


def test_long_front_and_long_extra(make_project):
    front = " ".join([PROSE] * 4) + "?"  # about 240 characters: 7 lines on a phone
    assert rules(make_project, basic(front + " And why?", "Short.")) == {"long-front"}
    assert rules(make_project, basic("A short question?", "Short.")) == set()
    extra = " ".join([PROSE] * 6) + "."  # 360 characters of small text: 9 lines
    assert rules(make_project, basic("Q?", "A.", extra)) == {"long-extra"}
    assert rules(make_project, basic("Q?", "A.", PROSE + ".")) == set()


def test_empty_extra(make_project):
    card = "id: c1\nfront: Q?\nback: A.\nextra: ''\ncovers: [q-one]\n"
    assert rules(make_project, card) == {"empty-extra"}


def test_code_too_wide_and_too_long(make_project):
    def code(lines: list[str]) -> str:
        return "Like this:\n\n```python\n" + "\n".join(lines) + "\n```"

    assert rules(make_project, basic("How?", code(["x" * CODE_COLS]))) == set()
    assert rules(make_project, basic("How?", code(["x" * (CODE_COLS + 1)]))) == {"code-too-wide"}
    # A value in code counts as a short number, not as its name.
    assert rules(make_project, basic("How?", code(["x" * 20 + "{{ a_long_value_name_here:.4f }}"]))) == set()
    assert rules(make_project, basic("How?", code([f"a{i} = {i}" for i in range(CODE_LINES)]))) == set()
    assert rules(make_project, basic("How?", code([f"a{i} = {i}" for i in range(CODE_LINES + 1)]))) == {
        "code-too-long"}


def test_code_too_wide_points_at_the_line(make_project):
    body = "Like this:\n\n```python\nshort = 1\n" + "y" * 50 + "\n```"
    # id on line 3, the back's text from line 7: the wide line is the back's 5th.
    assert findings(make_project, basic("How?", body)) == [("code-too-wide", 11)]


def test_wide_math(make_project):
    wide = "\\[ L = -\\mathbb E_{q(z|x)}[\\log p(x|z)] + \\mathrm{KL}(q(z|x) \\,\\|\\, p(z)) \\]"
    narrow = "\\[ L = \\mathrm{KL}(q \\,\\|\\, p) \\]"
    assert rules(make_project, basic("Which loss?", wide)) == {"wide-math"}
    assert rules(make_project, basic("Which loss?", narrow)) == set()


def test_tex_width():
    assert tex_width("abc") == 3
    assert tex_width("\\frac{abcd}{x}") == 4.5  # the wider part of a fraction
    assert tex_width("a = b") == 4  # a relation takes its spacing
    assert tex_width("x^{2}") == 1.7
    assert tex_width("\\alpha \\\\ abcdef") == 6  # rows of a multi-line display: the widest


# ----------------------------------------------------------------------------------------- what a card asks

def test_several_facts(make_project):
    items = "\n".join(f"- point number {i}" for i in range(5))
    assert rules(make_project, basic("Which?", items)) == {"several-facts"}
    assert rules(make_project, basic("Which?", "\n".join(items.splitlines()[:4]))) == set()
    table = "| a | b |\n|---|---|\n" + "\n".join(f"| r{i} | v{i} |" for i in range(5))
    assert rules(make_project, basic("Which?", table)) == {"several-facts"}
    five = "One. Two is here. Three is here. Four is here. Five is here."
    assert rules(make_project, basic("Why?", five)) == {"several-facts"}
    assert rules(make_project, basic("Why?", "One, e.g. this. Two is here. Three is here.")) == set()


def test_long_deletion(make_project):
    assert rules(make_project, cloze("Adam keeps {{c1::a running mean of the gradient and of its square, "
                                     "both bias-corrected at every single step}}.")) == {"long-deletion"}
    assert rules(make_project, cloze("Adam keeps {{c1::running means}} of the gradient.")) == set()


def test_yes_no(make_project):
    assert rules(make_project, basic("Does `nn.Conv2d` flip the kernel?", "No: it computes cross-correlation.")) \
        == {"yes-no"}
    assert rules(make_project, basic("Does `nn.Conv2d` flip the kernel, and what does it compute?",
                                     "No: it computes cross-correlation.")) == set()


def test_giveaway_basic(make_project):
    assert rules(make_project, basic("What does batch normalization do?",
                                     "**Batch normalization** rescales each feature.")) == {"giveaway"}
    assert rules(make_project, basic("What is the name of the default dtype?", "float32")) == set()
    assert rules(make_project, basic("Which dtype do float tensors get by default, float32 or float64?",
                                     "float32")) == {"giveaway"}
    # Several bold phrases label an enumeration; naming them in the question is the point.
    assert rules(make_project, basic("Type I or type II: which is a false positive?",
                                     "**Type I** is a false positive; **type II** a miss.")) == set()


def test_giveaway_cloze(make_project):
    assert rules(make_project, cloze("Attention divides by {{c1::\\( \\sqrt{d_k} \\)}}; "
                                     "dividing by \\( \\sqrt{d_k} \\) keeps the variance at 1.")) == {"giveaway"}
    # Another deletion's answer is shown on this deletion's card too.
    assert rules(make_project, cloze("{{c1::ReLU}} is cheap; {{c2::ReLU}} can die.")) == {"giveaway"}
    assert rules(make_project, cloze("{{c1::ReLU}} is cheap; {{c1::ReLU}} units can die.")) == set()
    assert rules(make_project, cloze("{{c1::ReLU}} is cheap; {{c2::sigmoid}} saturates.")) == set()


def test_giveaway_reversed(make_project):
    card = "id: c1\ntype: basic-reversed\nfront: dropout\nback: Dropout zeroes random units.\ncovers: [q-one]\n"
    assert rules(make_project, card) == {"giveaway"}
    card = "id: c1\ntype: basic-reversed\nfront: dropout\nback: Zeroing random units in training.\ncovers: [q-one]\n"
    assert rules(make_project, card) == set()


def test_no_covers(make_project):
    assert rules(make_project, "id: c1\nfront: Q?\nback: A.\n") == {"no-covers"}


# ----------------------------------------------------------------------------------------- how it is written

def test_cloze_math_braces(make_project):
    assert rules(make_project, cloze("Sigmoid: {{c1::\\( \\frac{1}{1 + e^{-z}}\\)}}.")) == {"cloze-math-braces"}
    assert rules(make_project, cloze("Sigmoid: {{c1::\\( \\frac{1}{1 + e^{-z} } \\)}}.")) == set()
    # A value inside a deletion is filled in before Anki reads the cloze: its braces are not math's.
    assert rules(make_project, cloze("Output size {{c1::{{ out_size }}}} here.")) == set()


def test_dollar_math(make_project):
    assert rules(make_project, basic("Which?", "The loss $L = x^2$ here.")) == {"dollar-math"}
    assert rules(make_project, basic("Which?", "The loss \\( L = x^2 \\); a $5 and a $6 GPU-hour.")) == set()
    assert rules(make_project, basic("Which?", "Run `echo $HOME` then `$PATH`.")) == set()


@pytest.mark.parametrize("alt", ["", "figure", "loss_curve", "Loss curve"])
def test_figure_alt_fires(make_project, alt):
    assert rules(make_project, basic("Which?", f"![{alt}](fig:loss_curve)")) == {"figure-alt"}


def test_figure_alt_accepts_a_description(make_project):
    back = "![Training loss falls for {{ n }} steps, then flattens](fig:loss_curve)"
    assert rules(make_project, basic("Which?", back)) == set()


@pytest.mark.parametrize(("text", "typed"), [
    ("lr 0.001 works", ["0.001"]),
    ("eps is 1e-8", ["1e-8"]),
    ("accuracy 95% on test", ["95%"]),
    ("12,580 reviews", ["12,580"]),
    ("a vocabulary of 50257 tokens", ["50257"]),
    ("\\( \\epsilon = 10^{-8} \\)", ["10^{-8}"]),
    ("\\( 0.9^{t} \\)", ["0.9"]),
    ("![Loss at lr 0.1 blows up](fig:f)", ["0.1"]),
    # Fine: structural integers, years, versions, values, code, exponents and constants of a formula.
    ("3 layers of 256 units since 2017", []),
    ("PyTorch 2.0 and Python 3.11, GPT-3.5", []),
    ("lr {{ lr:g }} and `lr=0.1` in code", []),
    ("\\( d^{-0.5} \\) and \\( 10000^{2i/d} \\), \\( x_{0.5} \\)", []),
    ("```python\nx = 0.5\n```", []),
])
def test_typed_numbers(text, typed):
    assert [n for _, n in typed_numbers(text)] == typed


def test_typed_number_rule(make_project):
    assert findings(make_project, basic("Which lr?", "Use\n0.001 here.")) == [("typed-number", 8)]
    assert rules(make_project, basic("Which lr?", "Use {{ lr:g }} here.")) == set()


# ----------------------------------------------------------------------------------------- silences

def test_silence_with_reason(make_project):
    items = "\n".join(f"- point number {i}" for i in range(5))
    card = basic("Which?", items) + "lint:\n  several-facts: the interview question asks for the list\n"
    assert findings(make_project, card) == []


def test_unused_silence_is_a_finding(make_project):
    card = basic("Which?", "One thing.") + "lint:\n  several-facts: it used to be a list\n"
    # basic(): id, front (2 lines), back (2 lines), covers, then `lint:` and the silence on line 10.
    assert findings(make_project, card) == [("unused-silence", 10)]


def test_bad_silences(make_project, cli):
    """A silence needs a reason (a content error); one naming no rule is a lint finding, as is a silence of
    unused-silence itself, which cannot be switched off."""
    card = basic("Q?", "A.") + "lint:\n  several-fact: a typo\n  yes-no: ''\n  unused-silence: no\n"
    root = make_project({"t": {"cards": cards_file(card)}})
    project = load_project(root)
    _, problems = load_topics(project, project.topics())
    assert [str(p) for p in problems] == [
        "content/t/cards.yaml:11: card c1: lint: yes-no needs a reason (why the rule does not apply to this card)",
        "content/t/cards.yaml:12: card c1: lint: unused-silence needs a reason (why the rule does not apply to this "
        "card)",  # YAML reads `no` as false
    ]
    good = basic("Q?", "A.") + "lint:\n  several-fact: a typo\n  unused-silence: just because\n"
    root = make_project({"t": {"cards": cards_file(good)}}, name="typo")
    rules_shown = ", ".join(SILENCEABLE)
    assert [str(f) for f in lint(load_project(root))] == [
        f"content/t/cards.yaml:10: card c1: unused-silence: `lint: several-fact` names no rule (rules: {rules_shown}; "
        "see `deckgen lint --rules`)",
        f"content/t/cards.yaml:11: card c1: unused-silence: `lint: unused-silence` cannot be silenced (rules: "
        f"{rules_shown}; see `deckgen lint --rules`)",
    ]
    result = cli("lint", "--project", root)
    assert result.exit_code == 1 and "`lint: several-fact` names no rule" in result.output
    assert cli("build", "--project", root).exit_code == 0  # building is not lint's business
    bad = basic("Q?", "A.") + "lint: several-facts\n"
    root = make_project({"t": {"cards": cards_file(bad)}}, name="other")
    result = cli("lint", "--project", root)
    assert result.exit_code == 1
    assert "content/t/cards.yaml:9: card c1: `lint` must map rule ids to the reason" in result.output


def test_silences_do_not_change_the_note(make_project):
    plain = basic("Q?", "A.")
    root = make_project({"t": {"cards": cards_file(plain, plain.replace("c1", "c2") + "lint:\n  yes-no: why\n")}})
    project = load_project(root)
    (topic,), problems = load_topics(project, project.topics())
    assert problems == [] and topic.cards[1].silences[0].reason == "why"
    result = TopicResult("t", {}, {})
    one, two = (render_card(c, result)[0] for c in topic.cards)
    assert one is not None and two is not None
    assert one.fields[:-1] == two.fields[:-1] and one.tags == two.tags  # the last field is the card id


# ----------------------------------------------------------------------------------------- command line

def test_cli_output_and_exit_codes(make_project, cli):
    root = make_project({"t": {"cards": cards_file(GOOD, basic("Q?", "Use\n0.001 here.", card_id="c2"))}})
    result = cli("lint", "--project", root)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("content/t/cards.yaml:14: card c2: typed-number: '0.001' is typed by hand")
    assert lines[-1].startswith("1 finding on 1 card;")
    clean = make_project({"t": {"cards": cards_file(GOOD)}}, name="clean")
    result = cli("lint", "--project", clean)
    assert result.exit_code == 0 and result.output == "ok: no findings in 1 topic\n"
    result = cli("lint", "--project", root, "--topic", "nope")
    assert result.exit_code == 1 and result.output.startswith("error: unknown topic nope (did you mean t?)")
    result = cli("lint", "--rules")
    assert result.exit_code == 0 and [line.split()[0] for line in result.output.splitlines()] == [r.id for r in RULES]


# ------------------------------------------------------------------------------ standing alone, cards that run

@pytest.mark.parametrize("front", [
    "In the running example, why does the loss plateau?",
    "Trained on the same MLP as before, which optimizer wins?",
    "After that run, what is the final accuracy?",
    "What does the figure shown above tell us?",
])
def test_refers_elsewhere_fires_on_pointers_outside_the_card(make_project, front):
    assert "refers-elsewhere" in rules(make_project, basic(front, "Because the step is too large for it."))


def test_refers_elsewhere_is_quiet_on_a_card_that_defines_its_set_up(make_project):
    front = "A 2-layer MLP (784-256-10, ReLU) is trained with SGD at lr 0.1 and with Adam. Which drops faster early?"
    assert "refers-elsewhere" not in rules(make_project, basic(front, "Adam, in the first hundred steps."))


def test_run_outcome(make_project):
    seeded = basic("After training the demo for 100 steps, what loss is reached?", "{{ loss:.3f }}")
    assert "run-outcome" in rules(make_project, seeded)
    rule = basic("After 100 steps of SGD, why is Adam's loss lower on a badly scaled problem?",
                 "It divides each coordinate's step by its own gradient scale, so the flat directions move too "
                 "(here {{ loss:.3f }}).")
    assert "run-outcome" not in rules(make_project, rule)


def test_typed_one_line(make_project):
    one = "id: c1\nfront: 'Conv 3x3, stride 1, no padding, 32x32 input: output side?'\nback: '30'\ntyped: true\n" \
          "covers: [q-one]\n"
    assert "typed-one-line" not in rules(make_project, one)
    two = one.replace("back: '30'", "back: |\n  30\n\n  because 32 - 3 + 1")
    assert "typed-one-line" in rules(make_project, two)
    output = ("id: c1\ntype: output\ntyped: true\ncode: |\n  print(1)\n  print(2)\nexpect: |\n  1\n  2\n"
              "covers: [q-one]\n")
    assert "typed-one-line" in rules(make_project, output)


def test_long_output_and_snippet_size(make_project):
    def output(code: list[str], expect: list[str]) -> str:
        return ("id: c1\ntype: output\ncode: |\n" + "".join(f"  {line}\n" for line in code)
                + "expect: |\n" + "".join(f"  {line}\n" for line in expect) + "covers: [q-one]\n")

    assert rules(make_project, output(["print(1)"], ["1"])) == set()
    assert rules(make_project, output(["print(1)"], [str(i) for i in range(13)])) == {"long-output"}
    assert rules(make_project, output(["print(1)"], ["x" * 77])) == {"long-output"}
    assert rules(make_project, output(["x = " + "1" * 40], ["1"])) == {"code-too-wide"}
    assert rules(make_project, output([f"a{i} = {i}" for i in range(13)], ["1"])) == {"code-too-long"}


def test_near_duplicate_across_the_deck(make_project):
    a = basic("Why does Adam need bias correction in its first steps?",
              "Its moment estimates start at zero, so early averages are biased towards zero.", card_id="a1")
    b = basic("Why does Adam need a bias correction during its first steps?",
              "The moment estimates start at zero, so the early averages are biased toward zero.", card_id="b1")
    c = basic("Why does AdamW decouple weight decay from the gradient?",
              "So the decay is not rescaled by the adaptive denominator.", card_id="c1")
    # Word weights come from the whole deck (TF-IDF): a realistic deck has many unrelated cards.
    topics = ["dropout", "batch norm", "label smoothing", "gradient clipping", "weight tying", "beam search",
              "early stopping", "mixup", "warmup", "pruning", "distillation", "quantization"]
    others = [basic(f"What problem does {t} address?", f"It is explained by {t} itself, reason {i}.",
                    card_id=f"o{i}") for i, t in enumerate(topics)]
    found = findings(make_project, a, b, c, *others)
    assert found == [("near-duplicate", 9)]  # card b1, after a1 (lines 3-8)
    assert [r for r, _ in findings(make_project, a, c, *others)] == []


def test_near_duplicate_output_cards_same_code_same_output(make_project):
    def output(card_id: str, code: list[str], prints: str) -> str:
        return (f"id: {card_id}\ntype: output\ncode: |\n" + "".join(f"  {line}\n" for line in code)
                + f"expect: |\n  {prints}\ncovers: [q-one]\n")

    conv = ["import torch", "from torch import nn", "x = torch.zeros(1, 3, 9, 9)"]
    padding = output("p1", [*conv, "m = nn.Conv2d(3, 4, 3, padding=1)", "print(m(x).shape)"],
                     "torch.Size([1, 4, 9, 9])")
    no_padding = output("n1", [*conv, "m = nn.Conv2d(3, 4, 3, padding=0)", "print(m(x).shape)"],
                        "torch.Size([1, 4, 7, 7])")
    groups = output("g1", [*conv, "m = nn.Conv2d(3, 6, 3, groups=3)", "print(m.weight.shape)"],
                    "torch.Size([6, 1, 3, 3])")
    renamed = output("r1", ["import torch", "from torch import nn", "inp = torch.zeros(1, 3, 9, 9)",
                            "m = nn.Conv2d(3, 4, 3, padding=1)", "print(m(inp).shape)"], "torch.Size([1, 4, 9, 9])")
    topics = ["dropout", "batch norm", "label smoothing", "gradient clipping", "weight tying", "beam search",
              "early stopping", "mixup", "warmup", "pruning", "distillation", "quantization"]
    others = [basic(f"What problem does {t} address?", f"It is explained by {t} itself, reason {i}.",
                    card_id=f"o{i}") for i, t in enumerate(topics)]
    # One API, two behaviours (padding keeps the size, groups shrink the weight): both stay; so does
    # a minimal pair, one number apart, that prints something else.
    assert [r for r, _ in findings(make_project, padding, groups, no_padding, *others)] == []
    # The same snippet with a variable renamed is one card twice.
    assert [r for r, _ in findings(make_project, padding, renamed, *others)] == ["near-duplicate"]
    # Unbuilt and unpinned, lint cannot tell (it runs no code): no finding, and a silence is not "unused".
    unpinned = renamed.replace("expect: |\n  torch.Size([1, 4, 9, 9])\n", "")
    assert [r for r, _ in findings(make_project, padding.replace("expect: |\n  torch.Size([1, 4, 9, 9])\n", ""),
                                   unpinned, *others)] == []
    silenced = unpinned.replace("covers:", "lint: {near-duplicate: a deliberate pair}\ncovers:")
    assert [r for r, _ in findings(make_project, padding.replace("expect: |\n  torch.Size([1, 4, 9, 9])\n", ""),
                                   silenced, *others)] == []


@pytest.mark.slow  # the real deck, 6 s: the fast tier leaves it to the full suite (and CI's `deckgen lint`)
def test_shipped_content_lints_clean():
    """CI runs this: the real deck has no findings (each silence in it carries its reason)."""
    found = lint(load_project(ROOT))
    assert [str(f) for f in found] == []
