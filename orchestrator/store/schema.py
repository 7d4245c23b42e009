"""Tables of the results store (SQLAlchemy 2.x ORM), the same on SQLite and PostgreSQL."""

import json
import math
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """A moment in UTC, read back as a naive UTC datetime from any database: SQLite keeps no
    offset and gives naive values, PostgreSQL's timestamptz gives aware ones in the session's
    time zone. A naive value written is taken as UTC (never as the server's local time). The
    column is DateTime(timezone=True) as before."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(timezone.utc).replace(tzinfo=None)


class NulFreeText(TypeDecorator):
    """Text a device may send (an error message): PostgreSQL refuses a NUL character in text,
    SQLite keeps it; it is written as U+FFFD, as undecodable bytes are."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def json_text(value) -> str:
    """The JSON columns' serializer: NaN and infinities become null, as everywhere in edgebench.
    The agent never sends them, but the host's JSON parser accepts them from a device, and
    PostgreSQL refuses them in JSON."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


class Base(DeclarativeBase):
    pass


class Device(Base):
    __tablename__ = "devices"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    connection: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(32))
    facts: Mapped[Optional[dict]] = mapped_column(JSON)  # latest probe snapshot
    facts_at: Mapped[Optional[datetime]] = mapped_column(UtcDateTime)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ran under an emulator (qemu-user): nullable so an older store gets it in place (NULL: no).
    emulated: Mapped[Optional[bool]] = mapped_column(Boolean, default=False)


class Model(Base):
    __tablename__ = "models"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    path: Mapped[str] = mapped_column(Text)
    params: Mapped[Optional[int]] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    precision: Mapped[str] = mapped_column(String(32))
    inputs: Mapped[Optional[list]] = mapped_column(JSON)
    opset: Mapped[Optional[int]] = mapped_column(Integer)


class Sweep(Base):
    __tablename__ = "sweeps"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UtcDateTime)
    settings: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="running")
    trials: Mapped[list["Trial"]] = relationship(back_populates="sweep")


class Trial(Base):
    __tablename__ = "trials"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"), index=True)
    device: Mapped[str] = mapped_column(ForeignKey("devices.name"), index=True)
    model_sha256: Mapped[Optional[str]] = mapped_column(ForeignKey("models.sha256"))
    backend: Mapped[str] = mapped_column(String(32))
    precision: Mapped[Optional[str]] = mapped_column(String(32))
    batch: Mapped[int] = mapped_column(Integer)
    # Which of the cell's independent runs (--repeats) this trial is, from 1; NULL in a store
    # made before repeats existed, read as 1.
    run: Mapped[Optional[int]] = mapped_column(Integer)
    # How queries arrived (agent/scenarios): NULL in a store made before scenarios, read as
    # single-stream.
    scenario: Mapped[Optional[str]] = mapped_column(String(32))
    settings: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|running|ok|failed
    error: Mapped[Optional[str]] = mapped_column(NulFreeText)
    agent_version: Mapped[Optional[str]] = mapped_column(String(32))
    env: Mapped[Optional[dict]] = mapped_column(JSON)  # runtime version, providers, threads
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    emulated: Mapped[Optional[bool]] = mapped_column(Boolean, default=False)  # as Device.emulated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UtcDateTime)
    # Seconds: the agent's own time for the trial, and the host's from request to trial_end.
    agent_s: Mapped[Optional[float]] = mapped_column(Float)
    host_s: Mapped[Optional[float]] = mapped_column(Float)
    sweep: Mapped[Sweep] = relationship(back_populates="trials")
    metrics: Mapped[Optional["Metrics"]] = relationship(back_populates="trial", uselist=False)


class Metrics(Base):
    """One row per successful trial. NULL means not measured, never zero."""

    __tablename__ = "metrics"
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.id"), primary_key=True)
    iterations: Mapped[Optional[int]] = mapped_column(Integer)
    latency_p50_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_p90_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_p95_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_p99_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_mean_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_std_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_min_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_max_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_p50_ci95_low_ms: Mapped[Optional[float]] = mapped_column(Float)
    latency_p50_ci95_high_ms: Mapped[Optional[float]] = mapped_column(Float)
    unstable: Mapped[Optional[bool]] = mapped_column(Boolean)
    throughput_ips: Mapped[Optional[float]] = mapped_column(Float)
    peak_rss_mb: Mapped[Optional[float]] = mapped_column(Float)
    model_size_mb: Mapped[Optional[float]] = mapped_column(Float)
    power_mw: Mapped[Optional[float]] = mapped_column(Float)
    energy_mj: Mapped[Optional[float]] = mapped_column(Float)
    accuracy: Mapped[Optional[float]] = mapped_column(Float)
    # Power: mean over the timed window (gross) and above the idle baseline measured before it;
    # energy per inference in mJ. NULL without a power sensor.
    idle_power_mw: Mapped[Optional[float]] = mapped_column(Float)
    power_above_idle_mw: Mapped[Optional[float]] = mapped_column(Float)
    energy_above_idle_mj: Mapped[Optional[float]] = mapped_column(Float)
    throttled: Mapped[Optional[bool]] = mapped_column(Boolean)
    extra: Mapped[Optional[dict]] = mapped_column(JSON)  # every metric the agent sent
    telemetry: Mapped[Optional[dict]] = mapped_column(JSON)  # power time series, snapshots
    # Raw latencies as JSON: filled only by an older edgebench (kept readable, store/samples.py);
    # new trials keep theirs in latency_samples.
    samples_ms: Mapped[Optional[list]] = mapped_column(JSON)
    trial: Mapped[Trial] = relationship(back_populates="metrics")


class LatencySamples(Base):
    """A trial's raw latencies, one compressed array per trial (store/samples.py encodes and
    decodes it): a row per iteration would repeat the trial id in every row and cost an insert
    per sample."""

    __tablename__ = "latency_samples"
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.id"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)  # samples in `data`, checked when decoded
    encoding: Mapped[str] = mapped_column(String(32))  # how `data` is laid out: samples.ENCODING
    data: Mapped[bytes] = mapped_column(LargeBinary)


METRIC_COLUMNS = [
    c.name
    for c in Metrics.__table__.columns
    if c.name not in ("trial_id", "extra", "samples_ms", "telemetry")
]
