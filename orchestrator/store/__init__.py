"""Results store: SQLAlchemy models, idempotent ingest, queries (SQLite by default)."""

from .db import DEFAULT_URL, resolve_url
from .ingest import Store
from .queries import RESULT_COLUMNS, results_frame

__all__ = ["DEFAULT_URL", "RESULT_COLUMNS", "Store", "resolve_url", "results_frame"]
