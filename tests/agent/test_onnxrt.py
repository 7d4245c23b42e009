"""ONNX Runtime backend, on a real model; skipped where onnxruntime (and numpy) is absent."""

import os
import shutil
import tempfile
import unittest

from agent.inputs import InputSpecError, make_feed
from agent.trial import run_trial

from .helpers import DWS_CNN, HAVE_NUMPY, HAVE_ORT, Collector

SPEC = [("input", "tensor(float)", ["batch", 3, 32, 32])]


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed")
class MakeFeedTest(unittest.TestCase):
    def test_deterministic_for_a_seed(self):
        import numpy

        a = make_feed(SPEC, 2, {}, seed=0)["input"]
        b = make_feed(SPEC, 2, {}, seed=0)["input"]
        c = make_feed(SPEC, 2, {}, seed=1)["input"]
        self.assertEqual(a.shape, (2, 3, 32, 32))
        self.assertEqual(a.dtype, numpy.float32)
        self.assertTrue(numpy.array_equal(a, b))
        self.assertFalse(numpy.array_equal(a, c))

    def test_types(self):
        import numpy

        specs = [
            ("ids", "tensor(int64)", ["batch", 7]),
            ("mask", "tensor(bool)", ["batch", 7]),
            ("half", "tensor(float16)", [1, 4]),
        ]
        feed = make_feed(specs, 1, {}, seed=3)
        self.assertEqual(feed["ids"].dtype, numpy.int64)
        self.assertEqual(feed["mask"].dtype, numpy.bool_)
        self.assertEqual(feed["half"].dtype, numpy.float16)
        self.assertEqual(feed["ids"].shape, (1, 7))

    def test_unsupported_type_and_unresolved_shape(self):
        with self.assertRaises(InputSpecError):
            make_feed([("text", "tensor(string)", [1])], 1, {}, 0)
        with self.assertRaises(InputSpecError):
            make_feed([("img", "tensor(float)", ["batch", 3, "h", "w"])], 1, {}, 0)
        feed = make_feed([("img", "tensor(float)", ["batch", 3, "h", "w"])], 1, {"img": [1, 3, 8, 9]}, 0)
        self.assertEqual(feed["img"].shape, (1, 3, 8, 9))


@unittest.skipUnless(HAVE_ORT and HAVE_NUMPY, "onnxruntime is not installed")
@unittest.skipUnless(os.path.isfile(DWS_CNN), "models/examples/dws_cnn.onnx is missing")
class OnnxTrialTest(unittest.TestCase):
    def trial(self, trial_id, **extra):
        job = {
            "trial_id": trial_id,
            "backend": "onnxruntime",
            "model": DWS_CNN,
            "quick": True,
            "backend_options": {"intra_op_threads": 1},
        }
        job.update(extra)
        emit = Collector()
        status = run_trial(job, emit)
        return status, emit

    def test_batch_1_and_4(self):
        import onnxruntime

        for batch in (1, 4):
            status, emit = self.trial("ort_b%d" % batch, batch=batch)
            self.assertEqual(status, "ok", emit.records)
            self.assertEqual(emit.types, ["trial_start", "result", "trial_end"])
            result = emit.of_type("result")[0]
            metrics, env = result["metrics"], result["env"]
            self.assertGreater(metrics["model_size_mb"], 0)
            self.assertAlmostEqual(metrics["model_size_mb"], os.path.getsize(DWS_CNN) / 1048576.0)
            self.assertEqual(env["providers"], ["CPUExecutionProvider"])
            self.assertEqual(env["intra_op_threads"], 1)
            self.assertEqual(env["runtime"], "onnxruntime")
            self.assertEqual(env["version"], onnxruntime.__version__)
            self.assertGreaterEqual(metrics["iterations"], 20)
            self.assertGreater(metrics["latency_p50_ms"], 0)
            self.assertAlmostEqual(
                metrics["throughput_ips"], metrics["iterations"] * batch / metrics["timed_wall_s"], places=3
            )
            self.assertGreater(metrics["peak_rss_mb"], 0)
            self.assertIsNotNone(metrics["load_s"])

    def test_unknown_provider(self):
        status, emit = self.trial("ort_prov", backend_options={"providers": ["NoSuchExecutionProvider"]})
        self.assertEqual(status, "failed")
        error = emit.of_type("error")[0]
        self.assertIn("NoSuchExecutionProvider", error["error"])
        self.assertIn("CPUExecutionProvider", error["error"])

    def test_file_that_is_not_onnx(self):
        tmp = tempfile.mkdtemp(prefix="edgebench-ort-")
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, "garbage.onnx")
        with open(path, "wb") as f:
            f.write(b"this is not a protobuf" * 10)
        status, emit = self.trial("ort_garbage", model=path)
        self.assertEqual(status, "failed")
        error = emit.of_type("error")[0]
        self.assertEqual(error["kind"], "BackendError")
        self.assertIn("garbage.onnx", error["error"])

    def test_shape_override_the_model_rejects(self):
        status, emit = self.trial("ort_shape", shapes={"input": [1, 3, 64, 64]}, warmup_iters=1)
        self.assertEqual(status, "failed")
        self.assertEqual(emit.types[-2:], ["error", "trial_end"])


if __name__ == "__main__":
    unittest.main()
