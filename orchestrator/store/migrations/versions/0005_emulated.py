"""devices.emulated, trials.emulated: ran under an emulator (qemu-user)"""

import sqlalchemy as sa

from edgebench.orchestrator.store.migrations.steps import add_columns, drop_columns

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    add_columns("devices", sa.Column("emulated", sa.Boolean()))
    add_columns("trials", sa.Column("emulated", sa.Boolean()))


def downgrade():
    drop_columns("trials", "emulated")
    drop_columns("devices", "emulated")
