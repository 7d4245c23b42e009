import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from agent import bench
from agent.backends import BackendError, backend_names, get_backend
from agent.spool import Tee
from agent.trial import JobError, normalize_job, run_trial

from .helpers import HAVE_ORT, METRIC_KEYS, REPO, Collector, null_job


class NormalizeJobTest(unittest.TestCase):
    def test_defaults(self):
        job = normalize_job({"trial_id": "a"})
        self.assertEqual(job["backend"], "onnxruntime")
        self.assertEqual(job["batch"], 1)
        self.assertEqual(job["seed"], 0)
        self.assertEqual(job["shapes"], {})
        for key, value in bench.DEFAULTS.items():
            self.assertEqual(job[key], value, msg=key)

    def test_quick_profile_and_explicit_values_win(self):
        job = normalize_job({"trial_id": "a", "quick": True, "min_iters": 5, "min_s": 0})
        self.assertEqual(job["min_iters"], 5)
        self.assertEqual(job["min_s"], 0)  # an explicit 0 is kept, not replaced by the default
        self.assertEqual(job["max_s"], bench.QUICK["max_s"])
        self.assertEqual(job["warmup_iters"], bench.QUICK["warmup_iters"])

    def test_does_not_modify_the_caller_job(self):
        original = {"trial_id": "a"}
        normalize_job(original)
        self.assertEqual(original, {"trial_id": "a"})

    def test_bad_jobs(self):
        bad = [
            None,
            [],
            "job",
            {},
            {"trial_id": ""},
            {"trial_id": 3},
            {"trial_id": "a", "batch": 0},
            {"trial_id": "a", "batch": -1},
            {"trial_id": "a", "batch": "2"},
            {"trial_id": "a", "batch": 1.5},
            {"trial_id": "a", "batch": True},
            {"trial_id": "a", "shapes": [1, 2]},
            {"trial_id": "../x"},
            {"trial_id": "/abs"},
            {"trial_id": ".."},
        ]
        for job in bad:
            with self.assertRaises(JobError, msg=repr(job)):
                normalize_job(job)


class BackendRegistryTest(unittest.TestCase):
    def test_names(self):
        self.assertEqual(backend_names(), ["null", "onnxruntime", "tensorrt", "tvm"])

    def test_unknown_backend_lists_valid_ones(self):
        with self.assertRaises(BackendError) as ctx:
            get_backend("tensorflow")
        for name in ("tensorflow", "null", "onnxruntime"):
            self.assertIn(name, str(ctx.exception))


class Out(object):
    """A stream that keeps what is written to it."""

    def __init__(self):
        self.written = []

    def write(self, text):
        self.written.append(text)

    def flush(self):
        pass


