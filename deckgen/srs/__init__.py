"""The learner's toolkit: review history from a collection or CSV, the FSRS memory model (fit and
evaluate), study plans up to an interview date, and statistics per topic with the weakest cards.

Imports deckgen.core and deckgen.deck (to map a collection's notes back to their cards), never the
computation runner or the author's aids.
"""
