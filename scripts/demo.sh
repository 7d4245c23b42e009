#!/usr/bin/env bash
# The main job on a fresh machine: install, then benchmark every model in models/ on the
# built-in `local` device with the default (real) measurement settings, store the results in
# results/edgebench.db and print the paper-style model table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/edgebench sweep models/ --device local "$@"
