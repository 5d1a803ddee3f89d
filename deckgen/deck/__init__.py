"""The deck: cards loaded and validated from cards.yaml, the question list and syllabus, rendering
to note fields (values filled in, Markdown, math, code), expectations, the manifest of shipped
notes, and the deterministic .apkg package with its note types and stylesheet.

Imports only deckgen.core: computed values and figures arrive as core records.
"""
