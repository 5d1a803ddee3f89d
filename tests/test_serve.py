"""`deckgen serve`: what changed is noticed, only changed notes are rendered again, problems keep the last
good cards, and the open page follows edits without being reloaded (headless Chromium).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, write_project

from deckgen.authoring import preview as preview_module
from deckgen.authoring.anki_cards import AnkiCards, media_src
from deckgen.authoring.live import LiveDeck
from deckgen.authoring.watch import Watcher
from deckgen.core.project import load_project
from deckgen.pipeline import BuildOptions, deck_specs, prepare

# ---------------------------------------------------------------- change detection


def test_watcher_reports_changed_bytes_only(tmp_path: Path):
    tree = tmp_path / "content"
    (tree / "t" / "__pycache__").mkdir(parents=True)
    cards, outside, manifest = tree / "t" / "cards.yaml", tmp_path / "data.csv", tree / "manifest.json"
    cards.write_text("a: 1\n")
    outside.write_text("1,2\n")
    manifest.write_text("{}")
    w = Watcher(tree, [outside], ignore=[manifest])
    assert w.changes() == []
    os.utime(cards, ns=(1, 1))  # touched, same bytes: nothing to rebuild
    assert w.changes() == []
    cards.write_text("a: 2\n")
    assert w.changes() == [cards]
    assert w.changes() == []
    # Editors' and deckgen's temporary files, bytecode and the ignored manifest are not content.
    for name in (".cards.yaml.swp", "cards.yaml~", ".cards.yaml.123.abc.tmp", "4913", "__pycache__/x.cpython-311.pyc"):
        (tree / "t" / name).write_text("x")
    manifest.write_text('{"changed": 1}')
    assert w.changes() == []
    new = tree / "t" / "compute.py"
    new.write_text("def compute(ctx): pass\n")
    outside.write_text("3,4\n")
    assert w.changes() == sorted([new, outside])
    cards.unlink()
    assert w.changes() == [cards]
    # A file watched from now on counts from its current bytes.
    later = tmp_path / "later.txt"
    later.write_text("x")
    w.watch([outside, later])
    assert w.changes() == []
    later.write_text("y")
    assert w.changes() == [later]


def test_watcher_waits_for_a_save_to_settle(tmp_path: Path):
    (tmp_path / "c").mkdir()
    target = tmp_path / "c" / "cards.yaml"
    target.write_text("v0")
    w = Watcher(tmp_path / "c")
    stop = threading.Event()

    def save_in_two_writes() -> None:  # as an editor that truncates, then writes
        time.sleep(0.05)
        target.write_text("")
        time.sleep(0.02)
        target.write_text("v1")

    writer = threading.Thread(target=save_in_two_writes)
    writer.start()
    assert w.wait(stop, poll=0.01, settle=0.1) == [target]
    writer.join()
    assert w.changes() == []  # both writes were taken in one report
    stop.set()
    assert w.wait(stop, poll=0.01) == []


# ---------------------------------------------------------------- what is rendered again

TEXT_CARDS = """\
title: Text
cards:
  - id: t-one
    front: What is one?
    back: One.
    covers: [q-one]
  - id: t-two
    type: basic-reversed
    front: Two
    back: Zwei
    covers: [q-two]
  - id: t-three
    type: cloze
    text: "{{c1::Three}} and {{c2::four}}."
    covers: [q-two]
"""
OTHER_CARDS = """\
title: Other
cards:
  - id: o-one
    front: Other question?
    back: Other answer.
    covers: [q-one]
"""


class CountingRenderer:
    """Anki's rendering stands behind it; it records which notes were asked for."""

    def __init__(self, anki: AnkiCards) -> None:
        self.anki, self.calls = anki, []

    def __call__(self, note):
        self.calls.append(note.card_id)
        return self.anki.render(note)


@pytest.fixture(scope="module")
def anki() -> Iterator[AnkiCards]:
    with AnkiCards() as cards:
        yield cards


def _step(live: LiveDeck, root: Path):
    project = load_project(root)
    return live.update(project, prepare(project, BuildOptions()))


