"""Between-run statistics: the t quantiles, the t interval's coverage on simulated runs with a
known spread, and a cell's summary from its runs (store/runs.py)."""

import math
import random
import statistics

import pandas as pd
import pytest

from edgebench.orchestrator.stats import Z95, relative_spread, t_interval, t_quantile
from edgebench.orchestrator.store.runs import (
    RUNS_UNSTABLE_SPREAD,
    SUMMARY_COLUMNS,
    WITHIN_RUN_REASON,
    cell_summaries,
    with_cell_columns,
)

# ---------------------------------------------------------------- t quantiles and intervals


@pytest.mark.parametrize("df, expected", [(1, 12.706), (4, 2.776), (9, 2.262), (29, 2.045)])
def test_t_quantiles_match_the_tables(df, expected):
    assert t_quantile(df) == pytest.approx(expected, abs=5e-4)


def test_t_quantiles_between_and_beyond_the_table_fall_towards_the_normal():
    assert t_quantile(35) == pytest.approx(2.0301, abs=1e-4)  # interpolated in 1/df
    assert t_quantile(200) == pytest.approx(1.9719, abs=1e-4)
    assert t_quantile(10**6) == pytest.approx(Z95, abs=1e-4)
    values = [t_quantile(df) for df in range(1, 500)]
    assert all(a > b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError):
        t_quantile(0)


def test_t_interval_is_mean_plus_minus_t_s_over_root_n():
    low, high = t_interval([1.0, 2.0, 3.0])  # mean 2, s 1, t(2 df) 4.303
    assert (low, high) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)))
    assert t_interval([5.0, 5.0]) == (5.0, 5.0)
    assert t_interval([7.0, None, float("nan")]) is None  # one finite value: no interval
    assert t_interval([]) is None


def test_relative_spread_is_std_over_median():
    assert relative_spread([9.0, 10.0, 11.0]) == pytest.approx(0.1)
    assert relative_spread([10.0]) is None
    assert relative_spread([0.0, 0.0]) is None  # median 0: no relative spread


def coverage(k: int, repetitions: int, rng: random.Random, mu=73.0, sigma=2.0) -> float:
    covered = 0
    for _ in range(repetitions):
        low, high = t_interval([rng.gauss(mu, sigma) for _ in range(k)])
        covered += low <= mu <= high
    return covered / repetitions


@pytest.mark.parametrize("k", [3, 5, 10])
def test_t_interval_covers_the_true_centre_95_percent_of_the_time(k):
    # Run medians drawn from Normal(mu, sigma): the interval must hold mu in about 95% of
    # 4000 simulated cells (one binomial SD is 0.35 points; the band is about 4 SD wide).
    assert 0.935 <= coverage(k, 4000, random.Random(1000 + k)) <= 0.965


def test_one_runs_own_interval_is_far_too_narrow_when_runs_differ():
    # Each run lands at the true value plus an offset of its own (clocks, placement, load) and
    # its 50 samples scatter around that. The run's own interval of its median (samples taken
    # as independent) ignores the offset; the t interval over 5 runs' medians does not.
    rng = random.Random(7)
    mu, offset_sd, noise_sd, n = 10.0, 0.5, 0.5, 50
    within = between = 0
    repetitions = 1000
    for _ in range(repetitions):
        medians = []
        for run in range(5):
            offset = rng.gauss(0, offset_sd)
            samples = [mu + offset + rng.gauss(0, noise_sd) for _ in range(n)]
            medians.append(statistics.median(samples))
            if run == 0:  # normal approximation of the median's standard error
                half = Z95 * 1.2533 * statistics.stdev(samples) / math.sqrt(n)
                within += medians[0] - half <= mu <= medians[0] + half
        low, high = t_interval(medians)
        between += low <= mu <= high
    assert within / repetitions < 0.5
    assert 0.92 <= between / repetitions <= 0.98


# ---------------------------------------------------------------- cell summaries


