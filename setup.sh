#!/usr/bin/env bash
# Fresh machine -> ready: a virtualenv in .venv, torch pinned to the local CPU wheel, deckgen with
# its test dependencies, the MathJax bundle for `deckgen preview`, Chromium for the browser tests,
# and the whole deck built to build/deep-learning.apkg.
#
# torch is installed first and pinned: any looser requirement pulls several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
# The distribution was called "deckgen" before it became deckgen-torch: drop an old install of it.
if .venv/bin/python -m pip show --quiet deckgen >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall --quiet --yes deckgen
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

# MathJax for the offline preview: the npm package, pinned and checked, unpacked into the package
# folder (git-ignored). npm verifies the tarball against the registry's integrity hash; we check
# the one file we use against its known sha256 as well.
MATHJAX_VERSION=3.2.2
MATHJAX_SHA256=a4354ff94fd868aea0cc6eaaa79a57fda0588646fc46ee3700a349ee0a11cbe6
MATHJAX_DIR=deckgen/vendor/mathjax
if ! echo "$MATHJAX_SHA256  $MATHJAX_DIR/tex-svg-full.js" | sha256sum --check --status 2>/dev/null; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null \
     && tar -xzf "mathjax-$MATHJAX_VERSION.tgz" package/es5/tex-svg-full.js package/LICENSE)
  mkdir -p "$MATHJAX_DIR"
  cp "$tmp/package/es5/tex-svg-full.js" "$tmp/package/LICENSE" "$MATHJAX_DIR/"
  rm -rf "$tmp"
  echo "$MATHJAX_SHA256  $MATHJAX_DIR/tex-svg-full.js" | sha256sum --check --quiet
fi

# Chromium (Debian's package) for the headless browser tests of the preview.
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# Bytecode for deckgen itself: some machines set PYTHONDONTWRITEBYTECODE, which still reads .pyc files.
.venv/bin/python -m compileall -q deckgen
.venv/bin/deckgen build
