"""trials.scenario: how queries arrived (single-stream, offline, stream, server)"""

import sqlalchemy as sa

from edgebench.orchestrator.store.migrations.steps import add_columns, drop_columns

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    add_columns("trials", sa.Column("scenario", sa.String(32)))


def downgrade():
    drop_columns("trials", "scenario")
