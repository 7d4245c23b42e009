"""TVM backend, on a library compiled from models/examples/dws_cnn.onnx by the host's compile step;
skipped where TVM (and numpy) is absent, as under the Jetson's Python 3.6. Its refusal when
TVM is missing is tested everywhere."""

import importlib.util
import os
import shutil
import sys
import tempfile
import unittest

from agent.backends import BackendError, get_backend
from agent.trial import run_trial

from .helpers import DWS_CNN, HAVE_NUMPY, HAVE_ORT, Collector

try:
    from unittest import mock
except ImportError:  # pragma: no cover (3.3+ has it)
    mock = None

HAVE_TVM = importlib.util.find_spec("tvm") is not None


class TvmMissingTest(unittest.TestCase):
    def test_a_device_without_tvm_is_told_what_to_install(self):
        with mock.patch.dict(sys.modules, {"tvm": None}):  # `import tvm` raises ImportError
            with self.assertRaises(BackendError) as refused:
                get_backend("tvm")
        message = str(refused.exception)
        self.assertIn("tvm cannot be imported", message)
        self.assertIn("pip3 install apache-tvm==", message)


def compile_native(model_path, folder):
    """The host's compile step (edgebench.orchestrator: Python 3.9+, only where TVM is)."""
    from pathlib import Path

    from edgebench.orchestrator.compile.tvm_build import compile_model
    from edgebench.orchestrator.modelinfo import inspect_model

    out = os.path.join(folder, "dws_cnn.so")
    compile_model(inspect_model(Path(model_path)), {}, "native", Path(out))
    return out


@unittest.skipUnless(HAVE_TVM and HAVE_NUMPY, "tvm is not installed")
@unittest.skipUnless(os.path.isfile(DWS_CNN), "models/examples/dws_cnn.onnx is missing")
class TvmTrialTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="edgebench-tvm-")
        cls.library = compile_native(DWS_CNN, cls.folder)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.folder)

    def setUp(self):
        # The backend sets TVM_NUM_THREADS in this process: put it back after each test.
        patcher = mock.patch.dict(os.environ)
        patcher.start()
        self.addCleanup(patcher.stop)

    def trial(self, trial_id, **extra):
        job = {
            "trial_id": trial_id,
            "backend": "tvm",
            "model": self.library,
            "quick": True,
            "min_iters": 3,
            "min_s": 0.05,
            "backend_options": {"intra_op_threads": 1},
        }
        job.update(extra)
        emit = Collector()
        return run_trial(job, emit), emit

    def test_inputs_come_from_the_library_itself(self):
        backend = get_backend("tvm")
        backend.load(self.library, {})
        self.assertEqual(backend.inputs(), [("input", "tensor(float)", ["batch", 3, 32, 32])])
        info = backend.info()
        self.assertEqual((info["runtime"], info["target"]), ("tvm", "native"))
        self.assertEqual(info["version"], info["compiled_with"])
        self.assertIsNone(info["intra_op_threads"])  # not asked for: the runtime's own count

    def test_a_trial_at_two_batch_sizes(self):
        for batch in (1, 2):
            status, emit = self.trial("tvm_b%d" % batch, batch=batch)
            self.assertEqual(status, "ok", emit.records)
            result = emit.of_type("result")[0]
            metrics, env = result["metrics"], result["env"]
            self.assertEqual(env["runtime"], "tvm")
            self.assertEqual(env["intra_op_threads"], 1)
            self.assertEqual(os.environ.get("TVM_NUM_THREADS"), "1")
            self.assertGreaterEqual(metrics["iterations"], 3)
            self.assertGreater(metrics["latency_p50_ms"], 0)
            self.assertAlmostEqual(metrics["model_size_mb"], os.path.getsize(self.library) / 1048576.0)
            self.assertEqual(result["output_check"]["shapes"], [[batch, 10]])

    @unittest.skipUnless(HAVE_ORT, "onnxruntime is not installed")
    def test_outputs_match_onnx_runtime(self):
        import numpy
        import onnxruntime

        from agent.inputs import make_feed

        backend = get_backend("tvm")
        backend.load(self.library, {})
        feed = make_feed(backend.inputs(), 4, {}, seed=3)
        expected = onnxruntime.InferenceSession(DWS_CNN, providers=["CPUExecutionProvider"]).run(None, feed)
        (got,) = backend.run(feed)
        self.assertEqual(got.shape, (4, 10))
        numpy.testing.assert_allclose(got, expected[0], atol=1e-4, rtol=1e-3)

    def test_a_file_that_is_not_a_library_fails_the_trial_clearly(self):
        path = os.path.join(self.folder, "garbage.so")
        with open(path, "wb") as stream:
            stream.write(b"not a shared library" * 10)
        status, emit = self.trial("tvm_garbage", model=path)
        self.assertEqual(status, "failed")
        error = emit.of_type("error")[0]
        self.assertEqual(error["kind"], "BackendError")
        self.assertIn("cannot load", error["error"])
        self.assertIn("garbage.so", error["error"])

    def test_a_library_not_compiled_by_edgebench_is_refused(self):
        import onnx
        import tvm
        from onnx import TensorProto, helper
        from tvm.relax.frontend.onnx import from_onnx

        value = helper.make_tensor_value_info
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])],
            "plain",
            [value("x", TensorProto.FLOAT, [1, 4])],
            [value("y", TensorProto.FLOAT, [1, 4])],
        )
        plain = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(plain)
        path = os.path.join(self.folder, "plain.so")
        tvm.compile(from_onnx(plain), target="llvm").export_library(path)  # no edgebench_io
        with self.assertRaises(BackendError) as refused:
            get_backend("tvm").load(path, {})
        self.assertIn("edgebench compile", str(refused.exception))


if __name__ == "__main__":
    unittest.main()
