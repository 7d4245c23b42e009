"""Bad inputs, one row each, across options, inventories, models and stores (README,
"Mistakes"). Every row runs the real command line in a subprocess and must:

- exit with status 2;
- print exactly one line on stderr, `edgebench: error: ...`, naming the culprit (the needles);
- print no traceback;
- add no row to the store the workspace already holds (sweeps and trials counted);
- add or change no file in the working folder (every file hashed before and after).

tests/test_cli_errors.py holds the older, one-test-each cases; this table does not repeat them.
"""

import hashlib
import importlib.util
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Tuple

import pytest

from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.sweep import Cell

from .conftest import MODELS

DWS = MODELS / "dws_cnn.onnx"
RUN = ("run", "--backend", "null", "--quick")
SWEEP = ("sweep", str(MODELS), "--quick")
LOCAL = "devices:\n  local:\n    connection: local\n"

# The "billion laughs": a few hundred bytes whose nested aliases stand for 9**5 values.
LAUGHS = LOCAL + (
    "    telemetry:\n"
    "      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    "      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
)
MANY_ALIASES = "devices:\n  d0: {connection: local, backends: &b [null]}\n" + "".join(
    "  d%d: {connection: local, backends: *b}\n" % i for i in range(1, 102)
)


@dataclass
class Case:
    id: str
    args: Tuple[str, ...]
    needles: Tuple[str, ...]
    files: dict = field(default_factory=dict)  # relative path -> str, bytes, or None for a folder
    setup: Optional[Callable[[Path], None]] = None  # for what `files` cannot say
    env: dict = field(default_factory=dict)


