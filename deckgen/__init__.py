"""deckgen: Anki decks whose numbers and figures are computed by PyTorch at build time.

The package is laid out in wings, one per audience, over a shared core:

    core/       errors and problems, project settings, YAML with lines, the typed records that flow
                between stages, the card grammar (syntax.py), file helpers. Imports nothing else.
    compute/    runs each topic's compute.py in worker processes (the only place torch is
                imported), the ``ctx`` API, the house figure style, the result cache. Imports core.
    deck/       cards.yaml -> Card records, questions and syllabus, rendering, expectations, the
                manifest, the deterministic .apkg. Imports core.
    pipeline.py build / check / list: load -> compute -> render -> package. Imports core, compute, deck.
    authoring/  the author's aids: lint (phone layout model, rules, registry) and preview.
    srs/        the learner's toolkit: reviews, FSRS fit, plans, statistics. Imports core and deck.
    cli.py      the command line: parse, call, print.

tests/test_architecture.py reads every import and enforces these rules (and no cycles).

The library API below is imported on first use, so ``import deckgen`` stays cheap (the
computation workers import this package too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .authoring.lint import Finding, lint
    from .authoring.preview import preview
    from .core.errors import DeckgenError, Problem
    from .core.project import Project, load_project
    from .pipeline import BuildOptions, BuildReport, build, check, list_topics

_API = {
    "load_project": "core.project", "Project": "core.project",
    "Problem": "core.errors", "DeckgenError": "core.errors",
    "BuildOptions": "pipeline", "BuildReport": "pipeline", "build": "pipeline", "check": "pipeline",
    "list_topics": "pipeline",
    "lint": "authoring.lint", "Finding": "authoring.lint",
    "preview": "authoring.preview",
}
__all__ = ["BuildOptions", "BuildReport", "DeckgenError", "Finding", "Problem", "Project", "build", "check",
           "lint", "list_topics", "load_project", "preview"]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'deckgen' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
