"""`edgebench compare A B`: which cells got faster or slower between two sweeps, or between two
devices or two backends within one sweep.

Per matched cell: the ratio of medians B/A (each side's figure is the median of its runs'
medians, as in the tables) with a 95% confidence interval from a two-level bootstrap on the
raw latency samples: runs drawn with replacement, then each drawn run's median redrawn from its
own samples. The run is the unit of replication (docs/DESIGN.md, "Repeated runs and between-run
intervals"): on the machines this was built on, a run's median moves more from one process to
the next than its samples say, so a bootstrap over pooled samples would flag nearly every cell
of two identical sweeps.

A percentile bootstrap over a handful of runs undercovers (its resamples never leave the
observed range; DESIGN.md measures 76-83% at 3-5 runs for a nominal 95%), so two small-sample
corrections make it honest, checked in tests/test_compare.py: each side's run medians are spread
about their mean by sqrt(K/(K-1)) (a resample of K runs otherwise underestimates their variance
by (K-1)/K), and the interval is widened about the estimate by t(0.975, nu)/z(0.975), nu the
Welch-Satterthwaite degrees of freedom of the two sides' run medians. A cell with one run on
either side has no between-run evidence: it is reported, not judged.

Verdict: `slower` when the interval lies wholly above 1 and B/A >= 1 + threshold; `faster` when
it lies wholly below 1 and B/A <= 1 - threshold; else `same`.

    ratio_interval(a_runs, b_runs)      pure statistics on lists of per-run sample arrays
    compare_cells(store, a, b, ...)     one row per cell of either side (COLUMNS)
"""

import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import UserError
from ..stats import Z95, t_quantile

DEFAULT_THRESHOLD = 0.05
DEFAULT_RESAMPLES = 2000
# Fewer leave the interval's ends to a handful of resamples; more only cost memory (a few arrays
# of resamples x runs per cell).
MIN_RESAMPLES, MAX_RESAMPLES = 100, 1000000

SLOWER, FASTER, SAME = "slower", "faster", "same"
ONLY_A, ONLY_B, NOT_JUDGED = "only in A", "only in B", "not judged"
VERDICTS = (SLOWER, FASTER, SAME, ONLY_A, ONLY_B, NOT_JUDGED)


@dataclass(frozen=True)
class Interval:
    """B/A with its 95% interval; low and high are None when a side has fewer than 2 runs."""

    a_median: float
    b_median: float
    ratio: float
    low: Optional[float]
    high: Optional[float]


def ratio_interval(
    a_runs: Sequence[np.ndarray],
    b_runs: Sequence[np.ndarray],
    resamples: int = DEFAULT_RESAMPLES,
    seed=0,
) -> Interval:
    """The ratio of medians B/A and its 95% two-level bootstrap interval (module docstring).

    Each run is a 1-D array of its latencies; a run known only by its median is a 1-element
    array (its within-run noise is then left out). `seed`: anything numpy's default_rng takes.
    ValueError when a side has no run or a run has no finite sample."""
    a_sorted, b_sorted = _sorted_runs(a_runs, "A"), _sorted_runs(b_runs, "B")
    a_medians, b_medians = _medians(a_sorted), _medians(b_sorted)
    a_median, b_median = float(np.median(a_medians)), float(np.median(b_medians))
    ratio = b_median / a_median
    if len(a_sorted) < 2 or len(b_sorted) < 2:
        return Interval(a_median, b_median, ratio, None, None)
    rng = np.random.default_rng(seed)
    a_stats = _side_replicates(a_sorted, a_medians, rng, resamples)
    b_stats = _side_replicates(b_sorted, b_medians, rng, resamples)
    replicates = np.log(b_stats) - np.log(a_stats)
    centre = float(np.log(b_medians.mean()) - np.log(a_medians.mean()))
    low, high = np.percentile(replicates, [2.5, 97.5])
    widen = t_quantile(welch_df(a_medians, b_medians)) / Z95
    low, high = centre - (centre - low) * widen, centre + (high - centre) * widen
    # Centred on the means of the run medians; the figure shown is the ratio of their medians.
    # As the tables do (store/runs.py), widen to hold the figure, never narrow.
    return Interval(
        a_median, b_median, ratio, min(float(np.exp(low)), ratio), max(float(np.exp(high)), ratio)
    )


def _sorted_runs(runs: Sequence[np.ndarray], side: str) -> List[np.ndarray]:
    kept = [np.sort(np.asarray(run, dtype=np.float64).ravel()) for run in runs]
    kept = [run[np.isfinite(run)] for run in kept]
    if not kept or any(run.size == 0 for run in kept):
        raise ValueError("ratio_interval: side %s needs at least one run, each with a finite sample" % side)
    return kept


