"""The layout stays visible: each wing imports only what it may, nothing imports in a cycle (lazy imports
inside functions included), and no module grows past a size a reader can hold.

Wings (see deckgen/__init__.py and README, "How it works"):

    core       imports nothing else of deckgen
    compute    core
    deck       core (values and figures arrive as core records)
    pipeline   core, compute, deck
    authoring  core, compute, deck, pipeline
    srs        core, deck; never compute or authoring
    cli        anything
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "deckgen"
ALLOWED = {
    "core": {"core"},
    "compute": {"core", "compute"},
    "deck": {"core", "deck"},
    "pipeline": {"core", "compute", "deck", "pipeline"},
    "authoring": {"core", "compute", "deck", "pipeline", "authoring"},
    "srs": {"core", "deck", "srs"},
}
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "vendor" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every deckgen module ``name`` imports anywhere in its file (top level, in functions, under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from . import worker` names a module; `from .x import y` names x (or x.y if y is a module).
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
        else:
            continue
        found |= {t for t in targets if t == "deckgen" or t.startswith("deckgen.")}
    return {t for t in found if t in modules and t != name}


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_each_wing_imports_only_what_it_may():
    wrong = []
    for module, imported in _graph().items():
        allowed = ALLOWED.get(_wing(module))
        if allowed is None:
            continue  # cli, __init__, __main__: the top, free to import any wing
        wrong += [f"{module} imports {target}" for target in sorted(imported) if _wing(target) not in allowed]
    assert wrong == []


def test_no_import_cycles_anywhere():
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checker_sees_lazy_imports():
    """The rules above would be empty promises if imports inside functions went unseen."""
    graph = _graph()
    assert "deckgen.compute.worker" in graph["deckgen.compute.runner"]  # imported inside functions only
    assert "deckgen.authoring.preview" in graph["deckgen.cli"]


def test_no_module_is_too_long_to_read():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
