"""Results store: SQLAlchemy models, idempotent ingest, queries (SQLite by default).

`results_frame` and `RESULT_COLUMNS` come from `queries`, which needs pandas: they are imported
when first used (PEP 562), so a command that only writes (probe, deploy) does not load pandas.
"""

from .db import DEFAULT_URL, resolve_url
from .ingest import Store

__all__ = ["DEFAULT_URL", "RESULT_COLUMNS", "Store", "resolve_url", "results_frame"]
_FROM_QUERIES = ("RESULT_COLUMNS", "results_frame")


def __getattr__(name):
    if name in _FROM_QUERIES:
        from . import queries

        return getattr(queries, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
