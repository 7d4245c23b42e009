"""Opening the store: an SQLAlchemy URL, SQLite in WAL mode by default."""

import os
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import sessionmaker

from ..errors import UserError
from .schema import Base

DEFAULT_URL = "sqlite:///results/edgebench.db"


def resolve_url(url: str = None) -> str:
    return url or os.environ.get("EDGEBENCH_DB") or DEFAULT_URL


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    # WAL: readers (a report) never block the writer (a sweep); NORMAL is durable in WAL mode
    # except for the last transactions on power loss, and several times faster than FULL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_engine(url: str = None, create: bool = True) -> Engine:
    url = resolve_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            "--db: not a database URL: %r (example: sqlite:///results/edgebench.db)" % url
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not create and not Path(parsed.database).exists():
            raise UserError("no results database at %s (run a sweep first, or pass --db)" % parsed.database)
        folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """A store made by an older edgebench keeps its rows: new nullable columns are added in
    place (create_all only creates missing tables)."""
    existing = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            have = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(text("ALTER TABLE %s ADD COLUMN %s %s" % (table.name, column.name, kind)))


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
