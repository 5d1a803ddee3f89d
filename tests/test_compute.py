"""The compute stage: worker processes, results, failures located in the author's code, the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deckgen.core.project import load_project
from deckgen.pipeline import BuildOptions, prepare

CARDS = """\
cards:
  - id: c1
    front: "{{ x:.3f }} and {{ shape }}"
    back: "![a line](fig:line)"
"""

COMPUTE = """\
import torch
from helper import SCALE


def compute(ctx):
    ctx.value("x", torch.tensor(0.5) * SCALE)
    ctx.value("shape", torch.zeros(2, 3).shape)
    ctx.value("rand", torch.rand(1))

    def draw(fig):
        fig.subplots().plot([0, 1], [0, 1])
    ctx.figure("line", draw)
"""


def run(root: Path, **kw):
    project = load_project(root)
    prepared = prepare(project, BuildOptions(jobs=2, **kw))
    return prepared


def test_values_figures_cache_and_dependencies(make_project):
    root = make_project({"demo": {"cards": CARDS, "compute": COMPUTE, "helper.py": "SCALE = 2\n"}})
    first = run(root)
    assert first.problems == []
    result = first.results["demo"]
    assert not result.cached
    assert result.values["x"] == 1.0 and result.values["shape"] == [2, 3]
    assert result.figures["line"].path.read_bytes()[:4] == b"\x89PNG"
    assert first.notes["demo"][0].fields[0] == "<p>1.000 and (2, 3)</p>"

    # Same code, same seed, fresh process: the same values, from the cache.
    second = run(root)
    assert second.results["demo"].cached
    assert second.results["demo"].values == result.values

    # Editing card text never re-runs the computation.
    cards = root / "content/demo/cards.yaml"
    cards.write_text(cards.read_text().replace("and", "with"))
    assert run(root).results["demo"].cached

    # Editing a helper module the code imports does.
    (root / "content/demo/helper.py").write_text("SCALE = 4\n")
    third = run(root)
    assert not third.results["demo"].cached and third.results["demo"].values["x"] == 2.0
    # Determinism: the seeded random value is identical across fresh runs.
    assert third.results["demo"].values["rand"] == result.values["rand"]
    # Figures are named by content: unchanged figure, same file.
    assert third.results["demo"].figures["line"].sha256 == result.figures["line"].sha256


def test_corrupt_cache_entry_is_recomputed(make_project):
    root = make_project({"demo": {"cards": CARDS, "compute": COMPUTE, "helper.py": "SCALE = 2\n"}})
    run(root)
    (entry,) = (root / ".deckgen-cache/results").glob("*.json")
    entry.write_text(entry.read_text()[:40])
    again = run(root)
    assert again.problems == [] and not again.results["demo"].cached
    # A truncated figure (day or night variant) is detected by its hash, too.
    pngs = sorted((root / ".deckgen-cache/figures").glob("*.png"))
    assert len(pngs) == 2
    for png in pngs:
        png.write_bytes(png.read_bytes()[:100])
        third = run(root)
        assert third.problems == [] and not third.results["demo"].cached


FAILING = {
    "raises": ("def compute(ctx):\n    x = 1\n    return x / 0\n",
               "content/bad/compute.py:3: ZeroDivisionError: division by zero"),
    "syntax": ("def compute(ctx)\n    pass\n", "content/bad/compute.py:1: SyntaxError: expected ':'"),
    "nan": ("def compute(ctx):\n    ctx.value('x', float('nan'))\n",
            "content/bad/compute.py:2: value 'x' is not finite (nan)"),
    "prints": ("def compute(ctx):\n    print('debug 42')\n",
               "content/bad/compute.py:2: computation printed to stdout ('debug 42'); register results with "
               "ctx.value(), or print to sys.stderr to debug"),
    "nocompute": ("X = 1\n", "content/bad/compute.py: defines no compute(ctx) function"),
    "unrenderable": ("def compute(ctx):\n    def draw(fig):\n        fig.subplots().set_title(r'$\\frac{$')\n"
                     "    ctx.figure('f', draw)\n",
                     "content/bad/compute.py:4: figure 'f' failed to render: ValueError: \\frac{ ^ "
                     "ParseSyntaxException: Expected \\frac{num}{den}, found '{' (at char 5), (line:1, col:6)"),
    "empty": ("def compute(ctx):\n    ctx.figure('f', lambda fig: None)\n",
              "content/bad/compute.py:2: figure 'f' drew nothing"),
    "writes-into-project": ("from pathlib import Path\n\ndef compute(ctx):\n"
                            "    Path(__file__).with_name('out.txt').write_text('x')\n"
                            "    Path('scratch.txt').write_text('fine: the scratch folder')\n",
                            "content/bad/compute.py: computation left 1 file(s) in the project: content/bad/out.txt; "
                            "computations run in a scratch working directory, so write scratch files with relative "
                            "paths (they are deleted afterwards) and return results with ctx.value()"),
    "badfigure": ("def compute(ctx):\n    def draw(fig):\n        fig.subplots().plot([1], [1], colour='r')\n"
                  "    ctx.figure('f', draw)\n",
                  "content/bad/compute.py:3: AttributeError: Line2D.set() got an unexpected keyword argument 'colour'"),
}


def test_failures_are_located_in_the_authors_code_and_never_cached(make_project):
    for name, (code, message) in FAILING.items():
        root = make_project({"bad": {"cards": "cards: []\n", "compute": code}}, name=name)
        prepared = run(root)
        assert [str(p) for p in prepared.problems] == [message], name
        assert not list((root / ".deckgen-cache").glob("results/*.json")), name


@pytest.mark.slow
def test_hanging_computation_times_out(make_project):
    root = make_project({"slow": {"cards": "cards: []\n",
                                  "compute": "import time\n\ndef compute(ctx):\n    time.sleep(60)\n"}})
    prepared = run(root, timeout=3)
    assert [str(p) for p in prepared.problems] == ["content/slow/compute.py: computation timed out after 3 s"]


@pytest.mark.slow  # starts torch in a fresh process
def test_no_change_rebuild_imports_no_torch(make_project):
    root = make_project({"demo": {"cards": CARDS, "compute": COMPUTE, "helper.py": "SCALE = 2\n"}})
    script = (
        "import sys, json\n"
        "from deckgen.pipeline import build, BuildOptions\n"
        "from deckgen.core.project import load_project\n"
        "from pathlib import Path\n"
        f"r = build(load_project(Path({str(root)!r})), BuildOptions())\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'mpl': 'matplotlib' in sys.modules,"
        " 'cached': r.cached}))\n"
    )
    first = json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                      text=True).stdout)
    assert first == {"torch": False, "mpl": False, "cached": []}  # computed in a worker, not here
    second = json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                       text=True).stdout)
    assert second == {"torch": False, "mpl": False, "cached": ["demo"]}


def test_compute_module_behaves_like_an_imported_module(make_project):
    """Dataclasses and inspect.getsource on a class need the module in sys.modules."""
    code = '''\
from __future__ import annotations

import inspect
from dataclasses import dataclass


@dataclass
class Point:
    x: int


def compute(ctx):
    ctx.value("x", Point(3).x)
    ctx.value("lines", len(inspect.getsource(Point).splitlines()))
'''
    cards = "cards:\n  - id: c1\n    front: '{{ x }}'\n    back: '{{ lines }}'\n"
    root = make_project({"demo": {"cards": cards, "compute": code}})
    prepared = run(root)
    assert prepared.problems == []
    assert prepared.results["demo"].values == {"x": 3, "lines": 3}


def test_night_variant_mirrors_greys_and_keeps_colours():
    """Black ink turns light, white fills turn dark, colours and heatmap labels stay as drawn."""
    import io

    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

    from deckgen.compute.figures import FigureSpec, render

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        left.plot([0, 1], [0, 1], color="black", linewidth=8)
        left.plot([0, 1], [1, 0], color="tab:orange", linewidth=8)
        left.text(0.5, 0.9, "label", color="k")
        right.imshow(np.zeros((2, 2)), cmap="Greys", vmin=0, vmax=1)
        right.text(0, 0, "0", color="black")

    spec = FigureSpec("f", draw, 4.0, 2.0, "compute.py", 1)
    day, night = (Image.open(io.BytesIO(png)).convert("RGB") for png in render(spec))
    assert day.getpixel((0, 0)) == (255, 255, 255) and night.getpixel((0, 0)) == (30, 30, 30)
    day_colours, night_colours = ({c for _, c in im.getcolors(1 << 16)} for im in (day, night))
    orange = (255, 127, 14)  # tab:orange survives quantisation exactly or very nearly
    assert any(sum(abs(a - b) for a, b in zip(c, orange, strict=True)) <= 6 for c in night_colours)
    assert (0, 0, 0) in day_colours
    assert max(sum(c) for c in day_colours if c[0] == c[1] == c[2]) == 765
    # At night no pure black ink is left outside the heatmap, which keeps its own colours.
    heatmap_free = night.crop((0, 0, night.width // 2, night.height))
    assert min(sum(c) for _, c in heatmap_free.getcolors(1 << 16)) >= 3 * 25


def test_a_computations_stderr_is_shown_under_its_topic_also_when_it_fails(make_project, cli):
    """Debugging prints and warnings are the author's tools: they reach the terminal, labelled."""
    compute = ("import sys\nimport warnings\n\n\ndef compute(ctx):\n    print('x is', 41 + 1, file=sys.stderr)\n"
               "    warnings.warn('this API is deprecated')\n    raise ValueError('bad')\n")
    root = make_project({"t": {"cards": "cards: []\n", "compute": compute}})
    result = cli("build", "--project", root, "-q")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    at = lines.index("  t: compute.py wrote to stderr:")
    assert lines[at + 1] == "    | x is 42"
    assert any("UserWarning: this API is deprecated" in line for line in lines[at + 2:])
    assert "error: content/t/compute.py:8: ValueError: bad" in lines
