"""Schema revisions (orchestrator/store/migrations): every store records its revision; a store
made by an older edgebench keeps every row through `edgebench db upgrade`; read-only commands
never change a schema and ask for the upgrade instead; a store newer than the code is refused.

The older stores are made here from a frozen copy of the tables each earlier edgebench made
(never from schema.py or the migrations under test), in WAL mode as edgebench made them, without
a recorded revision (edgebench recorded none before). Tests taking `db_url` run on SQLite and on
PostgreSQL (tests/conftest.py).
"""

import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from edgebench.orchestrator.store import Store, results_frame
from edgebench.orchestrator.store import db, migrations
from edgebench.orchestrator.store.db import StoreError, StoreOutdated, StoreTooNew
from edgebench.orchestrator.store.samples import encode_samples, trial_samples
from edgebench.orchestrator.store.schema import Base

from .conftest import REPO

REVISION_IDS = [revision for revision, _ in migrations.REVISIONS]
TODAY = "0007"  # the schema of the last edgebench that recorded no revision (issue 12)
BEFORE_SAMPLES_TABLE = "0006"
SAMPLES = [1.0, 1.25, 2.5]


# -- the tables earlier edgebench versions made, frozen ------------------------------------------


def frozen(metadata, name, *columns):
    """The table as of metadata.info["revision"]: its columns added by then (none: no table)."""
    kept = [make() for since, make in columns if since <= metadata.info["revision"]]
    if kept:
        sa.Table(name, metadata, *kept)


def col(name, kind, *constraints, since="0001", **options):
    return since, lambda: sa.Column(name, kind, *constraints, **options)


def frozen_tables(revision: str) -> sa.MetaData:
    """The tables as the edgebench of `revision` created them (columns added later left out)."""
    md = sa.MetaData(info={"revision": revision})
    tz = sa.DateTime(timezone=True)
    frozen(
        md,
        "devices",
        col("name", sa.String(128), primary_key=True),
        col("connection", sa.String(16), nullable=False),
        col("platform", sa.String(32), nullable=False),
        col("facts", sa.JSON),
        col("facts_at", tz),
        col("simulated", sa.Boolean, nullable=False),
        col("emulated", sa.Boolean, since="0005"),
    )
    frozen(
        md,
        "models",
        col("sha256", sa.String(64), primary_key=True),
        col("name", sa.String(256), nullable=False),
        col("path", sa.Text, nullable=False),
        col("params", sa.Integer),
        col("size_bytes", sa.Integer, nullable=False),
        col("precision", sa.String(32), nullable=False),
        col("inputs", sa.JSON),
        col("opset", sa.Integer),
    )
    frozen(
        md,
        "sweeps",
        col("id", sa.String(32), primary_key=True),
        col("created_at", tz, nullable=False),
        col("finished_at", tz),
        col("settings", sa.JSON, nullable=False),
        col("status", sa.String(16), nullable=False),
    )
    frozen(
        md,
        "trials",
        col("id", sa.String(64), primary_key=True),
        col("sweep_id", sa.String(32), sa.ForeignKey("sweeps.id"), nullable=False, index=True),
        col("device", sa.String(128), sa.ForeignKey("devices.name"), nullable=False, index=True),
        col("model_sha256", sa.String(64), sa.ForeignKey("models.sha256")),
        col("backend", sa.String(32), nullable=False),
        col("precision", sa.String(32)),
        col("batch", sa.Integer, nullable=False),
        col("run", sa.Integer, since="0004"),
        col("scenario", sa.String(32), since="0006"),
        col("settings", sa.JSON, nullable=False),
        col("status", sa.String(16), nullable=False),
        col("error", sa.Text),
        col("agent_version", sa.String(32)),
        col("env", sa.JSON),
        col("simulated", sa.Boolean, nullable=False),
        col("emulated", sa.Boolean, since="0005"),
        col("created_at", tz, nullable=False),
        col("finished_at", tz),
        col("agent_s", sa.Float, since="0002"),
        col("host_s", sa.Float, since="0002"),
    )
    latencies = ["latency_%s_ms" % q for q in ("p50", "p90", "p95", "p99", "mean", "std", "min", "max")]
    figures = latencies + ["latency_p50_ci95_low_ms", "latency_p50_ci95_high_ms"]
    frozen(
        md,
        "metrics",
        col("trial_id", sa.String(64), sa.ForeignKey("trials.id"), primary_key=True),
        col("iterations", sa.Integer),
        *[col(name, sa.Float) for name in figures],
        col("unstable", sa.Boolean),
        *[col(name, sa.Float) for name in ("throughput_ips", "peak_rss_mb", "model_size_mb", "power_mw")],
        col("energy_mj", sa.Float),
        col("accuracy", sa.Float),
        *[
            col(n, sa.Float, since="0003")
            for n in ("idle_power_mw", "power_above_idle_mw", "energy_above_idle_mj")
        ],
        col("throttled", sa.Boolean, since="0003"),
        col("extra", sa.JSON),
        col("telemetry", sa.JSON, since="0003"),
        col("samples_ms", sa.JSON),
    )
    frozen(
        md,
        "latency_samples",
        col("trial_id", sa.String(64), sa.ForeignKey("trials.id"), primary_key=True, since="0007"),
        col("count", sa.Integer, nullable=False, since="0007"),
        col("encoding", sa.String(32), nullable=False, since="0007"),
        col("data", sa.LargeBinary, nullable=False, since="0007"),
    )
    return md


