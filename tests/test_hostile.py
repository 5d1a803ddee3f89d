"""Hostile content: every kind of broken input is one clean line per problem, and nothing is written.

Each row of ``CASES`` adds or replaces files in a project that has already been built once, runs
``deckgen build`` and asserts: exit code 1, exactly the expected ``error:`` lines (file, line,
card, message) and the closing count, no traceback, the previous ``.apkg`` byte-identical with
the same mtime, ``content/manifest.json`` untouched, and no temporary file left anywhere in the
project. Rows that need no computation also run ``deckgen check``, which must report the same
lines (check and build share the pipeline; a divergence would let ``check`` pass broken content).

Every expected line is exact, except the one row whose message holds a temporary path (a
regular expression there). ``HARMLESS`` holds inputs that look hostile but are valid and must
build.

The base project has no ``compute.py``, so rows without one import no torch; rows with one share
the fork server of the pytest process. The file takes 22 s on the 2-core machine (30 s under
load): the fork server's start (about 4 s, paid once per pytest process), the two time-outs and
the subprocess test at the end are most of it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from anki_helpers import fresh_collection, import_package, note_by_card_id
from conftest import run_cli, write_project

from deckgen.deck.cards import CARD_KEYS, MAX_FIELD_CHARS

GOOD = "title: Good\ncards:\n  - id: good-1\n    front: Value?\n    back: plain\n"
APKG = "build/test-deck.apkg"
CARD_KEY_LIST = ", ".join(sorted(CARD_KEYS))


def y(*lines: str) -> str:
    """File text from its lines, so a row's line numbers can be counted on the row itself."""
    return "\n".join(lines) + "\n"


CARD = ("cards:", "  - id: a", "    front: q", "    back: b")  # a valid card on lines 1-4


def t(cards: str | bytes, compute: str | bytes | None = None, **more: str) -> dict[str, str | bytes]:
    """The files of topic ``t``; ``more`` adds files next to them (``helper_py`` -> ``helper.py``)."""
    files: dict[str, str | bytes] = {"content/t/cards.yaml": cards}
    if compute is not None:
        files["content/t/compute.py"] = compute
    for name, text in more.items():
        files[f"content/t/{name.replace('_', '.')}"] = text
    return files


Expected = str | re.Pattern[str]


@dataclass(frozen=True)
class Case:
    files: dict[str, str | bytes]
    errors: tuple[Expected, ...]
    args: tuple[str, ...] = ()


def case(name: str, files: dict[str, str | bytes], *errors: Expected, args: tuple[str, ...] = ()) -> object:
    marks = [pytest.mark.slow] if name.startswith("hangs-") else []  # each waits out a time limit
    return pytest.param(Case(files, errors, args), id=name, marks=marks)


def rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


NO_CARD = ("cloze deletion c1 does not survive rendering, so Anki would make no card for it (a deletion inside "
           "a fenced code block is split by highlighting; an empty value empties a deletion)")
V_IS_3 = "def compute(ctx):\n    ctx.value('v', 3)\n"
WITH_FIGURE = y("def compute(ctx):", "    ctx.value('v', 3)", "    ctx.figure('curve', lambda fig: fig.subplots())")
HANG = y("def compute(ctx):", "    while True:", "        pass")

