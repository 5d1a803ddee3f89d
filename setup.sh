#!/usr/bin/env bash
# Fresh machine -> ready: a virtualenv in .venv, torch pinned to the local CPU wheel, deckgen with
# its test dependencies, and the whole deck built to build/deep-learning.apkg.
#
# torch is installed first and pinned: any looser requirement pulls several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/deckgen build
