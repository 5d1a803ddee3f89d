"""The author's aids: ``deckgen lint`` (card-quality rules measured on a phone) and ``deckgen
preview`` (every card rendered by Anki's own renderer into a page you open in a browser).

May import every other wing and the pipeline; nothing else imports it.
"""