def trial(**overrides):
    row = dict(
        trial_id="t",
        sweep_id="s1",
        device="nano01",
        model="dws_cnn",
        model_sha256="abc",
        backend="onnxruntime",
        precision="fp32",
        batch=1,
        run=1,
        status="ok",
        latency_p50_ms=10.0,
        latency_p90_ms=12.0,
        latency_p99_ms=15.0,
        power_mw=None,
        energy_mj=None,
        accuracy=None,
        unstable=False,
        busy=False,
        busy_reason=None,
        other_cpu_cores=0.01,
    )
    row.update(overrides)
    return row


def runs_of(latencies, **overrides):
    return [
        trial(trial_id="%s-%d" % (overrides.get("device", "nano01"), i), run=i, latency_p50_ms=v, **overrides)
        for i, v in enumerate(latencies, 1)
    ]


def one(frame: pd.DataFrame, **where) -> pd.Series:
    rows = frame
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, where
    return rows.iloc[0]


def test_a_cells_figure_is_the_median_of_its_run_medians_with_a_t_interval():
    frame = pd.DataFrame(
        runs_of([10.0, 10.2, 10.1], latency_p90_ms=12.0)
        + [trial(trial_id="failed", run=4, status="failed", latency_p50_ms=None)]
    )
    cell = one(cell_summaries(frame), device="nano01")
    assert cell["runs"] == 3
    assert cell["latency_p50_runs_ms"] == pytest.approx(10.1)
    low, high = t_interval([10.0, 10.2, 10.1])
    assert (cell["latency_p50_runs_ci95_low_ms"], cell["latency_p50_runs_ci95_high_ms"]) == pytest.approx(
        (low, high)
    )
    assert cell["latency_p90_runs_ms"] == 12.0 and cell["latency_p99_runs_ms"] == 15.0
    assert cell["runs_spread"] == pytest.approx(0.1 / 10.1)
    assert cell["runs_unstable"] is False and pd.isna(cell["unstable_reason"])
    assert list(cell_summaries(frame).columns[-len(SUMMARY_COLUMNS) :]) == SUMMARY_COLUMNS


def test_runs_that_disagree_make_the_cell_unstable():
    cell = one(cell_summaries(pd.DataFrame(runs_of([10.0, 11.0, 12.4]))), device="nano01")
    spread = statistics.stdev([10.0, 11.0, 12.4]) / 11.0  # 1.2055 / 11 = 11.0%
    assert cell["runs_spread"] == pytest.approx(spread) and cell["runs_spread"] > RUNS_UNSTABLE_SPREAD
    assert cell["runs_unstable"] is True
    assert cell["unstable_reason"].startswith("runs disagree: ") and "11.0%" in cell["unstable_reason"]
    calm = one(cell_summaries(pd.DataFrame(runs_of([10.0, 11.0, 12.0]))), device="nano01")
    assert calm["runs_spread"] == pytest.approx(1 / 11) and calm["runs_unstable"] is False  # 9.1%


def test_the_interval_holds_the_median_even_when_runs_form_two_clusters():
    # Ten runs, six at 10 ms and four at 11: the t interval of the mean is [10.03, 10.77], which
    # misses the median 10.0 that the tables print; it is widened to hold it.
    cell = one(cell_summaries(pd.DataFrame(runs_of([10.0] * 6 + [11.0] * 4))), device="nano01")
    assert cell["latency_p50_runs_ms"] == 10.0
    assert cell["latency_p50_runs_ci95_low_ms"] == 10.0
    assert cell["latency_p50_runs_ci95_high_ms"] == pytest.approx(10.77, abs=0.01)


def test_a_run_with_two_ok_trials_counts_once():
    rows = runs_of([10.0, 11.0, 12.0])
    rows.append(dict(rows[1], latency_p50_ms=50.0))  # run 2 again, later: it stands for run 2
    cell = one(cell_summaries(pd.DataFrame(rows)), device="nano01")
    assert cell["runs"] == 3 and cell["latency_p50_runs_ms"] == 12.0