CASES = [
    # --- YAML and the file itself -------------------------------------------------------------
    case("yaml-tab-indent", t(y("cards:", "  - id: a", "\tfront: q", "    back: b")),
         "content/t/cards.yaml:3:1: card a: YAML syntax error: found character '\\t' that cannot start any token: "
         "indent with spaces, never tabs"),
    case("yaml-bad-indent", t(y("cards:", "  - id: a", "    front: q", "     back: b")),
         "content/t/cards.yaml:4:6: card a: `back:` is indented more than `front:` above it, so YAML reads it as "
         "part of that value; give them the same indentation"),
    case("yaml-colon-in-plain-text", t(y("cards:", "  - id: a", "    front: ratio: 2", "    back: b")),
         "content/t/cards.yaml:3:17: card a: the text after `front:` contains `: `, which YAML reads as the start of "
         "a new key; put the text in quotes (front: \"...\") or on a block of its own (front: |)"),
    case("yaml-unclosed-quote", t(y("cards:", "  - id: a", '    front: "q', "    back: b")),
         "content/t/cards.yaml:3:12: card a: YAML syntax error: a quoted scalar is never closed"),
    case("yaml-control-character", t(y("cards:", "  - id: a", "    front: q\x00", "    back: b")),
         "content/t/cards.yaml:3: control character U+0000 is not allowed in a YAML file "
         "(write it as an escape in a double-quoted string)"),
    case("yaml-deep-nesting", t(y("cards:", "  - id: a", "    front: " + "[" * 2000 + "]" * 2000, "    back: b")),
         "content/t/cards.yaml:3: card a: YAML nested more than 50 levels deep"),
    case("yaml-duplicate-topic-key", t(y("title: A", "title: B", "cards: []")),
         "content/t/cards.yaml:2:1: duplicate key 'title': write each key once"),
    case("yaml-unhashable-key", t(y("cards:", "  - id: a", "    [x]: q", "    back: b")),
         "content/t/cards.yaml:3: card a: a key must be a plain name, not a list or mapping"),
    case("yaml-python-tag", t(y("cards:", "  - id: a", "    front: !!python/object:os.system q", "    back: b")),
         "content/t/cards.yaml:3:12: card a: YAML syntax error: could not determine a constructor for the tag "
         "'tag:yaml.org,2002:python/object:os.system'"),
    case("yaml-unquoted-brace", t(y("cards:", "  - id: a", "    front: q", "    back: {{ v }} is the rate")),
         "content/t/cards.yaml:4:11: card a: the text of `back:` starts with '{', which YAML reads as the start of "
         "a mapping; put the text in quotes (back: \"...\") or on a block of its own (back: |)"),
    case("yaml-unquoted-bracket", t(y("cards:", "  - id: a", "    front: [x] marks the spot?", "    back: b")),
         "content/t/cards.yaml:3:12: card a: the text of `front:` starts with '[', which YAML reads as the start "
         "of a list; put the text in quotes (front: \"...\") or on a block of its own (front: |)"),
    case("yaml-dedented-block-line", t(y("cards:", "  - id: a", "    front: q", "    back: |", "      line one",
                                         "    line two", "    covers: [x]")),
         "content/t/cards.yaml:6:5: card a: this line is indented less than the `back:` block it continues (line "
         "4), so YAML ends the block above it; indent it like the block's other lines"),
    case("yaml-missing-dash-before-a-card", t(y("cards:", "  - id: a", "    front: q", "    back: b",
                                                "    id: b", "    front: q2", "    back: b2")),
         "content/t/cards.yaml:5:5: card a: a second `id:` in the same card: is the `- ` that starts the next card "
         "missing? (each card starts with `- id:`)"),
    case("yaml-hash-cuts-unquoted-text", t(y("cards:", "  - id: a", "    front: What does issue #42 say?",
                                             "    back: b")),
         "content/t/cards.yaml:3:28: card a: `front` stops at ` #`: YAML reads the rest of the line as a comment, so "
         "the card would show only 'What does issue'; put the text in quotes (front: \"...\")"),
    case("yaml-key-indented-into-a-block", t(y("cards:", "  - id: a", "    front: q", "    back: |",
                                               "      the answer", "      covers: [q-one]")),
         "content/t/cards.yaml:6: card a: this line of `back` reads like the card key `covers:`: indented too far, "
         "it became part of the text; indent it like `back:`"),
    case("yaml-alias-repeats-a-card", t(y("cards:", "  - &c", "    id: a", "    front: q", "    back: b", "  - *c")),
         "content/t/cards.yaml:6: card a: YAML alias *c is not allowed here: write the content out"),
    case("not-utf8-latin1", t(b"cards:\n  - id: a\n    front: q\n    back: caf\xe9\n"),
         "content/t/cards.yaml:4: not valid UTF-8 (byte 0xe9)"),
    case("not-utf8-utf16", t(y(*CARD).encode("utf-16")),
         "content/t/cards.yaml:1: not valid UTF-8 (byte 0xff)"),
    case("empty-file", t(""),
         "content/t/cards.yaml:1: a cards file must be a mapping with `title` and `cards`"),
    case("file-is-a-list", t(y("- id: a", "  front: q", "  back: b")),
         "content/t/cards.yaml:1: a cards file must be a mapping with `title` and `cards`"),
    case("no-cards-key", t(y("title: T")),
         "content/t/cards.yaml:1: `cards` must be a list of cards"),
    case("cards-is-a-mapping", t(y("title: T", "cards:", "  id: a")),
         "content/t/cards.yaml:2: `cards` must be a list of cards"),
    case("card-is-a-string", t(y("cards:", "  - just a sentence")),
         "content/t/cards.yaml:2: each card must be a mapping with at least `id`"),
    # --- keys and types ---------------------------------------------------------------------
    case("topic-unknown-key", t(y("titel: T", *CARD)),
         "content/t/cards.yaml:1: unknown key 'titel' (allowed: cards, retired, title)"),
    case("card-unknown-key", t(y(*CARD, "    note: remember this")),
         f"content/t/cards.yaml:5: card a: unknown key 'note' (allowed: {CARD_KEY_LIST})"),
    case("title-with-colons", t(y("title: A::B", *CARD)),
         "content/t/cards.yaml:1: title must be a non-empty string without '::'"),
    case("type-capitalised", t(y("cards:", "  - id: a", "    type: Basic", "    front: q", "    back: b")),
         "content/t/cards.yaml:3: card a: unknown type 'Basic' (basic, cloze, basic-reversed, output or drill)"),
    case("front-is-a-list", t(y("cards:", "  - id: a", "    front: [q]", "    back: b")),
         "content/t/cards.yaml:3: card a: `front` must be text"),
    case("back-is-empty", t(y("cards:", "  - id: a", "    front: q", "    back:")),
         "content/t/cards.yaml:4: card a: a basic card needs a non-empty `back`"),
    case("covers-is-a-string", t(y(*CARD, "    covers: q-one")),
         "content/t/cards.yaml:5: card a: `covers` must be a list of strings"),
    case("tags-is-a-mapping", t(y(*CARD, "    tags: {adam: 1}")),
         "content/t/cards.yaml:5: card a: `tags` must be a list of strings"),
    case("expect-is-a-list", t(y(*CARD, "    expect: [1, 2]")),
         "content/t/cards.yaml:5: card a: `expect` must map value names to expected values"),
    case("expect-approx-not-a-number", t(y(*CARD, "    expect:", "      v: {approx: big}")),
         "content/t/cards.yaml:6: card a: expect v: approx, rel, abs, min and max must be numbers"),
    case("expect-unknown-key", t(y(*CARD, "    expect:", "      v: {tolerance: 1}")),
         "content/t/cards.yaml:6: card a: expect v: unknown key(s) tolerance "
         "(allowed: abs, approx, equals, max, min, rel)"),
    case("back-missing", t(y("cards:", "  - id: a", "    front: q")),
         "content/t/cards.yaml:2: card a: a basic card needs a non-empty `back`"),
    case("reversed-back-blank", t(y("cards:", "  - id: a", "    type: basic-reversed", "    front: q",
                                    "    back: '   '")),
         "content/t/cards.yaml:5: card a: a basic-reversed card needs a non-empty `back`"),
    case("cloze-written-as-basic", t(y("cards:", "  - id: a", "    type: cloze", "    front: q")),
         "content/t/cards.yaml:2: card a: a cloze card needs a non-empty `text`",
         "content/t/cards.yaml:4: card a: a cloze card has no `front` field (it has extra, text)"),
    case("value-renders-huge", t(y("cards:", "  - id: a", "    front: q", "    back: '{{ v }}'"),
                                 "def compute(ctx):\n    ctx.value('v', list(range(20000)))\n"),
         # "(0, 1, ..., 19999)": 88,890 digits, 19,999 ", ", two parentheses and <p></p>.
         "content/t/cards.yaml:4: card a: `back` renders to 128,897 characters of HTML; at most 100,000 fit a card "
         "(is a value a huge list or a wide format?)"),
    case("format-width-absurd", t(y("cards:", "  - id: a", "    front: q", "    back: '{{ v:>1000000000 }}'"), V_IS_3),
         "content/t/cards.yaml:4: card a: value 'v': format spec '>1000000000' asks for more than 1000 characters "
         "or digits"),
    case("huge-field", t(y("cards:", "  - id: a", "    front: q", "    back: " + "x" * (MAX_FIELD_CHARS + 1))),
         f"content/t/cards.yaml:4: card a: `back` is {MAX_FIELD_CHARS + 1} characters; "
         f"a card field may hold at most {MAX_FIELD_CHARS}"),
    # --- ids ----------------------------------------------------------------------------------
    case("id-missing", t(y("cards:", "  - front: q", "    back: b")),
         "content/t/cards.yaml:2: card id must be lower-case letters, digits and '-' (got None)"),
    case("id-uppercase", t(y("cards:", "  - id: Adam-Step", "    front: q", "    back: b")),
         "content/t/cards.yaml:2: card id must be lower-case letters, digits and '-' (got 'Adam-Step')"),
    case("id-number", t(y("cards:", "  - id: 42", "    front: q", "    back: b")),
         "content/t/cards.yaml:2: card id must be lower-case letters, digits and '-' (got 42)"),
    case("id-trailing-hyphen", t(y("cards:", "  - id: adam-", "    front: q", "    back: b")),
         "content/t/cards.yaml:2: card id must be lower-case letters, digits and '-' (got 'adam-')"),
    case("duplicate-id-same-file", t(y(*CARD, "  - id: a", "    front: q2", "    back: b2")),
         "content/t/cards.yaml:5: card a: duplicate card id (first used at content/t/cards.yaml:2)"),
    case("duplicate-id-across-topics", t(y("cards:", "  - id: good-1", "    front: q", "    back: b")),
         "content/t/cards.yaml:2: card good-1: duplicate card id (first used at content/good/cards.yaml:3)"),
    # --- references to values, figures and questions -----------------------------------------
    case("unknown-value-in-cloze", t(y("cards:", "  - id: a", "    type: cloze", "    text: '{{c1::{{ v }}}}'")),
         "content/t/cards.yaml:4: card a: unknown value 'v' (the topic computes no values)"),
    case("unknown-value-in-alt-text", t(y("cards:", "  - id: a", "    front: q", "    back: |", "      see",
                                          "      ![loss for lr {{ lr }}](fig:curve)"), WITH_FIGURE),
         "content/t/cards.yaml:6: card a: unknown value 'lr' (did you mean v?)"),
    case("unknown-figure-lists-known", t(y("cards:", "  - id: a", "    front: q", "    back: '![a](fig:nope)'"),
                                         WITH_FIGURE),
         "content/t/cards.yaml:4: card a: unknown figure 'nope' (did you mean curve?)"),
    case("expect-unknown-value", t(y(*CARD, "    expect:", "      v: 3")),
         "content/t/cards.yaml:6: card a: expectation names unknown value 'v' (the topic computes no values)"),
    case("format-spec-on-text", t(y("cards:", "  - id: a", "    front: q", "    back: '{{ v:.3f }}'"),
                                  "def compute(ctx):\n    ctx.value('v', 'text')\n"),
         "content/t/cards.yaml:4: card a: value 'v': format spec '.3f' does not fit a str: "
         "Unknown format code 'f' for object of type 'str'"),
    case("format-code-unknown-in-block", t(y("cards:", "  - id: a", "    front: q", "    back: |", "      x",
                                             "      {{ v:q }}"), V_IS_3),
         "content/t/cards.yaml:6: card a: value 'v': format spec 'q' does not fit a int: "
         "Unknown format code 'q' for object of type 'int'"),
    case("covers-without-a-syllabus", {**t(y(*CARD, "    covers: [q-one]")), "deckgen.yaml": "deck: Test Deck\n"},
         "content/t/cards.yaml:2: card a: unknown question id 'q-one' in covers (no topic's syllabus.yaml lists any "
         "question yet)"),
    # --- cards that build but would reach Anki with no card to study (found by test_properties) ---
    case("front-renders-to-nothing", t(y("cards:", "  - id: a", "    front: '{{ label }}'", "    back: b"),
                                       "def compute(ctx):\n    ctx.value('label', '')\n"),
         "content/t/cards.yaml:3: card a: `front` renders to nothing, so Anki would make no card"),
    case("front-is-a-link-definition", t(y("cards:", "  - id: a", "    front: '[1]: https://example.com'",
                                           "    back: b")),
         "content/t/cards.yaml:3: card a: `front` renders to nothing, so Anki would make no card"),
    case("reversed-back-renders-to-nothing", t(y("cards:", "  - id: a", "    type: basic-reversed", "    front: f",
                                                 "    back: '{{ label }}'"),
                                               "def compute(ctx):\n    ctx.value('label', '')\n"),
         "content/t/cards.yaml:5: card a: `back` renders to nothing, so Anki would drop the reverse card"),
    case("cloze-inside-highlighted-code", t(y("cards:", "  - id: a", "    type: cloze", "    text: |",
                                              "      ```python", "      x = {{c1::torch.zeros}}(3)", "      ```")),
         "content/t/cards.yaml:5: card a: " + NO_CARD),
    case("cloze-emptied-by-a-value", t(y("cards:", "  - id: a", "    type: cloze", "    text: 'a {{c1::{{ label }}}}'"),
                                       "def compute(ctx):\n    ctx.value('label', '')\n"),
         "content/t/cards.yaml:4: card a: " + NO_CARD),
    case("cloze-number-zero", t(y("cards:", "  - id: a", "    type: cloze", "    text: 'a {{c1::b}} {{c0::c}}'")),
         "content/t/cards.yaml:4: card a: cloze numbers start at 1: Anki makes no card for {{c0::...}}"),
    # --- compute.py ---------------------------------------------------------------------------
    case("compute-syntax-error", t("cards: []\n", y("def compute(ctx):", "    x = (1,")),
         "content/t/compute.py:2: SyntaxError: '(' was never closed"),
    case("compute-tabs-and-spaces", t("cards: []\n", y("def compute(ctx):", "    x = 1", "\ty = 2")),
         "content/t/compute.py:3: SyntaxError: inconsistent use of tabs and spaces in indentation"),
    case("compute-null-byte", t("cards: []\n", b"def compute(ctx):\n    x = 1\x00\n"),
         "content/t/compute.py: SyntaxError: source code string cannot contain null bytes"),
    case("import-missing-module", t("cards: []\n", y("import nonexistent_mod_xyz", "", "def compute(ctx):",
                                                    "    pass")),
         "content/t/compute.py:1: ModuleNotFoundError: No module named 'nonexistent_mod_xyz'"),
    case("raises-in-helper-function", t("cards: []\n", y("def helper(key):", "    return {}[key]", "", "",
                                                        "def compute(ctx):", "    ctx.value('v', helper('k'))")),
         "content/t/compute.py:2: KeyError: 'k'"),
    case("raises-in-shared-lib", {**t("cards: []\n", y("from _lib.util import f", "", "def compute(ctx):", "    f()")),
                                  "content/_lib/__init__.py": "",
                                  "content/_lib/util.py": y("def f():", "    raise RuntimeError('from lib')")},
         "content/_lib/util.py:2: RuntimeError: from lib"),
    case("syntax-error-in-helper-module", t("cards: []\n", y("import helper", "", "def compute(ctx):", "    pass"),
                                            helper_py="x = = 1\n"),
         "content/t/helper.py:1: SyntaxError: invalid syntax"),
    case("raises-at-import-time", t("cards: []\n", y("X = 1 / 0", "", "def compute(ctx):", "    pass")),
         "content/t/compute.py:1: ZeroDivisionError: division by zero"),
    case("multi-line-exception-message", t("cards: []\n", y("def compute(ctx):",
                                                           "    raise ValueError('line one\\nline two')")),
         "content/t/compute.py:2: ValueError: line one line two"),
    case("hangs-timeout-from-settings", {**t("cards: []\n", HANG),
                                         "deckgen.yaml": "deck: Test Deck\nquestions: questions.yaml\ntimeout: 1\n"},
         "content/t/compute.py: computation timed out after 1 s"),
    case("hangs-ignoring-sigterm", t("cards: []\n", y("import signal", "import time", "", "def compute(ctx):",
                                                     "    signal.signal(signal.SIGTERM, signal.SIG_IGN)",
                                                     "    time.sleep(60)")),
         "content/t/compute.py: computation timed out after 1 s", args=("--timeout", "1")),
    case("prints-to-stdout", t("cards: []\n", y("def compute(ctx):", "    print('hello')", "    ctx.value('v', 1)")),
         "content/t/compute.py:2: computation printed to stdout ('hello'); register results with ctx.value(), or "
         "print to sys.stderr to debug"),
    case("nan-inside-a-tensor", t("cards: []\n", y("import torch", "def compute(ctx):",
                                                  "    ctx.value('v', torch.tensor([1.0, float('nan')]))")),
         "content/t/compute.py:3: value 'v' is not finite ([1.0, nan])"),
    case("value-is-a-dict", t("cards: []\n", y("def compute(ctx):", "    ctx.value('v', {'a': 1})")),
         "content/t/compute.py:2: value 'v': cannot use a dict as a card value "
         "(use a number, text or a list of them)"),
    case("value-is-bytes", t("cards: []\n", y("def compute(ctx):", "    ctx.value('v', b'x')")),
         "content/t/compute.py:2: value 'v': cannot use a bytes as a card value "
         "(use a number, text or a list of them)"),
    case("value-registered-twice", t("cards: []\n", y("def compute(ctx):", "    ctx.value('v', 1)",
                                                     "    ctx.value('v', 2)")),
         "content/t/compute.py:3: value 'v' registered twice"),
    case("value-name-not-an-identifier", t("cards: []\n", y("def compute(ctx):", "    ctx.value('my value', 1)")),
         "content/t/compute.py:2: value name 'my value' must be an identifier (letters, digits, _)"),
    case("value-too-large-to-show", t("cards: []\n", y("def compute(ctx):", "    ctx.value('v', 10 ** 5000)")),
         "content/t/compute.py:2: value 'v': an integer of about 5001 digits is too large to show on a card"),
    case("figure-draw-raises", t("cards: []\n", y("def compute(ctx):", "    def draw(fig):",
                                                 "        ax = fig.subplots()", "        ax.plot([1, 2], [1])",
                                                 "    ctx.figure('f', draw)")),
         "content/t/compute.py:4: ValueError: x and y must have same first dimension, but have shapes (2,) and (1,)"),
    case("figure-draws-nothing", t("cards: []\n", y("def compute(ctx):", "    def draw(fig):", "        pass",
                                                   "    ctx.figure('f', draw)")),
         "content/t/compute.py:4: figure 'f' drew nothing"),
    case("figure-name-not-an-identifier", t("cards: []\n", y("def compute(ctx):", "    def draw(fig):",
                                                            "        fig.subplots()",
                                                            "    ctx.figure('loss-curve', draw)")),
         "content/t/compute.py:4: figure name 'loss-curve' must be an identifier (letters, digits, _)"),
    case("figure-fails-to-render", t("cards: []\n", y("def compute(ctx):", "    def draw(fig):",
                                                     "        fig.subplots().set_title(r'$\\frac{1$')",
                                                     "    ctx.figure('f', draw)")),
         rx(r"content/t/compute\.py:4: figure 'f' failed to render: ValueError: .+")),
    case("figure-too-large", t("cards: []\n", y("def compute(ctx):",
                                               "    ctx.figure('f', lambda fig: fig.subplots(), width=50)")),
         "content/t/compute.py:2: figure 'f': width and height must be in (0, 12] inches"),
    case("figure-draw-not-callable", t("cards: []\n", y("def compute(ctx):", "    ctx.figure('f', 3)")),
         "content/t/compute.py:2: figure 'f': pass a function that draws on the figure it is given"),
    case("calls-sys-exit", t("cards: []\n", y("import sys", "def compute(ctx):", "    sys.exit(3)")),
         "content/t/compute.py:3: SystemExit: 3"),
    case("calls-os-exit", t("cards: []\n", y("import os", "def compute(ctx):", "    os._exit(0)")),
         "content/t/compute.py: computation process died (exit code 0)"),
    case("kills-itself", t("cards: []\n", y("import os", "import signal", "def compute(ctx):",
                                           "    os.kill(os.getpid(), signal.SIGKILL)")),
         "content/t/compute.py: computation process died (exit code -9)"),
    case("infinite-recursion", t("cards: []\n", y("def compute(ctx):", "    compute(ctx)")),
         "content/t/compute.py:2: RecursionError: maximum recursion depth exceeded"),
    case("reads-stdin", t("cards: []\n", y("def compute(ctx):", "    input()")),
         "content/t/compute.py:2: EOFError: EOF when reading a line"),
    case("exception-that-cannot-be-printed", t("cards: []\n", y("class E(Exception):", "    def __str__(self):",
                                                               "        raise ValueError('no')", "",
                                                               "def compute(ctx):", "    raise E()")),
         "content/t/compute.py:6: E: (its message could not be shown)"),
    case("compute-takes-no-argument", t("cards: []\n", y("def compute():", "    pass")),
         "content/t/compute.py: TypeError: compute() takes 0 positional arguments but 1 was given"),
    case("compute-is-not-a-function", t("cards: []\n", "compute = 3\n"),
         "content/t/compute.py: defines no compute(ctx) function"),
    case("two-topics-fail", {**t("cards: []\n", y("def compute(ctx):", "    raise ValueError('t')")),
                             "content/u/cards.yaml": "cards: []\n",
                             "content/u/compute.py": y("def compute(ctx):", "    x = 1", "    raise KeyError('u')")},
         "content/t/compute.py:2: ValueError: t", "content/u/compute.py:3: KeyError: 'u'"),
    case("surrogate-in-card-text", t(y("cards:", "  - id: a", '    front: "q \\ud800"', "    back: b")),
         "content/t/cards.yaml:3: card a: `front` contains a lone surrogate (an invalid \\u escape such as \\ud800)"),
    case("surrogate-in-a-value", t(y("cards:", "  - id: a", "    front: q", "    back: '{{ v }}'"),
                                   y("def compute(ctx):", "    ctx.value('v', 'x\\ud800')")),
         "content/t/compute.py:2: value 'v': text with a lone surrogate cannot be shown on a card"),
    # --- cards that run: output cards and drills ----------------------------------------------------
    case("hangs-snippet", {**t(y("cards:", "  - id: a", "    type: output", "    code: |", "      import time",
                                 "      time.sleep(60)")),
                           "deckgen.yaml": "deck: Test Deck\nquestions: questions.yaml\ntimeout: 4\n"},
         "content/t/cards.yaml:5: card a: the snippet runs longer than 2 s: a card's snippet runs in a moment"),
    case("snippet-floods-stdout", t(y("cards:", "  - id: a", "    type: output", "    code: |",
                                      "      for i in range(1000):", "          print(i)")),
         "content/t/cards.yaml:5: card a: the snippet floods the screen (1000 lines, 3889 characters; at most 40 "
         "lines): print only what the question is about"),
    case("snippet-writes-a-file", t(y("cards:", "  - id: a", "    type: output", "    code: |",
                                      "      open('x.txt', 'w').write('hi')", "      print(1)")),
         "content/t/cards.yaml:5: card a: the snippet writes a file (x.txt): a card's snippet only prints"),
    case("snippet-differs-between-runs", t(y("cards:", "  - id: a", "    type: output", "    code: |",
                                             "      import torch", "      print(torch.randint(0, 10**9, (1,)))")),
         rx(r"content/t/cards\.yaml:5: card a: the snippet prints something different each run \(line 1: "
            r"'tensor\(\[\d+\]\)' then 'tensor\(\[\d+\]\)'\): it depends on unseeded randomness, time or memory "
            r"addresses; seed it \(torch\.manual_seed\(0\)\) or print something that does not change")),
    case("snippet-imports-a-missing-module", t(y("cards:", "  - id: a", "    type: output", "    code: |",
                                                 "      import flash_attn_not_installed")),
         "content/t/cards.yaml:5: card a: the snippet imports a module that is not installed (ModuleNotFoundError: "
         "No module named 'flash_attn_not_installed'); a card's snippet runs with the project's Python"),
    case("snippet-output-differs-from-expect", t(y("cards:", "  - id: a", "    type: output", "    code: |",
                                                   "      print(7 // 2)", "    expect: '3.5'")),
         "content/t/cards.yaml:6: card a: the snippet's output differs from `expect` (line 1: expected '3.5', got "
         "'3'): the pinned behaviour changed; check the card and update `expect`"),
    case("typed-output-of-two-lines", t(y("cards:", "  - id: a", "    type: output", "    typed: true",
                                          "    code: |", "      print(1)", "      print(2)")),
         "content/t/cards.yaml:6: card a: a typed answer must be one line, and the snippet prints 2 lines; remove "
         "`typed: true`"),
    case("drill-ids-collide", t(y("cards:", "  - id: d", "    type: drill", "    function: f", "    params:",
                                  "      - {n: 1.5}", "      - {n: '1p5'}", "    front: '{{ n }}?'",
                                  "    back: '{{ m }}'"),
                                y("def f(n):", "    return {'m': 1}")),
         "content/t/cards.yaml:6: card d: params at lines 6 and 7 give the same card id d--n1p5 (two parameter sets "
         "that differ only in case or punctuation, or a repeat)"),
    case("drill-function-missing", t(y("cards:", "  - id: d", "    type: drill", "    function: f", "    params:",
                                       "      - {n: 1}", "    front: '{{ n }}?'", "    back: '{{ m }}'"),
                                     y("def g(n):", "    return {'m': 1}", "def compute(ctx):", "    pass")),
         "content/t/compute.py: drill d: compute.py defines no function 'f' (its `function:`)"),
    case("drill-function-raises", t(y("cards:", "  - id: d", "    type: drill", "    function: f", "    params:",
                                      "      - {n: 0}", "    front: '{{ n }}?'", "    back: '{{ m }}'"),
                                    y("def f(n):", "    return {'m': 1 / n}")),
         "content/t/compute.py:2: ZeroDivisionError: division by zero"),
    case("drill-without-compute", t(y("cards:", "  - id: d", "    type: drill", "    function: f", "    params:",
                                      "      - {n: 1}", "    front: '{{ n }}?'", "    back: '{{ m }}'")),
         "content/t/cards.yaml:4: card d: drill function 'f': the topic has no compute.py to define it"),
    # --- settings, questions, manifest, folders, output -------------------------------------------
    case("settings-yaml-syntax", {"deckgen.yaml": y("deck: X", "questions: questions.yaml", "  timeout: 3")},
         "deckgen.yaml:3:3: `timeout:` is indented more than `questions:` above it, so YAML reads it as part of "
         "that value; give them the same indentation"),
    case("settings-not-a-mapping", {"deckgen.yaml": "- deck\n"},
         "deckgen.yaml:1: settings must be a mapping"),
    case("settings-timeout-zero", {"deckgen.yaml": y("deck: X", "timeout: 0")},
         "deckgen.yaml:2: timeout must be a positive number of seconds"),
    case("settings-deck-with-colons", {"deckgen.yaml": y("deck: A::B")},
         "deckgen.yaml:1: deck must be a non-empty name without '::'"),
    case("settings-not-utf8", {"deckgen.yaml": b"questions: questions.yaml\ndeck: caf\xe9\n"},
         "deckgen.yaml:2: not valid UTF-8 (byte 0xe9)"),
    case("questions-file-missing", {"deckgen.yaml": y("deck: Test Deck", "questions: missing.yaml")},
         "missing.yaml: questions file not found"),
    case("questions-file-not-a-list", {"questions.yaml": "q-one: First question?\n"},
         "questions.yaml: questions file must be a list of entries"),
    case("questions-yaml-syntax", {"questions.yaml": y("- id: q-one", "  question: [First")},
         "questions.yaml:2:13: YAML syntax error: a flow sequence is never closed"),
    case("manifest-unreadable", {"content/manifest.json": "{not json"},
         "content/manifest.json: manifest is unreadable (Expecting property name enclosed in double quotes: "
         "line 1 column 2 (char 1)); restore it from version control"),
    case("topic-folder-with-a-space", {"content/Bad Topic/cards.yaml": y(*CARD)},
         "content/Bad Topic/cards.yaml: topic folder name 'Bad Topic' must be lower-case letters, digits and '-' "
         "(it becomes the topic's tag and --topic name)"),
    case("out-below-a-file", {**t(y(*CARD)), "blocker": "a file, not a folder\n"},
         rx(r"cannot write /\S+/blocker/x\.apkg: File exists \(/\S+/blocker\)"),
         args=("--out", "{root}/blocker/x.apkg")),
]


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")


