"""Property: whatever the content, ``deckgen build`` gives a deck real Anki imports, or clean errors.

Hypothesis generates small projects: cards of every type with ids (mostly valid), Markdown with
math, code fences, unicode, clozes, value references (to values that exist or not, with format
specs that fit or not), figure references, tags and covers; sometimes a field of the wrong type,
an unknown key or a missing field; sometimes the YAML text itself is damaged (a character
deleted, a symbol inserted, a line duplicated, re-indented or cut off). Some projects have a tiny
``compute.py`` registering a few values (rarely a figure, a NaN, a print or an exception).

For every project the CLI must either

* exit 0, and the package imports into a fresh Anki collection with one note per card (counted
  from the YAML by PyYAML's own safe loader, not by deckgen) and no empty field where the card
  had text; or
* exit 1 with only ``error: <project file>[:<line>]: ...`` lines and the problem count, no
  traceback, the previous package byte-identical and no temporary file left behind.

An exception escaping the CLI fails the test (``catch_exceptions=False``). Now and then the
generator also writes what earlier versions of these properties found to break deckgen (each
is a row in ``test_hostile.py``): lone surrogates, control characters, deep nesting, empty
value strings that empty a field or a deletion, Markdown link definitions that render to
nothing, ``{{c0::``, deletions inside a ``python``-highlighted fence, and a missing image. The two tests
take 12 s on the 2-core machine, up to 35 s under load (hypothesis ``max_examples`` 60 and 20).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from anki_helpers import fresh_collection, import_package, note_by_card_id
from conftest import run_cli, write_project
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # the real deck / a browser / generated projects: see pyproject.toml

PREVIOUS = b"the previous package, which a failed build must leave alone"
APKG = "build/test-deck.apkg"
ERROR_LINE = re.compile(r"error: (?P<file>[^:]+?)(?::(?P<line>[1-9]\d*)(?::(?P<column>[1-9]\d*))?)?: (?P<message>\S.*)")
FIELDS_OF = {"basic": {"front": "Front", "back": "Back", "extra": "Extra"},
             "basic-reversed": {"front": "Front", "back": "Back", "extra": "Extra"},
             "cloze": {"text": "Text", "extra": "Extra"}}

# Letters from several scripts, digits, spaces, emoji and combining marks; no control characters
# and no surrogates (pinned as bugs in test_hostile.py), no Markdown or YAML syntax of their own.
WORD = st.text(st.characters(categories=("Lu", "Ll", "Lo", "Nd", "Mn", "So"), exclude_characters="\u0085"),
               min_size=1, max_size=10)
VALUE_NAMES = ("lr", "steps", "loss", "shape", "label")
SPECS = (":.3f", ":g", ":,", ":d", ":>6", ":.2e")
MATH = ("\\( x^{2} \\)", "\\( \\frac{a}{b} \\)", "\\[ \\sum_{i=1}^{n} w_i \\]", "\\( \\alpha < \\beta \\)")
CODE = ("`x = 1`", "```python\nloss = model(x)\nprint(loss)\n```", "```\nplain code\n```")
OTHER = ("**bold**", "- item\n- item", "| a | b |\n|---|---|\n| 1 | 2 |", "> quote", "é", "🧠")


def rarely(draw: Any, one_in: int) -> bool:
    """True about once in ``one_in`` draws (a middle value: hypothesis favours the ends of a range)."""
    return bool(draw(st.integers(0, one_in - 1)) == one_in // 2)


def mostly(draw: Any, usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int = 10) -> Any:
    """Draw from ``rare`` about once in ``one_in`` times: broken input, but mostly buildable projects."""
    return draw(rare) if rarely(draw, one_in) else draw(usual)


@st.composite
def markdown(draw: Any, values: tuple[str, ...], figures: tuple[str, ...], deletions: int = 0) -> str:
    """A Markdown field: words, math, code, value and figure references, in any order.

    References mostly name what the topic computes (``values``, ``figures``), with a spec that
    may or may not fit the value; now and then they name something that does not exist.
    ``deletions`` cloze deletions (``{{c1::...}}``, numbers 1-3) go anywhere among the pieces.
    """
    def value_ref() -> st.SearchStrategy[str]:
        name = st.sampled_from(values) if values else st.just("nope")
        spec = st.one_of(st.just(""), st.sampled_from(SPECS))
        return st.builds(lambda n, sp: f"{{{{ {n}{sp} }}}}", name, spec)

    def figure_ref() -> st.SearchStrategy[str]:
        name = st.sampled_from(figures) if figures else st.just("nofig")
        return st.builds(lambda alt, n: f"![{alt}](fig:{n})", WORD, name)

    refs = [value_ref()] if values else []
    refs += [figure_ref()] if figures else []
    plain = st.one_of(WORD, WORD, st.sampled_from(MATH), st.sampled_from(CODE), st.sampled_from(OTHER), *refs)
    broken = st.one_of(value_ref(), figure_ref(), st.just("{{ nope }}"), st.just("![x](fig:nofig)"),
                       st.just("[1]: https://example.com"), st.just("![diagram](missing.png)"),
                       st.just("x\ud800"), st.just("x\x00"), st.just("[" * 60 + "]" * 60))
    parts = [mostly(draw, plain, broken, 100) for _ in range(draw(st.integers(1, 5)))]
    for _ in range(deletions):
        number, inside = draw(st.integers(0, 3)), draw(st.one_of(WORD, st.sampled_from(MATH), *refs))
        deletion = f"{{{{c{number}::{inside}}}}}"
        # Plain, inline code, an unhighlighted fence, or a highlighted one (which splits the deletion).
        wrap = draw(st.sampled_from(("{}", "`x = {}`", "```\nx = {}\n```", "```python\nx = {}\n```")))
        parts.insert(draw(st.integers(0, len(parts))), wrap.format(deletion))
    return draw(st.sampled_from((" ", "\n", "\n\n"))).join(parts)


GOOD_ID = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
BAD_ID = st.sampled_from(["Upper", "under_score", "-lead", "trail-", "", "two words", 42, None, True])
TAGS = st.lists(st.sampled_from(["adam", "größe", "深度", "x::y"]), max_size=3)
BAD_TAGS = st.sampled_from([["two words"], "adam", {"a": 1}])
COVERS = st.lists(st.sampled_from(["q-one", "q-two"]), max_size=2)
BAD_COVERS = st.sampled_from([["q-unknown"], "q-one", [1]])


@st.composite
def card(draw: Any, values: tuple[str, ...], figures: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """One card; its id mostly starts with the topic's name, so ids rarely collide across topics."""
    ctype = draw(st.sampled_from(("basic", "basic", "cloze", "basic-reversed")))
    good = st.builds(lambda i: f"{prefix}-{i}", GOOD_ID) if not rarely(draw, 10) else GOOD_ID
    out: dict[str, Any] = {"id": mostly(draw, good, BAD_ID, 30)}
    if ctype != "basic" or draw(st.booleans()):
        out["type"] = ctype
    if ctype == "cloze":
        out["text"] = draw(markdown(values, figures, deletions=0 if rarely(draw, 10) else draw(st.integers(1, 3))))
    else:
        out["front"] = draw(markdown(values, figures))
        out["back"] = draw(markdown(values, figures))
    if draw(st.integers(0, 3)) == 0:
        out["extra"] = draw(markdown(values, figures))
    if draw(st.booleans()):
        out["tags"] = mostly(draw, TAGS, BAD_TAGS, 20)
    if draw(st.booleans()):
        out["covers"] = mostly(draw, COVERS, BAD_COVERS, 20)
    damage = draw(st.integers(0, 3)) if rarely(draw, 15) else None
    if damage == 0:
        out[draw(st.sampled_from(sorted(out)))] = draw(st.sampled_from([["a", "list"], {"a": 1}, 3.5, None, ""]))
    elif damage == 1:
        out[draw(st.sampled_from(["hint", "Front", "answer"]))] = "x"
    elif damage == 2:
        out.pop(draw(st.sampled_from(sorted(out))))
    elif damage == 3:
        out["expect"] = draw(st.sampled_from([{"lr": 0.01}, {"steps": {"min": 0}}, {"nope": 1}, [1], {"lr": {"x": 1}}]))
    return out


