#!/usr/bin/env bash
# Creates .venv (Python >= 3.9) and installs edgebench into it. Idempotent.
#   bash scripts/setup.sh               edgebench and its test tools
#   bash scripts/setup.sh test,train    also the model pipeline (torch, CPU build)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${1:-test}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [[ ",$EXTRAS," == *",train,"* ]]; then
  # The CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
echo "edgebench installed in .venv ($(.venv/bin/python --version); extras: $EXTRAS)" >&2