def test_only_changed_notes_are_rendered_again(tmp_path: Path, anki: AnkiCards):
    root = write_project(tmp_path / "p", {"text": {"cards": TEXT_CARDS}, "other": {"cards": OTHER_CARDS}})
    render = CountingRenderer(anki)
    live = LiveDeck(render)
    first = _step(live, root)
    assert sorted(render.calls) == ["o-one", "t-one", "t-three", "t-two"]
    # Anki made two cards of the reversed note and one per cloze deletion: 6 articles.
    assert first is not None and first.count == 6 and len(first.articles) == 6
    assert [t[0] for t in first.layout] == ["other", "text"]

    render.calls.clear()
    assert _step(live, root) is None  # nothing changed: nothing rendered, nothing sent
    assert render.calls == []

    cards = root / "content/text/cards.yaml"
    cards.write_text(TEXT_CARDS.replace("back: Zwei", "back: Zwei, deux"))
    patch = _step(live, root)
    assert render.calls == ["t-two"]
    assert sorted(patch.articles) == ["t-two-1", "t-two-2"] and patch.layout is None
    assert "Zwei, deux" in patch.articles["t-two-2"]

    # Lines inserted above move the labels of the cards below: new labels, no rendering.
    render.calls.clear()
    cards.write_text(TEXT_CARDS.replace("back: Zwei", "back: Zwei, deux").replace(
        "    back: One.\n", "    back: One.\n    # a comment\n    # and another\n"))
    patch = _step(live, root)
    assert render.calls == []
    assert sorted(patch.articles) == ["t-three-1", "t-three-2", "t-two-1", "t-two-2"]
    assert "content/text/cards.yaml:9<" in patch.articles["t-two-1"]  # was line 7

    # A deleted card leaves the page; a topic without problems shows exactly what was built.
    cards.write_text(cards.read_text().split("  - id: t-three")[0])
    patch = _step(live, root)
    assert patch.articles == {} and patch.count == 4
    assert dict((t[0], t[2]) for t in patch.layout)["text"] == ("t-one-1", "t-two-1", "t-two-2")


def test_a_problem_keeps_the_last_good_cards(tmp_path: Path, anki: AnkiCards, monkeypatch: pytest.MonkeyPatch):
    root = write_project(tmp_path / "p", {"text": {"cards": TEXT_CARDS}, "other": {"cards": OTHER_CARDS}})
    monkeypatch.chdir(root)
    live = LiveDeck(CountingRenderer(anki))
    _step(live, root)
    good = {c.card_id: c for t in live.topics for c in t.cards}
    cards = root / "content/text/cards.yaml"

    cards.write_text(TEXT_CARDS.replace("  - id: t-two", "  - id t-two"))  # not YAML any more
    (root / "content/other/cards.yaml").write_text(OTHER_CARDS.replace("Other answer.", "Another answer."))
    patch = _step(live, root)
    assert len(patch.problems) == 1
    assert patch.problems[0].startswith("content/text/cards.yaml:8:9: card t-one: ")
    # The broken topic keeps every card as it was; the other topic still updates.
    assert list(patch.articles) == ["o-one-1"] and patch.layout is None and patch.count == 6
    assert {c.card_id: c for c in live.topics[1].cards} == {k: v for k, v in good.items() if k.startswith("t-")}

    # One card that does not render: the topic's other cards update, that one stays as it was.
    cards.write_text(TEXT_CARDS.replace("back: One.", "back: One {{ nope }}.").replace("back: Zwei", "back: Drei"))
    patch = _step(live, root)
    assert len(patch.problems) == 1 and "content/text/cards.yaml:5: card t-one: unknown value 'nope'" in \
        patch.problems[0]
    assert sorted(patch.articles) == ["t-two-1", "t-two-2"]
    assert [c.card_id for c in live.topics[1].cards] == ["t-one", "t-two", "t-three"]
    assert live.topics[1].cards[0] == good["t-one"]

    cards.write_text(TEXT_CARDS)  # fixed: the banner goes, the cards are the file's again
    patch = _step(live, root)
    assert patch.problems == () and sorted(patch.articles) == ["t-two-1", "t-two-2"]


