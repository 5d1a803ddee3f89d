"""``python -m deckgen``: the same command line as the ``deckgen`` script."""

from .cli import main

main(prog_name="deckgen")
