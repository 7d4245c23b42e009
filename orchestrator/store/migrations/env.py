"""Alembic's environment for edgebench's store: the revisions run on the connection edgebench
gives (apply.config), inside its transaction; there is no offline (SQL script) mode."""

from alembic import context

from edgebench.orchestrator.store.migrations import VERSION_TABLE_NAME
from edgebench.orchestrator.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("edgebench runs its store's revisions itself: edgebench db upgrade --db URL")
context.configure(connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE_NAME)
with context.begin_transaction():
    context.run_migrations()
