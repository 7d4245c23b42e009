"""metrics: power above idle (idle_power_mw, power_above_idle_mw, energy_above_idle_mj), throttled, telemetry"""

import sqlalchemy as sa

from edgebench.orchestrator.store.migrations.steps import add_columns, drop_columns

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FIGURES = ("idle_power_mw", "power_above_idle_mw", "energy_above_idle_mj")


def upgrade():
    add_columns(
        "metrics",
        *[sa.Column(name, sa.Float()) for name in FIGURES],
        sa.Column("throttled", sa.Boolean()),
        sa.Column("telemetry", sa.JSON()),
    )


def downgrade():
    drop_columns("metrics", *FIGURES, "throttled", "telemetry")