def _package_state(root: Path) -> tuple[str, int, list[str], list[str]]:
    """The old package (hash and mtime), what build/ holds, and any temporary file in the project."""
    apkg = root / APKG
    leftovers = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp"))
    return (hashlib.sha256(apkg.read_bytes()).hexdigest(), apkg.stat().st_mtime_ns,
            sorted(os.listdir(root / "build")), leftovers)


def _matches(line: str, expected: Expected) -> bool:
    return bool(expected.fullmatch(line)) if isinstance(expected, re.Pattern) else line == expected


def _assert_clean_failure(output: str, errors: tuple[Expected, ...]) -> None:
    assert "Traceback" not in output, output
    lines = output.splitlines()
    n = len(errors)
    assert lines[-1:] == [f"{n} problem{'s' if n != 1 else ''} found"], output
    got = [line.removeprefix("error: ") for line in lines[:-1]]
    assert all(line.startswith("error: ") for line in lines[:-1]), output
    assert len(got) == n and all(_matches(g, e) for g, e in zip(got, errors, strict=True)), output


@pytest.mark.parametrize("bad", CASES)
def test_broken_input_is_one_clean_line_and_writes_nothing(tmp_path, bad: Case):
    root = write_project(tmp_path / "proj", {"good": {"cards": GOOD}})
    assert run_cli("build", "--project", root, "-q").exit_code == 0
    before = _package_state(root)
    assert before[2:] == (["test-deck.apkg"], [])
    _write(root, bad.files)
    manifest = (root / "content/manifest.json").read_bytes()
    args = [a.format(root=root) for a in bad.args]
    result = run_cli("build", "--project", root, "-q", *args)
    assert result.exit_code == 1, result.output
    _assert_clean_failure(result.output, bad.errors)
    assert _package_state(root) == before
    assert (root / "content/manifest.json").read_bytes() == manifest
    if not any(p.endswith("compute.py") for p in bad.files) and "--out" not in bad.args:
        checked = run_cli("check", "--project", root, "-q", *args)
        assert checked.exit_code == 1
        _assert_clean_failure(checked.output, bad.errors)
        assert _package_state(root) == before


