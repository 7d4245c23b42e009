"""Opening the store: an SQLAlchemy URL, SQLite in WAL mode by default.

A store is checked before it is opened, so that a mistake (a text file, a damaged store, a
folder, a place that cannot be written, a driver not installed) is one line naming it, and
nothing is created beside it: SQLite would leave an empty `-wal` beside a file it then finds
damaged. Errors while the store is in use (locked for longer than the busy timeout, a disk
that fills up) become one `StoreError` line too, never an SQL statement with its parameters.

Every store records its schema revision (store/migrations). A command that writes brings the
store to this edgebench's revision as it opens it (a new store made at it; an older one upgraded
in place, under the store's write lock, with one line on stderr); a command that only reads never
changes a schema and refuses a store at another revision, naming `edgebench db upgrade`.
"""

import math
import os
import sqlite3
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import sessionmaker

from ..errors import UserError
from . import migrations
from .schema import json_text

DEFAULT_URL = "sqlite:///results/edgebench.db"
# How long a write waits for a store another process holds (SQLite's busy timeout).
BUSY_ENV = "EDGEBENCH_DB_BUSY_S"
DEFAULT_BUSY_S = 30.0
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
# SQLAlchemy's driver modules -> what to pip install for them.
DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "'psycopg[binary]'",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
}
RESUME_HINT = "a sweep goes on where it stopped with: edgebench sweep --resume"


class StoreError(UserError):
    """The results store cannot be used as asked; the message names it and what to do."""


class StoreLocked(StoreError):
    """Another process held the store for longer than the busy timeout."""


class StoreOutdated(StoreError):
    """The store's schema is older than this edgebench's, and this command may not change it:
    `edgebench db upgrade` does."""


class StoreTooNew(StoreError):
    """The store's schema revision is one this edgebench does not know: a newer one made it."""


def resolve_url(url: str = None) -> str:
    return url or os.environ.get("EDGEBENCH_DB") or DEFAULT_URL


def busy_timeout_s() -> float:
    given = os.environ.get(BUSY_ENV)
    if not given:
        return DEFAULT_BUSY_S
    try:
        value = float(given)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 86400):
        raise UserError("%s: must be a number of seconds from 0 to 86400, got %r" % (BUSY_ENV, given[:40]))
    return value


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    # WAL: readers (a report) never block the writer (a sweep); NORMAL is durable in WAL mode
    # except for the last transactions on power loss, and several times faster than FULL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_engine(
    url: str = None, create: bool = True, write: Optional[bool] = None, check_schema: bool = True
) -> Engine:
    """`create`: a store that does not exist yet is made; `write` (default: `create`): the
    command writes, so the store must be writable, and an older store's schema is upgraded
    (saying so on stderr); a store only read is never altered, and one in a folder that cannot
    be written is opened read-only. `check_schema` False: the schema is left to the caller
    (`edgebench db`)."""
    url = resolve_url(url)
    parsed = _parse(url)
    write = create if write is None else write
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if parsed.query.get("uri") is None:  # a file:...?mode= URI is taken as given
            return _open_sqlite_file(url, Path(parsed.database), create, write, check_schema)
    # A server's pooled connection can go stale during a long trial (an idle timeout, a restart):
    # checked before use, so the next write reconnects instead of failing the sweep.
    return _prepared(_engine(url, parsed, pool_pre_ping=True), _where(parsed), write, check_schema)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            "--db: not a database URL: %r (example: sqlite:///results/edgebench.db)" % url
        ) from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise UserError(
            "--db: unknown kind of database %r in %s (use sqlite:///PATH, or e.g. "
            "postgresql+psycopg://USER@HOST/DB)" % (parsed.drivername, _where(parsed))
        ) from None
    except ImportError as exc:  # a dialect that imports its driver up front
        raise _driver_missing(parsed, exc) from None
    return parsed


def _engine(url: str, parsed: URL, **options) -> Engine:
    try:
        return create_engine(url, json_serializer=json_text, **options)
    except ImportError as exc:
        raise _driver_missing(parsed, exc) from None


def _driver_missing(parsed: URL, exc: ImportError) -> UserError:
    module = (exc.name or "").split(".")[0] or str(exc)
    return UserError(
        "--db: %s needs the Python module %r, which is not installed: pip install %s"
        % (parsed.drivername, module, DRIVER_PACKAGES.get(module, module))
    )


def store_where(url: str = None) -> str:
    """The store for messages: its file, or its URL without the password."""
    return _where(make_url(resolve_url(url)))


def _where(parsed: URL) -> str:
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


# -- SQLite ----------------------------------------------------------------------------------


