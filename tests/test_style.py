"""The code base stays ruff-clean (content code included: it is part of the product)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "deckgen", "tests", "content"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_cli_command_is_documented():
    """sqlite-utils' rule: a command the README does not mention does not exist for users."""
    from deckgen.cli import main

    readme = (ROOT / "README.md").read_text()
    for name in main.commands:
        assert f"deckgen {name}" in readme, name
