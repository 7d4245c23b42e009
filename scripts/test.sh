#!/usr/bin/env bash
# All tests: the agent's under Python 3.6 (the Jetson Nano's Python), vermin's check that
# agent/ stays 3.6-compatible, then the whole suite under the project's Python with pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,train,plot,tvm,postgres

PY36=${EDGEBENCH_PY36:-$(pyenv root 2>/dev/null || echo /root/.pyenv)/versions/3.6.15/bin/python}
if [ -x "$PY36" ]; then
  echo "== agent tests under $("$PY36" --version 2>&1)"
  "$PY36" -m unittest discover -s tests/agent -t . 
elif [ "${CI:-}" = "true" ]; then
  echo "Python 3.6.15 not found at $PY36: the agent must be tested under 3.6" >&2
  exit 1
else
  echo "== skipping agent tests under Python 3.6: $PY36 not found (set EDGEBENCH_PY36)" >&2
fi

echo "== ruff: lint and format (the house style, pyproject.toml [tool.ruff])"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== vermin: agent/ must run on Python 3.6"
.venv/bin/vermin -t=3.6- --no-tips --eval-annotations --feature union-types --violations agent/

echo "== pytest"
# pytest exits 5 when it collected no test: set -e turns that into a failure, as it should.
.venv/bin/python -m pytest "$@"