def truncated_store(root: Path) -> None:
    """A copy of the workspace's store cut to half its size."""
    data = (root / "results" / "edgebench.db").read_bytes()
    (root / "half.db").write_bytes(data[: len(data) // 2])


def inv_case(id_: str, text, needles, command=RUN) -> Case:
    files = {"inv.yaml": text}
    return Case(id_, command + ("--inventory", "inv.yaml"), ("inv.yaml",) + needles, files=files)


CASES = [
    # -- options: typer's usage errors, one line each --------------------------------------
    Case("batch-not-integer", RUN + ("--batch", "abc"), ("--batch", "'abc'", "valid integer", "run --help")),
    Case("threads-not-integer", RUN + ("--threads", "abc"), ("--threads", "'abc'", "valid integer")),
    Case("seconds-not-number", RUN + ("--min-seconds", "x"), ("--min-seconds", "'x'", "valid number")),
    Case("unknown-flag", RUN + ("--bogus",), ("no such option: --bogus", "edgebench run --help")),
    Case("flag-given-a-value", RUN + ("--quick=3",), ("--quick", "does not take a value")),
    Case("unknown-command", ("benchmark",), ("no such command 'benchmark'",)),
    Case(
        "missing-option", ("plot", "power", "--out", "p.png"), ("missing option --trial", "plot power --help")
    ),
    Case("missing-argument", ("trust",), ("missing argument DEVICE",)),
    # -- options: bounded and finite, refused before anything is stored ---------------------
    Case("batch-overflows-sqlite", RUN + ("--batch", "1" + "0" * 30), ("--batch", "65536")),
    Case("sweep-batch-overflows", SWEEP + ("--batch", "1,1" + "0" * 30), ("--batch", "65536")),
    Case("batch-not-a-number-in-list", SWEEP + ("--batch", "1,x"), ("--batch", "'x'")),
    Case("min-seconds-nan", RUN + ("--min-seconds", "nan"), ("--min-seconds", "nan")),
    Case("min-seconds-inf", RUN + ("--min-seconds", "inf"), ("--min-seconds", "inf")),
    Case("sweep-min-seconds-nan", SWEEP + ("--min-seconds", "nan"), ("--min-seconds", "nan")),
    Case("min-seconds-negative", RUN + ("--min-seconds", "-1"), ("--min-seconds", "-1")),
    Case("threads-zero", RUN + ("--threads", "0"), ("--threads", "0")),
    Case("threads-huge", RUN + ("--threads", "100000"), ("--threads", "1024")),
    Case("seed-negative", RUN + ("--seed", "-1"), ("--seed", "-1")),
    Case("seed-too-large", RUN + ("--seed", str(2**32)), ("--seed", "4294967295")),
    Case("repeats-zero", RUN + ("--repeats", "0"), ("--repeats", "0")),
    Case("min-iters-zero", RUN + ("--min-iters", "0"), ("--min-iters", "0")),
    Case("warmup-negative", RUN + ("--warmup", "-1"), ("--warmup", "-1")),
    Case("parallel-zero", SWEEP + ("--parallel", "0"), ("--parallel", "0")),
    Case("retries-negative", RUN + ("--retries", "-1"), ("--retries", "-1")),
    Case(
        "cooldown-timeout-huge",
        RUN + ("--cooldown-c", "60", "--cooldown-timeout", "1e300"),
        ("--cooldown-timeout",),
    ),
    Case(
        "shape-zero",
        ("run", "--model", str(DWS), "--quick", "--shape", "input=1x3x0x32"),
        ("--shape", "1x3x0x32"),
    ),
    Case("results-format", ("results", "--format", "xml"), ("--format", "'xml'")),
    Case("report-table", ("report", "--table", "chip"), ("--table", "'chip'")),
    Case("resume-unknown-sweep", ("sweep", "--resume", "nosuch"), ("no sweep 'nosuch'", "edgebench results")),
    # -- inventories: checked whole at load ------------------------------------------------
    inv_case(
        "telemetry-interval",
        LOCAL + "    telemetry: {interval_ms: -5}\n",
        (":4", "telemetry.interval_ms", "-5"),
    ),
    inv_case("telemetry-idle", LOCAL + "    telemetry: {idle_s: abc}\n", (":4", "telemetry.idle_s", "abc")),
    inv_case(
        "telemetry-unknown-key", LOCAL + "    telemetry: {intervall_ms: 5}\n", ("intervall_ms", "interval_ms")
    ),
    inv_case("billion-laughs", LAUGHS, (":8", "YAML anchor", "more than 1000 values")),
    inv_case("many-aliases", MANY_ALIASES, ("more than 100 YAML aliases",)),
    inv_case("recursive-alias", LOCAL + "    groups: &g [a, *g]\n", (":4", "inside itself")),
    inv_case("empty-inventory", "", ("inventory is empty",)),
    inv_case("not-utf8", b"devices:\n  \xff\xfe: {}\n", ("not UTF-8",)),
    inv_case(
        "port-out-of-range",
        "devices:\n  pi:\n    connection: ssh\n    host: pi\n    port: 70000\n",
        ("port", "70000"),
    ),
    inv_case("password", LOCAL + "    password: hunter2\n", ("passwords are not allowed",)),
    inv_case("devices-a-list", "devices: [local]\n", ("'devices' must be a mapping",)),
    inv_case(
        "merge-key", "defaults: &x {platform: rpi4}\ndevices:\n  local:\n    <<: *x\n", (":4", "merge keys")
    ),
    Case(
        "inventory-a-folder",
        RUN + ("--inventory", "invdir"),
        ("invdir", "not a file"),
        files={"invdir": None},
    ),
    # -- models ----------------------------------------------------------------------------
    Case(
        "model-empty-file",
        ("run", "--model", "empty.onnx", "--quick"),
        ("empty.onnx", "not a valid ONNX"),
        files={"empty.onnx": b""},
    ),
    Case(
        "model-truncated",
        ("run", "--model", "cut.onnx", "--quick"),
        ("cut.onnx", "not a valid ONNX"),
        files={"cut.onnx": DWS.read_bytes()[:3000]},
    ),
    Case(
        "model-a-folder",
        ("run", "--model", "m.onnx", "--quick"),
        ("m.onnx", "not a file"),
        files={"m.onnx": None},
    ),
    Case(
        "models-folder-empty", ("sweep", "none", "--quick"), ("no .onnx files in none",), files={"none": None}
    ),
    Case("model-missing-for-backend", ("run", "--quick"), ("--model is required", "onnxruntime")),
    # -- stores ----------------------------------------------------------------------------
    Case(
        "db-unknown-scheme", RUN + ("--db", "foo://x"), ("unknown kind of database 'foo'", "sqlite:///PATH")
    ),
    Case("db-not-a-url", ("results", "--db", "::"), ("--db", "not a database URL", "'::'")),
    Case(
        "db-text-file",
        RUN + ("--db", "sqlite:///notes.db"),
        ("notes.db", "not a results store"),
        files={"notes.db": "my notes\n"},
    ),
    Case(
        "db-text-file-read",
        ("results", "--db", "sqlite:///notes.db"),
        ("notes.db", "not a results store"),
        files={"notes.db": "x\n"},
    ),
    Case(
        "db-a-folder", RUN + ("--db", "sqlite:///stores"), ("stores", "is a folder"), files={"stores": None}
    ),
    Case("db-truncated", RUN + ("--db", "sqlite:///half.db"), ("half.db", "damaged"), setup=truncated_store),
    Case(
        "db-truncated-report",
        ("report", "--db", "sqlite:///half.db"),
        ("half.db", "damaged"),
        setup=truncated_store,
    ),
    Case(
        "db-under-a-file",
        RUN + ("--db", "sqlite:///notes.db/new.db"),
        ("notes.db", "not a folder"),
        files={"notes.db": "x\n"},
    ),
    Case(
        "db-missing-for-results", ("results", "--db", "sqlite:///none.db"), ("no results database", "none.db")
    ),
    Case("db-busy-not-a-number", RUN, ("EDGEBENCH_DB_BUSY_S", "'soon'"), env={"EDGEBENCH_DB_BUSY_S": "soon"}),
    Case(
        "report-out-a-folder",
        ("report", "--out", "reports"),
        ("--out", "reports", "is a folder"),
        files={"reports": None},
    ),
    Case("report-out-no-folder", ("report", "--out", "nowhere/r.md"), ("--out", "nowhere")),
]
if importlib.util.find_spec("psycopg") is None:
    CASES.append(
        Case("db-driver-missing", RUN + ("--db", "postgresql://bench@db/results"), ("psycopg", "pip install"))
    )


@pytest.fixture
def seeded(workspace):
    """The workspace with a store that already holds a sweep and a trial: bad input must not
    add to it (nor lose it)."""
    store = Store(workspace.db_url)
    device = Device(name="local", connection="local")
    store.upsert_device(device)
    store.create_trial(store.create_sweep({"quick": True}), Cell(device, None, "null", 1), {})
    store.close()
    return workspace


def rows(db_file: Path) -> Tuple[int, int]:
    # immutable: reading makes no -wal or -shm beside the store (the file listing compares).
    conn = sqlite3.connect("file:%s?mode=ro&immutable=1" % db_file, uri=True)
    try:
        return tuple(
            conn.execute("SELECT count(*) FROM %s" % table).fetchone()[0] for table in ("sweeps", "trials")
        )
    finally:
        conn.close()


def files_in(root: Path) -> dict:
    return {
        str(path.relative_to(root)): None if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
    }


def write_files(root: Path, files: dict) -> None:
    for name, content in files.items():
        path = root / name
        if content is None:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def assert_one_line_refusal(ws, args, needles, env=None) -> None:
    before_rows, before_files = rows(ws.db_file), files_in(ws.path)
    proc = ws.edgebench(*args, env=env)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert files_in(ws.path) == before_files
    assert rows(ws.db_file) == before_rows


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(seeded, case):
    write_files(seeded.path, case.files)
    if case.setup:
        case.setup(seeded.path)
    assert_one_line_refusal(seeded, case.args, case.needles, case.env)


def test_the_table_covers_forty_bad_inputs():
    assert len(CASES) >= 40


def test_a_store_held_by_another_process_is_waited_for_then_named(seeded):
    """The store held (BEGIN EXCLUSIVE) for the whole run: after the busy timeout, one line
    that says how to go on; nothing is written, not even a sweep row."""
    holder = sqlite3.connect(str(seeded.db_file), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        before = rows(seeded.db_file)
        proc = seeded.edgebench(*RUN, env={"EDGEBENCH_DB_BUSY_S": "1"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "edgebench.db" in lines[0] and "locked" in lines[0] and "edgebench sweep --resume" in lines[0]
    assert "INSERT" not in proc.stderr and "Traceback" not in proc.stderr
    assert rows(seeded.db_file) == before


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes to read-only folders (tests/test_store.py fakes it)"
)
def test_a_store_in_a_read_only_folder_is_read_but_not_written(seeded):
    folder = seeded.db_file.parent
    folder.chmod(0o555)
    try:
        assert seeded.edgebench("results", "--format", "csv", check=True).stdout.count("\n") == 2
        assert_one_line_refusal(seeded, RUN, ("edgebench.db", "cannot be written"))
    finally:
        folder.chmod(0o755)


def test_resume_with_nothing_unfinished_says_so_and_exits_0(workspace):
    """E.g. the controller killed right after the end: not a mistake, nothing to do."""
    store = Store(workspace.db_url)
    store.finish_sweep(store.create_sweep({"quick": True}), "ok")
    store.close()
    before = files_in(workspace.path)
    proc = workspace.edgebench("sweep", "--resume")
    assert proc.returncode == 0 and proc.stderr.splitlines() == [
        "nothing to resume: every sweep in %s finished" % workspace.db_file
    ]
    assert files_in(workspace.path) == before