def test_a_busy_run_makes_the_cell_unstable_and_is_named():
    rows = runs_of([10.0, 10.1, 10.0])
    rows[1].update(busy=True, busy_reason="other processes used 1.80 CPU cores\n(load 2.0 -> 2.6)")
    rows[2].update(busy=True, busy_reason=None, other_cpu_cores=0.5)
    cell = one(cell_summaries(pd.DataFrame(rows)), device="nano01")
    assert cell["runs_unstable"] is True
    assert cell["unstable_reason"] == (
        "run 2: device busy (other processes used 1.80 CPU cores (load 2.0 -> 2.6)); "
        "run 3: device busy (other processes used 0.50 CPU cores)"
    )


def test_one_run_is_judged_by_its_own_spread():
    frame = pd.DataFrame(
        [
            trial(device="shaky", unstable=True),
            trial(device="steady", unstable=False),
            trial(device="unknown", unstable=None, busy=None),
        ]
    )
    summaries = cell_summaries(frame)
    shaky, steady, unknown = (one(summaries, device=d) for d in ("shaky", "steady", "unknown"))
    assert shaky["runs"] == 1 and pd.isna(shaky["latency_p50_runs_ci95_low_ms"])
    assert shaky["runs_unstable"] is True and shaky["unstable_reason"] == WITHIN_RUN_REASON
    assert steady["runs_unstable"] is False and pd.isna(steady["runs_spread"])
    assert unknown["runs_unstable"] is None  # nothing known either way


def test_energy_and_power_stay_null_when_no_run_has_them():
    rows = runs_of([10.0, 10.0, 10.0], device="quiet") + runs_of([10.0, 10.0], device="metered")
    rows[3].update(energy_mj=8.0, power_mw=4000.0, accuracy=0.9)
    rows[4].update(energy_mj=8.4, power_mw=4200.0, accuracy=0.9)
    summaries = cell_summaries(pd.DataFrame(rows))
    quiet, metered = one(summaries, device="quiet"), one(summaries, device="metered")
    for column in ("energy_mj_runs", "energy_mj_runs_ci95_low", "power_mw_runs", "accuracy_runs"):
        assert pd.isna(quiet[column]), column  # null, never 0
    assert metered["energy_mj_runs"] == pytest.approx(8.2) and metered["power_mw_runs"] == 4100.0
    assert metered["energy_mj_runs_ci95_low"] < 8.0 and metered["energy_mj_runs_ci95_high"] > 8.4
    assert metered["accuracy_runs"] == 0.9


def test_cells_are_told_apart_and_the_null_backend_groups_without_a_model():
    rows = runs_of([1.0, 1.1], backend="null", model="(none)", model_sha256=None, precision=None)
    rows += runs_of([5.0, 5.0], batch=8) + runs_of([6.0], sweep_id="s2")
    summaries = cell_summaries(pd.DataFrame(rows))
    assert sorted(summaries["runs"]) == [1, 2, 2]
    assert one(summaries, backend="null")["latency_p50_runs_ms"] == pytest.approx(1.05)


def test_every_trial_carries_its_cells_columns():
    rows = runs_of([10.0, 10.2, 10.1])
    rows.append(trial(trial_id="late", run=4, status="failed", latency_p50_ms=None))
    rows.append(trial(trial_id="alone", device="broken", status="failed", latency_p50_ms=None))
    frame = with_cell_columns(pd.DataFrame(rows)).set_index("trial_id")
    assert list(frame["runs"].loc[["nano01-1", "nano01-3", "late"]]) == [3, 3, 3]
    assert frame.loc["late", "latency_p50_runs_ms"] == pytest.approx(10.1)  # failed: its cell's values
    assert pd.isna(frame.loc["alone", "runs"]) and pd.isna(frame.loc["alone", "latency_p50_runs_ms"])
    assert frame.loc["alone", "runs_unstable"] is None
    assert frame.loc["nano01-1", "latency_p50_ms"] == 10.0  # the run's own figure stays
