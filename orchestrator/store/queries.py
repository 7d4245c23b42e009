"""Reading results back: one row per trial with the documented column names, each trial carrying
its cell's between-run summary (`runs.py`)."""

import pandas as pd
from sqlalchemy import func, select

from ..options import SINGLE_STREAM
from ..stats import accuracy_interval
from .runs import SUMMARY_COLUMNS, with_cell_columns
from .schema import Metrics, Model, Trial

# The contract of `edgebench results --format csv|json`: these names, in this order, first.
RESULT_COLUMNS = [
    "trial_id",
    "sweep_id",
    "device",
    "model",
    "model_sha256",
    "backend",
    "precision",
    "batch",
    "status",
    "iterations",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "latency_std_ms",
    "throughput_ips",
    "peak_rss_mb",
    "model_size_mb",
    "power_mw",
    "energy_mj",
    "accuracy",
]
OUTPUT_CHECK_COLUMNS = ("output_max_abs_error", "output_max_rel_error", "outputs_match", "output_check_note")
# A scenario's own figures (agent/scenarios; null where the scenario has no such figure):
# stream --fps, server --qps with its batching policy, offline.
SCENARIO_METRICS = (
    "scenario_setting",  # what was asked, in words: "15 fps, drop on overrun"
    "deadline_miss_rate",
    "frames_dropped",
    "sustained_fps",
    "jitter_ms",
    "stream_passed",
    "qps_scheduled",
    "qps_completed",
    "goodput_qps",
    "latency_over_target",
    "queueing_p50_ms",
    "compute_p50_ms",
    "policy",
    "server_valid",
    "server_invalid_reason",
    "offline_batch",
    "max_qps",  # --find-max-qps: the highest valid rate found (null when none passed)
    "frames_late",
    "sustained_fps_min",
)
EXTRA_COLUMNS = [
    "run",
    "latency_p50_per_sample_ms",
    "latency_min_ms",
    "latency_max_ms",
    "latency_p50_ci95_low_ms",
    "latency_p50_ci95_high_ms",
    "unstable",
    "idle_power_mw",
    "power_above_idle_mw",
    "energy_above_idle_mj",
    "energy_reliable",
    "power_samples",
    "power_max_gap_ms",
    "power_coverage",
    "throttled",
    "throttle_reason",
    "accuracy_ci95_low",
    "accuracy_ci95_high",
    "accuracy_n",
    "params",
    "simulated",
    # Ran under an emulator (the test fleet's aarch64 Pi under qemu-user): says nothing of a board.
    "emulated",
    "error",
    "created_at",
    "finished_at",
    # The trial's cell, from all its ok runs (store/runs.py): runs, the median of the runs'
    # medians with its 95% t interval, ..., runs_unstable and unstable_reason.
    *SUMMARY_COLUMNS,
    # This run's background load during its timed window (the agent's cpuload).
    "busy",
    "busy_reason",
    "other_cpu_cores",
    "loadavg_before",
    "loadavg_after",
    # The outputs for the seeded input against ONNX Runtime fp32 on the host (correctness.py).
    *OUTPUT_CHECK_COLUMNS,
    # How queries arrived (single-stream, offline, stream, server) and that scenario's figures.
    "scenario",
    *SCENARIO_METRICS,
]
# Columns derived at query time from what the agent sent (Metrics.extra): no schema change, so
# a store made by an older edgebench keeps working (its trials show null here).
FROM_EXTRA = (
    "energy_reliable",
    "power_samples",
    "power_max_gap_ms",
    "power_coverage",
    "throttle_reason",
    "busy",
    "busy_reason",
    "other_cpu_cores",
    "loadavg_before",
    "loadavg_after",
    *OUTPUT_CHECK_COLUMNS,
    *SCENARIO_METRICS,
)


def results_frame(store, sweep_id: str = None) -> pd.DataFrame:
    query = (
        select(
            Trial.id.label("trial_id"),
            Trial.sweep_id,
            Trial.device,
            Model.name.label("model"),
            Trial.model_sha256,
            Trial.backend,
            Trial.precision,
            Trial.batch,
            func.coalesce(Trial.run, 1).label("run"),
            func.coalesce(Trial.scenario, SINGLE_STREAM).label("scenario"),
            Trial.status,
            Metrics.iterations,
            Metrics.latency_p50_ms,
            Metrics.latency_p90_ms,
            Metrics.latency_p95_ms,
            Metrics.latency_p99_ms,
            Metrics.latency_mean_ms,
            Metrics.latency_std_ms,
            Metrics.throughput_ips,
            Metrics.peak_rss_mb,
            Metrics.model_size_mb,
            Metrics.power_mw,
            Metrics.energy_mj,
            Metrics.accuracy,
            Metrics.latency_min_ms,
            Metrics.latency_max_ms,
            Metrics.latency_p50_ci95_low_ms,
            Metrics.latency_p50_ci95_high_ms,
            Metrics.unstable,
            Metrics.idle_power_mw,
            Metrics.power_above_idle_mw,
            Metrics.energy_above_idle_mj,
            Metrics.throttled,
            Model.params,
            Trial.simulated,
            func.coalesce(Trial.emulated, False).label("emulated"),  # NULL: before emulation existed
            Trial.error,
            Trial.created_at,
            Trial.finished_at,
            Metrics.extra,
        )
        .outerjoin(Metrics, Metrics.trial_id == Trial.id)
        .outerjoin(Model, Model.sha256 == Trial.model_sha256)
        .order_by(Trial.created_at, Trial.id)
    )
    if sweep_id:
        query = query.where(Trial.sweep_id == sweep_id)
    with store.Session() as s:
        rows = s.execute(query).mappings().all()
    frame = pd.DataFrame([_with_derived(dict(r)) for r in rows], columns=RESULT_COLUMNS + EXTRA_COLUMNS)
    # Nullable integers: a failed trial has no iteration count, and 194 must not print as 194.0.
    counts = ("batch", "run", "iterations", "params", "accuracy_n", "power_samples")
    for column in counts + ("frames_dropped", "latency_over_target", "offline_batch"):
        frame[column] = frame[column].astype("Int64")
    # The null backend has no model: name it so tables do not show an empty model cell.
    frame["model"] = frame["model"].where(frame["model"].notna(), "(none)")
    return with_cell_columns(frame)


