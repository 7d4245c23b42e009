"""Batching policies, the service-time model, LoadGen's early-stopping bound, arrivals, clocks."""

import random
import unittest
from fractions import Fraction

from agent.scenarios import arrivals, batching, early_stopping
from agent.scenarios.batching import Aimd, FixedBatch, LatencyAware, ServiceModel, TimeoutBatch
from agent.scenarios.clock import FakeClock, RealClock


def fake_model(sizes=(1, 16)):
    """Measured as the fake service: 10 ms + 2 ms per item."""
    model = ServiceModel()
    for size in sizes:
        model.observe(size, 0.010 + 0.002 * size)
    return model


class ServiceModelTest(unittest.TestCase):
    def test_unseen_sizes_are_interpolated_between_measured_ones(self):
        self.assertAlmostEqual(fake_model().estimate(8), 0.026)

    def test_beyond_the_largest_measured_size_it_extrapolates(self):
        self.assertAlmostEqual(fake_model().estimate(32), 0.074)
        self.assertAlmostEqual(fake_model(sizes=(4,)).estimate(8), 0.036)

    def test_below_the_smallest_it_assumes_no_speed_up(self):
        self.assertAlmostEqual(fake_model(sizes=(4, 8)).estimate(2), 0.018)

    def test_median_of_the_last_few(self):
        model = ServiceModel()
        for s in (9.0, 0.010, 0.011, 0.012, 0.013, 0.014):
            model.observe(1, s)
        self.assertAlmostEqual(model.estimate(1), 0.012)  # the 9 s outlier has left the window
        self.assertIsNone(ServiceModel().estimate(3))


class PolicyTest(unittest.TestCase):
    def test_fixed_waits_for_its_batch(self):
        policy = FixedBatch(4)
        self.assertEqual(policy.next_batch([0.0, 0.1, 0.2], 0.3), (0, None))
        self.assertEqual(policy.next_batch([0.0] * 6, 0.3), (4, None))

    def test_timeout_full_preferred_or_after_the_delay(self):
        policy = TimeoutBatch(8, 0.010, preferred=[4])
        self.assertEqual(policy.next_batch([0.0] * 9, 0.0), (8, None))
        self.assertEqual(policy.next_batch([0.0] * 5, 0.0), (4, None))
        self.assertEqual(policy.next_batch([0.0, 0.004], 0.005), (0, 0.010))
        self.assertEqual(policy.next_batch([0.0, 0.004], 0.010), (2, None))

    def test_aimd_grows_by_step_on_a_met_target_and_cuts_ten_percent_on_a_miss(self):
        policy = Aimd(max_batch=16, target_s=0.050, step=2)
        self.assertEqual(policy.next_batch([0.0] * 10, 0.0), (1, None))
        policy.observe(1, 0.012)
        self.assertEqual(policy.cap, 3.0)
        policy.observe(3, 0.016)
        policy.observe(5, 0.020)
        self.assertEqual(policy.cap, 7.0)
        policy.observe(7, 0.060)
        self.assertAlmostEqual(policy.cap, 6.3)
        self.assertEqual(policy.next_batch([0.0] * 10, 0.0), (6, None))
        policy.observe(2, 0.014)  # a batch the cap did not limit: nothing learned about 6
        self.assertAlmostEqual(policy.cap, 6.3)
        for _ in range(10):
            policy.observe(policy.current(), 0.01)
        self.assertEqual(policy.cap, 16.0)  # never past max_batch

    def test_aimd_never_below_one(self):
        policy = Aimd(max_batch=4, target_s=0.001)
        policy.observe(1, 0.5)
        self.assertEqual(policy.cap, 1.0)

    def test_latency_aware_picks_the_largest_batch_the_oldest_query_can_afford(self):
        policy = LatencyAware(max_batch=16, target_s=0.050)
        policy.model = fake_model()
        self.assertEqual(policy.next_batch([0.0] * 20, 0.0)[0], 16)  # 42 ms fits 50
        self.assertEqual(policy.next_batch([0.0] * 20, 0.020)[0], 10)  # 20 + 30 ms
        self.assertEqual(policy.next_batch([0.0] * 20, 0.035)[0], 2)  # 35 + 14 ms
        self.assertEqual(policy.next_batch([0.0] * 3, 0.0)[0], 3)

    def test_latency_aware_skips_queries_already_too_late(self):
        policy = LatencyAware(max_batch=16, target_s=0.050)
        policy.model = fake_model()
        # The two oldest waited 45 ms: 12 ms more misses 50 whatever the batch. The others
        # waited 15 ms: a batch of 12 (34 ms) still brings them in at 49.
        queue = [0.0, 0.0] + [0.030] * 18
        self.assertEqual(policy.late_at_head(queue, 0.045), 2)
        self.assertEqual(policy.next_batch(queue, 0.045)[0], 12)
        # All too late: they go together, as many as a batch holds, out of the way.
        self.assertEqual(policy.next_batch([0.0] * 20, 0.045)[0], 16)

    def test_latency_aware_never_makes_a_query_that_could_meet_the_target_miss_it(self):
        rng = random.Random(7)
        checked = 0
        for _ in range(2000):
            policy = LatencyAware(max_batch=rng.randint(1, 32), target_s=rng.uniform(0.005, 0.2))
            for size in [1] + rng.sample(range(2, 33), rng.randint(0, 4)):
                policy.observe(size, rng.uniform(0.001, 0.1))
            now = rng.uniform(0.0, 0.2)
            queue = sorted(rng.uniform(0.0, now) for _ in range(rng.randint(1, 40)))
            size, wake_at = policy.next_batch(queue, now)
            self.assertIsNone(wake_at)
            self.assertTrue(1 <= size <= min(len(queue), policy.max_batch))
            alone = policy.model.estimate(1)
            for arrived in queue[:size]:
                if now - arrived + alone <= policy.target_s:  # it could still make it
                    self.assertLessEqual(now - arrived + policy.model.estimate(size), policy.target_s)
                    checked += 1
        self.assertGreater(checked, 1000)

    def test_latency_aware_without_measurements_sends_one(self):
        self.assertEqual(LatencyAware(8, 0.05).next_batch([0.0] * 8, 0.0), (1, None))

    def test_profile_sizes(self):
        self.assertEqual(batching.profile_sizes(1), [1])
        self.assertEqual(batching.profile_sizes(12), [1, 2, 4, 8, 12])


