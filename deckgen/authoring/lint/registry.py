"""Every lint rule, in one registry: its stable id (what ``lint:`` silences name), its one-line
explanation (``deckgen lint --rules``) and its check."""

from __future__ import annotations

from .base import Rule
from .layout import CODE_COLS, CPL, FIGURE_PX, LINE, MATH_COLS, SCREEN, SCREEN_LINES
from .markup import (
    check_cloze_math_braces,
    check_dollar_math,
    check_figure_alt,
    check_no_covers,
    check_typed_number,
)
from .recall import (
    DELETION_WORDS,
    FACT_ITEMS,
    FACT_SENTENCES,
    check_giveaway,
    check_long_deletion,
    check_several_facts,
    check_yes_no,
)
from .size import (
    CODE_LINES,
    EXTRA_LINES,
    FRONT_LINES,
    check_code_too_long,
    check_code_too_wide,
    check_empty_extra,
    check_long_answer,
    check_long_extra,
    check_long_front,
    check_wide_math,
)
from .standalone import OUTPUT_COLS, OUTPUT_LINES, check_refers_elsewhere, check_run_outcome, check_typed_one_line

RULES: tuple[Rule, ...] = (
    Rule("long-answer", f"The answer side (question above the answer; a cloze's whole text) must fit one screen of a "
                        f"{SCREEN}: about {SCREEN_LINES} lines of 19 px text ({CPL} characters each), a figure "
                        f"counting {FIGURE_PX / LINE:.0f} lines; `extra` is not counted.", check_long_answer),
    Rule("long-front", f"The question is read at a glance: at most {FRONT_LINES} lines on a phone, code and "
                       "figures included.", check_long_front),
    Rule("long-extra", f"`extra` is a short note under the answer: at most {EXTRA_LINES} lines of its smaller "
                       "text.", check_long_extra),
    Rule("empty-extra", "An `extra` key with no text.", check_empty_extra),
    Rule("several-facts", f"One fact per card: a basic answer with {FACT_ITEMS}+ list items, a {FACT_ITEMS}+ row "
                          f"table or {FACT_SENTENCES}+ statements (sentences plus list items) asks for several "
                          "facts at once.", check_several_facts),
    Rule("long-deletion", f"A cloze deletion hides a key term, not a sentence: at most {DELETION_WORDS} words.",
         check_long_deletion),
    Rule("cloze-math-braces", "Anki ends a deletion at the first `}}`, so `}}` inside math in a deletion breaks "
                              "the math.", check_cloze_math_braces),
    Rule("dollar-math", "Math must be written \\( ... \\) or \\[ ... \\]; Anki's MathJax ignores $ ... $.",
         check_dollar_math),
    Rule("figure-alt", "Every figure needs alt text that says what it shows (at least three words, not a "
                       "placeholder or the figure's name).", check_figure_alt),
    Rule("no-covers", "Every card names the interview question(s) it answers in `covers`.", check_no_covers),
    Rule("giveaway", "The question must not contain its answer: a basic answer's key term (its one bold phrase, or "
                     "a short whole answer) in the front, a cloze deletion's text visible elsewhere on its card, "
                     "a reversed card's term inside its definition.", check_giveaway),
    Rule("yes-no", "A question answered by yes or no alone is guessed right half the time: a front whose answer "
                   "starts with yes/no must also ask what, why or how.", check_yes_no),
    Rule("typed-number", "Numbers come from code: a decimal, scientific, percentage, comma-grouped or 5+ digit "
                         "number typed into text or alt text (outside code and {{ }} values; version numbers "
                         "after a product name are fine) should be a computed value.", check_typed_number),
    Rule("code-too-wide", f"A code line longer than {CODE_COLS} characters scrolls sideways on a phone "
                          "(0.78em monospace in a 366 px card).", check_code_too_wide),
    Rule("code-too-long", f"A code block longer than {CODE_LINES} lines is more than one question needs.",
         check_code_too_long),
    Rule("wide-math", f"Display math wider than about {MATH_COLS} symbols scrolls sideways on a phone.",
         check_wide_math),
    Rule("refers-elsewhere", "A card is reviewed alone: its question must not point at another card's run, "
                             "example or model (\"that run\", \"the same network\", \"the running example\").",
         check_refers_elsewhere),
    Rule("run-outcome", "An answer made of a seeded run's numbers, about a run the question does not define, "
                        "is not worth remembering: ask for the rule, put the numbers in `extra`.", check_run_outcome),
    Rule("typed-one-line", "A typed answer (typed: true) is compared as one line: the back, or the output, must be "
                           "a single short line.", check_typed_one_line),
    Rule("long-output", f"An output card's output is read at a glance: at most {OUTPUT_LINES} lines of "
                        f"{OUTPUT_COLS} characters (from `expect`, or the last build).", None),
    Rule("near-duplicate", "Two cards whose questions share most of their words split one memory in two: keep one "
                           "card per question (across the whole deck).", None),
    Rule("unused-silence", "A `lint:` silence that no longer matches a finding on its card; remove it.", None),
)
BY_ID = {r.id: r for r in RULES}
# Rule ids a card may switch off with ``lint:`` (an unused silence cannot itself be silenced).
SILENCEABLE: tuple[str, ...] = tuple(r.id for r in RULES if r.id != "unused-silence")
