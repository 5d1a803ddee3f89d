"""``deckgen serve``: the preview, live. Save a card and the open page shows it within a second.

One process does everything, in the spirit of ``mkdocs serve``:

* the main thread watches the content (``watch.py``), rebuilds with the pipeline's ``prepare``
  (the computation cache makes a text edit recompute nothing and a ``compute.py`` edit re-run that
  topic alone; the fork server with torch preloaded stays up between saves), asks Anki to render
  only the notes that changed (``live.py``), and publishes one patch per rebuild;
* a small HTTP server on 127.0.0.1 (the standard library's: it serves one author's browser)
  serves the page, media, MathJax and the patches as server-sent events (``client.py`` applies
  them in the page).

A content problem goes to the terminal and to a banner at the top of the page, each with its
file and line, while the last good cards stay on screen; the next good save clears it.
Ctrl-C (or SIGTERM) stops the server, the watcher, computations still running and the fork
server, and removes the throw-away Anki collection: nothing is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import mimetypes
import os
import secrets
import shutil
import signal
import threading
import time
import webbrowser
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from ..compute.cache import Cache
from ..compute.runner import Progress, silent, warm_up
from ..core.errors import DeckgenError, Problem
from ..core.project import Project, load_project
from ..deck.render import markdown_to_html
from ..pipeline import BuildOptions, prepare
from .anki_cards import AnkiCards
from .client import LIVE_JS
from .live import LiveDeck, Patch, TopicView
from .page import MATHJAX_FILE, Live, page_html, topic_html
from .preview import mathjax_path
from .watch import Watcher

HOST = "127.0.0.1"
DEFAULT_PORT = 8000
KEEPALIVE_SECONDS = 15.0  # a comment line on an idle event stream, so a closed tab is noticed
HISTORY = 500  # patches kept for a page that reconnects; older than that, it reloads

Log = Callable[[str], None]


@dataclass(frozen=True)
class ServeOptions:
    topics: tuple[str, ...] = ()
    port: int = DEFAULT_PORT  # 0: any free port
    open_browser: bool = False
    jobs: int | None = None
    timeout: float | None = None

    def build_options(self) -> BuildOptions:
        return BuildOptions(topics=self.topics, jobs=self.jobs, timeout=self.timeout)


@dataclass(frozen=True)
class Rebuild:
    """One rebuild, as the terminal reports it."""

    changed: tuple[str, ...]  # files that changed, as shown (empty for the first build)
    updated: int  # cards (Anki cards, as on the page) put in or replaced
    rendered: int  # notes Anki rendered again
    computed: tuple[str, ...]  # topics whose computation ran
    problems: tuple[str, ...]
    seconds: float
    fixed: bool = False  # the problems the page showed before are gone

    def line(self) -> str:
        what = ", ".join(self.changed[:3]) + (f" and {len(self.changed) - 3} more" if len(self.changed) > 3 else "")
        done = (f"{self.rendered} note{'s' * (self.rendered != 1)} rendered by Anki, {self.updated} "
                f"card{'s' * (self.updated != 1)} replaced in the page, "
                + (f"computed {', '.join(self.computed)}" if self.computed else "nothing computed"))
        trouble = (f"; {len(self.problems)} problem{'s' * (len(self.problems) != 1)}, the page keeps the last "
                   "good cards" if self.problems else "; no problems left" if self.fixed else "")
        return f"{time.strftime('%H:%M:%S')} {what}: {done}{trouble} ({self.seconds:.2f} s)"


@dataclass(frozen=True)
class _View:
    """What a page request shows: an immutable snapshot, so the HTTP threads never see a half update."""

    version: int
    topics: tuple[TopicView, ...]
    problems: tuple[str, ...]
    count: int
    css: str
    deck: str


class _Hub:
    """The state the watcher thread publishes and the HTTP threads read."""

    def __init__(self, mathjax: Path) -> None:
        self.cond = threading.Condition()
        self.token = secrets.token_hex(4)  # a page from an earlier server run reloads instead of patching
        self.mathjax = mathjax
        self.view = _View(0, (), (), 0, "", "")
        self.patches: deque[Patch] = deque(maxlen=HISTORY)
        self.media: dict[str, Path] = {}
        self.stopping = False
        # What the server is rebuilding after ("" when idle), for the page's status; each change is sent.
        self.busy: deque[tuple[int, str]] = deque([(0, "")], maxlen=16)

    def publish(self, view: _View, media: dict[str, Path], patch: Patch | None) -> None:
        with self.cond:
            self.view = view
            self.media = dict(media)
            if patch is not None:
                self.patches.append(patch)
            self.cond.notify_all()

    def set_busy(self, what: str) -> None:
        with self.cond:
            self.busy.append((self.busy[-1][0] + 1, what))
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def page(self) -> str:
        v = self.view  # one read of an immutable snapshot: no lock needed
        body = "\n".join(topic_html(t.name, t.title, (h for c in t.cards for _, h in c.articles)) for t in v.topics)
        live = Live(f"{self.token}:{v.version}", v.problems, LIVE_JS)
        return page_html(body, v.count, v.css, {t.name: t.title for t in v.topics}, v.deck,
                         f"mathjax/{MATHJAX_FILE}", live)


def serve(project: Project, options: ServeOptions, log: Log, progress: Progress = silent) -> None:
    """Serve the live preview until Ctrl-C; a setup mistake (no MathJax, unknown topic, port taken) raises.

    ``log`` gets one line per event (the URL, each rebuild, each problem); the settings are read
    again on every rebuild, so ``project`` is only the starting point.
    """
    mathjax = mathjax_path()
    project.select(options.topics)  # an unknown --topic is an error now, not a banner
    server = _bind(options.port)
    hub = _Hub(mathjax)
    server.hub = hub  # type: ignore[attr-defined]
    stop = threading.Event()
    http = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="deckgen-serve-http",
                            daemon=True)
    anki: AnkiCards | None = None

    def quiet(topic: str, status: str, seconds: float) -> None:  # "cached" for every topic on every save is noise
        if status != "cached":
            progress(topic, status, seconds)

    try:
        with _terminate_as_interrupt():
            anki = AnkiCards()
            live = LiveDeck(anki.render)
            # Watching starts before the first build, so a save made during it is not missed.
            watcher = Watcher(project.content_dir, ignore=[project.manifest_path])
            first = _rebuild(project.root, options, live, anki, hub, watcher, (), quiet)
            http.start()
            url = f"http://{HOST}:{server.server_address[1]}/"
            log(f"serving {hub.view.deck}: {hub.view.count} cards from {len(hub.view.topics)} topic(s) at {url} "
                f"(built in {first.seconds:.1f} s; watching {project.rel(project.content_dir)}/; Ctrl-C to stop)")
            _log_problems(log, first.problems)
            if options.open_browser:
                webbrowser.open(url)
            markdown_to_html("warm")  # the first edited field would otherwise wait for Markdown's import
            if any(t.compute is not None for t in project.select(options.topics)):
                warm_up()  # torch loads in the fork server while the author reads, not on the first code edit
            while True:
                changed = watcher.wait(stop)
                shown = tuple(project.rel(p) for p in changed)
                hub.set_busy(f"rebuilding after {', '.join(shown[:2])}{' ...' if len(shown) > 2 else ''}")
                try:
                    report = _rebuild(project.root, options, live, anki, hub, watcher, shown, quiet)
                finally:
                    hub.set_busy("")
                log(report.line())
                _log_problems(log, report.problems)
    except KeyboardInterrupt:
        log("stopping")
    finally:
        stop.set()
        hub.stop()
        if http.is_alive():
            server.shutdown()
        server.server_close()
        if anki is not None:
            anki.close()


def _rebuild(root: Path, options: ServeOptions, live: LiveDeck, anki: AnkiCards, hub: _Hub, watcher: Watcher,
             changed: tuple[str, ...], progress: Progress) -> Rebuild:
    start = time.perf_counter()
    computed: tuple[str, ...] = ()
    deck, before = hub.view.deck, live.problems
    try:
        project = load_project(root)  # deckgen.yaml may have changed too
        deck = project.settings.deck
        prepared = prepare(project, options.build_options(), progress)
    except DeckgenError as exc:
        patch = live.fail(exc.problems)
    else:
        patch = live.update(project, prepared)
        computed = tuple(sorted(n for n, r in prepared.results.items() if not r.cached))
        watcher.watch(_inputs(project, prepared.topics))
    hub.publish(_View(live.version, live.topics, live.problems, live.count(), "\n".join(anki.css), deck),
                live.media, patch)
    return Rebuild(changed, len(patch.articles) if patch else 0, len(patch.rendered) if patch else 0, computed,
                   live.problems, time.perf_counter() - start, fixed=bool(before) and not live.problems)


def _inputs(project: Project, topics: Any) -> list[Path]:
    """Files outside ``content/`` that the cards depend on: settings, an outside question list, data files read."""
    files = [project.root / "deckgen.yaml"]
    if project.settings.questions is not None:
        files.append(project.settings.questions)
    cache = Cache(project.cache_dir)
    for t in topics:
        if t.compute_path is not None and t.compute_path.is_file():
            files += cache.dependencies(t, project.root)
    return files


def _log_problems(log: Log, problems: tuple[str, ...]) -> None:
    for p in problems:
        log(f"error: {p}")


def _bind(port: int) -> ThreadingHTTPServer:
    try:
        server = _Server((HOST, port), _Handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DeckgenError(Problem(None, None, None, f"port {port} on {HOST} is in use (another deckgen serve?); "
                                                         "choose another with --port, or --port 0 for any free "
                                                         "one")) from None
        raise DeckgenError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
    return server


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the server as Ctrl-C does, cleaning up (signals can only be set in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that closed a connection mid-answer is no error worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    server_version = "deckgen-serve"

    def log_message(self, format: str, *args: Any) -> None:
        """The terminal is for the author's content, not for every request."""

    @property
    def hub(self) -> _Hub:
        hub: _Hub = self.server.hub  # type: ignore[attr-defined]
        return hub

    def do_GET(self) -> None:
        url = urlparse(self.path)
        path = unquote(url.path)
        with contextlib.suppress(ConnectionError):
            if path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", self.hub.page().encode(), cache=False)
            elif path == "/events":
                self._events(parse_qs(url.query).get("since", [""])[0])
            elif path == f"/mathjax/{MATHJAX_FILE}":
                self._send_file(self.hub.mathjax)
            elif path.startswith("/media/") and path[len("/media/"):] in self.hub.media:
                self._send_file(self.hub.media[path[len("/media/"):]])
            elif path == "/favicon.ico":
                self._send(204, "image/x-icon", b"", cache=True)  # browsers ask; a 404 would be noise in the console
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n", cache=False)

    def _send(self, code: int, kind: str, data: bytes, cache: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _send_file(self, path: Path) -> None:
        try:
            with path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.send_header("Cache-Control", "max-age=3600")  # media are named by content hash
                self.end_headers()
                shutil.copyfileobj(f, self.wfile)
        except FileNotFoundError:
            self._send(404, "text/plain; charset=utf-8", b"gone\n", cache=False)

    def _events(self, since: str) -> None:
        """Server-sent events: the patches after the page's version, then each new one as it comes."""
        hub = self.hub
        token, _, number = (self.headers.get("Last-Event-ID") or since).partition(":")
        sent = int(number) if token == hub.token and number.isdigit() else -1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(b"retry: 1000\n\n")
        self.wfile.flush()
        busy_seen = hub.busy[-1][0]
        while True:
            with hub.cond:
                hub.cond.wait_for(lambda sent=sent, seen=busy_seen: (  # type: ignore[misc]
                    hub.stopping or sent < 0 or hub.view.version > sent or hub.busy[-1][0] != seen),
                    timeout=KEEPALIVE_SECONDS)
                if hub.stopping:
                    return
                version = hub.view.version
                missed = [p for p in hub.patches if p.version > sent]
                busy = [what for seq, what in hub.busy if seq > busy_seen]
                busy_seen = hub.busy[-1][0]
            for what in busy:  # named events without an id: the page's place in the patches stays
                self.wfile.write(f"event: status\ndata: {json.dumps({'busy': what})}\n\n".encode())
            if sent < 0 or (version > sent and (not missed or missed[0].version != sent + 1)):
                self.wfile.write(b'data: {"reload": true}\n\n')  # the page is from another run, or too old
                self.wfile.flush()
                return
            if not missed and not busy:
                self.wfile.write(b": keep-alive\n\n")
            for p in missed:
                self.wfile.write(f"id: {hub.token}:{p.version}\ndata: {p.to_json()}\n\n".encode())
            self.wfile.flush()
            sent = max([sent, *(p.version for p in missed)])


__all__ = ["DEFAULT_PORT", "Rebuild", "ServeOptions", "serve"]