def exact_odds(h, t, p=Fraction(99, 100)):
    """P(X <= t), X ~ Binomial(h + t, 1 - p), in exact rationals."""
    n, q = h + t, 1 - p
    total, coefficient = Fraction(0), 1
    for x in range(t + 1):
        total += coefficient * q**x * p ** (n - x)
        coefficient = coefficient * (n - x) // (x + 1)
    return total


class EarlyStoppingTest(unittest.TestCase):
    def test_no_query_over_target_needs_459(self):
        # 0.99**459 = 0.00992 < 0.01 <= 0.99**458 = 0.01002
        self.assertEqual(early_stopping.queries_needed(0), 459)
        self.assertTrue(early_stopping.passes(459, 0))
        self.assertFalse(early_stopping.passes(458, 0))

    def test_one_over_needs_662_as_loadgen_prints(self):
        self.assertEqual(early_stopping.queries_needed(1), 662)

    def test_matches_the_exact_binomial_bound(self):
        for t in (1, 2, 5, 10):
            h = early_stopping.min_passing_queries(t)
            self.assertLess(exact_odds(h, t), Fraction(1, 100), t)
            self.assertGreaterEqual(exact_odds(h - 1, t), Fraction(1, 100), t)

    def test_more_over_target_needs_more_queries(self):
        needed = [early_stopping.queries_needed(t) for t in (0, 1, 10, 100, 1000)]
        self.assertEqual(needed, sorted(needed))
        self.assertGreater(needed[-1], 100 * 1000)  # about t / (1 - 0.99) and then some


class ArrivalsTest(unittest.TestCase):
    def test_poisson_mean_rate_for_a_fixed_seed(self):
        times = arrivals.schedule(100.0, seed=3, duration_s=100.0)
        self.assertLess(abs(len(times) / times[-1] / 100.0 - 1), 0.03)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertLess(abs(sum(gaps) / len(gaps) - 0.01), 0.0003)
        self.assertGreater(min(gaps), 0.0)

    def test_same_seed_same_arrivals(self):
        self.assertEqual(arrivals.schedule(50.0, 9, 2.0), arrivals.schedule(50.0, 9, 2.0))
        self.assertNotEqual(arrivals.schedule(50.0, 9, 2.0), arrivals.schedule(50.0, 10, 2.0))

    def test_until_the_duration_and_the_minimum_count(self):
        times = arrivals.schedule(10.0, 1, 5.0)
        self.assertGreaterEqual(times[-1], 5.0)
        self.assertLess(times[-2], 5.0)
        self.assertEqual(len(arrivals.schedule(10.0, 1, 0.0001, min_queries=500)), 500)


class ClockTest(unittest.TestCase):
    def test_fake_clock_jumps_and_never_goes_back(self):
        clock = FakeClock()
        clock.sleep_until(2.5)
        clock.sleep_until(1.0)
        self.assertEqual(clock.now(), 2.5)
        clock.advance(0.5)
        self.assertEqual(clock.now(), 3.0)
        with self.assertRaises(ValueError):
            clock.advance(-1)

    def test_real_clock_sleeps_until_the_moment(self):
        clock = RealClock()
        target = clock.now() + 0.005
        clock.sleep_until(target)
        self.assertGreaterEqual(clock.now(), target)
        clock.sleep_until(target - 1.0)  # a moment past returns at once


if __name__ == "__main__":
    unittest.main()
