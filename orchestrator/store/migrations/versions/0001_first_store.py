"""devices, models, sweeps, trials, metrics: the store as the first edgebench made it

The baseline: a store made before revisions were recorded is placed on this chain by what it
holds (migrations.REVISIONS). Types, nullability and indexes are those of schema.py then.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "devices",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("connection", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("facts", sa.JSON()),
        sa.Column("facts_at", sa.DateTime(timezone=True)),
        sa.Column("simulated", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "models",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("params", sa.Integer()),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("precision", sa.String(32), nullable=False),
        sa.Column("inputs", sa.JSON()),
        sa.Column("opset", sa.Integer()),
    )
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("sweep_id", sa.String(32), sa.ForeignKey("sweeps.id"), nullable=False),
        sa.Column("device", sa.String(128), sa.ForeignKey("devices.name"), nullable=False),
        sa.Column("model_sha256", sa.String(64), sa.ForeignKey("models.sha256")),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("precision", sa.String(32)),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("agent_version", sa.String(32)),
        sa.Column("env", sa.JSON()),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_trials_sweep_id", "trials", ["sweep_id"])
    op.create_index("ix_trials_device", "trials", ["device"])
    figures = [
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_mean_ms",
        "latency_std_ms",
        "latency_min_ms",
        "latency_max_ms",
        "latency_p50_ci95_low_ms",
        "latency_p50_ci95_high_ms",
    ]
    op.create_table(
        "metrics",
        sa.Column("trial_id", sa.String(64), sa.ForeignKey("trials.id"), primary_key=True),
        sa.Column("iterations", sa.Integer()),
        *[sa.Column(name, sa.Float()) for name in figures],
        sa.Column("unstable", sa.Boolean()),
        sa.Column("throughput_ips", sa.Float()),
        sa.Column("peak_rss_mb", sa.Float()),
        sa.Column("model_size_mb", sa.Float()),
        sa.Column("power_mw", sa.Float()),
        sa.Column("energy_mj", sa.Float()),
        sa.Column("accuracy", sa.Float()),
        sa.Column("extra", sa.JSON()),
        sa.Column("samples_ms", sa.JSON()),
    )


def downgrade():
    for table in ("metrics", "trials", "sweeps", "models", "devices"):
        op.drop_table(table)
