"""The scenarios driven with a fake clock and a fake service of known service time."""

import unittest

from agent import scenarios
from agent.scenarios import checks, offline, server
from agent.scenarios.batching import FixedBatch, TimeoutBatch

from .scenario_fakes import FakeService


def run(service, **job):
    return scenarios.run(job, service, service.clock)


class ChecksTest(unittest.TestCase):
    def assert_rejected(self, job, key):
        with self.assertRaises(scenarios.ScenarioError) as caught:
            scenarios.check(job)
        self.assertIn("job.%s" % key, str(caught.exception))
        self.assertNotIn("\n", str(caught.exception))

    def test_bad_keys_are_named(self):
        self.assert_rejected({"scenario": "batch"}, "scenario")
        self.assert_rejected({"scenario": "stream"}, "fps")
        self.assert_rejected({"scenario": "stream", "fps": 0}, "fps")
        self.assert_rejected({"scenario": "stream", "fps": True}, "fps")
        self.assert_rejected({"scenario": "stream", "fps": 15, "on_overrun": "skip"}, "on_overrun")
        self.assert_rejected({"scenario": "server", "qps": 10}, "latency_target_ms")
        self.assert_rejected({"scenario": "server", "qps": -1, "latency_target_ms": 5}, "qps")
        self.assert_rejected({"batching": "greedy"}, "batching")
        self.assert_rejected({"max_batch": 0}, "max_batch")
        self.assert_rejected({"max_queue_delay_ms": -1}, "max_queue_delay_ms")
        self.assert_rejected({"frames_source": "/videos/cam.mp4"}, "frames_source")
        self.assert_rejected({"preferred_batch": [0]}, "preferred_batch")

    def test_defaults_follow_the_job(self):
        filled = scenarios.settings({"batch": 4, "quick": True})
        self.assertEqual(filled["scenario"], "single-stream")
        self.assertEqual(filled["batching"], "fixed")
        self.assertEqual(filled["on_overrun"], "drop")
        self.assertEqual(filled["max_batch"], 4)
        self.assertEqual(filled["duration_s"], filled["min_s"])
        self.assertEqual(filled["min_queries"], filled["min_iters"])
        self.assertEqual(filled["aimd_step"], 1)

    def test_a_schedule_too_large_to_hold_is_refused(self):
        with self.assertRaises(scenarios.ScenarioError):
            scenarios.settings({"scenario": "server", "qps": 1e6, "latency_target_ms": 5, "duration_s": 3600})
        self.assertEqual(checks.SCENARIOS, scenarios.SCENARIOS)


class SingleStreamTest(unittest.TestCase):
    def test_min_iters_and_min_s_as_the_timed_loop(self):
        service = FakeService(base_s=0.012, per_item_s=0.0)
        samples, wall_s, stopped_by, metrics = run(service, min_iters=5, min_s=1.0, max_iters=10**6, max_s=60)
        self.assertEqual(len(samples), 84)  # 84 x 12 ms is the first count past 1 s
        self.assertEqual(stopped_by, "min_iters_and_min_s")
        self.assertAlmostEqual(wall_s, 1.008)
        self.assertEqual(metrics, {"scenario": "single-stream"})


