"""trials.agent_s, trials.host_s: the agent's and the host's time for a trial"""

import sqlalchemy as sa

from edgebench.orchestrator.store.migrations.steps import add_columns, drop_columns

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    add_columns("trials", sa.Column("agent_s", sa.Float()), sa.Column("host_s", sa.Float()))


def downgrade():
    drop_columns("trials", "agent_s", "host_s")
