"""trials.run: which of a cell's independent runs (--repeats) a trial is"""

import sqlalchemy as sa

from edgebench.orchestrator.store.migrations.steps import add_columns, drop_columns

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    add_columns("trials", sa.Column("run", sa.Integer()))


def downgrade():
    drop_columns("trials", "run")