def _open_sqlite_file(url: str, path: Path, create: bool, write: bool, check_schema: bool) -> Engine:
    where = str(path)
    if path.is_dir():
        raise StoreError(
            "results store %s is a folder; give a file in it, e.g. --db sqlite:///%s"
            % (where, path / "edgebench.db")
        )
    if not path.exists():
        if not create:
            raise StoreError("no results database at %s (run a sweep first, or pass --db)" % where)
        _make_folder(path)
    else:
        check_sqlite_file(path)
        if not _writable(path.parent) or not _writable(path):
            if write:
                raise StoreError(
                    "results store %s cannot be written here (its folder or the file is read-only); "
                    "copy it to a folder you can write, or pass another --db" % where
                )
            return _prepared(_read_only_engine(path), where, False, check_schema, upgradable=False)
    engine = _engine(url, make_url(url), connect_args={"timeout": busy_timeout_s()})
    event.listen(engine, "connect", _sqlite_pragmas)
    engine = _prepared(engine, where, write, check_schema)
    if write:
        _wait_for_writing(engine, where)
    return engine


def _wait_for_writing(engine: Engine, where: str) -> None:
    """Takes the write lock once and gives it back: a store another process holds is waited
    for (the busy timeout) and reported now, before any device is contacted or row written."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise store_error(where, exc) from None
    finally:
        raw.close()


def _make_folder(path: Path) -> None:
    """A new store's folder is made now; one that cannot be is named, and nothing is made."""
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not _writable(existing):
        raise StoreError(
            "cannot create results store %s: %s is %s; pass --db sqlite:///PATH in a folder you can write"
            % (path, existing, "not a folder" if not existing.is_dir() else "not writable")
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError("cannot create results store %s: %s" % (path, exc.strerror or exc)) from None


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


# `PRAGMA quick_check` reads the whole file: on every command for a small store, not for a large
# one (raw samples make stores grow to GBs), whose damage shows as one line at first use instead.
QUICK_CHECK_MAX_BYTES = 256 * 1024 * 1024


def check_sqlite_file(path: Path) -> None:
    """An existing store read as it is, without writing anything beside it: the SQLite header;
    when no other process has it open, the size the header promises (a truncated copy) and
    `PRAGMA quick_check` (up to QUICK_CHECK_MAX_BYTES)."""
    where = str(path)
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise StoreError("results store %s cannot be read: %s" % (where, exc.strerror or exc)) from None
    if not header:
        return  # an empty file: SQLite makes it a new store
    if not header.startswith(SQLITE_MAGIC):
        raise StoreError(
            "%s is not a results store (not an SQLite database); pass another --db, or move the file away"
            % where
        )
    if _in_use(path):
        # Another process has it open (or crashed with it open): its -wal holds pages the file
        # does not yet, and a checkpoint may be writing the file now. SQLite reads both itself.
        return
    expected = _size_in_header(header)
    if expected is None or path.stat().st_size < expected:
        raise StoreError(
            "results store %s is damaged (%d bytes, its header says %s: truncated?); restore it from a "
            "copy, or pass another --db" % (where, path.stat().st_size, expected or "an unreadable size")
        )
    problem = _quick_check(path) if path.stat().st_size <= QUICK_CHECK_MAX_BYTES else None
    if problem:
        raise StoreError(
            "results store %s is damaged (%s); restore it from a copy, or pass another --db"
            % (where, problem)
        )


def _size_in_header(header: bytes) -> Optional[int]:
    """The database size the header states, in bytes; 0 when the header does not state it
    (older writers), None when the header itself is cut short."""
    if len(header) < 100:
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    valid = header[24:28] == header[92:96]  # "in-header database size" is valid only then
    return page_size * pages if valid else 0


def _in_use(path: Path) -> bool:
    """A -wal or -journal beside the file (beside its target, for a symlink: SQLite's place)."""
    real = path.resolve()
    return any(Path(str(real) + suffix).exists() for suffix in ("-wal", "-journal"))


def _immutable_uri(path: Path) -> str:
    # immutable=1: no locks, no -wal or -shm files; only for a file no process has open.
    return "file:%s?mode=ro&immutable=1" % quote(str(path.resolve()))


def _quick_check(path: Path) -> Optional[str]:
    """None when the store reads whole, else what SQLite says is wrong (first line)."""
    try:
        conn = sqlite3.connect(_immutable_uri(path), uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None if rows == [("ok",)] else str(rows[0][0]).splitlines()[0]


def _read_only_engine(path: Path) -> Engine:
    """A store in a folder this user cannot write: read as it is, no -wal or -shm made. With a
    -wal beside it (left by its writer), SQLite must read that too: mode=ro, not immutable."""
    uri = _immutable_uri(path)
    if _in_use(path):
        uri = "file:%s?mode=ro" % quote(str(path.resolve()))
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False))


# -- any database ----------------------------------------------------------------------------