DAMAGE_CHARS = ":-[]{}#&*!|>'\"%@`, \t\n"


@st.composite
def damaged(draw: Any, text: str) -> str:
    """The YAML text, most often intact, sometimes with one edit a hurried author could make."""
    lines = text.splitlines(keepends=True)
    if not text or not rarely(draw, 6):
        return text
    how = draw(st.integers(0, 5))
    at = draw(st.integers(0, len(text) - 1))
    if how == 0:
        return text[:at] + text[at + 1:]
    if how == 1:
        return text[:at] + draw(st.sampled_from(DAMAGE_CHARS)) + text[at:]
    if how == 2:
        return text[:at]
    i = draw(st.integers(0, len(lines) - 1))
    if how == 3:
        return "".join(lines[: i + 1] + lines[i:])
    if how == 4:
        return "".join([*lines[:i], " " + lines[i], *lines[i + 1:]])
    return "".join(lines[:i] + lines[i + 1:])


VALUES = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(st.characters(categories=("L", "Nd")), min_size=0, max_size=8),  # "" can empty a field or a deletion
    st.lists(st.integers(1, 512), min_size=1, max_size=4),
)


@st.composite
def compute_code(draw: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """A tiny compute.py registering some of VALUE_NAMES, rarely a figure, a NaN, a print or a raise.

    Returns the code and the value and figure names it registers, for the cards to refer to.
    """
    values = draw(st.dictionaries(st.sampled_from(VALUE_NAMES), VALUES, max_size=4))
    lines = ["def compute(ctx):"] + [f"    ctx.value({k!r}, {v!r})" for k, v in values.items()]
    extra = draw(st.sampled_from(("figure", "nan", "print", "raise"))) if rarely(draw, 4) else None
    figures: tuple[str, ...] = ()
    if extra == "figure":
        lines.append("    ctx.figure('curve', lambda fig: fig.subplots().plot([0, 1], [1, 0]))")
        figures = ("curve",)
    elif extra == "nan":
        lines.append("    ctx.value('bad', float('nan'))")
    elif extra == "print":
        lines.append("    print('debug')")
    elif extra == "raise":
        lines.append("    raise ValueError('broken on purpose')")
    return "\n".join([*lines, "    pass"]) + "\n", tuple(values), figures


@st.composite
def topic(draw: Any, name: str, with_compute: bool) -> dict[str, str]:
    code, values, figures = draw(compute_code()) if with_compute else (None, (), ())
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["title"] = mostly(draw, WORD, st.just("A::B"), 20)
    cards = draw(st.lists(card(values, figures, name), max_size=4, unique_by=lambda c: str(c.get("id"))))
    if cards and rarely(draw, 10):
        cards.append(dict(draw(st.sampled_from(cards))))  # the same id twice
    data["cards"] = cards
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=4096)
    files = {"cards": draw(damaged(text))}
    if code is not None:
        files["compute"] = code
    return files