# --- inputs that look hostile but are valid ------------------------------------------------------

@dataclass(frozen=True)
class Harmless:
    files: dict[str, str | bytes]
    fields: dict[str, dict[str, str]]  # card id -> Anki field -> expected HTML (Anki stores NFC)
    absent: tuple[str, ...] = field(default=())  # project paths the build must not create


HARMLESS = {
    "byte-order-mark": Harmless(t("\ufeff" + y(*CARD)), {"a": {"Front": "<p>q</p>", "Back": "<p>b</p>"}}),
    "crlf-line-endings": Harmless(
        t(b"cards:\r\n  - id: a\r\n    front: q\r\n    back: |\r\n      b\r\n      {{ v }}\r\n", V_IS_3),
        {"a": {"Front": "<p>q</p>", "Back": "<p>b\n3</p>"}}),
    "prints-to-stderr": Harmless(
        t(y("cards:", "  - id: a", "    front: q", "    back: '{{ v }}'"),
          y("import sys", "def compute(ctx):", "    print('warning', file=sys.stderr)", "    ctx.value('v', 1)")),
        {"a": {"Back": "<p>1</p>"}}),
    "deletes-its-working-directory": Harmless(
        t(y("cards:", "  - id: a", "    front: q", "    back: '{{ v }}'"),
          y("import os", "def compute(ctx):", "    os.rmdir(os.getcwd())", "    ctx.value('v', 2)")),
        {"a": {"Back": "<p>2</p>"}}),
    "writes-a-relative-file": Harmless(
        t(y("cards:", "  - id: a", "    front: q", "    back: '{{ v }}'"),
          y("def compute(ctx):", "    with open('out.txt', 'w') as f:", "        f.write('x')",
            "    ctx.value('v', 4)")),
        {"a": {"Back": "<p>4</p>"}}, absent=("out.txt", "content/out.txt", "content/t/out.txt")),
    "unicode-everywhere": Harmless(
        t(y("title: Ünïcödé ✓", "cards:", "  - id: a", "    front: 'Warum? 为什么？ لماذا؟ 🧠'",
            "    back: 'e\u0301 \\( \\alpha \\)'", "    tags: [größe, 深度]")),
        {"a": {"Front": "<p>Warum? 为什么？ لماذا؟ 🧠</p>",
               "Back": '<p>\u00e9 <span class="arithmatex">\\( \\alpha \\)</span></p>'}}),
    "empty-card-list": Harmless(t("title: Soon\ncards: []\n"), {}),
}


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_hostile_looking_but_valid_input_builds(tmp_path, name: str):
    case_ = HARMLESS[name]
    root = write_project(tmp_path / "proj", {"good": {"cards": GOOD}})
    _write(root, case_.files)
    result = run_cli("build", "--project", root, "-q")
    assert result.exit_code == 0, result.output
    shown = [line for line in result.output.splitlines() if not line.startswith("  ")]  # progress, stderr
    assert shown[0].startswith("wrote build/test-deck.apkg: ")
    if name == "prints-to-stderr":  # the author's stderr is shown under the topic's name, even with -q
        assert "  t: compute.py wrote to stderr:\n    | warning\n" in result.output
    for rel in case_.absent:
        assert not (root / rel).exists(), rel
    col = fresh_collection(tmp_path / "anki")
    try:
        import_package(col, root / APKG)
        assert col.note_count() == 1 + len(case_.fields)
        for card_id, fields in case_.fields.items():
            note = note_by_card_id(col, card_id)
            for fname, html in fields.items():
                assert note[fname] == html, (card_id, fname, note[fname])
    finally:
        col.close()