class StreamTest(unittest.TestCase):
    def stream(self, times=None, base_s=0.03, **job):
        service = FakeService(base_s=base_s, per_item_s=0.0, times=times)
        job = dict(dict(scenario="stream", fps=10, duration_s=1.0), **job)
        return run(service, **job), service

    def test_a_frame_released_during_an_overrun_is_dropped(self):
        (latencies, _, stopped_by, m), service = self.stream(times=[0.15], base_s=0.05)
        self.assertEqual(m["frames"], 10)
        self.assertEqual(m["frames_dropped"], 1)  # frame 1 (t=0.1 s) came while frame 0 ran
        self.assertEqual(m["frames_completed"], 9)
        self.assertEqual(m["frames_late"], 1)  # frame 0 took 150 ms of its 100 ms
        self.assertAlmostEqual(m["deadline_miss_rate"], 0.2)
        self.assertFalse(m["stream_passed"])
        self.assertEqual(len(service.calls), 9)
        self.assertEqual(stopped_by, "all_frames")
        self.assertAlmostEqual(max(latencies), 0.15)

    def test_queue_mode_runs_the_frame_late_instead(self):
        (latencies, _, _, m), _ = self.stream(times=[0.15, 0.04], base_s=0.05, on_overrun="queue")
        self.assertEqual(m["frames_dropped"], 0)
        self.assertEqual(m["frames_queued"], 1)
        self.assertEqual(m["frames_completed"], 10)
        self.assertAlmostEqual(latencies[1], 0.09)  # released at 0.1, started at 0.15
        self.assertEqual(m["frames_late"], 1)
        self.assertAlmostEqual(m["deadline_miss_rate"], 0.1)

    def test_miss_rate_and_sustained_fps_for_a_model_too_slow(self):
        (_, _, _, m), _ = self.stream(base_s=0.15, duration_s=2.0)
        self.assertEqual(m["frames"], 20)
        self.assertEqual(m["frames_dropped"], 10)  # every odd frame
        self.assertEqual(m["frames_late"], 10)
        self.assertEqual(m["deadline_miss_rate"], 1.0)
        self.assertEqual(m["sustained_fps"], 5.0)
        self.assertEqual(m["sustained_fps_min"], 5.0)
        self.assertAlmostEqual(m["frame_latency_p50_ms"], 150.0)

    def test_a_model_that_keeps_up_passes(self):
        (_, _, _, m), _ = self.stream(base_s=0.03, duration_s=3.0)
        self.assertEqual(m["deadline_miss_rate"], 0.0)
        self.assertEqual(m["sustained_fps"], 10.0)
        self.assertAlmostEqual(m["jitter_ms"], 0.0, places=6)
        self.assertAlmostEqual(m["frame_latency_p99_ms"], 30.0)
        self.assertTrue(m["stream_passed"])

    def test_a_short_run_counts_whole_frame_periods(self):
        # --quick: 0.3 s at 15 fps releases 5 frames, one window of 5 periods (not 5 in 0.3 s)
        (_, _, _, m), _ = self.stream(base_s=0.012, fps=15, duration_s=0.3)
        self.assertEqual(m["frames"], 5)
        self.assertAlmostEqual(m["sustained_fps"], 15.0)
        self.assertAlmostEqual(m["fps_window_s"], 1 / 3.0)

    def test_a_latency_target_replaces_the_frame_period_as_deadline(self):
        (_, _, _, m), _ = self.stream(base_s=0.03, latency_target_ms=20)
        self.assertEqual(m["deadline_ms"], 20.0)
        self.assertEqual(m["frames_late"], 10)


