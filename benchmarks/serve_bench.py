"""The ``deckgen serve`` scenario of bench.py: how long a saved edit takes to show in the open page.

``deckgen serve`` runs as an author runs it (the console script, on a throw-away copy of the
project, ``--port 0``) with the page open twice: in headless Chromium (when Playwright and
Chromium are installed) and as a bare reader of the update stream (``/events``). Each run writes
one file and times, from just before the write:

* ``stream``: until an update event carrying the new text arrives (server side: notice the save,
  rebuild, render through Anki, publish);
* ``browser``: until the page shows it with its math typeset (``data-mathjax="done"``), which
  adds the page's own work (parse, swap, MathJax) and Playwright's polling (one frame).

Scenarios, each ``--runs`` times:

* ``serve text-edit``: a different paragraph appended to one card's ``back: |`` block;
* ``serve code-edit``: one topic's ``compute.py`` (``losses`` unless ``--code-topic``) is wrapped
  once, before timing, so that it also registers a marker value that one of its cards shows;
  each run then changes only that marker in ``compute.py``, so the topic must re-run to show it.

Claims are checked, not assumed: the server's own line for each rebuild must say that a text
edit rendered exactly one note and computed nothing, and that a code edit computed exactly that
topic. The server must stop on SIGINT with exit code 0.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import DECKGEN, BenchError, Check, Stats, say

SERVE_TARGET_S = 1.0  # issue 13: a saved text edit shows in the browser within 1 s
REBUILD_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<files>.*?): (?P<rendered>\d+) notes? rendered by Anki, "
                          r"(?P<replaced>\d+) cards? replaced in the page, "
                          r"(?:computed (?P<computed>[^;(]+)|nothing computed).*\((?P<s>[\d.]+) s\)$")
BACK_BLOCK = re.compile(r"^(?P<indent>\s*)back: \|[-+]?\s*$")
CARD_ID = re.compile(r"^\s*-\s+id:\s*(?P<id>\S+)\s*$")


def _interruptible() -> None:
    """In the server's process, before exec: Ctrl-C works as in a terminal. A benchmark started in the
    background (``cmd &``, nohup) inherits SIGINT ignored, and Python keeps an ignored SIGINT, so the
    server would never see the stop signal the benchmark checks."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Served:
    """``deckgen serve`` as a child process, its stderr lines and the update events it streams."""

    def __init__(self, env: dict[str, str], project: Path) -> None:
        launcher = [str(DECKGEN)] if DECKGEN.exists() else [sys.executable, "-m", "deckgen"]
        start = time.perf_counter()
        self.proc = subprocess.Popen([*launcher, "serve", "--project", str(project), "--port", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=env["DECKGEN_BENCH_CWD"], preexec_fn=_interruptible)
        self.lines: list[str] = []
        self.events: list[tuple[float, str]] = []  # (perf_counter at arrival, data)
        self.url = ""
        ready = threading.Event()
        threading.Thread(target=self._read_stderr, args=(ready,), daemon=True).start()
        if not ready.wait(600) or not self.url:
            self.stop()
            raise BenchError("deckgen serve did not start:\n" + "\n".join(self.lines[-20:]))
        self.startup_s = time.perf_counter() - start
        page = urllib.request.urlopen(self.url, timeout=30).read().decode()
        version = re.search(r'data-version="([^"]+)"', page)
        if version is None:
            raise BenchError("the served page carries no data-version")
        threading.Thread(target=self._read_events, args=(version.group(1),), daemon=True).start()

    def _read_stderr(self, ready: threading.Event) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            m = re.search(r" at (http://127\.0\.0\.1:\d+/) ", line)
            if m and not self.url:
                self.url = m.group(1)
                ready.set()
        ready.set()

    def _read_events(self, since: str) -> None:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}events?since={since}") as stream:
            data: list[str] = []
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    data.append(line[6:])
                elif not line and data:
                    self.events.append((time.perf_counter(), "\n".join(data)))
                    data = []

    def wait_event(self, marker: str, after: int, timeout: float = 120) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for t, data in self.events[after:]:
                if marker in data:
                    return t
            time.sleep(0.002)
        raise BenchError(f"no update carrying {marker!r} within {timeout:g} s:\n" + "\n".join(self.lines[-10:]))

    def wait_rebuild(self, after: int, timeout: float = 120) -> re.Match[str]:
        """The server's line for the rebuild that carried the edit (the last one so far)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = [m for line in self.lines[after:] if (m := REBUILD_LINE.match(line))]
            if found:
                return found[-1]
            time.sleep(0.01)
        raise BenchError("no rebuild line from deckgen serve:\n" + "\n".join(self.lines[-10:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


@dataclass
class BlockEdit:
    """Appends a paragraph to the first (or the named) card's literal ``back: |`` block."""

    path: Path
    card: str
    original: str
    after_line: int  # 0-based index of the line after which the paragraph goes
    indent: str

    @classmethod
    def find(cls, cards: list[Path], card_id: str | None) -> BlockEdit:
        for path in cards:
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            current = None
            for i, line in enumerate(lines):
                if (m := CARD_ID.match(line)) is not None:
                    current = m.group("id")
                m = BACK_BLOCK.match(line)
                if m is None or current is None or (card_id is not None and current != card_id):
                    continue
                key_indent, end = len(m.group("indent")), i + 1
                while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > key_indent):
                    end += 1
                while not lines[end - 1].strip():
                    end -= 1
                if end == i + 1:
                    continue
                return cls(path, current, text, end - 1, " " * _indent(lines[i + 1]))
        raise BenchError(f"no card {card_id or ''} with a literal `back: |` block in {', '.join(map(str, cards))}")

    def text_with(self, paragraph: str) -> str:
        lines = self.original.splitlines(keepends=True)
        if not lines[self.after_line].endswith("\n"):
            lines[self.after_line] += "\n"
        lines[self.after_line + 1:self.after_line + 1] = ["\n", f"{self.indent}{paragraph}\n"]
        return "".join(lines)

    def apply(self, paragraph: str) -> None:
        self.path.write_text(self.text_with(paragraph), encoding="utf-8")

    def restore(self) -> None:
        self.path.write_text(self.original, encoding="utf-8")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@dataclass
