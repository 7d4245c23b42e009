"""latency_samples: a trial's raw latencies as one compressed array (older JSON samples stay readable)"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    if sa.inspect(op.get_bind()).has_table("latency_samples"):
        return  # a store placed earlier on the chain for a column it lacked, with this table
    op.create_table(
        "latency_samples",
        sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.id"), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade():
    op.drop_table("latency_samples")
