#!/usr/bin/env bash
# The main job on a fresh machine: install, then benchmark every model in models/ (the paper's
# five digits variants) on the built-in `local` device with the default (real) measurement
# settings, store the results in results/edgebench.db, print the paper-style model table and
# draw the latency-accuracy trade-off figure into results/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh plot  # matplotlib, for the figure
.venv/bin/edgebench sweep models/ --device local "$@"
.venv/bin/edgebench plot tradeoff  # writes results/figures/tradeoff.png