def _prepared(engine: Engine, where: str, write: bool, check_schema: bool, upgradable: bool = True) -> Engine:
    event.listen(engine, "handle_error", _one_line_errors(where))
    if check_schema:
        try:
            _check_schema(engine, where, write, upgradable)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _check_schema(engine: Engine, where: str, write: bool, upgradable: bool) -> None:
    """A command that writes brings the store to this edgebench's revision (an empty store made
    at it, an older SQLite file upgraded, saying so); one that reads only never changes a
    schema: it reads a store at this revision, recorded or not, and refuses any other. An older
    server store (PostgreSQL, shared by a team) is upgraded only by `edgebench db upgrade`: a
    teammate's newer edgebench does not lock the others' out of it as a side effect of a sweep."""
    state = schema_state(engine, where)
    if state.current and (state.recorded or not write):
        return
    _refuse_newer(state, where)
    if not write:
        if state.empty:
            raise StoreError(
                "results store %s holds no results yet (run a sweep first, or pass another --db)" % where
            )
        raise StoreOutdated(_outdated(state, where, upgradable))
    if state.older and engine.dialect.name != "sqlite":
        raise StoreOutdated(
            "%s; a shared store is upgraded on purpose, not by a sweep: run edgebench db upgrade --db %s "
            "(every controller using it then needs an edgebench that knows %s)"
            % (_revisions_said(state, where), db_option(where), migrations.HEAD)
        )
    change = _brought_to_head(engine, where)
    if change.applied:
        _notice(
            "edgebench: upgraded the schema of the store %s from revision %s to %s: %s"
            % (where, change.before.revision, migrations.HEAD, "; ".join(doc for _, doc in change.applied))
        )


def schema_state(engine: Engine, where: str) -> "migrations.SchemaState":
    """The store's revision, as recorded or read from its tables."""
    with engine.connect() as conn:
        try:
            return migrations.read_state(conn)
        except migrations.ForeignTables as exc:
            raise _foreign(where, exc) from None


def _brought_to_head(engine: Engine, where: str) -> "migrations.Change":
    try:
        change = migrations.bring_to_head(engine)
    except migrations.ForeignTables as exc:
        raise _foreign(where, exc) from None
    _refuse_newer(change.before, where)  # another edgebench may have changed it meanwhile
    return change


def _foreign(where: str, exc: "migrations.ForeignTables") -> StoreError:
    return StoreError(
        "results store %s holds tables edgebench did not make (%s): pass another --db" % (where, exc)
    )


def _refuse_newer(state: "migrations.SchemaState", where: str) -> None:
    if state.newer:
        raise StoreTooNew(
            "the store %s has schema revision %s, newer than this edgebench knows (%s): use a newer "
            "edgebench with it" % (where, state.revision, migrations.HEAD)
        )


def _revisions_said(state: "migrations.SchemaState", where: str) -> str:
    return "the store %s has schema revision %s, this edgebench needs %s" % (
        where,
        state.describe(),
        migrations.HEAD,
    )


def _outdated(state: "migrations.SchemaState", where: str, upgradable: bool) -> str:
    said = _revisions_said(state, where)
    if not upgradable:
        return (
            "%s, and it cannot be upgraded where it is (read-only): copy it to a folder you can write "
            "and run edgebench db upgrade --db sqlite:///COPY" % said
        )
    return "%s: run edgebench db upgrade --db %s" % (said, db_option(where))


def db_option(where: str) -> str:
    """What --db takes for the store named `where` in messages (a password stays hidden)."""
    return where if "://" in where else "sqlite:///" + where


def _notice(line: str) -> None:
    sys.stderr.write(line + "\n")


def upgrade_store(url: str = None) -> "migrations.Change":
    """`edgebench db upgrade`: the store brought to this edgebench's revision; an empty one is
    made at it, a missing SQLite file is refused."""
    engine = open_engine(url, create=False, write=True, check_schema=False)
    try:
        return _brought_to_head(engine, store_where(url))
    finally:
        engine.dispose()


def read_schema_state(url: str = None) -> "migrations.SchemaState":
    """`edgebench db status`: the store's revision, read without changing anything."""
    engine = open_engine(url, create=False, write=False, check_schema=False)
    try:
        return schema_state(engine, store_where(url))
    finally:
        engine.dispose()


def _one_line_errors(where: str):
    """The engine's failures as StoreError naming the store: never the SQL and its
    parameters. Errors that are bugs (a constraint, a type) pass on as they are."""

    def handle(context):
        error, original = context.sqlalchemy_exception, context.original_exception
        if isinstance(error, OperationalError) or type(error) is DatabaseError:
            raise store_error(where, original)
        return None

    return handle


def store_error(where: str, original: BaseException) -> StoreError:
    reason = (str(original).strip().splitlines() or [type(original).__name__])[0]
    if getattr(original, "sqlite_errorcode", None) in (SQLITE_BUSY, SQLITE_LOCKED) or "locked" in reason:
        return StoreLocked(
            "results store %s stayed locked by another process for %g s (%s); when it is free, run "
            "the command again (%s)" % (where, busy_timeout_s(), BUSY_ENV, RESUME_HINT)
        )
    return StoreError("results store %s: %s" % (where, reason))


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