class NullTrialTest(unittest.TestCase):
    def run_job(self, job):
        emit = Collector()
        status = run_trial(job, emit)
        return status, emit

    def test_quick_null_trial(self):
        status, emit = self.run_job({"trial_id": "quick1", "backend": "null", "quick": True})
        self.assertEqual(status, "ok")
        self.assertEqual(emit.types, ["trial_start", "result", "trial_end"])
        self.assertTrue(all(r["trial_id"] == "quick1" for r in emit.records))
        start, result, end = emit.records
        self.assertEqual(end["status"], "ok")
        self.assertEqual(start["job"]["min_iters"], bench.QUICK["min_iters"])
        metrics = result["metrics"]
        for key in METRIC_KEYS:
            self.assertIn(key, metrics)
        self.assertIsNone(metrics["model_size_mb"])
        self.assertGreaterEqual(metrics["iterations"], bench.QUICK["min_iters"])
        self.assertIn(metrics["stopped_by"], ("min_iters_and_min_s", "max_iters", "max_s"))
        self.assertGreaterEqual(metrics["warmup_iterations"], bench.QUICK["warmup_iters"])
        self.assertIsNone(result["samples_ms"])  # null keeps no samples unless asked
        self.assertEqual(result["env"]["runtime"], None)

    def test_metrics_are_consistent(self):
        status, emit = self.run_job(null_job("m1", batch=3, min_iters=50, max_iters=50, keep_samples=True))
        self.assertEqual(status, "ok")
        result = emit.of_type("result")[0]
        m = result["metrics"]
        self.assertEqual(m["iterations"], 50)
        self.assertEqual(m["stopped_by"], "max_iters")
        chain = [
            m[k]
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
        self.assertGreater(m["throughput_ips"], 0)
        self.assertAlmostEqual(m["throughput_ips"], 50 * 3 / m["timed_wall_s"], places=3)
        self.assertAlmostEqual(m["latency_per_sample_ms"], m["latency_p50_ms"] / 3)
        self.assertAlmostEqual(min(result["samples_ms"]), m["latency_min_ms"])
        self.assertGreater(m["peak_rss_mb"], 0)
        self.assertIn("system_memory", result["env"])

    def test_min_iters_reached(self):
        status, emit = self.run_job(null_job("m2", min_iters=77, min_s=0.0, max_iters=10**6))
        self.assertEqual(emit.of_type("result")[0]["metrics"]["iterations"], 77)

    def test_keep_samples_false(self):
        status, emit = self.run_job(null_job("m3", keep_samples=False))
        self.assertEqual(status, "ok")
        self.assertIsNone(emit.of_type("result")[0]["samples_ms"])

    def test_null_trial_does_not_import_numpy(self):
        # the null backend must work on a device with only the standard library
        code = (
            "import sys\n"
            "from agent.trial import run_trial\n"
            "records = []\n"
            "status = run_trial(%r, records.append)\n"
            "assert status == 'ok', records\n"
            "bad = [m for m in ('numpy', 'onnxruntime') if m in sys.modules]\n"
            "assert not bad, bad\n" % (null_job("m4"),)
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)


class BadJobTest(unittest.TestCase):
    def assert_failed(self, job):
        emit = Collector()
        status = run_trial(job, emit)  # must not raise
        self.assertEqual(status, "failed")
        self.assertEqual(emit.types[-2:], ["error", "trial_end"], msg=repr(job))
        self.assertNotIn("result", emit.types)
        self.assertEqual(emit.records[-1]["status"], "failed")
        error = emit.of_type("error")[0]
        self.assertTrue(error["error"])
        self.assertNotIn("\n", error["error"])
        return error

    def test_missing_trial_id(self):
        error = self.assert_failed({"backend": "null", "quick": True})
        self.assertIsNone(error["trial_id"])
        self.assertIn("trial_id", error["error"])

    def test_batch_zero(self):
        error = self.assert_failed(null_job("b0", batch=0))
        self.assertEqual(error["trial_id"], "b0")
        self.assertIn("batch", error["error"])

    def test_not_an_object(self):
        for job in (None, [1, 2], "run"):
            self.assert_failed(job)

    def test_unknown_backend(self):
        error = self.assert_failed(null_job("u1", backend="tensorflow"))
        self.assertIn("tensorflow", error["error"])
        self.assertIn("null", error["error"])
        self.assertIn("onnxruntime", error["error"])
        self.assertEqual(error["kind"], "BackendError")

    def test_model_file_missing_for_onnxruntime(self):
        missing = os.path.join(tempfile.gettempdir(), "edgebench-no-such-model.onnx")
        error = self.assert_failed(
            {"trial_id": "nomodel", "backend": "onnxruntime", "model": missing, "quick": True}
        )
        if HAVE_ORT:
            self.assertIn("not found", error["error"])
            self.assertIn("edgebench-no-such-model.onnx", error["error"])
        else:
            self.assertIn("not available", error["error"])
        self.assert_failed({"trial_id": "nomodel2", "backend": "onnxruntime", "quick": True})

    def test_unsafe_trial_ids_fail_cleanly_and_write_nothing(self):
        workdir = tempfile.mkdtemp(prefix="edgebench-wd-")
        self.addCleanup(shutil.rmtree, workdir)
        spool_dir = os.path.join(workdir, "deep", "dir")
        for trial_id in ("../x", "/abs", ".", "..", "a/b", "x\n", 5, ["l"]):
            out = Out()
            tee = Tee(out, spool_dir)
            self.assertEqual(run_trial(null_job(trial_id), tee.emit), "failed", msg=repr(trial_id))
            self.assertEqual(len(out.written), 2)
        self.assertEqual(os.listdir(workdir), [])  # nothing spooled anywhere

    def test_crash_inside_the_runtime_fails_the_trial(self):
        with mock.patch("agent.backends.null.Backend.run", side_effect=RuntimeError("boom")):
            error = self.assert_failed(null_job("crash1"))
        self.assertEqual(error["kind"], "crash")
        self.assertIn("boom", error["error"])

    def test_bad_timing_value_fails_the_trial(self):
        self.assert_failed(null_job("bad_timing", min_iters="many"))


if __name__ == "__main__":
    unittest.main()


class ScenarioTrialTest(unittest.TestCase):
    """Scenarios through a whole trial (null backend: the harness only, no runtime needed)."""

    def result_of(self, **extra):
        emit = Collector()
        status = run_trial(null_job(**extra), emit)
        self.assertEqual(status, "ok", emit.records)
        return emit.records[1]["metrics"]

    def test_offline_finds_its_batch_and_counts_each_input(self):
        metrics = self.result_of(scenario="offline", max_batch=8)
        self.assertEqual(metrics["offline_batch"], 8)
        self.assertEqual([size for size, _ in metrics["batch_sizes_probed"]], [1, 2, 4, 8])
        # one sample is one call of 8 inputs: per-sample latency is an eighth of the call's
        self.assertAlmostEqual(metrics["latency_per_sample_ms"], metrics["latency_p50_ms"] / 8)

    def test_a_server_measures_queries_and_the_search_happens_before_the_window(self):
        metrics = self.result_of(
            scenario="server", latency_target_ms=50.0, find_max_qps=True, batching="timeout", max_batch=4
        )
        self.assertEqual(metrics["scenario"], "server")
        self.assertGreater(len(metrics["max_qps_tried"]), 0)
        self.assertEqual(metrics["scenario_setting"], "max qps search, timeout batching, target 50 ms")
        self.assertEqual(metrics["queries_completed"], metrics["iterations"])  # a sample per query

    def test_a_bad_scenario_option_fails_the_job_in_one_line(self):
        emit = Collector()
        status = run_trial(null_job(scenario="stream"), emit)
        self.assertEqual(status, "failed")
        self.assertIn("fps", emit.records[-2]["error"])