class Timed:
    stream_s: float
    browser_s: float | None
    rebuild_s: float  # the server's own time for the rebuild (from notice to publish)
    rendered: int
    computed: list[str]
    files: str


@dataclass
class ServeScenario:
    name: str
    runs: list[Timed] = field(default_factory=list)

    def stats(self, key: str) -> Stats | None:
        return Stats.of([getattr(r, key) for r in self.runs if getattr(r, key) is not None])


class Browser:
    """The page in headless Chromium at phone size, when Playwright and Chromium are installed."""

    def __init__(self, url: str) -> None:
        from playwright.sync_api import sync_playwright

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise ImportError("no chromium")
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        self.page = self.browser.new_page(viewport={"width": 390, "height": 844})
        self.page.goto(url)
        self.page.wait_for_function("document.documentElement.dataset.mathjax === 'done'", timeout=300_000)

    def wait_for(self, article: str, marker: str) -> None:
        self.page.wait_for_function(
            "([id, marker]) => { const e = document.getElementById(id); return !!e && e.textContent.includes(marker)"
            " && document.documentElement.dataset.mathjax === 'done'; }",
            arg=[article, marker], polling="raf", timeout=120_000)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()
            self._pw.stop()


def _timed(served: Served, browser: Browser | None, article: str, marker: str, write: Any) -> Timed:
    events, lines = len(served.events), len(served.lines)
    start = time.perf_counter()
    write()
    browser_s = None
    if browser is not None:
        browser.wait_for(article, marker)
        browser_s = time.perf_counter() - start
    stream_s = served.wait_event(marker, events) - start
    m = served.wait_rebuild(lines)
    computed = [t.strip() for t in (m.group("computed") or "").split(",") if t.strip()]
    return Timed(stream_s, browser_s, float(m.group("s")), int(m.group("rendered")), computed, m.group("files"))


