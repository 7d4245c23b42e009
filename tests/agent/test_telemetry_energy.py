"""Energy integration: known integrals, window edges, and no false precision."""

import math
import unittest

from agent.telemetry.energy import (
    TOO_FEW,
    average_power_mw,
    energy_per_inference,
    integrate_energy_mj,
    window_points,
)


def profile(t):
    return 1000.0 + 500.0 * math.sin(t)


def exact_mj(t0, t1):
    """Integral of 1000 + 500 sin(t) dt, mW x s = mJ."""
    return 1000.0 * (t1 - t0) + 500.0 * (math.cos(t0) - math.cos(t1))


SAMPLES = [(i * 0.01, profile(i * 0.01)) for i in range(301)]  # every 10 ms over 0..3 s


class IntegrateTest(unittest.TestCase):
    def test_known_integral_within_one_percent(self):
        energy = integrate_energy_mj(SAMPLES, 0.0, 3.0)
        self.assertLess(abs(energy - exact_mj(0.0, 3.0)) / exact_mj(0.0, 3.0), 0.01)
        self.assertAlmostEqual(energy, exact_mj(0.0, 3.0), delta=0.5)  # trapezoid is much closer
        self.assertEqual(integrate_energy_mj(SAMPLES), energy)  # default window: all samples

    def test_window_edges_between_samples_are_interpolated(self):
        t0, t1 = 0.505, 2.995
        energy = integrate_energy_mj(SAMPLES, t0, t1)
        self.assertAlmostEqual(energy, exact_mj(t0, t1), delta=0.5)
        points, count = window_points(SAMPLES, t0, t1)
        self.assertEqual((points[0][0], points[-1][0]), (t0, t1))
        self.assertEqual(count, 249)  # real samples 0.51 .. 2.99

    def test_average_power(self):
        self.assertAlmostEqual(average_power_mw(SAMPLES, 0.0, 3.0), exact_mj(0.0, 3.0) / 3.0, delta=0.2)
        self.assertEqual(average_power_mw([(0, 2000), (1, 2000), (2, 2000)]), 2000.0)

    def test_constant_power_is_exact(self):
        samples = [(10.0 + i * 0.25, 1500.0) for i in range(9)]  # 10 .. 12 s
        self.assertEqual(integrate_energy_mj(samples, 10.0, 12.0), 3000.0)

    def test_unsorted_and_unreadable_samples(self):
        samples = [(2.0, 1000.0), (0.0, 1000.0), (1.0, None), (1.0, 1000.0)]
        self.assertEqual(integrate_energy_mj(samples), 2000.0)  # None is left out, not 0

    def test_too_few_samples_is_none(self):
        self.assertIsNone(integrate_energy_mj([]))
        self.assertIsNone(integrate_energy_mj([(0.0, 1000.0)]))
        # One-second tegrastats samples around a 0.5 s window: only one inside it.
        samples = [(0.0, 1000.0), (1.0, 1200.0), (2.0, 1100.0)]
        self.assertIsNone(integrate_energy_mj(samples, 0.8, 1.3))
        self.assertIsNone(average_power_mw(samples, 0.8, 1.3))
        self.assertIsNone(integrate_energy_mj(samples, 5.0, 6.0))  # window after the samples


class PerInferenceTest(unittest.TestCase):
    def test_gross_and_above_idle(self):
        result = energy_per_inference(SAMPLES, 0.0, 3.0, inferences=300, idle_mw=800.0)
        avg = exact_mj(0.0, 3.0) / 3.0
        self.assertIsNone(result["reason"])
        self.assertEqual(result["samples"], 301)
        self.assertAlmostEqual(result["avg_power_mw"], avg, delta=0.2)
        self.assertAlmostEqual(result["energy_mj"], exact_mj(0.0, 3.0), delta=0.5)
        self.assertAlmostEqual(result["energy_per_inference_mj"], exact_mj(0.0, 3.0) / 300, delta=0.01)
        self.assertAlmostEqual(result["avg_power_above_idle_mw"], avg - 800.0, delta=0.2)
        self.assertAlmostEqual(result["energy_above_idle_mj"], (avg - 800.0) * 3.0, delta=0.5)
        self.assertAlmostEqual(
            result["energy_per_inference_above_idle_mj"], (avg - 800.0) * 3.0 / 300, delta=0.01
        )
        self.assertEqual(result["coverage"], 1.0)

    def test_partly_covered_window_uses_mean_power_over_the_window(self):
        samples = [(0.5, 2000.0), (1.0, 2000.0), (1.5, 2000.0)]
        result = energy_per_inference(samples, 0.0, 2.0, inferences=10)
        self.assertEqual((result["covered_s"], result["coverage"]), (1.0, 0.5))
        self.assertEqual(result["energy_mj"], 4000.0)
        self.assertEqual(result["energy_per_inference_mj"], 400.0)
        self.assertIsNone(result["avg_power_above_idle_mw"])  # no baseline given

    def test_too_few_samples_gives_none_with_reason(self):
        result = energy_per_inference([(0.0, 1000.0), (1.0, 1000.0)], 0.2, 0.9, 50, idle_mw=500)
        self.assertEqual(result["reason"], TOO_FEW)
        self.assertEqual(result["samples"], 0)
        for key in (
            "avg_power_mw",
            "energy_mj",
            "energy_per_inference_mj",
            "avg_power_above_idle_mw",
            "energy_above_idle_mj",
            "energy_per_inference_above_idle_mj",
        ):
            self.assertIsNone(result[key], key)
        same_instant = energy_per_inference([(1.0, 1000.0), (1.0, 1000.0)], 0.0, 2.0, 5)
        self.assertEqual(same_instant["reason"], TOO_FEW)

    def test_no_inferences(self):
        result = energy_per_inference(SAMPLES, 0.0, 3.0, inferences=0)
        self.assertIsNone(result["energy_per_inference_mj"])
        self.assertIsNotNone(result["avg_power_mw"])
        self.assertEqual(result["reason"], "no inferences counted")


if __name__ == "__main__":
    unittest.main()
