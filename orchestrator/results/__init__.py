"""Stored results as pandas DataFrames, for notebooks and scripts.

    import edgebench.results as results

    df = results.frame()                       # every trial in results/edgebench.db
    df = results.frame("runs/nano.db", sweep="3f2a9c0d1e2b4a5f")
    raw = results.samples(sweep="3f2a9c0d1e2b4a5f")  # one row per timed call

`db` is a database URL (`sqlite:///results/edgebench.db`, `postgresql+psycopg://USER@HOST/DB`)
or the path of a `.db` file. Without it, as the `edgebench` command: `$EDGEBENCH_DB`, else
`sqlite:///results/edgebench.db`, relative to the current folder (a notebook's folder is often
not the repository's: pass the path then). `sweep` is a sweep id, as `edgebench results` lists
them; None takes every sweep.

The store is only read: a missing one is an error, never created, and nothing is written while
a sweep may be writing it. Nor is its schema ever changed: a store made by an older edgebench
raises StoreOutdated (a StoreError) saying to run `edgebench db upgrade --db URL` first, and one
made by a newer edgebench StoreTooNew.

This package is `edgebench.results` (pyproject.toml maps this folder): it imports the
orchestrator by absolute names.
"""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Optional, Union

from sqlalchemy.engine import make_url

from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.store import Store, resolve_url
from edgebench.orchestrator.store.db import StoreError
from edgebench.orchestrator.store.queries import results_frame
from edgebench.orchestrator.store.samples import samples_frame

__all__ = ["frame", "samples"]

Db = Union[str, "os.PathLike[str]", None]


def frame(db: Db = None, sweep: Optional[str] = None):
    """The stored trials as a DataFrame, one row per trial (one per run of a cell): exactly the
    columns of `edgebench results --format csv`, in that order (README, "Results columns"),
    each trial carrying its cell's between-run summary (`cell_p50_ms` and its interval,
    `runs`, `runs_unstable`, ...). Missing values are NaN / None / <NA>, never 0.

    db: a database URL or the path of a .db file (default: $EDGEBENCH_DB, else
    sqlite:///results/edgebench.db). sweep: only this sweep's trials (default: all).
    Raises StoreError when there is no store there or its schema is not this edgebench's,
    UserError for an unknown sweep."""
    with _reading(db, sweep) as store:
        return results_frame(store, sweep)


def samples(db: Db = None, sweep: Optional[str] = None):
    """The raw latency samples as a long DataFrame, one row per timed call of every trial that
    finished ok: trial_id, sweep_id, device, model, backend, precision, batch, scenario, run,
    simulated, emulated, iteration (from 0 within its trial, in the order measured) and
    latency_ms (float64, exactly as the device measured it: per call, so per batch of `batch`
    inputs). Trials the device kept no samples for (the null backend) have no rows. Join with
    `frame()` on trial_id for the trial's other figures.

    For example, the spread per device and model:
    `samples().groupby(["device", "model"])["latency_ms"].describe()`.

    db and sweep as in `frame`."""
    with _reading(db, sweep) as store:
        return samples_frame(store, sweep)


@contextmanager
def _reading(db: Db, sweep: Optional[str]):
    """The store opened for reading only (never created), closed afterwards."""
    url = _url(db)
    _require_sqlite_file(url)
    store = Store(url, create=False, write=False)
    try:
        if sweep and store.sweep(sweep) is None:
            raise UserError("no sweep %r in %s (edgebench results lists the sweeps)" % (sweep, store.where))
        yield store
    finally:
        store.close()


def _url(db: Db) -> str:
    """A URL as given, a path as an SQLite URL; a relative SQLite file made absolute, so that
    messages name the file wherever the notebook runs."""
    given = os.fspath(db) if db is not None else None
    url = resolve_url(given if given is None or "://" in given else "sqlite:///" + given)
    parsed = make_url(url)
    if _sqlite_file(parsed) and not Path(parsed.database).is_absolute():
        url = parsed.set(database=str(Path(parsed.database).resolve())).render_as_string(hide_password=False)
    return url


def _sqlite_file(parsed) -> bool:
    return (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and parsed.query.get("uri") is None
    )


def _require_sqlite_file(url: str) -> None:
    parsed = make_url(url)
    if _sqlite_file(parsed) and not Path(parsed.database).exists():
        raise StoreError(
            "no results database at %s: run a sweep first, or pass db= a database URL or the "
            "path of a .db file" % parsed.database
        )