def rows_for(tables: sa.MetaData) -> dict:
    """A device, a model, a sweep, an ok trial with its metrics (JSON samples and, where the
    table exists, an array) and a failed trial: every column given a value, none left to a
    default."""
    when = datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc)
    cell = dict(sweep_id="s1", backend="onnxruntime", precision="fp32", batch=1, scenario="single-stream")
    cell.update(settings={"quick": True}, simulated=False, emulated=False, created_at=when, finished_at=when)
    trials = [
        dict(id="t1", device="nano01", model_sha256="a" * 64, status="ok", run=1, error=None),
        dict(id="t2", device="local", model_sha256=None, status="failed", error="died", run=2),
    ]
    values = {
        "devices": [
            dict(name="nano01", connection="ssh", platform="jetson-nano", facts={"cpus": 4}, facts_at=when),
            dict(name="local", connection="local", platform="x86_64", facts=None, facts_at=None),
        ],
        "models": [dict(sha256="a" * 64, name="dws_cnn", path="models/dws_cnn.onnx", params=1234)],
        "sweeps": [dict(id="s1", created_at=when, finished_at=when, settings={"quick": True}, status="done")],
        "trials": [dict(trial, **cell) for trial in trials],
        "metrics": [dict(trial_id="t1", iterations=3, latency_p50_ms=1.25, samples_ms=SAMPLES)],
        "latency_samples": [dict(zip(("count", "encoding", "data"), encode_samples(SAMPLES)), trial_id="t1")],
    }
    filled = {}
    for table in tables.sorted_tables:
        filled[table.name] = [_every_column(table, row) for row in values[table.name]]
    return filled


def _every_column(table: sa.Table, given: dict) -> dict:
    defaults = {
        sa.String: "x",
        sa.Text: "text",
        sa.Integer: 7,
        sa.Float: 0.5,
        sa.Boolean: True,
        sa.JSON: {"k": [1, 2]},
        sa.DateTime: datetime(2026, 5, 1, 12, 31, tzinfo=timezone.utc),
        sa.LargeBinary: b"\x01",
    }
    row = {}
    for column in table.columns:
        if column.name in given:
            row[column.name] = given[column.name]
        else:
            row[column.name] = next(v for kind, v in defaults.items() if isinstance(column.type, kind))
    return row


def make_older_store(url: str, revision: str) -> dict:
    """A store as the edgebench of `revision` left it, rows included; returns the rows."""
    tables = frozen_tables(revision)
    rows = rows_for(tables)
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # as every edgebench made its stores
    with engine.begin() as conn:
        tables.create_all(conn)
        for table in tables.sorted_tables:
            conn.execute(table.insert(), rows[table.name])
    engine.dispose()
    return rows