def _with_derived(row: dict) -> dict:
    """The columns computed from a trial's stored metrics: the agent's extra keys, the latency
    per sample (per call / batch) and the accuracy's 95% Wilson interval over its n samples."""
    extra = row.pop("extra", None) or {}
    for name in FROM_EXTRA:
        row[name] = extra.get(name)
    row["accuracy_n"] = extra.get("accuracy_samples") if row.get("accuracy") is not None else None
    interval = accuracy_interval(row.get("accuracy"), row["accuracy_n"])
    row["accuracy_ci95_low"], row["accuracy_ci95_high"] = interval or (None, None)
    p50, batch = row.get("latency_p50_ms"), row.get("batch")
    single = row.get("scenario") in (None, SINGLE_STREAM)  # else a sample is a query, a frame
    row["latency_p50_per_sample_ms"] = (
        p50 / batch if p50 is not None and batch and single else extra.get("latency_p50_per_sample_ms")
    )
    return row


def trial_telemetry(store, trial_id: str) -> dict:
    """A trial's power time series and what produced it; UserError when there is no such trial."""
    from ..errors import UserError
    from .schema import Trial

    with store.Session() as s:
        trial = s.get(Trial, trial_id)
        if trial is None:
            raise UserError("no trial %r in %s" % (trial_id, store.engine.url))
        metrics = s.get(Metrics, trial_id)
        telemetry = (metrics.telemetry if metrics else None) or {}
        extra = (metrics.extra if metrics else None) or {}
    return {
        "trial_id": trial_id,
        "device": trial.device,
        "status": trial.status,
        "simulated": trial.simulated,
        "sensor": extra.get("power_sensor"),
        "interval_ms": extra.get("power_interval_ms"),
        "energy_reliable": extra.get("energy_reliable"),
        "power_samples": extra.get("power_samples"),
        "power_max_gap_ms": extra.get("power_max_gap_ms"),
        "power_coverage": extra.get("power_coverage"),
        "throttled": extra.get("throttled"),
        "throttle_reason": extra.get("throttle_reason"),
        "total_rule": extra.get("power_total_rule"),
        "idle_power_mw": extra.get("idle_power_mw"),
        "window": telemetry.get("window"),
        "idle_window": telemetry.get("idle_window"),
        "power": telemetry.get("power") or [],
        "before": telemetry.get("before"),
        "after": telemetry.get("after"),
    }


CONDITION_SETTINGS = ("cooldown_c", "cooldown_timeout_s", "pin_clocks", "nvpmodel_mode")


def trial_conditions(store, trial_id: str) -> dict:
    """What a trial asked for (--cooldown-c, --pin-clocks, ...: its stored settings) and what the
    agent reports it did (its `conditions` metric: cooldown and clocks, each null when not used)."""
    with store.Session() as s:
        trial = s.get(Trial, trial_id)
        metrics = s.get(Metrics, trial_id)
    settings = (trial.settings if trial else None) or {}
    extra = (metrics.extra if metrics else None) or {}
    return {
        "requested": {k: settings.get(k) for k in CONDITION_SETTINGS if k in settings},
        "applied": extra.get("conditions"),
    }


def telemetry_rows(series: dict) -> list:
    """One row per power sample: time (s from the trial's start), mW, and the phase it falls in."""

    def phase(t):
        for name, span in (("timed", series.get("window")), ("idle", series.get("idle_window"))):
            if span and span[0] <= t <= span[1]:
                return name
        return "other"

    return [{"t_s": t, "power_mw": mw, "phase": phase(t)} for t, mw in series["power"]]


def confusion_rows(store, sweep_id: str = None) -> list:
    """Every ok trial that measured accuracy, oldest first: its cell, simulated / emulated, the
    accuracy with its n, and the agent's confusion counts (`confusion`: rows the true class,
    columns the predicted one; None with `confusion_note` saying why, or for an older agent)."""
    query = (
        select(
            Trial.id.label("trial_id"),
            Trial.sweep_id,
            Trial.device,
            Model.name.label("model"),
            Trial.backend,
            Trial.precision,
            Trial.batch,
            Trial.simulated,
            func.coalesce(Trial.emulated, False).label("emulated"),
            Trial.finished_at,
            Metrics.accuracy,
            Metrics.extra,
        )
        .join(Metrics, Metrics.trial_id == Trial.id)
        .outerjoin(Model, Model.sha256 == Trial.model_sha256)
        .where(Trial.status == "ok", Metrics.accuracy.is_not(None))
        .order_by(Trial.finished_at, Trial.id)
    )
    if sweep_id:
        query = query.where(Trial.sweep_id == sweep_id)
    with store.Session() as s:
        rows = [dict(r) for r in s.execute(query).mappings().all()]
    for row in rows:
        extra = row.pop("extra", None) or {}
        row["accuracy_n"] = extra.get("accuracy_samples")
        row["confusion"] = extra.get("accuracy_confusion")
        row["confusion_note"] = extra.get("accuracy_confusion_note")
    return rows