@pytest.mark.slow
def test_output_on_file_descriptor_1_is_caught(tmp_path):
    """The docs: 'output on stdout is an error'. Only a real process shows what reaches fd 1."""
    write_project(tmp_path / "proj", {
        "raw": {"cards": "cards: []\n", "compute": y("import os", "def compute(ctx):",
                                                     "    os.write(1, b'raw bytes\\n')", "    ctx.value('v', 1)")},
        "echo": {"cards": "cards: []\n", "compute": y("import subprocess", "def compute(ctx):",
                                                      "    subprocess.run(['echo', 'from echo'], check=True)",
                                                      "    ctx.value('v', 1)")},
    })
    deckgen = Path(sys.executable).with_name("deckgen")
    # Run from the project's parent: paths are printed relative to where the author stands.
    run = subprocess.run([deckgen, "build", "--project", "proj", "-q"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert "raw bytes" not in run.stdout and "from echo" not in run.stdout, run.stdout
    assert run.returncode == 1
    hint = "register results with ctx.value(), or print to sys.stderr to debug"
    assert run.stderr.splitlines() == [
        f"error: proj/content/echo/compute.py: computation printed to stdout ('from echo'); {hint}",
        f"error: proj/content/raw/compute.py: computation printed to stdout ('raw bytes'); {hint}",
        "2 problems found",
    ]
