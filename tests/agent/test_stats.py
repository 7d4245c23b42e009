import math
import random
import statistics
import unittest

from agent import stats


class PercentileTest(unittest.TestCase):
    def setUp(self):
        self.values = [float(x) for x in range(1, 101)]

    def test_known_values_on_1_to_100(self):
        # linear interpolation between closest ranks: pos = (n-1)*q, 0-based
        expected = {0.0: 1.0, 0.5: 50.5, 0.9: 90.1, 0.95: 95.05, 0.99: 99.01, 1.0: 100.0}
        for q, value in expected.items():
            self.assertAlmostEqual(stats.percentile(self.values, q), value, places=9, msg="q=%s" % q)

    def test_matches_hand_interpolation(self):
        values = sorted([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0])
        for q in (0.1, 0.25, 0.33, 0.5, 0.75, 0.9, 0.99):
            pos = (len(values) - 1) * q
            lo = int(pos)
            hi = min(lo + 1, len(values) - 1)
            hand = values[lo] * (1 - (pos - lo)) + values[hi] * (pos - lo)
            self.assertAlmostEqual(stats.percentile(values, q), hand, places=9)

    def test_edge_cases(self):
        self.assertIsNone(stats.percentile([], 0.5))
        self.assertEqual(stats.percentile([7.0], 0.5), 7.0)
        self.assertEqual(stats.percentile([7.0], 0.99), 7.0)
        self.assertEqual(stats.percentile([1.0, 3.0], 0.5), 2.0)


class MedianCITest(unittest.TestCase):
    def test_none_under_six_samples(self):
        for n in range(0, 6):
            self.assertEqual(stats.median_ci95([float(x) for x in range(n)]), (None, None), msg="n=%d" % n)
        lo, hi = stats.median_ci95([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        self.assertIsNotNone(lo)
        self.assertIsNotNone(hi)

    def test_contains_median_and_is_ordered(self):
        for n in (6, 7, 10, 31, 100, 1001):
            values = [float(x) for x in range(1, n + 1)]
            lo, hi = stats.median_ci95(values)
            median = stats.percentile(values, 0.5)
            self.assertLessEqual(lo, median, msg="n=%d" % n)
            self.assertGreaterEqual(hi, median, msg="n=%d" % n)
            self.assertLess(lo, hi)
            self.assertIn(lo, values)
            self.assertIn(hi, values)

    def test_known_ranks_for_100(self):
        # half width 1.96*sqrt(100)/2 = 9.8 -> ranks floor(40.2)=40 and ceil(59.8)+1=61
        lo, hi = stats.median_ci95([float(x) for x in range(1, 101)])
        self.assertEqual((lo, hi), (40.0, 61.0))

    def test_interval_narrows_with_more_samples(self):
        rng = random.Random(3)
        small = sorted(rng.random() for _ in range(30))
        large = sorted(rng.random() for _ in range(3000))
        width_small = stats.median_ci95(small)[1] - stats.median_ci95(small)[0]
        width_large = stats.median_ci95(large)[1] - stats.median_ci95(large)[0]
        self.assertLess(width_large, width_small / 3)

    def test_coverage_is_about_95_percent(self):
        # uniform(0,1) has median 0.5: the interval should contain it in >= ~95% of runs
        rng = random.Random(12345)
        runs, hits = 2000, 0
        for _ in range(runs):
            lo, hi = stats.median_ci95(sorted(rng.random() for _ in range(40)))
            hits += lo <= 0.5 <= hi
        self.assertGreaterEqual(hits / float(runs), 0.93)


class SummarizeTest(unittest.TestCase):
    def test_basic_fields_in_ms(self):
        summary = stats.summarize([0.004, 0.001, 0.003, 0.002], batch=1, wall_s=0.01)
        self.assertEqual(summary["iterations"], 4)
        self.assertAlmostEqual(summary["latency_min_ms"], 1.0)
        self.assertAlmostEqual(summary["latency_max_ms"], 4.0)
        self.assertAlmostEqual(summary["latency_mean_ms"], 2.5)
        self.assertAlmostEqual(summary["latency_p50_ms"], 2.5)
        self.assertEqual(summary["timed_wall_s"], 0.01)

    def test_stdev_uses_n_minus_1(self):
        ms = [1.0, 2.0, 3.0, 4.0, 10.0]
        summary = stats.summarize([x / 1000.0 for x in ms], 1, 1.0)
        self.assertAlmostEqual(summary["latency_std_ms"], statistics.stdev(ms), places=9)
        self.assertNotAlmostEqual(summary["latency_std_ms"], statistics.pstdev(ms), places=3)
        self.assertAlmostEqual(summary["latency_cv"], statistics.stdev(ms) / statistics.mean(ms), places=9)

    def test_single_sample_has_no_stdev(self):
        summary = stats.summarize([0.005], 1, 0.005)
        self.assertIsNone(summary["latency_std_ms"])
        self.assertIsNone(summary["latency_cv"])
        self.assertFalse(summary["unstable"])
        self.assertEqual(summary["latency_p99_ms"], 5.0)

    def test_unstable_flag(self):
        steady = [0.010 + 0.0001 * (i % 3) for i in range(60)]
        noisy = [0.005 if i % 2 else 0.020 for i in range(60)]
        self.assertFalse(stats.summarize(steady, 1, 1.0)["unstable"])
        self.assertTrue(stats.summarize(noisy, 1, 1.0)["unstable"])
        self.assertFalse(stats.summarize([0.01] * 20, 1, 1.0)["unstable"])  # zero spread

    def test_unstable_threshold(self):
        # cv just under / over UNSTABLE_CV
        def sample(cv):
            return [0.01 * (1 - cv), 0.01 * (1 + cv)] * 50  # stdev(n-1) ~= cv*mean

        self.assertFalse(stats.summarize(sample(stats.UNSTABLE_CV * 0.9), 1, 1.0)["unstable"])
        self.assertTrue(stats.summarize(sample(stats.UNSTABLE_CV * 1.1), 1, 1.0)["unstable"])

    def test_throughput_is_n_times_batch_over_wall(self):
        summary = stats.summarize([0.1] * 10, batch=4, wall_s=2.0)
        self.assertAlmostEqual(summary["throughput_ips"], 10 * 4 / 2.0)
        self.assertIsNone(stats.summarize([0.1], 1, 0.0)["throughput_ips"])

    def test_percentiles_are_ordered_and_ci_present(self):
        rng = random.Random(7)
        summary = stats.summarize([rng.lognormvariate(-5, 0.3) for _ in range(500)], 1, 1.0)
        chain = [
            summary[k]
            for k in (
                "latency_min_ms",
                "latency_p50_ms",
                "latency_p90_ms",
                "latency_p95_ms",
                "latency_p99_ms",
                "latency_max_ms",
            )
        ]
        self.assertEqual(chain, sorted(chain))
        self.assertLessEqual(summary["latency_p50_ci95_low_ms"], summary["latency_p50_ms"])
        self.assertGreaterEqual(summary["latency_p50_ci95_high_ms"], summary["latency_p50_ms"])
        self.assertFalse(any(isinstance(v, float) and math.isnan(v) for v in summary.values()))


if __name__ == "__main__":
    unittest.main()