def test_anki_cards_render_as_the_imported_package(tmp_path: Path, anki: AnkiCards):
    """Adding a note to the note-type collection renders exactly what importing the real package renders."""
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    from deckgen.deck.package import write_package

    code = "```python\nx = [1, 2]\n```\n\n\\[ \\frac{a}{b} \\]"
    root = write_project(tmp_path / "p", {"text": {"cards": TEXT_CARDS.replace("back: One.", "back: |\n      "
                                                                        + code.replace("\n", "\n      "))}})
    project = load_project(root)
    decks = deck_specs(project, prepare(project, BuildOptions()))
    apkg = tmp_path / "deck.apkg"
    write_package(decks, {n.card_id: 1 for d in decks for n in d.notes}, apkg)
    col = Collection(str(tmp_path / "collection.anki2"))
    try:
        col.import_anki_package(ImportAnkiPackageRequest(package_path=str(apkg), options=ImportAnkiPackageOptions()))
        imported = {}
        for cid in col.db.list("select id from cards"):
            card = col.get_card(cid)
            out = card.render_output()
            imported[(card.note()["Id"], card.ord + 1)] = (media_src(out.question_text), media_src(out.answer_text))
    finally:
        col.close()
    added = {(n.card_id, r.ordinal): (r.front, r.back) for d in decks for n in d.notes for r in anki.render(n)}
    assert len(added) == 5 and added == imported
    assert 'class="highlight"' in added[("t-one", 1)][1]


# ---------------------------------------------------------------- setup mistakes: one line each


def test_port_in_use_is_one_line(make_project, cli):
    root = make_project({"text": {"cards": TEXT_CARDS}})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--project", root, "--port", port)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use (another deckgen serve?); choose another with --port, or "
        "--port 0 for any free one", "1 problem found"]


def test_missing_mathjax_and_unknown_topic_are_one_line(make_project, cli, monkeypatch, tmp_path):
    root = make_project({"text": {"cards": TEXT_CARDS}})
    assert cli("serve", "--project", root, "--topic", "nope", "--port", "0").output.splitlines()[0] == (
        "error: unknown topic nope (did you mean text?)")
    monkeypatch.setattr(preview_module, "MATHJAX_DIR", tmp_path / "nowhere")
    result = cli("serve", "--project", root, "--port", "0")
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith(f"error: missing asset {tmp_path / 'nowhere' / 'tex-svg-full.js'}")


# ---------------------------------------------------------------- the real thing, in a browser

SMALL_CARDS = """\
title: Small
cards:
  - id: s-basic
    front: What is \\( x^2 \\) at {{ x }}?
    back: |
      The square is {{ sq }}.

      ![the square](fig:square)
    covers: [q-one]
  - id: s-cloze
    type: cloze
    text: "{{c1::Adam}} keeps {{c2::two}} moments."
    covers: [q-two]
"""
SMALL_CODE = """\
def compute(ctx):
    x = ctx.value("x", 3)
    ctx.value("sq", x * x)

    def draw(fig):
        fig.subplots().plot([0, 1, 2, 3], [0, 1, 4, 9])
    ctx.figure("square", draw)
"""
LATER_CARDS = "title: Later\ncards:\n" + "".join(
    f"  - id: later-{i}\n    front: Later question {i}?\n    back: \\( {i} \\cdot x \\)\n    covers: [q-one]\n"
    for i in range(12))
LATER_CODE = "def compute(ctx):\n    ctx.value('unused', 1)\n"


