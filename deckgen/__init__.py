"""deckgen: Anki decks whose numbers and figures are computed by PyTorch at build time.

The package is laid out by stage of the data flow, so a reader finds each stage by file name:

    project.py  where things are (content, settings, cache, manifest, build outputs)
    content.py  content/<topic>/cards.yaml -> typed Card records with file:line
    refs.py     the syntax cards use to name computed values and figures
    compute.py  runs each topic's compute.py in a worker process, in parallel, cached
    cache.py    content-hashed store of computation results
    worker.py   what runs inside the worker process (the only place torch is imported)
    render.py   Markdown + math + code + computed values -> note fields (HTML)
    manifest.py per-card content hash and mod, committed so builds are reproducible
    package.py  genanki note types and decks -> deterministic .apkg
    build.py    the library entry points the CLI calls (build, check, list)
    cli.py      thin click command line
"""

__version__ = "0.1.0"
