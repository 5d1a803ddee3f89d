"""Problems found in user content, reported as one line each with file, line and card.

Every stage collects :class:`Problem` records instead of raising on the first one, so that
``deckgen check`` can list everything wrong in one run. A stage that cannot go on raises
:class:`DeckgenError` carrying all problems found so far; the CLI prints them and exits 1, and
never shows a traceback for a user mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the user's content, located as precisely as we can."""

    file: str | None
    line: int | None
    card: str | None
    message: str
    column: int | None = None  # 1-based, where it is known (YAML syntax errors)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += f":{self.column}" if self.line is not None and self.column is not None else ""
            where += ": "
        card = f"card {self.card}: " if self.card else ""
        # One line, always: a multi-line message would break grep-able output.
        message = " ".join(self.message.split())
        return f"{where}{card}{message}"


class DeckgenError(Exception):
    """A user-facing failure: one or more problems, no traceback needed."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(None, None, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path) -> str:
    """A path as the user should see it: relative to the current folder when it is inside it (that is
    where the author stands, and what an editor or terminal can open), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path.resolve())


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 note``, ``2 notes``: counts in messages read as English."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


def did_you_mean(name: str, known: Iterable[str], what: str, few: int = 3) -> str:
    """`` (did you mean lr_max, lr_min? 38 other values)``: the closest few known names, then a count.

    A typo is nearly always close to the name meant; an alphabetical list of every name hides it.
    """
    names = sorted(set(known))
    if not names:
        return f" (there are no {what})"
    close = difflib.get_close_matches(name, names, n=few, cutoff=0.0)
    rest = len(names) - len(close)
    others = f" {rest} other {what if rest != 1 else what[:-1]}" if rest else ""
    return f" (did you mean {', '.join(close)}?{others})"
