"""The store's schema revisions: Alembic migrations shipped in the package (versions/), run by
edgebench itself, with no alembic.ini: `edgebench db upgrade`, or a writing command that finds
an older store.

Every store records its revision in a table of its own, `edgebench_schema_version` (Alembic's
version table under another name: a PostgreSQL database shared with an application that Alembic
also migrates keeps that application's `alembic_version` to itself, and edgebench never reads
or touches it). A store made before revisions were recorded, or by the edgebench that recorded
them in `alembic_version`, is placed on the chain by what it holds:
REVISIONS names, for each revision, what it added. A new revision is a file in versions/ whose
`down_revision` is the last one, plus its line in REVISIONS; tests/test_migrations.py checks the
chain against schema.py and this list against the chain.

This module needs SQLAlchemy only: opening a store reads its revision without importing Alembic
(about a quarter of a second); `apply` runs the migrations and imports it.
"""

import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..schema import Base

FOLDER = Path(__file__).resolve().parent
# Alembic's version table as Alembic defines it (alembic.ddl.impl.version_table_impl), under
# edgebench's name (env.py gives Alembic the same): a store made at HEAD is recorded without
# importing Alembic, and Alembic reads it as its own.
VERSION_TABLE_NAME = "edgebench_schema_version"
VERSION_TABLE = sa.Table(
    VERSION_TABLE_NAME,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name=VERSION_TABLE_NAME + "_pkc"),
)
ALEMBIC_OPTS = {"version_table": VERSION_TABLE_NAME}  # for Alembic's MigrationContext
FIRST_TABLES = ("devices", "models", "sweeps", "trials", "metrics")
# Each revision in order, with what it added ("table" or "table.column"): an unrecorded store
# is at the last revision whose additions, and every earlier one's, it holds.
REVISIONS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("0001", FIRST_TABLES),
    ("0002", ("trials.agent_s", "trials.host_s")),
    ("0003", ("metrics.idle_power_mw", "metrics.throttled", "metrics.telemetry")),
    ("0004", ("trials.run",)),
    ("0005", ("devices.emulated", "trials.emulated")),
    ("0006", ("trials.scenario",)),
    ("0007", ("latency_samples",)),
)
HEAD = REVISIONS[-1][0]
_ORDER = {revision: index for index, (revision, _) in enumerate(REVISIONS)}
# PostgreSQL: the advisory lock that serializes edgebench's schema changes on one database.
ADVISORY_LOCK = zlib.crc32(b"edgebench store schema")


class ForeignTables(Exception):
    """The store holds some of edgebench's table names but not the first revision's whole set:
    tables another program made, or a damaged store. The message lists what is missing."""


class SchemaState(NamedTuple):
    revision: Optional[str]  # None: the store holds none of edgebench's tables yet
    recorded: bool  # False: read from its tables (made before stores recorded a revision)

    @property
    def empty(self) -> bool:
        return self.revision is None

    @property
    def current(self) -> bool:
        return self.revision == HEAD

    @property
    def older(self) -> bool:
        return self.revision in _ORDER and _ORDER[self.revision] < _ORDER[HEAD]

    @property
    def newer(self) -> bool:
        """A revision this edgebench does not know: made by a newer one."""
        return not self.empty and self.revision not in _ORDER

    def describe(self) -> str:
        if self.empty:
            return "none (no tables yet)"
        return self.revision if self.recorded else "%s (not recorded; read from its tables)" % self.revision


class Change(NamedTuple):
    """What bring_to_head did: the state it found (under the lock), the revisions it applied
    as (revision, what it changed), and whether it made the tables."""

    before: SchemaState
    applied: List[Tuple[str, str]]
    created: bool


def read_state(conn: Connection) -> SchemaState:
    inspector = sa.inspect(conn)
    if inspector.has_table(VERSION_TABLE.name):
        recorded = conn.execute(sa.select(VERSION_TABLE.c.version_num)).scalars().all()
        if recorded:  # several rows are branches this edgebench never makes: shown as one name
            return SchemaState("+".join(sorted(recorded)), True)
    return SchemaState(identify(inspector), False)


def identify(inspector) -> Optional[str]:
    """The revision an unrecorded store is at, from its tables and columns; None when it holds
    none of edgebench's tables."""
    tables = set(inspector.get_table_names())
    if not tables.intersection(FIRST_TABLES):
        return None
    columns: Dict[str, set] = {}

    def holds(thing: str) -> bool:
        table, _, column = thing.partition(".")
        if table not in tables:
            return False
        if not column:
            return True
        if table not in columns:
            columns[table] = {c["name"] for c in inspector.get_columns(table)}
        return column in columns[table]

    revision = None
    for candidate, added in REVISIONS:
        if not all(holds(thing) for thing in added):
            break
        revision = candidate
    if revision is None:
        raise ForeignTables("no table %s" % ", ".join(t for t in FIRST_TABLES if t not in tables))
    return revision


@contextmanager
def locked(engine: Engine):
    """A connection in a transaction that holds the store's write lock (SQLite: BEGIN
    IMMEDIATE; PostgreSQL: an advisory lock), committed at the end, rolled back on an error: a
    schema change is whole or not at all, and two controllers never make one at once."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # pysqlite begins transactions only before DML: DDL would commit statement by statement.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        yield conn
        conn.commit()


def bring_to_head(engine: Engine) -> Change:
    """Under the store's write lock, from the state found there: an empty store made at HEAD, an
    unrecorded one recorded, an older one migrated. A newer store is left as it is (the
    caller refuses it)."""
    with locked(engine) as conn:
        state = read_state(conn)
        if state.empty:
            Base.metadata.create_all(conn)
            record(conn, HEAD)
            return Change(state, [], created=True)
        if state.newer or (state.current and state.recorded):
            return Change(state, [], created=False)
        if not state.recorded:
            record(conn, state.revision)
        applied = []
        if state.older:
            from .apply import upgrade  # Alembic: imported only when there is something to run

            applied = upgrade(conn, state.revision)
        return Change(state, applied, created=False)


def record(conn: Connection, revision: str) -> None:
    VERSION_TABLE.create(conn, checkfirst=True)
    conn.execute(VERSION_TABLE.delete())
    conn.execute(VERSION_TABLE.insert().values(version_num=revision))


def later_than(revision: str) -> List[str]:
    """The revisions an upgrade from `revision` applies, in order."""
    return [r for r, _ in REVISIONS[_ORDER[revision] + 1 :]]
