"""`deckgen preview`: the real deck rendered by Anki, loaded in headless Chromium at phone size.

The browser tests load the preview of the whole shipped deck from disk (file://, no server, no
network) at 390x844 in light and night mode and check what a reviewer would see: nothing wider
than the screen except inside scrolling boxes, no TeX left untypeset, every figure loaded and the
variant for the current mode shown. Screenshots of a few cards go to build/screenshots/.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from deckgen.authoring import preview as preview_module

pytestmark = pytest.mark.slow  # the real deck / a browser / generated projects: see pyproject.toml

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a sandboxed, offline machine: no background connections to Google's services.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = ROOT / "build" / "screenshots"

# Runs in the page: every problem a phone reviewer would notice, as data.
AUDIT_JS = """
() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = (el) => {
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      const s = getComputedStyle(e);
      if ((s.overflowX === "auto" || s.overflowX === "scroll") && e.getBoundingClientRect().right <= vw + 0.5) {
        return true;
      }
    }
    return false;
  };
  const where = (el) => { const c = el.closest(".pv-card"); return c ? c.id : "(page)"; };
  const wide = [];
  for (const el of document.querySelectorAll("main *")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > vw + 0.5 || r.left < -0.5) && !scrolls(el)) {
      wide.push(`${where(el)}: <${el.tagName.toLowerCase()} class="${el.className.baseVal ?? el.className}"> `
                + `${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  // Visible text outside code: raw TeX delimiters mean MathJax did not typeset something.
  const raw = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (p.closest("pre, code, mjx-assistive-mml") || !p.checkVisibility()) continue;
    if (/\\\\[()\\[\\]]/.test(n.textContent)) raw.push(`${where(p)}: ${n.textContent.trim().slice(0, 60)}`);
  }
  // Undefined macros are typeset as their own name in red (MathJax's noundefined).
  for (const m of document.querySelectorAll("mjx-container")) {
    const t = m.querySelector("mjx-assistive-mml")?.textContent ?? "";
    if (t.includes("\\\\")) raw.push(`${where(m)}: undefined macro in ${t.slice(0, 60)}`);
  }
  const night = document.body.classList.contains("nightMode");
  const images = [...document.querySelectorAll("main img")];
  const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => `${where(i)}: ${i.src}`);
  const shown = images.filter((i) => i.checkVisibility());
  const wrongMode = shown.filter((i) => i.classList.contains(night ? "dg-day" : "dg-night")).map((i) => where(i));
  const figures = document.querySelectorAll("main img.dg-day").length;
  return {
    vw, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 20), nWide: wide.length,
    raw: raw.slice(0, 20), nRaw: raw.length, broken: broken.slice(0, 20), wrongMode: wrongMode.slice(0, 20),
    images: images.length, shown: shown.length, figures,
    math: document.querySelectorAll("mjx-container").length,
    cards: document.querySelectorAll(".pv-card").length,
    background: getComputedStyle(document.querySelector(".pv-card .card")).backgroundColor,
  };
}
"""


@pytest.fixture(scope="module")
def deck_preview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("preview") / "site"
    result = run_cli("preview", "--project", ROOT, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: ./setup.sh installs it (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_preview_folder_is_self_contained(deck_preview: Path):
    page = (deck_preview / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'\b(?:src|href)="([^"#]*)"', page)
    assert refs, "no references found"
    for ref in refs:
        assert not re.match(r"^[a-z]+:", ref), f"external reference {ref}"  # no http:, no file: paths
        assert (deck_preview / ref).is_file(), f"missing {ref}"
    mathjax = deck_preview / "mathjax" / preview_module.MATHJAX_FILE
    assert hashlib.sha256(mathjax.read_bytes()).hexdigest() == hashlib.sha256(
        preview_module.mathjax_path().read_bytes()).hexdigest()
    # Every card of the deck is there, front and back, as Anki numbered them.
    listed = run_cli("list", "--project", ROOT).output.splitlines()[-1].split()
    from deckgen.core.project import load_project
    from deckgen.deck.cards import load_all

    project = load_project(ROOT)
    notices = sum(len(t.retired) for t in load_all(project, project.topics()).everything)  # withdrawal notices
    assert page.count('<article class="pv-card"') == int(listed[2]) + notices


@pytest.mark.parametrize("mode", ["light", "night"])
def test_every_card_reads_on_a_phone(deck_preview: Path, browser, mode: str):
    night = mode == "night"
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((deck_preview / "index.html").as_uri() + f"?night={int(night)}")
    page.wait_for_function("document.documentElement.dataset.mathjax === 'done'", timeout=180_000)
    audit = page.evaluate(AUDIT_JS)
    assert errors == []
    assert audit["vw"] == 390 and audit["cards"] > 900 and audit["math"] > 1000 and audit["figures"] > 80
    assert audit["nWide"] == 0, audit["wide"]
    assert audit["scrollWidth"] <= audit["vw"]
    assert audit["nRaw"] == 0, audit["raw"]
    assert audit["broken"] == []
    assert audit["wrongMode"] == [] and audit["shown"] == audit["images"] - audit["figures"]
    # The card's own background follows the mode (the note type's night-mode CSS, not inversion).
    assert audit["background"] == ("rgb(30, 30, 30)" if night else "rgb(255, 255, 255)")

    # Screenshots for people: a figure, code, display math and a cloze, in this mode.
    SHOTS.mkdir(parents=True, exist_ok=True)
    picks = {
        "figure": ".pv-card:has(img.dg-day)",
        "code": ".pv-card:has(.pv-back pre)",
        "display-math": ".pv-card:has(mjx-container[display='true'])",
        "cloze": ".pv-card:has(.cloze)",
    }
    for name, selector in picks.items():
        card = page.locator(selector).first
        card.scroll_into_view_if_needed()
        shot = SHOTS / f"{name}-{mode}.png"
        card.screenshot(path=str(shot))
        assert shot.stat().st_size > 5_000
    page.close()


def test_narrowest_phone_has_no_overflow(deck_preview: Path, browser):
    """320 px (iPhone SE 1st gen, small Androids): the smallest width the design promises."""
    page = browser.new_page(viewport={"width": 320, "height": 640})
    page.goto((deck_preview / "index.html").as_uri() + "?night=0")
    page.wait_for_function("document.documentElement.dataset.mathjax === 'done'", timeout=180_000)
    audit = page.evaluate(AUDIT_JS)
    assert audit["nWide"] == 0, audit["wide"]
    assert audit["scrollWidth"] <= 320
    page.close()


SMALL_CARDS = """\
title: Small
cards:
  - id: s-basic
    front: What is \\( x^2 \\) at {{ x }}?
    back: |
      {{ sq }}

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


def test_small_preview_renders_every_card_through_anki(make_project, cli):
    root = make_project({"small": {"cards": SMALL_CARDS, "compute": SMALL_CODE}})
    result = cli("preview", "--project", root, "-q")
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("wrote build/preview/index.html: 3 cards, 2 media files")
    page = (root / "build/preview/index.html").read_text()
    # Anki's renderer made the cloze cards: card 1 hides "Adam", card 2 hides "two".
    assert page.count('<article class="pv-card"') == 3
    assert '<span class="cloze" data-cloze="Adam" data-ordinal="1">[...]</span>' in page
    assert '<span class="cloze" data-cloze="two" data-ordinal="2">[...]</span>' in page
    assert "What is <span class=\"arithmatex\">\\( x^2 \\)</span> at 3?" in page
    assert len(list((root / "build/preview/media").iterdir())) == 2  # the figure, day and night


TYPED_CARDS = """\
title: Typed
cards:
  - id: t-shape
    type: output
    typed: true
    code: |
      import torch
      print(torch.ones(3, 1).expand(3, 4).shape)
    covers: [q-one]
  - id: t-drill
    type: drill
    typed: true
    function: double
    params:
      - {n: 21}
    front: "Twice {{ n }}?"
    back: "{{ m }}"
    covers: [q-two]
"""


def test_typed_answers_preview_as_anki_shows_them(make_project, cli, browser):
    """The type-in box on the front, Anki's own comparison on the back, on a phone, day and night."""
    root = make_project({"typed": {"cards": TYPED_CARDS, "compute": "def double(n):\n    return {'m': 2 * n}\n"}})
    result = cli("preview", "--project", root, "-q")
    assert result.exit_code == 0, result.output
    page = (root / "build/preview/index.html").read_text()
    assert page.count('<input type="text" id="typeans"') == 2
    assert '<code id=typeans><span class=typeGood>torch.Size([3, 4])</span></code>' in page
    assert '<code id=typeans><span class=typeGood>42</span></code>' in page
    for night in (0, 1):
        tab = browser.new_page(viewport={"width": 320, "height": 640})
        tab.goto((root / "build/preview/index.html").as_uri() + f"?night={night}")
        tab.wait_for_function("document.documentElement.dataset.mathjax === 'done'", timeout=60_000)
        audit = tab.evaluate(AUDIT_JS)
        assert audit["nWide"] == 0 and audit["scrollWidth"] <= 320, audit["wide"]
        boxes = tab.evaluate("""() => [...document.querySelectorAll('input#typeans')].map((b) => {
            const r = b.getBoundingClientRect(); const s = getComputedStyle(b);
            return [r.left, r.right, s.color, s.backgroundColor]; })""")
        assert len(boxes) == 2 and all(left >= 0 and right <= 320 for left, right, _, _ in boxes)
        if night:  # light text on a dark box, as the rest of the night card
            assert all(color != "rgb(0, 0, 0)" and bg not in ("rgb(255, 255, 255)",) for _, _, color, bg in boxes)
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.locator(".pv-card").first.screenshot(path=str(SHOTS / f"typed-{'night' if night else 'light'}.png"))
        tab.close()


BAD_PREVIEW = {
    "unknown-topic": ({}, ["--topic", "nope"], "error: unknown topic nope (did you mean small?)"),
    "figure-fails": ({"compute": SMALL_CODE.replace("[0, 1, 4, 9])", "[0, 1, 4, 9])\n        fig.axes[0].set_title("
                                                      "r'$\\frac{$')")},
                     [], "error: content/small/compute.py:8: figure 'square' failed to render: ValueError: \\frac{ ^ "
                         "ParseSyntaxException: Expected \\frac{num}{den}, found '{' (at char 5), (line:1, col:6)"),
    "missing-asset": ({"cards": SMALL_CARDS.replace("![the square](fig:square)", "![a diagram](diagram.png)")}, [],
                      "error: content/small/cards.yaml:8: card s-basic: missing asset 'diagram.png': no such file "
                      "next to cards.yaml"),
}


@pytest.mark.parametrize("case", sorted(BAD_PREVIEW))
def test_bad_input_leaves_the_previous_preview(make_project, cli, case):
    root = make_project({"small": {"cards": SMALL_CARDS, "compute": SMALL_CODE}})
    assert cli("preview", "--project", root, "-q").exit_code == 0
    before = {p.relative_to(root): p.read_bytes() for p in (root / "build").rglob("*") if p.is_file()}
    files, args, message = BAD_PREVIEW[case]
    for name, text in files.items():
        (root / "content/small" / ("cards.yaml" if name == "cards" else "compute.py")).write_text(text)
    result = cli("preview", "--project", root, "-q", *args)
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == message
    after = {p.relative_to(root): p.read_bytes() for p in (root / "build").rglob("*") if p.is_file()}
    assert after == before  # nothing half-written, nothing left over


def test_missing_mathjax_bundle_is_a_clear_error(make_project, cli, monkeypatch, tmp_path):
    root = make_project({"small": {"cards": SMALL_CARDS, "compute": SMALL_CODE}})
    monkeypatch.setattr(preview_module, "MATHJAX_DIR", tmp_path / "nowhere")
    result = cli("preview", "--project", root)
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"error: missing asset {tmp_path / 'nowhere' / 'tex-svg-full.js'}: the MathJax 3.2.2 bundle; in a clone of "
        "deckgen ./setup.sh fetches it, otherwise download https://registry.npmjs.org/mathjax/-/mathjax-3.2.2.tgz "
        "and copy its package/es5/tex-svg-full.js there")
    assert not (root / "build").exists()