def projects(with_compute: bool) -> st.SearchStrategy[dict[str, dict[str, str]]]:
    names = st.lists(st.sampled_from(["alpha", "beta", "gamma"]), min_size=1, max_size=2, unique=True)
    return names.flatmap(lambda ns: st.fixed_dictionaries(
        {n: topic(n, with_compute and i == 0) for i, n in enumerate(ns)}))


def _anki_cards(card: dict[str, Any]) -> int:
    """Cards Anki makes from a note: two for reversed, one per distinct cloze number."""
    kind = card.get("type", "basic")
    if kind == "cloze":
        return len(set(re.findall(r"\{\{c(\d+)::", str(card["text"]))))
    return 2 if kind == "basic-reversed" else 1


def _expected_cards(root: Path) -> list[dict[str, Any]]:
    """The cards as PyYAML's safe loader reads them (an oracle independent of deckgen's loader)."""
    out = []
    for path in sorted((root / "content").glob("*/cards.yaml")):
        out += yaml.safe_load(path.read_text(encoding="utf-8"))["cards"]
    return out


def _check_success(root: Path, anki_dir: Path) -> None:
    cards = _expected_cards(root)
    col = fresh_collection(anki_dir)
    try:
        import_package(col, root / APKG)
        assert col.note_count() == len(cards)
        assert col.card_count() == sum(_anki_cards(c) for c in cards)
        for c in cards:
            note = note_by_card_id(col, c["id"])
            for key, field in FIELDS_OF[c.get("type", "basic")].items():
                text = c.get(key)
                if isinstance(text, str | int | float) and str(text).strip():
                    assert note[field].strip(), (c["id"], key, text)
    finally:
        col.close()


def _check_failure(root: Path, output: str) -> None:
    assert "Traceback" not in output, output
    lines = output.splitlines()
    errors, count = lines[:-1], lines[-1:]
    assert errors and count == [f"{len(errors)} problem{'s' if len(errors) != 1 else ''} found"], output
    for line in errors:
        m = ERROR_LINE.fullmatch(line)
        assert m, line
        assert (root / m["file"]).is_file(), line  # names a real project file
    assert (root / APKG).read_bytes() == PREVIOUS
    assert [p.name for p in (root / "build").iterdir()] == ["test-deck.apkg"]
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def check_project(topics: dict[str, dict[str, str]]) -> None:
    with tempfile.TemporaryDirectory(prefix="deckgen-prop-") as tmp:
        root = write_project(Path(tmp) / "proj", {})
        for name, files in topics.items():  # written as generated (write_project would dedent them)
            folder = root / "content" / name
            folder.mkdir(parents=True)
            for kind, text in files.items():
                (folder / ("cards.yaml" if kind == "cards" else "compute.py")).write_text(text, encoding="utf-8")
        (root / "build").mkdir()
        (root / APKG).write_bytes(PREVIOUS)
        result = run_cli("build", "--project", root, "-q", "--timeout", "60")
        assert result.exit_code in (0, 1), result.output
        event(f"exit {result.exit_code}")  # shown by --hypothesis-show-statistics
        if result.exit_code == 0:
            _check_success(root, Path(tmp) / "anki")
        else:
            _check_failure(root, result.output)


SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@settings(max_examples=60, **SETTINGS)
@given(projects(with_compute=False))
def test_content_only_projects_build_or_fail_cleanly(topics):
    check_project(topics)


@settings(max_examples=20, **SETTINGS)
@given(projects(with_compute=True))
def test_projects_with_computations_build_or_fail_cleanly(topics):
    check_project(topics)
