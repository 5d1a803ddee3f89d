"""Checks a computation asserts, so cards show what was checked rather than raw rounding errors."""

from __future__ import annotations

from typing import Any


def agree(ctx: Any, name: str, diff: Any, tol: float) -> None:
    """Assert that two computations agree (max |difference| <= ``tol``) and register ``tol`` as ``name``.

    The raw difference is a rounding error that differs between CPUs (AVX2 and AVX-512 round
    differently), so a card that showed it would change from one machine to the next; the card says
    "agree within {{ name:g }}" instead, and the build fails if they ever stop agreeing.
    """
    diff = float(diff)
    assert diff <= tol, f"{name}: difference {diff:g} exceeds {tol:g}"
    ctx.value(name, tol)
