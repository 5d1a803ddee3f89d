"""Helpers shared by the topics' compute.py files (``from _lib.nets import mlp, n_params``).

``content/`` is on every computation's import path, and a folder starting with ``_`` is not a
topic. A computation that imports from here depends on these files: editing one re-runs exactly
the topics that use it (the cache records every project file a computation read).
"""
