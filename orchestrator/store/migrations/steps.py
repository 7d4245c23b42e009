"""What the revisions do, written once: columns added where missing, so that a store placed on
the chain by what it holds (migrations.identify) is completed, never refused for a column an
older edgebench already added."""

import sqlalchemy as sa
from alembic import op


def add_columns(table: str, *columns: sa.Column) -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
    for column in columns:
        if column.name not in have:
            op.add_column(table, column)


def drop_columns(table: str, *names: str) -> None:
    for name in names:
        op.drop_column(table, name)
