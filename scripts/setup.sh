#!/usr/bin/env bash
# Creates .venv (Python >= 3.9) and installs edgebench with its test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "edgebench installed in .venv ($(.venv/bin/python --version))" >&2