class ServerTest(unittest.TestCase):
    def test_latency_counts_from_the_scheduled_arrival(self):
        service = FakeService(base_s=0.010, per_item_s=0.0)
        log = server.serve([0.0, 0.001, 0.002], FixedBatch(1), service, service.clock, max_s=60)
        for got, want in zip(log.latencies, [0.010, 0.019, 0.028]):
            self.assertAlmostEqual(got, want)
        for got, want in zip(log.queueing, [0.0, 0.009, 0.018]):
            self.assertAlmostEqual(got, want)

    def test_goodput_counts_only_queries_within_target(self):
        service = FakeService(base_s=0.010, per_item_s=0.0)
        schedule = [0.0, 0.001, 0.002]
        policy = FixedBatch(1)
        log = server.serve(schedule, policy, service, service.clock, max_s=60)
        filled = scenarios.settings(
            dict(scenario="server", qps=100, latency_target_ms=15, duration_s=0.001, min_queries=0)
        )
        m = server.server_metrics(filled, schedule, policy, log)
        self.assertEqual(m["latency_over_target"], 2)
        self.assertAlmostEqual(m["qps_completed"], 2 / 0.030)
        # the completed rate's share within the target: 1 query of 3
        self.assertAlmostEqual(m["goodput_qps"], (2 / 0.030) / 3)
        self.assertLessEqual(m["goodput_qps"], m["qps_completed"])
        self.assertAlmostEqual(m["queueing_p50_ms"], 9.0)
        self.assertAlmostEqual(m["compute_p50_ms"], 10.0)

    def test_timeout_batcher_sends_what_waited_its_delay(self):
        service = FakeService()
        log = server.serve([0.0, 0.002], TimeoutBatch(4, 0.010), service, service.clock, max_s=60)
        self.assertEqual(service.calls, [2])
        self.assertAlmostEqual(log.batches[0][0], 0.010)

    def test_timeout_batcher_sends_a_full_batch_at_once(self):
        service = FakeService()
        log = server.serve(
            [0.0, 0.001, 0.002, 0.003, 0.004], TimeoutBatch(4, 0.010), service, service.clock, 60
        )
        self.assertEqual(service.calls, [4, 1])
        self.assertAlmostEqual(log.batches[0][0], 0.003)

    def server(self, service, **job):
        job = dict(
            dict(scenario="server", qps=50, latency_target_ms=100, duration_s=20, min_queries=0), **job
        )
        return run(service, **job)

    def test_every_policy_serves_every_query_under_light_load(self):
        for policy in scenarios.POLICIES:
            service = FakeService()
            latencies, _, stopped_by, m = self.server(
                service, batching=policy, max_batch=8, max_queue_delay_ms=5
            )
            self.assertEqual(stopped_by, "all_queries", policy)
            self.assertEqual(m["queries_completed"], m["queries"], policy)
            self.assertEqual(len(latencies), m["queries"], policy)
            self.assertEqual(m["policy"], policy)
            self.assertEqual(sum(int(k) * v for k, v in m["batch_histogram"].items()), m["queries"])
            self.assertLessEqual(len(m["batch_sizes_over_time"]), 200)

    def test_overload_is_stopped_by_max_s_and_invalid(self):
        service = FakeService(base_s=0.05, per_item_s=0.0)
        _, _, stopped_by, m = self.server(service, qps=100, max_s=5, duration_s=5)
        self.assertEqual(stopped_by, "max_s")
        self.assertGreater(m["queries_unfinished"], 0)
        self.assertFalse(m["server_valid"])
        self.assertIn("unfinished", m["server_invalid_reason"])

    def test_early_stopping_decides_short_runs_as_loadgen(self):
        # With no query over the target LoadGen needs 459 queries at 99% (0.99**459 < 0.01).
        fast = dict(qps=10, duration_s=0.001, latency_target_ms=100)
        m = self.server(FakeService(), min_queries=459, **fast)[3]
        self.assertEqual((m["queries"], m["latency_over_target"]), (459, 0))
        self.assertTrue(m["server_valid"], m["server_invalid_reason"])
        m = self.server(FakeService(), min_queries=458, **fast)[3]
        self.assertFalse(m["server_valid"])
        self.assertIn("early stopping needs 459", m["server_invalid_reason"])
        # One query over: 662 queries pass, 661 do not (the last query's call is slow).
        for queries, valid in ((662, True), (661, False)):
            service = FakeService(times=[0.012] * (queries - 1) + [0.5])
            m = self.server(service, min_queries=queries, **fast)[3]
            self.assertEqual(m["latency_over_target"], 1)
            self.assertEqual(m["server_valid"], valid, m["server_invalid_reason"])

    def test_find_max_qps_converges_on_the_capacity(self):
        service = FakeService(base_s=0.012, per_item_s=0.0)  # one query at a time: 83.3 qps
        job = dict(latency_target_ms=1000, duration_s=60, min_queries=0)
        best, tried = scenarios.find_max_qps(job, service, service.clock, 10, 200, 10)
        self.assertEqual(len(tried), 10)
        self.assertLess(abs(best / (1 / 0.012) - 1), 0.05)
        self.assertFalse(
            self.server(service, qps=1.2 / 0.012, latency_target_ms=1000, duration_s=60)[3]["server_valid"]
        )


class OfflineTest(unittest.TestCase):
    def offline(self, service, fits=None, **job):
        job = dict(dict(scenario="offline", max_batch=64, min_iters=5, min_s=1.0), **job)
        return scenarios.run(job, service, service.clock, max_batch_fits=fits)

    def test_the_largest_doubling_the_callback_allows(self):
        service = FakeService()
        samples, wall_s, _, m = self.offline(service, fits=lambda n: n <= 40)
        self.assertEqual(m["offline_batch"], 32)
        self.assertEqual(
            m["batch_sizes_probed"],
            [[1, True], [2, True], [4, True], [8, True], [16, True], [32, True], [64, False]],
        )
        self.assertEqual(set(service.calls), {32})
        self.assertAlmostEqual(m["throughput_ips"], 32 / 0.074)

    def test_the_largest_batch_that_runs_without_running_out_of_memory(self):
        service = FakeService(fits_up_to=24)
        m = self.offline(service)[3]
        self.assertEqual(m["offline_batch"], 16)
        self.assertEqual(m["batch_sizes_probed"][-1], [32, False])
        self.assertLessEqual(set(service.calls), set(offline.candidate_sizes(64)))

    def test_capped_by_max_batch(self):
        service = FakeService()
        self.assertEqual(self.offline(service, max_batch=12)[3]["offline_batch"], 12)
        self.assertEqual(set(service.calls), {1, 2, 4, 8, 12})
        self.assertEqual(offline.candidate_sizes(12), [1, 2, 4, 8, 12])

    def test_a_batch_of_one_that_fails_fails_the_trial(self):
        with self.assertRaises(MemoryError):
            self.offline(FakeService(fits_up_to=0))


if __name__ == "__main__":
    unittest.main()
