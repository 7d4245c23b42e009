import unittest

from agent import bench


class FakeClock(object):
    """A clock that only moves when the fake model runs (by `step` seconds per run)."""

    def __init__(self, step):
        self.now = 0.0
        self.step = step
        self.runs = 0
        self.feeds = []

    def __call__(self):
        return self.now

    def run(self, feed):
        self.feeds.append(feed)
        self.runs += 1
        self.now += self.step


class TimedLoopTest(unittest.TestCase):
    def loop(self, clock, **kw):
        args = dict(min_iters=1, min_s=0.0, max_iters=10**6, max_s=10**6)
        args.update(kw)
        return bench.timed_loop(clock.run, "FEED", clock=clock, **args)

    def test_needs_min_iters_even_when_time_is_reached(self):
        clock = FakeClock(0.25)
        samples, wall, stopped_by = self.loop(clock, min_iters=10, min_s=1.0)
        self.assertEqual(len(samples), 10)  # time reached after 4, kept going to 10
        self.assertEqual(clock.runs, 10)
        self.assertEqual(stopped_by, "min_iters_and_min_s")
        self.assertAlmostEqual(wall, 2.5)
        for s in samples:
            self.assertAlmostEqual(s, 0.25)
        self.assertEqual(set(clock.feeds), {"FEED"})

    def test_needs_min_s_even_when_iterations_are_reached(self):
        clock = FakeClock(0.25)
        samples, wall, stopped_by = self.loop(clock, min_iters=2, min_s=3.0)
        self.assertEqual(len(samples), 12)  # 2 iterations were not enough: 3 s takes 12
        self.assertEqual(stopped_by, "min_iters_and_min_s")
        self.assertAlmostEqual(wall, 3.0)

    def test_both_reached_together(self):
        clock = FakeClock(0.5)
        samples, wall, stopped_by = self.loop(clock, min_iters=4, min_s=2.0)
        self.assertEqual((len(samples), stopped_by), (4, "min_iters_and_min_s"))

    def test_stops_at_max_iters(self):
        clock = FakeClock(0.25)
        samples, wall, stopped_by = self.loop(clock, min_iters=100, min_s=1000.0, max_iters=7)
        self.assertEqual(len(samples), 7)
        self.assertEqual(clock.runs, 7)
        self.assertEqual(stopped_by, "max_iters")
        self.assertAlmostEqual(wall, 1.75)

    def test_stops_at_max_s(self):
        clock = FakeClock(0.25)
        samples, wall, stopped_by = self.loop(clock, min_iters=100, min_s=1000.0, max_s=2.0)
        self.assertEqual(len(samples), 8)
        self.assertEqual(stopped_by, "max_s")
        self.assertAlmostEqual(wall, 2.0)

    def test_window_starts_at_first_clock_read(self):
        clock = FakeClock(0.5)
        clock.now = 100.0
        samples, wall, _ = self.loop(clock, min_iters=3)
        self.assertAlmostEqual(wall, 1.5)
        self.assertEqual(len(samples), 3)

    def test_runs_at_least_once(self):
        clock = FakeClock(0.1)
        samples, _, _ = self.loop(clock, min_iters=0, min_s=0.0)
        self.assertEqual(len(samples), 1)

    def test_real_clock_default(self):
        calls = []
        samples, wall, stopped_by = bench.timed_loop(calls.append, 1, 5, 0.0, 100, 10.0)
        self.assertEqual(len(samples), 5)
        self.assertEqual(len(calls), 5)
        self.assertGreaterEqual(wall, sum(samples))


class WarmUpTest(unittest.TestCase):
    def test_runs_at_least_the_count(self):
        clock = FakeClock(0.25)
        done = bench.warm_up(clock.run, None, 5, 0.0, clock=clock)
        self.assertEqual(done, 5)
        self.assertEqual(clock.runs, 5)

    def test_runs_at_least_the_seconds(self):
        clock = FakeClock(0.25)
        done = bench.warm_up(clock.run, None, 1, 1.0, clock=clock)
        self.assertEqual(done, 4)
        self.assertEqual(clock.runs, 4)
        self.assertGreaterEqual(clock.now, 1.0)

    def test_count_and_seconds_both_needed(self):
        clock = FakeClock(0.25)
        self.assertEqual(bench.warm_up(clock.run, None, 6, 1.0, clock=clock), 6)
        clock = FakeClock(0.25)
        self.assertEqual(bench.warm_up(clock.run, None, 2, 2.0, clock=clock), 8)

    def test_zero_warm_up(self):
        clock = FakeClock(0.25)
        self.assertEqual(bench.warm_up(clock.run, None, 0, 0.0, clock=clock), 0)
        self.assertEqual(clock.runs, 0)


class ProfilesTest(unittest.TestCase):
    def test_quick_is_shorter_and_complete(self):
        self.assertEqual(set(bench.QUICK), set(bench.DEFAULTS))
        for key in bench.DEFAULTS:
            self.assertLessEqual(bench.QUICK[key], bench.DEFAULTS[key], msg=key)
        for profile in (bench.QUICK, bench.DEFAULTS):
            self.assertLessEqual(profile["min_iters"], profile["max_iters"])
            self.assertLessEqual(profile["min_s"], profile["max_s"])


if __name__ == "__main__":
    unittest.main()