def _ctrl_c_as_in_a_terminal() -> None:
    """Run in the server's process before exec. A test run started in the background (``cmd &``,
    nohup) inherits SIGINT ignored, and Python keeps an ignored SIGINT, so the Ctrl-C this test sends
    would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Served:
    """``deckgen serve`` in its own process, as an author runs it; stderr collected line by line."""

    def __init__(self, root: Path, tmp: Path) -> None:
        tmp.mkdir()
        self.tmp = tmp
        env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp))
        # Standing in the project, as an author does: paths in messages are relative to it.
        self.proc = subprocess.Popen([sys.executable, "-m", "deckgen", "serve", "--project", str(root), "--port", "0"],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=root,
                                     preexec_fn=_ctrl_c_as_in_a_terminal)
        self.lines: list[str] = []
        self.url = ""
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"at (http://127\.0\.0\.1:\d+/) ", line)
                if m:
                    self.url = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(120) and self.url, "\n".join(self.lines)

    def wait_for_line(self, pattern: str, start: int, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.lines[start:]:
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    def descendants(self) -> set[int]:
        found, todo = set(), [self.proc.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    kids = {int(k) for k in task.read_text().split()}
                    todo += kids - found
                    found |= kids
        return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow
def test_the_open_page_follows_edits(tmp_path: Path):
    from playwright.sync_api import sync_playwright
    from test_preview import CHROMIUM, CHROMIUM_ARGS

    root = write_project(tmp_path / "p", {"small": {"cards": SMALL_CARDS, "compute": SMALL_CODE},
                                          "zlater": {"cards": LATER_CARDS, "compute": LATER_CODE}})
    cards, code = root / "content/small/cards.yaml", root / "content/small/compute.py"
    served = Served(root, tmp_path / "tmp")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 390, "height": 600})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served.url)
            page.wait_for_function("document.documentElement.dataset.mathjax === 'done'")
            assert page.locator(".pv-card").count() == 15 and page.locator("#pv-problems").is_hidden()
            page.evaluate("window.__notReloaded = true")
            # Read a card of the second topic: an edit above it must not move it on screen.
            page.evaluate("document.getElementById('later-5-1').scrollIntoView()")
            top = page.evaluate("document.getElementById('later-5-1').getBoundingClientRect().top")

            # A text edit, with math, above the card being read.
            n = len(served.lines)
            cards.write_text(SMALL_CARDS.replace("The square is {{ sq }}.",
                                                 "The square is {{ sq }}.\n\n      So \\( x \\cdot x = {{ sq }} \\)."))
            page.wait_for_function("document.getElementById('s-basic-1').innerText.includes('So')")
            page.wait_for_function("document.documentElement.dataset.mathjax === 'done'")
            assert page.evaluate("window.__notReloaded") is True
            back = page.locator("#s-basic-1 .pv-back")
            assert back.locator("mjx-container").count() == 2 and "\\(" not in back.inner_text()
            assert abs(page.evaluate("document.getElementById('later-5-1').getBoundingClientRect().top") - top) <= 2
            # The edited note alone goes through Anki; the cloze below it only moved (new labels).
            line = served.wait_for_line(r"content/small/cards\.yaml: 1 note rendered by Anki, 3 cards replaced in "
                                        r"the page, nothing computed", n)
            assert "problem" not in line

            # Broken YAML: the banner names file and line, the last good cards stay.
            n = len(served.lines)
            cards.write_text(SMALL_CARDS.replace("  - id: s-cloze", "  - id s-cloze"))
            banner = page.locator("#pv-problems")
            banner.wait_for(state="visible")
            assert re.search(r"content/small/cards\.yaml:11:9: card s-basic: ",
                             banner.inner_text())
            served.wait_for_line(r"^error: content/small/cards\.yaml:11:9: card s-basic: ", n)
            assert page.locator(".pv-card").count() == 15
            assert "So" in page.locator("#s-basic-1").inner_text()
            assert page.evaluate("window.__notReloaded") is True

            # Fixed: the banner goes.
            cards.write_text(SMALL_CARDS)
            banner.wait_for(state="hidden")
            page.wait_for_function("!document.getElementById('s-basic-1').innerText.includes('So')")

            # A code edit re-runs that topic alone, and the new value shows; meanwhile the page says it is rebuilding.
            page.evaluate("""() => { const s = document.getElementById('pv-status'); window.__statuses = [];
                new MutationObserver(() => window.__statuses.push(s.textContent)).observe(s, {childList: true}); }""")
            n = len(served.lines)
            code.write_text(SMALL_CODE.replace('ctx.value("x", 3)', 'ctx.value("x", 5)'))
            page.wait_for_function("document.getElementById('s-basic-1').innerText.includes('The square is 25')",
                                   timeout=60_000)
            served.wait_for_line(r"content/small/compute\.py: 1 note rendered by Anki, 1 card replaced in the page, "
                                r"computed small \(", n)
            assert not any("zlater" in line for line in served.lines[n:])
            page.wait_for_function("window.__statuses.at(-1) === 'live'")
            assert page.evaluate("window.__statuses") == ["rebuilding after content/small/compute.py ...", "live"]
            assert page.evaluate("window.__notReloaded") is True and errors == []
            browser.close()
    finally:
        children = served.descendants()
        during = [f.name for f in served.tmp.iterdir()]
        served.proc.send_signal(signal.SIGINT)
        code_ = served.proc.wait(30)
    # Ctrl-C stops everything it started and leaves no temporary file behind.
    assert code_ == 0, "\n".join(served.lines)
    assert served.lines[-2:] == ["stopping", "stopped"]
    assert children  # the fork server, at least
    # The collection and the fork server's socket were there, in the temporary folder checked below.
    assert any(n.startswith(f"deckgen-anki-{served.proc.pid}-") for n in during), during
    assert any(n.startswith("pymp-") for n in during), during
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in children if _alive(p)] == []
    # torch makes its (empty) compile-cache folder on import, in any build: a cache of torch's, not a leftover.
    assert [f.name for f in served.tmp.iterdir() if not f.name.startswith("torchinductor_")] == []