def bench_serve(tmp: Path, env: dict[str, str], project: Path, runs: int, text_card: str | None,
                code_topic: str | None) -> dict[str, Any]:
    """Run both serve scenarios on ``project`` (a throw-away copy) and check what the server says it did."""
    code_topic = code_topic or "losses"
    code_path = project / "content" / code_topic / "compute.py"
    if not code_path.is_file():
        raise BenchError(f"topic {code_topic!r} has no compute.py")
    text = BlockEdit.find(sorted((project / "content").glob("*/cards.yaml")), text_card)
    shown = BlockEdit.find([project / "content" / code_topic / "cards.yaml"], None)
    original_code = code_path.read_text(encoding="utf-8")
    say(f"serve: starting deckgen serve on {project} ...")
    served = Served(env, project)
    browser = None
    try:
        try:
            browser = Browser(served.url)
        except Exception as exc:  # Playwright or Chromium missing: the stream alone is timed
            say(f"serve: no browser timing ({type(exc).__name__}: {exc})")
        say(f"serve: started in {served.startup_s:.1f} s at {served.url}")
        te, ce = ServeScenario("serve text-edit"), ServeScenario("serve code-edit")
        try:
            for i in range(runs):
                marker = f"Serve benchmark edit {i} {uuid.uuid4().hex[:8]}."
                te.runs.append(_timed(served, browser, f"{text.card}-1", marker, lambda m=marker: text.apply(m)))
                time.sleep(0.3)
        finally:
            text.restore()
        # The code edit: the topic also registers a marker value, and one of its cards shows it.
        wrapper = ("\n\n_deckgen_bench_compute = compute\n\n\ndef compute(ctx):\n    _deckgen_bench_compute(ctx)\n"
                   "    ctx.value(\"deckgen_bench_marker\", \"{}\")\n")
        try:
            _timed(served, browser, f"{shown.card}-1", "bench-setup", lambda: (
                code_path.write_text(original_code + wrapper.format("bench-setup"), encoding="utf-8"),
                shown.apply("Serve benchmark value: {{ deckgen_bench_marker }}")))
            for i in range(runs):
                marker = f"bench-code-{i}-{uuid.uuid4().hex[:8]}"
                ce.runs.append(_timed(served, browser, f"{shown.card}-1", marker, lambda m=marker: code_path.write_text(
                    original_code + wrapper.format(m), encoding="utf-8")))
                time.sleep(0.3)
        finally:
            code_path.write_text(original_code, encoding="utf-8")
            shown.restore()
    finally:
        if browser is not None:
            browser.close()
        code = served.stop()
    checks = _checks(te, ce, code_topic, text.card, code, served.lines)
    return {"startup_s": served.startup_s, "text_card": text.card, "code_topic": code_topic,
            "browser": browser is not None, "exit_code": code,
            "scenarios": {s.name: {"stream": s.stats("stream_s"), "browser": s.stats("browser_s"),
                                   "rebuild": s.stats("rebuild_s"), "runs": s.runs} for s in (te, ce)},
            "checks": checks}


def _checks(te: ServeScenario, ce: ServeScenario, topic: str, card: str, code: int, lines: list[str]) -> list[Check]:
    shown = te.stats("browser_s") or te.stats("stream_s")
    assert shown is not None
    where = "browser" if te.stats("browser_s") else "update stream"
    out = [Check(f"serve: a text edit shows within {SERVE_TARGET_S:g} s (median, {where})",
                 shown.median <= SERVE_TARGET_S, f"{shown.median:.3f} s (max {shown.max:.3f})")]
    bad = [(r.rendered, r.computed) for r in te.runs if r.rendered != 1 or r.computed]
    out.append(Check("serve text edit: exactly 1 note rendered by Anki, nothing computed", not bad,
                     f"card {card}; per run (rendered, computed): {[(r.rendered, r.computed) for r in te.runs]}"))
    bad = [r.computed for r in ce.runs if r.computed != [topic]]
    out.append(Check(f"serve code edit: only {topic} re-runs", not bad,
                     f"computed per run {[r.computed for r in ce.runs]}"))
    out.append(Check("serve: Ctrl-C stops it cleanly (exit 0)", code == 0 and lines[-1:] == ["stopped"],
                     f"exit {code}, last line {lines[-1:] or 'none'}"))
    return out


def print_serve(r: dict[str, Any]) -> None:
    print(f"deckgen serve: started in {r['startup_s']:.1f} s; text edit of card {r['text_card']}, code edit of topic "
          f"{r['code_topic']}; seconds from the write until the edit shows")
    print(f"{'scenario':<16} {'n':>2}  {'where':<8} {'median':>7}  {'min-max':<15}  {'IQR':>10}")
    for name, s in r["scenarios"].items():
        for where in ("browser", "stream", "rebuild"):
            st = s[where]
            if st:
                print(f"{name:<16} {st.n:>2}  {where:<8} {st.show()}")
    print("  (rebuild: the server's own time from noticing the save to publishing the update)")


def main_serve(tmp: Path, env: dict[str, str], project: Path, runs: int, text_card: str | None,
               code_topic: str | None) -> dict[str, Any]:
    """bench.py's entry: the results, with checks as plain dicts like the build scenarios'."""
    r = bench_serve(tmp, env, project, runs, text_card, code_topic)
    r["checks"] = [c.__dict__ for c in r["checks"]]
    return r


__all__ = ["bench_serve", "main_serve", "print_serve"]