def _medians(sorted_runs: List[np.ndarray]) -> np.ndarray:
    return np.array([np.median(run) for run in sorted_runs])


def _side_replicates(
    sorted_runs: List[np.ndarray], medians: np.ndarray, rng: np.random.Generator, resamples: int
) -> np.ndarray:
    """`resamples` values of one side's statistic (the mean of its run medians): K runs drawn
    with replacement, each drawn run's median redrawn from its own samples, its distance from
    the side's mean spread by sqrt(K/(K-1))."""
    k = len(sorted_runs)
    chosen = rng.integers(0, k, size=(resamples, k))
    redrawn = resampled_medians(sorted_runs, chosen, rng)
    spread = np.sqrt(k / (k - 1.0)) - 1.0
    shifted = redrawn + spread * (medians[chosen] - medians.mean())
    return shifted.mean(axis=1)


def resampled_medians(
    sorted_runs: List[np.ndarray], chosen: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each entry of `chosen` (an index into `sorted_runs`), the median of a bootstrap
    resample of that run, drawn exactly without building the resample: a resample's h-th
    smallest value is x_(ceil(n U)), U the h-th smallest of n uniforms, which is Beta(h, n-h+1);
    the next one up is U + (1-U) Beta(1, n-h). O(1) per draw, so runs of 100k samples cost no
    more than runs of 100."""
    sizes = np.array([run.size for run in sorted_runs])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    values = np.concatenate(sorted_runs)
    n = sizes[chosen].astype(np.float64)
    h = np.floor((n + 1) / 2)  # odd n: the middle one; even n: the lower middle one
    lower = rng.beta(h, n - h + 1)
    # Even n: the median is the mean of the h-th and (h+1)-th smallest (numpy's, the agent's).
    upper = lower + (1 - lower) * rng.beta(1, np.maximum(n - h, 1))
    upper = np.where(n % 2 == 1, lower, upper)

    def value_at(u):
        rank = np.clip(np.ceil(n * u), 1, n).astype(np.int64) - 1
        return values[offsets[chosen] + rank]

    return (value_at(lower) + value_at(upper)) / 2


def welch_df(a_medians: np.ndarray, b_medians: np.ndarray) -> float:
    """Welch-Satterthwaite degrees of freedom of log(mean B / mean A) from the run medians
    (relative variances, by the delta method); KA + KB - 2 when neither side varies."""
    ka, kb = len(a_medians), len(b_medians)
    va = np.var(a_medians, ddof=1) / (ka * a_medians.mean() ** 2)
    vb = np.var(b_medians, ddof=1) / (kb * b_medians.mean() ** 2)
    denominator = va**2 / (ka - 1) + vb**2 / (kb - 1)
    if not denominator > 0:
        return float(ka + kb - 2)
    return float(max(1.0, (va + vb) ** 2 / denominator))


def verdict(interval: Interval, threshold: float = DEFAULT_THRESHOLD) -> str:
    """slower / faster / same, or not judged when the interval is unknown (a side with one run)."""
    if interval.low is None or interval.high is None:
        return NOT_JUDGED
    if interval.low > 1 and interval.ratio >= 1 + threshold:
        return SLOWER
    if interval.high < 1 and interval.ratio <= 1 - threshold:
        return FASTER
    return SAME


def check_options(threshold_percent: float, resamples: int) -> None:
    """The command line's --threshold (percent) and --resamples; UserError naming the option."""
    if not 0 <= threshold_percent < 100:  # NaN fails too
        raise UserError("--threshold: must be a percentage from 0 to below 100, got %s" % threshold_percent)
    if not MIN_RESAMPLES <= resamples <= MAX_RESAMPLES:
        raise UserError(
            "--resamples: must be an integer from %d to %d, got %s"
            % (MIN_RESAMPLES, MAX_RESAMPLES, resamples)
        )


# --- Sides: what A and B name ------------------------------------------------------------------

# Within one sweep, A and B may name one value of these columns each; the columns a cell then
# need not match on: a backend may choose its own precision (TensorRT's fp16 engine of an fp32
# model), said in the cell's note.
UNMATCHED = {"device": ("device",), "backend": ("backend", "precision")}
WITHIN_SWEEP = tuple(UNMATCHED)
LATEST, PREVIOUS = "latest", "previous"
# What identifies a cell across the two sides (the compared column, if any, left out).
MATCH_COLUMNS = ("model", "device", "backend", "precision", "batch", "scenario", "scenario_setting")
COLUMNS = [
    *MATCH_COLUMNS,
    "a_median_ms",
    "b_median_ms",
    "ratio",
    "ci_low",
    "ci_high",
    "a_runs",
    "a_samples",
    "b_runs",
    "b_samples",
    "verdict",
    "simulated",
    "emulated",
    "note",
]


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a sweep, or the trials of one device or backend in a sweep."""

    spec: str  # as typed
    sweep_id: str
    column: Optional[str] = None  # "device" or "backend" when comparing within a sweep
    value: Optional[str] = None

    def describe(self) -> str:
        within = "%s %s in " % (self.column, self.value) if self.column else ""
        return "%ssweep %s" % (within, self.sweep_id)


def resolve_sides(store, a: str, b: str, sweep: Optional[str] = None) -> Tuple[Side, Side]:
    """A and B as typed (a sweep id, `latest`, `previous`; or device=NAME / backend=NAME, both
    the same key, within --sweep, default the latest) -> two Sides. UserError on a mistake."""
    a, b = a.strip(), b.strip()
    keyed = ["=" in a, "=" in b]
    if not any(keyed):
        if sweep is not None:
            raise UserError(
                "compare: --sweep is for device=... or backend=... sides; %r and %r are sweeps" % (a, b)
            )
        return Side(a, _sweep_id(store, a)), Side(b, _sweep_id(store, b))
    if not all(keyed):
        raise UserError(
            "compare: A and B must both be sweeps or both KEY=VALUE (e.g. device=pi1 device=pi2), got %r and %r"
            % (a, b)
        )
    (a_key, a_value), (b_key, b_value) = _key_value(a), _key_value(b)
    if a_key != b_key:
        raise UserError(
            "compare: A and B must name the same key (device=... device=..., or backend=... backend=...), "
            "got %r and %r" % (a, b)
        )
    sweep_id = _sweep_id(store, sweep or LATEST, option="--sweep")
    return Side(a, sweep_id, a_key, a_value), Side(b, sweep_id, b_key, b_value)


def _key_value(text: str) -> Tuple[str, str]:
    key, _, value = text.partition("=")
    key, value = key.strip().lower(), value.strip()
    if key not in WITHIN_SWEEP:
        raise UserError(
            "compare: %r: the key must be one of %s (e.g. device=pi1)" % (text, ", ".join(WITHIN_SWEEP))
        )
    if not value:
        raise UserError("compare: %r: give a %s name after '='" % (text, key))
    return key, value


def _sweep_id(store, text: str, option: str = "compare") -> str:
    """A sweep id as typed, or `latest` / `previous` (by when the sweeps were created)."""
    if text.lower() in (LATEST, PREVIOUS):
        newest = _sweep_ids_newest_first(store)
        wanted = 0 if text.lower() == LATEST else 1
        if len(newest) <= wanted:
            raise UserError("%s: %r: %s holds %d sweep(s)" % (option, text, store.where, len(newest)))
        return newest[wanted]
    if store.sweep(text) is None:
        raise UserError(
            "%s: no sweep %r in %s (see edgebench results for sweep ids; or latest, previous)"
            % (option, text, store.where)
        )
    return text


def _sweep_ids_newest_first(store) -> List[str]:
    from sqlalchemy import select

    from ..store.schema import Sweep

    with store.Session() as s:
        return list(s.scalars(select(Sweep.id).order_by(Sweep.created_at.desc(), Sweep.id.desc())))


# --- Cells: a side's runs, matched, compared ---------------------------------------------------


@dataclass
class SideCell:
    """One side's runs of a cell: per run its raw samples, or its median when it kept none."""

    runs: List[np.ndarray]
    samples: Optional[int]  # raw samples in all runs; None when a run kept none (medians used)
    simulated: bool
    emulated: bool
    model_files: frozenset  # the models' sha256: matched by name, a rebuilt model is said so
    precisions: frozenset


def compare_cells(
    store,
    a: str,
    b: str,
    threshold: float = DEFAULT_THRESHOLD,
    sweep: Optional[str] = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per cell of A or B (COLUMNS, less those a cell need not match on when comparing
    within a sweep, UNMATCHED): medians, B/A with its 95% interval, runs and samples each side,
    verdict, note.
    `attrs`: a, b (the Sides), threshold. UserError for an unknown sweep, a device or backend
    not in the sweep, a side without successful trials, or no cell in common."""
    side_a, side_b = resolve_sides(store, a, b, sweep)
    match = [c for c in MATCH_COLUMNS if c not in UNMATCHED.get(side_a.column, ())]
    cells_a = side_cells(store, side_a, match)
    cells_b = side_cells(store, side_b, match)
    if not set(cells_a) & set(cells_b):
        raise UserError(
            "compare: nothing to compare: no cell (%s) of %s is in %s"
            % (", ".join(match[:-1]), side_a.describe(), side_b.describe())
        )
    keys = sorted(set(cells_a) | set(cells_b), key=_sortable)
    rows = [
        _compared_row(dict(zip(match, key)), cells_a.get(key), cells_b.get(key), threshold, resamples, seed)
        for key in keys
    ]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c in match or c not in MATCH_COLUMNS])
    for column in ("batch", "a_runs", "a_samples", "b_runs", "b_samples"):
        frame[column] = frame[column].astype("Int64")
    frame.attrs.update(a=side_a, b=side_b, threshold=threshold)
    return frame


def _sortable(key: tuple) -> tuple:
    return tuple((value is None, "" if value is None else value) for value in key)


def side_cells(store, side: Side, match: List[str]) -> Dict[tuple, SideCell]:
    """The side's cells (keyed by the `match` columns' values) from its successful trials."""
    from ..store import results_frame
    from ..store.runs import cell_key, flag, is_ok, one_trial_per_run
    from ..store.samples import trial_samples

    frame = results_frame(store, side.sweep_id)
    frame = frame[[is_ok(status) for status in frame["status"]]]
    if side.column:
        _require_value(frame, side)
        frame = frame[frame[side.column] == side.value]
    if frame.empty:
        raise UserError("compare: %s has no successful trials" % side.describe())
    samples = trial_samples(store, list(frame["trial_id"]))
    grouped: Dict[tuple, List[dict]] = {}
    for row in frame.to_dict("records"):
        grouped.setdefault(cell_key(row, match), []).append(row)
    cells = {}
    for key, trials in grouped.items():
        trials = one_trial_per_run(trials)  # a run recovered twice counts once, as in the tables
        runs = [_run_values(row, samples) for row in trials]
        runs = [run for run in runs if run is not None]
        if runs:
            cells[key] = SideCell(
                runs=[run for run, _ in runs],
                samples=None if any(not raw for _, raw in runs) else sum(run.size for run, _ in runs),
                simulated=any(flag(row["simulated"]) for row in trials),
                emulated=any(flag(row["emulated"]) for row in trials),
                model_files=frozenset(row["model_sha256"] for row in trials),
                precisions=frozenset(str(row["precision"]) for row in trials),
            )
    return cells


def _require_value(frame: pd.DataFrame, side: Side) -> None:
    present = sorted({str(v) for v in frame[side.column].dropna()})
    if side.value not in present:
        raise UserError(
            "compare: no successful trial of %s %r in sweep %s (it has: %s)"
            % (side.column, side.value, side.sweep_id, ", ".join(present) or "none")
        )


def _run_values(row: dict, samples: Dict[str, np.ndarray]):
    """(values, raw): a run's raw samples, or its stored median alone; None when it has neither."""
    raw = samples.get(row["trial_id"])
    if raw is not None and np.isfinite(raw).any():
        return raw, True
    median = row.get("latency_p50_ms")
    if median is None or pd.isna(median):
        return None
    return np.array([float(median)]), False


def _compared_row(
    key: dict, a: Optional[SideCell], b: Optional[SideCell], threshold: float, resamples: int, seed: int
) -> dict:
    present = [cell for cell in (a, b) if cell is not None]
    row = dict(
        key,
        a_runs=len(a.runs) if a else None,
        a_samples=a.samples if a else None,
        b_runs=len(b.runs) if b else None,
        b_samples=b.samples if b else None,
        simulated=any(cell.simulated for cell in present),
        emulated=any(cell.emulated for cell in present),
        note=_note(a, b),
    )
    if a is None or b is None:
        side_median = float(np.median([np.median(run) for run in present[0].runs]))
        return dict(
            row,
            a_median_ms=side_median if a else None,
            b_median_ms=side_median if b else None,
            ratio=None,
            ci_low=None,
            ci_high=None,
            verdict=ONLY_A if a else ONLY_B,
        )
    interval = ratio_interval(a.runs, b.runs, resamples, seed=_cell_seed(seed, key))
    return dict(
        row,
        a_median_ms=interval.a_median,
        b_median_ms=interval.b_median,
        ratio=interval.ratio,
        ci_low=interval.low,
        ci_high=interval.high,
        verdict=verdict(interval, threshold),
    )


def _cell_seed(seed: int, key: dict) -> List[int]:
    """Seeded per cell by its key: a cell's interval does not depend on which others exist."""
    return [seed, zlib.crc32(repr(sorted(key.items())).encode("utf-8"))]


def _note(a: Optional[SideCell], b: Optional[SideCell]) -> str:
    notes = []
    for name, cell in (("A", a), ("B", b)):
        if cell is not None and cell.samples is None:
            notes.append("%s: run medians only (no raw samples)" % name)
        if cell is not None and len(cell.runs) == 1:
            notes.append("%s: one run, no between-run evidence" % name)
    if a is not None and b is not None and a.model_files != b.model_files:
        notes.append("model file differs (sha256)")
    if a is not None and b is not None and a.precisions != b.precisions:
        notes.append("precision %s -> %s" % ("/".join(sorted(a.precisions)), "/".join(sorted(b.precisions))))
    present = [cell for cell in (a, b) if cell is not None]
    notes += ["simulated"] if any(cell.simulated for cell in present) else []
    notes += ["emulated"] if any(cell.emulated for cell in present) else []
    return "; ".join(notes)


# --- Output --------------------------------------------------------------------------------------

FORMATS = ("table", "markdown", "csv", "json")
HEADERS = {
    "model": "model",
    "device": "device",
    "backend": "backend",
    "precision": "precision",
    "batch": "batch",
    "scenario": "scenario",
    "scenario_setting": "setting",
    "a_median_ms": "A median ms",
    "b_median_ms": "B median ms",
    "ratio": "B/A",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "a_runs": "A runs/samples",
    "b_runs": "B runs/samples",
    "verdict": "verdict",
    "note": "note",
}
ALWAYS_SHOWN = ("model", "batch")
NUMERIC_HEADERS = {
    HEADERS[c] for c in HEADERS if c == "batch" or c not in MATCH_COLUMNS + ("verdict", "note")
}


def summary(frame: pd.DataFrame) -> str:
    """One line: '2 slower, 0 faster, 3 same', then the cells not compared, if any."""
    counts = frame["verdict"].value_counts()
    text = "%d slower, %d faster, %d same" % tuple(counts.get(v, 0) for v in (SLOWER, FASTER, SAME))
    others = ["%d %s" % (counts[v], v) for v in (NOT_JUDGED, ONLY_A, ONLY_B) if counts.get(v, 0)]
    return text + ("; " + ", ".join(others) if others else "")


def heading(frame: pd.DataFrame) -> str:
    a, b = frame.attrs["a"], frame.attrs["b"]
    return (
        "A = %s, B = %s; B/A of the median latency, 95%% bootstrap interval over runs; "
        "slower or faster beyond %g%%" % (a.describe(), b.describe(), 100 * frame.attrs["threshold"])
    )


def display_rows(frame: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    """Headers and text cells for a table on screen or in markdown: identifying columns shown
    when they vary (model and batch always), runs and samples as '5/1523'."""
    shown = [
        c
        for c in HEADERS
        if c in frame.columns
        and (c in ALWAYS_SHOWN or c not in MATCH_COLUMNS or frame[c].astype(str).nunique() > 1)
    ]
    rows = [[_text(column, record) for column in shown] for record in frame.to_dict("records")]
    return [HEADERS[c] for c in shown], rows


def _text(column: str, record: dict) -> str:
    value = record[column]
    if column in ("a_runs", "b_runs"):
        side = column[0]
        samples = record[side + "_samples"]
        if _missing(value):
            return "–"
        return "%d/%s" % (value, "–" if _missing(samples) else "%d" % samples)
    if _missing(value) or value == "":
        return "–"
    if column in ("ratio", "ci_low", "ci_high"):
        return "%.3f" % value
    if column in ("a_median_ms", "b_median_ms"):
        return "%.4g" % value
    return str(value)


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def render_markdown(frame: pd.DataFrame) -> str:
    headers, rows = display_rows(frame)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "%s\n\n%s\n\n%s\n" % (heading(frame), "\n".join(lines), summary(frame))


def render_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def _side_json(side: Side) -> dict:
    within = {side.column: side.value} if side.column else {}
    return dict(spec=side.spec, sweep_id=side.sweep_id, **within)


def render_json(frame: pd.DataFrame) -> str:
    import json

    sides = {name: _side_json(side) for name, side in (("a", frame.attrs["a"]), ("b", frame.attrs["b"]))}
    payload = dict(
        sides,
        threshold=frame.attrs["threshold"],
        summary=summary(frame),
        regressions=int((frame["verdict"] == SLOWER).sum()),
        cells=json.loads(frame.to_json(orient="records")),
    )
    return json.dumps(payload, indent=1) + "\n"
