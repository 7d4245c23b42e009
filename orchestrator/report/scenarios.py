"""The scenario table: how a model held up under a camera stream, a server load or offline
batches (agent/scenarios), one row per cell, each from its runs in the latest sweep that
measured it. Tables 2 and 3 (tables.py) hold single-stream cells only.

Columns: Device, Model, Backend, Scenario, Setting (what was asked: fps, qps, policy, latency
target), Runs, p50 / p99 latency per frame or query (ms, from its release or scheduled
arrival, so queueing counts), Miss rate (%) and Sustained fps (stream), Goodput (q/s) and Valid
(server), Throughput (inf/s), Energy (mJ/inf: per frame for a stream). Each figure is the
median over the cell's ok runs.
"""

from typing import List

import pandas as pd

from ..options import SINGLE_STREAM
from ..store.runs import flag, is_ok, run_number
from .tables import DASH, EMU_SUFFIX, SIM_SUFFIX, finished_at_key

CAPTION = "Scenarios: latency per frame or query from its arrival, under each load"
KEYS = ["device", "model", "backend", "precision", "batch", "scenario", "scenario_setting"]
# header -> (results column, decimals, scale)
FIGURES = {
    "p50 (ms)": ("latency_p50_ms", 2, 1.0),
    "p99 (ms)": ("latency_p99_ms", 2, 1.0),
    "Miss rate (%)": ("deadline_miss_rate", 1, 100.0),
    "Sustained fps": ("sustained_fps", 1, 1.0),
    "Dropped": ("frames_dropped", 0, 1.0),
    "Goodput (q/s)": ("goodput_qps", 1, 1.0),
    "Throughput (inf/s)": ("throughput_ips", 1, 1.0),
    "Energy (mJ/inf)": ("energy_mj", 2, 1.0),
}


def scenario_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The ok trials of scenarios other than single-stream, from each cell's latest sweep."""
    if frame.empty or "scenario" not in frame.columns:
        return frame.iloc[0:0]
    chosen = frame[(frame["scenario"].fillna(SINGLE_STREAM) != SINGLE_STREAM) & frame["status"].map(is_ok)]
    if chosen.empty:
        return chosen
    chosen = chosen.assign(_finished=finished_at_key(chosen["finished_at"])).sort_values(
        "_finished", kind="mergesort", na_position="first"
    )
    latest = chosen.groupby(KEYS, dropna=False)["sweep_id"].transform("last")
    return chosen[chosen["sweep_id"] == latest].drop(columns="_finished")


def _median(values: pd.Series, scale: float):
    known = pd.to_numeric(values, errors="coerce").dropna()
    return None if known.empty else float(known.median()) * scale


def _text(value, decimals: int) -> str:
    return DASH if value is None else "%.*f" % (decimals, value)


def _verdict(runs: pd.DataFrame) -> str:
    """pass / FAIL over the runs (stream: 99% on time; server: LoadGen's validity)."""
    verdicts = [flag(v) for v in list(runs["stream_passed"]) + list(runs["server_valid"])]
    known = [v for v in verdicts if v is not None]
    if not known:
        return DASH
    return "pass" if all(known) else "FAIL"


def _lead(runs: pd.DataFrame) -> str:
    name = str(runs["device"].iloc[0])
    if any(flag(v) for v in runs["simulated"]):
        return name + SIM_SUFFIX
    if any(flag(v) for v in runs["emulated"]):
        return name + EMU_SUFFIX
    return name


def _row(runs: pd.DataFrame) -> dict:
    first = runs.iloc[0]
    row = {
        "Device": _lead(runs),
        "Model": first["model"],
        "Backend": first["backend"],
        "Batch": int(first["batch"]),
        "Scenario": first["scenario"],
        "Setting": first["scenario_setting"] if isinstance(first["scenario_setting"], str) else DASH,
        "Runs": str(len({run_number(r, i) for i, r in enumerate(runs.to_dict("records"), 1)})),
    }
    for header, (column, decimals, scale) in FIGURES.items():
        row[header] = _text(_median(runs[column], scale), decimals)
    row["Verdict"] = _verdict(runs)
    return row


def scenario_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario cell; the figures as text (medians over its runs)."""
    rows = scenario_rows(frame)
    if rows.empty:
        return pd.DataFrame()
    table = pd.DataFrame([_row(runs) for _, runs in rows.groupby(KEYS, dropna=False, sort=True)])
    table = table.drop(columns=_empty_columns(table))
    table.attrs["kind"] = "scenario"
    table.attrs["simulated"] = any(flag(v) for v in rows["simulated"])
    table.attrs["emulated"] = any(flag(v) for v in rows["emulated"])
    return table


def _empty_columns(table: pd.DataFrame) -> List[str]:
    """Figures no row has (a table of streams only has no goodput)."""
    return [h for h in FIGURES if h in table.columns and (table[h] == DASH).all()]
