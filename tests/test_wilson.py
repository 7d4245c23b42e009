"""The 95% Wilson score interval of an accuracy. Expected values were computed independently
(scipy.stats.binomtest(k, n).proportion_ci(method="wilson"), confidence 0.95)."""

import math

import pytest

from edgebench.orchestrator.stats import Z95, accuracy_interval, wilson_interval


@pytest.mark.parametrize(
    "successes, n, low, high",
    [
        (95, 100, 0.8882, 0.9785),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (978, 1000, 0.9669, 0.9854),
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_known_values(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert [round(v, 4) for v in got] == [low, high]


def test_edges_are_exact_and_the_interval_holds_the_estimate():
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    for k in range(0, 51):
        low, high = wilson_interval(k, 50)
        assert 0.0 <= low <= k / 50 <= high <= 1.0


def test_z_is_the_two_sided_95_percent_quantile():
    # Phi(z) = 0.975 for the standard normal
    assert 0.5 * math.erfc(-Z95 / math.sqrt(2)) == pytest.approx(0.975, abs=1e-12)


def test_accuracy_interval_rounds_successes_and_knows_what_it_cannot_compute():
    assert accuracy_interval(0.95, 100) == wilson_interval(95, 100)
    assert accuracy_interval(0.9501, 100) == wilson_interval(95, 100)
    for accuracy, n in (
        (None, 100),
        (0.9, None),
        (float("nan"), 100),
        (0.9, float("nan")),
        (0.9, 0),
        (1.5, 10),
    ):
        assert accuracy_interval(accuracy, n) is None


def test_bad_counts_raise():
    for k, n in ((-1, 10), (11, 10), (0, 0)):
        with pytest.raises(ValueError):
            wilson_interval(k, n)
