"""Shared fixtures: an isolated inventory, database and cache for each test, and a way to run
the real `edgebench` command as a user would (a subprocess)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models" / "examples"  # the untrained pair: quick to sweep

# Tests that start torch run it on one thread, in this process and in the ones they start
# (`edgebench models build`): on a busy machine, threads fighting over the cores made a small
# build many times slower. The variables are set before any test module imports torch, and
# every subprocess inherits them; the fixture below also sets torch's own counts.
TORCH_THREADS = 1
THREAD_ENV = {"OMP_NUM_THREADS": str(TORCH_THREADS), "MKL_NUM_THREADS": str(TORCH_THREADS)}
os.environ.update(THREAD_ENV)


@pytest.fixture(scope="session", autouse=True)
def torch_threads_limited():
    """Limits the threads of a torch already imported (by a pipeline test module); a test
    session without torch is untouched."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(TORCH_THREADS)
        try:
            torch.set_num_interop_threads(TORCH_THREADS)
        except RuntimeError:  # allowed only before torch's first inter-op work: keep its count
            pass
    yield


def trial_started(workdir: Path) -> bool:
    """True once a trial process on the device with this workdir has spooled its trial_start:
    it has read its job and is measuring. What tests poll for before they cut something."""
    for path in (Path(workdir) / "spool").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("type") == "trial_start":
                    return True
            except ValueError:  # a line still being written
                pass
    return False


def wait_for(condition, timeout_s: float = 600.0, what: str = "the condition") -> None:
    """Polls `condition()` until it holds; fails after a generous deadline, never sooner."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("gave up after %.0f s waiting for %s" % (timeout_s, what))
        time.sleep(0.05)


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
        "    backends: [onnxruntime, null]\n" % (tmp_path / "device")
    )
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
        def edgebench(*args, check=False, env=None):
            """Runs the installed CLI in a subprocess; returns CompletedProcess (text). `env`:
            variables set for this run only."""
            proc = subprocess.run(
                [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
                cwd=tmp_path,
                env=dict(os.environ, COLUMNS="200", **THREAD_ENV, **(env or {})),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                timeout=300,
            )
            if check and proc.returncode != 0:
                raise AssertionError(
                    "edgebench %s failed (%d): %s" % (" ".join(map(str, args)), proc.returncode, proc.stderr)
                )
            return proc

    return Workspace


# -- results stores: SQLite and PostgreSQL (tests/pg.py) ----------------------------------------
STORE_KINDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the session, the tests' own (tests/pg.py). Skipped where
    PostgreSQL is not installed; in CI (CI=true) that is a failure, not a skip."""
    from . import pg

    problem = pg.why_unavailable()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must test the PostgreSQL store: %s" % problem)
        pytest.skip(problem)
    server = pg.PgServer.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database of its own for one test, dropped after it."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


def store_url(kind: str, request, tmp_path: Path) -> str:
    """A fresh store's URL of one kind of database (STORE_KINDS)."""
    if kind == "postgresql":
        return request.getfixturevalue("pg_url")
    return "sqlite:///%s" % (tmp_path / "store.db")


@pytest.fixture(params=STORE_KINDS)
def db_url(request, tmp_path):
    """Runs a test once on an SQLite file and once on a PostgreSQL database, each fresh."""
    return store_url(request.param, request, tmp_path)


# Tests that start real servers (sshd), run the command line end to end in subprocesses, or
# train models: `pytest -m "not integration"` leaves them out (the quick loop while coding);
# CI runs everything.
INTEGRATION_MODULES = {
    "test_fleet.py",
    "test_two_controllers.py",  # two `edgebench sweep` processes into one PostgreSQL store
    "test_fabric_transport.py",
    "test_end_to_end.py",
    "test_cli_errors.py",
    "test_bad_inputs.py",
    "test_throttle_acceptance.py",
    "test_pipeline_build.py",
    "test_pipeline_export_quantize.py",
    "test_pipeline_train.py",
    "test_pipeline_early_exit.py",
    "test_emulated_pi.py",
    "test_compile_tvm.py",
    "test_tvm.py",  # tests/agent/: compiles a model with TVM first
    "test_figures_drawn.py",  # matplotlib: about a second a figure
    "test_compare_sweeps.py",
    "test_on_busy.py",  # real agents on `local`, held and released
}


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: real servers, subprocesses end to end, or training")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in INTEGRATION_MODULES or uses_postgresql(item):
            item.add_marker(pytest.mark.integration)


def uses_postgresql(item) -> bool:
    """A test on the tests' PostgreSQL server (it starts one): through `pg_server` or `pg_url`,
    or a store parametrized as "postgresql" (`db_url`, or a fixture taking STORE_KINDS)."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    postgresql = any(isinstance(value, str) and value == "postgresql" for value in params)
    return postgresql or "pg_server" in getattr(item, "fixturenames", ())
