"""Shared fixtures: an isolated inventory, database and cache for each test, and a way to run
the real `edgebench` command as a user would (a subprocess)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A local-only inventory whose workdir, cache and database live under tmp_path."""
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "version: 1\n"
        "devices:\n"
        "  local:\n"
        "    connection: local\n"
        "    workdir: %s\n"
        "    backends: [onnxruntime, null]\n" % (tmp_path / "device"))
    env = {
        "EDGEBENCH_INVENTORY": str(inventory),
        "EDGEBENCH_DB": "sqlite:///%s" % (tmp_path / "results" / "edgebench.db"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class Workspace:
        path = tmp_path
        db_file = tmp_path / "results" / "edgebench.db"
        db_url = env["EDGEBENCH_DB"]

        @staticmethod
        def edgebench(*args, check=False):
            """Runs the installed CLI in a subprocess; returns CompletedProcess (text)."""
            proc = subprocess.run([sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
                                  cwd=tmp_path, env=dict(os.environ, COLUMNS="200"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
            if check and proc.returncode != 0:
                raise AssertionError("edgebench %s failed (%d): %s" % (" ".join(map(str, args)), proc.returncode, proc.stderr))
            return proc

    return Workspace