def dump(url: str, revision: str) -> dict:
    """Every row of the tables of `revision`, only their columns, in primary-key order."""
    tables = frozen_tables(revision)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        got = {
            t.name: [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
            for t in tables.sorted_tables
        }
    engine.dispose()
    return got


def comparable(rows: dict) -> dict:
    """Rows as both databases give them back, in one order: SQLite returns naive datetimes
    (UTC), PostgreSQL aware ones in the session's zone."""
    return {name: sorted((_naive_utc(row) for row in table), key=repr) for name, table in rows.items()}


def _naive_utc(row: dict) -> dict:
    return {k: (_utc(v) if isinstance(v, datetime) else v) for k, v in row.items()}


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is None else when.astimezone(timezone.utc).replace(tzinfo=None)


def state_of(url: str) -> migrations.SchemaState:
    return db.read_schema_state(url)


def column_names(url: str, table: str) -> set:
    engine = sa.create_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def table_names(url: str) -> set:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def sqlite_file(url: str):
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None


def snapshot(url: str, revision: str):
    """What must not change: an SQLite file's bytes and its folder's names; a server's tables,
    their columns and every row."""
    path = sqlite_file(url)
    if path is not None:
        return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
    names = table_names(url)
    return {name: column_names(url, name) for name in names}, dump(url, revision)


@pytest.fixture
def sqlite_url(tmp_path):
    return "sqlite:///%s" % (tmp_path / "old.db")


# -- the chain itself ------------------------------------------------------------------------


def test_the_revision_list_is_alembics_chain_and_each_says_what_it_changes():
    from alembic.script import ScriptDirectory

    from edgebench.orchestrator.store.migrations.apply import config

    scripts = ScriptDirectory.from_config(config())
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [s.revision for s in chain] == REVISION_IDS
    assert scripts.get_heads() == [migrations.HEAD]
    assert all(s.doc and "\n" not in s.doc for s in chain)


def test_the_chain_from_nothing_makes_exactly_the_tables_of_schema_py(db_url):
    """A schema.py change without its revision fails here."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from edgebench.orchestrator.store.migrations.apply import config

    engine = sa.create_engine(db_url)
    with migrations.locked(engine) as conn:
        command.upgrade(config(conn), migrations.HEAD)  # from an empty database: 0001 makes the tables
    with engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn, opts=migrations.ALEMBIC_OPTS), Base.metadata)
            == []
        )
        assert (
            MigrationContext.configure(conn, opts=migrations.ALEMBIC_OPTS).get_current_revision()
            == migrations.HEAD
        )
    engine.dispose()


def test_a_new_store_is_made_at_the_head_and_alembic_reads_its_revision(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    Store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert (
            MigrationContext.configure(conn, opts=migrations.ALEMBIC_OPTS).get_current_revision()
            == migrations.HEAD
        )
        assert (
            compare_metadata(MigrationContext.configure(conn, opts=migrations.ALEMBIC_OPTS), Base.metadata)
            == []
        )
    engine.dispose()
    assert state_of(db_url) == (migrations.HEAD, True)


@pytest.mark.parametrize("revision", REVISION_IDS)
def test_a_store_that_recorded_no_revision_is_placed_by_its_tables(sqlite_url, revision):
    make_older_store(sqlite_url, revision)
    assert state_of(sqlite_url) == (revision, False)


def test_another_applications_alembic_version_is_neither_read_nor_touched(db_url):
    """A PostgreSQL database shared with an application Alembic also migrates: its version table
    is its own. edgebench records its revision in edgebench_schema_version."""
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0099')")  # would read as newer
    Store(db_url).close()
    assert state_of(db_url) == (migrations.HEAD, True)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["0099"]
        assert conn.execute(sa.select(migrations.VERSION_TABLE.c.version_num)).scalars().all() == [
            migrations.HEAD
        ]
    engine.dispose()


def test_a_store_that_recorded_its_revision_in_alembic_version_is_placed_by_its_tables(sqlite_url):
    """The edgebench of issue 13's first landing recorded the revision in Alembic's default
    table: such a store is read by its tables, and a writer records it in its own table."""
    make_older_store(sqlite_url, "0005")
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0005')")
    engine.dispose()
    assert state_of(sqlite_url) == ("0005", False)
    Store(sqlite_url).close()
    assert state_of(sqlite_url) == (migrations.HEAD, True)


def test_a_store_holding_tables_edgebench_did_not_make_is_refused(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE devices (id INTEGER PRIMARY KEY, owner TEXT)")
    engine.dispose()
    for write in (False, True):
        with pytest.raises(StoreError, match=r"old.db holds tables edgebench did not make \(no table models"):
            Store(sqlite_url, create=False, write=write)
    assert table_names(sqlite_url) == {"devices"}


# -- upgrading keeps every row -----------------------------------------------------------------


@pytest.mark.parametrize("revision", REVISION_IDS)
def test_every_older_store_keeps_every_row_through_the_upgrade(sqlite_url, revision):
    rows = make_older_store(sqlite_url, revision)
    change = db.upgrade_store(sqlite_url)
    assert change.before == (revision, False)
    assert [r for r, _ in change.applied] == migrations.later_than(revision)
    assert comparable(dump(sqlite_url, revision)) == comparable(rows)
    assert state_of(sqlite_url) == (migrations.HEAD, True)
    for table in Base.metadata.sorted_tables:  # the columns added later are there, and null
        assert column_names(sqlite_url, table.name) == {c.name for c in table.columns}
    added = set(column_names(sqlite_url, "trials")) - set(
        frozen_tables(revision).tables["trials"].columns.keys()
    )
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        for name in added:
            assert conn.execute(sa.text("SELECT %s FROM trials" % name)).scalars().all() == [None, None]
    engine.dispose()


@pytest.mark.parametrize("revision", [TODAY, BEFORE_SAMPLES_TABLE])
@pytest.mark.integration  # runs the command in subprocesses
def test_db_upgrade_finds_every_row_and_the_results_read_them(db_url, workspace, revision):
    """The acceptance test: a store with today's schema (and one from before issue 12's
    latency_samples), rows in it, `edgebench db upgrade`, every row there."""
    rows = make_older_store(db_url, revision)
    upgraded = workspace.edgebench("db", "upgrade", "--db", db_url, check=True)
    assert "schema revision %s (not recorded" % revision in upgraded.stdout
    assert "-> %s" % migrations.HEAD in upgraded.stdout
    for later in migrations.later_than(revision):
        assert "  %s " % later in upgraded.stdout
    assert comparable(dump(db_url, revision)) == comparable(rows)
    assert state_of(db_url) == (migrations.HEAD, True)

    again = workspace.edgebench("db", "upgrade", "--db", db_url, check=True)
    assert "nothing to do" in again.stdout
    assert comparable(dump(db_url, revision)) == comparable(rows)

    status = workspace.edgebench("db", "status", "--db", db_url, check=True)
    assert "revision %s" % migrations.HEAD in status.stdout

    listed = workspace.edgebench("results", "--db", db_url, "--format", "csv", check=True)
    assert "t1" in listed.stdout and "t2" in listed.stdout
    store = Store(db_url, create=False, write=False)
    frame = results_frame(store).set_index("trial_id")
    assert frame.loc["t1", "latency_p50_ms"] == 1.25 and frame.loc["t2", "error"] == "died"
    samples = trial_samples(store, ["t1"])["t1"].tolist()
    store.close()
    assert samples == SAMPLES  # from the array, or before it existed from the JSON


# -- reading never changes a schema ------------------------------------------------------------


@pytest.mark.integration  # runs the command in subprocesses
def test_results_on_an_older_store_asks_for_db_upgrade_and_changes_nothing(db_url, workspace):
    make_older_store(db_url, BEFORE_SAMPLES_TABLE)
    before = snapshot(db_url, BEFORE_SAMPLES_TABLE)
    for command in (("results",), ("report",), ("db", "status")):
        proc = workspace.edgebench(*command, "--db", db_url)
        if command[0] == "db":
            assert proc.returncode == 0 and "edgebench db upgrade" in proc.stdout
            continue
        assert proc.returncode == 2, (command, proc.stderr)
        [line] = proc.stderr.splitlines()
        where = db.store_where(db_url)
        assert line == (
            "edgebench: error: the store %s has schema revision %s (not recorded; read from its tables), "
            "this edgebench needs %s: run edgebench db upgrade --db %s"
            % (where, BEFORE_SAMPLES_TABLE, migrations.HEAD, db.db_option(where))
        )
    assert snapshot(db_url, BEFORE_SAMPLES_TABLE) == before


def test_the_notebook_api_refuses_an_older_store_without_touching_it(sqlite_url):
    import edgebench.results as results

    make_older_store(sqlite_url, "0004")
    before = snapshot(sqlite_url, "0004")
    with pytest.raises(StoreOutdated, match="has schema revision 0004 .* run edgebench db upgrade"):
        results.frame(sqlite_url)
    assert snapshot(sqlite_url, "0004") == before


def test_a_store_at_todays_schema_that_recorded_no_revision_is_read_as_it_is(sqlite_url):
    make_older_store(sqlite_url, TODAY)
    before = snapshot(sqlite_url, TODAY)
    store = Store(sqlite_url, create=False)
    assert sorted(results_frame(store)["trial_id"]) == ["t1", "t2"]
    store.close()
    assert snapshot(sqlite_url, TODAY) == before
    Store(sqlite_url).close()  # a writing command records it, and says nothing: nothing changed
    assert state_of(sqlite_url) == (TODAY, True)


def test_an_older_store_in_a_read_only_folder_says_to_upgrade_a_copy(sqlite_url, monkeypatch):
    make_older_store(sqlite_url, "0003")
    monkeypatch.setattr(db, "_writable", lambda path: False)  # as root, no folder is read-only
    before = snapshot(sqlite_url, "0003")
    with pytest.raises(StoreOutdated, match=r"cannot be upgraded where it is \(read-only\): copy it"):
        Store(sqlite_url, create=False)
    assert snapshot(sqlite_url, "0003") == before


def test_reading_an_empty_database_says_there_are_no_results(db_url):
    if sqlite_file(db_url):
        sqlite_file(db_url).touch()  # an empty file: SQLite's new database
    with pytest.raises(StoreError, match="holds no results yet"):
        Store(db_url, create=False, write=False)
    assert table_names(db_url) == set()


# -- writing commands upgrade, whole or not at all, once -------------------------------------------


def test_a_writing_command_upgrades_an_older_sqlite_store_and_says_so(sqlite_url, capsys):
    db_url = sqlite_url
    rows = make_older_store(db_url, "0005")
    Store(db_url).close()
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "edgebench: upgraded the schema of the store %s from revision 0005 to %s: "
        % (db.store_where(db_url), migrations.HEAD)
    )
    assert "trials.scenario" in line and "latency_samples" in line
    assert comparable(dump(db_url, "0005")) == comparable(rows)
    Store(db_url).close()
    assert capsys.readouterr().err == ""  # at the head: nothing more to say


def test_a_writing_command_leaves_an_older_shared_store_to_db_upgrade(pg_url):
    """A teammate's newer edgebench must not lock the others out of the team's store as a side
    effect of a sweep: a server store is upgraded by `edgebench db upgrade` only."""
    rows = make_older_store(pg_url, "0005")
    before = snapshot(pg_url, "0005")
    message = (
        r"revision 0005 .*, this edgebench needs %s; a shared store is upgraded on purpose" % migrations.HEAD
    )
    with pytest.raises(StoreOutdated, match=message + r".*run edgebench db upgrade --db postgresql"):
        Store(pg_url)
    assert snapshot(pg_url, "0005") == before
    assert db.upgrade_store(pg_url).applied
    Store(pg_url).close()  # at the head: writers go on
    assert comparable(dump(pg_url, "0005")) == comparable(rows)


def test_an_upgrade_that_fails_leaves_the_store_as_it_was(db_url, monkeypatch):
    from edgebench.orchestrator.store.migrations import steps

    make_older_store(db_url, "0004")
    before = {name: column_names(db_url, name) for name in table_names(db_url)}
    added = steps.add_columns

    def fails_at_the_scenario(table, *columns):
        added(table, *columns)  # 0005's columns are added, then 0006 fails
        if any(c.name == "scenario" for c in columns):
            raise RuntimeError("disk full")

    monkeypatch.setattr(steps, "add_columns", fails_at_the_scenario)
    with pytest.raises(RuntimeError, match="disk full"):
        db.upgrade_store(db_url)
    assert {name: column_names(db_url, name) for name in table_names(db_url)} == before
    assert state_of(db_url) == ("0004", False)
    monkeypatch.undo()
    assert db.upgrade_store(db_url).before == ("0004", False)


def test_two_upgrades_of_an_older_store_at_once_upgrade_it_once(db_url, capsys):
    """Two writers on an SQLite file; two `edgebench db upgrade` on a server store."""
    rows = make_older_store(db_url, "0002")
    errors = []

    def upgrade():
        try:
            if sqlite_file(db_url):
                Store(db_url).close()
            else:
                change = db.upgrade_store(db_url)
                if change.applied:
                    sys.stderr.write("upgraded\n")
        except Exception as exc:  # reported below, with the other thread's
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(capsys.readouterr().err.splitlines()) == 1  # one upgraded it, the other found it done
    assert state_of(db_url) == (migrations.HEAD, True)
    assert comparable(dump(db_url, "0002")) == comparable(rows)


# -- a newer store ---------------------------------------------------------------------------------


@pytest.mark.integration  # runs the command in subprocesses
def test_a_store_newer_than_this_edgebench_is_refused_by_every_command(db_url, workspace):
    Store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(migrations.VERSION_TABLE.update().values(version_num="0099"))
    engine.dispose()
    message = r"has schema revision 0099, newer than this edgebench knows \(%s\)" % migrations.HEAD
    for write in (False, True):
        with pytest.raises(StoreTooNew, match=message):
            Store(db_url, create=False, write=write)
    for command in (("results",), ("db", "upgrade")):
        proc = workspace.edgebench(*command, "--db", db_url)
        assert proc.returncode == 2 and "newer than this edgebench knows" in proc.stderr, proc.stderr
    assert state_of(db_url) == ("0099", True)


# -- shipped in the package --------------------------------------------------------------------


def test_the_migrations_are_packages_of_the_distribution():
    import tomllib

    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert {
        "edgebench.orchestrator.store.migrations",
        "edgebench.orchestrator.store.migrations.versions",
    } <= set(listed)
    assert (migrations.FOLDER / "env.py").is_file()
    assert sorted(p.name[:4] for p in (migrations.FOLDER / "versions").glob("0*.py")) == REVISION_IDS
