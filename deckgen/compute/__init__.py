"""Running each topic's ``compute.py``: the runner (parallel, time limits, progress), the worker
process it starts (the only place torch is imported), the ``ctx`` API authors see, the house
figure style, and the content-hashed cache of results.

Imports only deckgen.core; hands the pipeline values and figures as core records.
"""
