"""The core every wing builds on: problems and errors, project settings, YAML with lines, the
typed records that flow between stages, the card grammar, and file helpers.

Imports nothing else of deckgen (tests/test_architecture.py checks this).
"""
