"""The TensorRT backend against fake `tensorrt` 8.2 and 10.x packages, fake CUDA bindings and a
fake trtexec (tests/agent/fake_trt/). Building, caching, refusing and loading need no numpy (as
on a device where only TensorRT is installed); running an engine does, and is skipped without it.
TensorRT itself has not run here: these fakes follow its APIs, not its numbers."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from agent.backends import BackendError, cuda_buffers, get_backend
from agent.backends import tensorrt as trt_backend
from agent.inputs import InputSpecError
from agent.telemetry.trtexec import UNKNOWN_OPTION, parse_trtexec
from agent.trial import run_trial

from . import fake_trt
from .fake_trt import fake_cuda, fakegpu, trtcore
from .helpers import HAVE_NUMPY, Collector

NEEDS_NUMPY = unittest.skipUnless(HAVE_NUMPY, "numpy is not installed")
CUDA_MODULES = ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart", "pycuda", "pycuda.driver")


def reference(x):
    """What the fake network computes, in float32."""
    import numpy

    flat = x.reshape(x.shape[0], -1).astype(numpy.float32)
    return [flat.dot(numpy.array(trtcore.WEIGHTS, dtype=numpy.float32)), flat.sum(axis=1, keepdims=True)]


class FakeDevice(object):
    """A device with the fake TensorRT of `version`, the fake GPU `gpu`, libcudart through
    ctypes only (no cuda-python, no pycuda) and a workdir holding models/model.onnx."""

    def __init__(self, test, version, gpu=fakegpu.NANO):
        self.test, self.version = test, version
        fakegpu.configure(gpu)
        self.workdir = tempfile.mkdtemp(prefix="edgebench-trt-")
        test.addCleanup(shutil.rmtree, self.workdir)
        os.makedirs(os.path.join(self.workdir, "models"))
        self.model = trtcore.write_model(os.path.join(self.workdir, "models", "model.onnx"))
        self.engines = os.path.join(self.workdir, "engines")
        self.trt = fake_trt.load_tensorrt(version)
        self.loader = fake_cuda.libcudart_loader()
        self.swap_modules(dict({"tensorrt": self.trt}, **dict((name, None) for name in CUDA_MODULES)))
        patcher = mock.patch.object(cuda_buffers, "load_library", self.loader)
        patcher.start()
        test.addCleanup(patcher.stop)

    def swap_modules(self, entries):
        """sys.modules entries for the test only (patch.dict would also drop numpy afterwards)."""
        saved = dict((name, sys.modules[name]) for name in entries if name in sys.modules)

        def restore():
            for name in entries:
                sys.modules.pop(name, None)
            sys.modules.update(saved)

        self.test.addCleanup(restore)
        for name, module in entries.items():
            sys.modules[name] = module

    def load(self, **options):
        backend = get_backend("tensorrt")
        backend.load(options.pop("model", self.model), dict({"batch": 2}, **options))
        return backend

    def engine_files(self):
        if not os.path.isdir(self.engines):
            return []
        return sorted(name for name in os.listdir(self.engines) if name.endswith(".engine"))

    def trtexec(self, library_version=None):
        return fake_trt.write_trtexec(self.workdir, self.version, library_version)


class Builds(object):
    """Counts the fake TensorRT's API builds (trtcore.build), in this process."""

    def __init__(self, test):
        self.count = 0
        real = trtcore.build

        def counting(*args):
            self.count += 1
            return real(*args)

        patcher = mock.patch.object(trtcore, "build", counting)
        patcher.start()
        test.addCleanup(patcher.stop)


class BothVersions(object):
    """Tests every TensorRT version must pass; mixed into one TestCase per fake version."""

    version = None

    def device(self, gpu=fakegpu.NANO):
        return FakeDevice(self, self.version, gpu)

    def test_builds_once_then_loads_the_cached_engine(self):
        device, builds = self.device(), Builds(self)
        first = device.load().info()
        self.assertEqual(first["engine"]["source"], "built")
        self.assertEqual(builds.count, 1)
        self.assertEqual(device.engine_files(), [os.path.basename(first["engine"]["path"])])
        self.assertTrue(first["engine"]["path"].startswith(device.engines))  # WORKDIR/engines
        self.assertGreaterEqual(first["engine"]["build_s"], 0)
        second = device.load().info()
        self.assertEqual(second["engine"]["source"], "cache")
        self.assertEqual(builds.count, 1, "the second load must not build")
        self.assertEqual(second["engine"]["path"], first["engine"]["path"])
        self.assertEqual(second["engine"]["build_s"], first["engine"]["build_s"])  # from KEY.json
        self.assertEqual(second["version"], device.trt.__version__)
        self.assertFalse([n for n in os.listdir(device.engines) if ".tmp" in n], "no temporary file left")

    def test_cache_key_changes_with_precision_version_gpu_and_shape(self):
        device = self.device(fakegpu.ORIN)
        paths = set()
        paths.add(device.load()._engine["path"])
        paths.add(device.load(precision="fp16")._engine["path"])
        paths.add(device.load(batch=4)._engine["path"])
        self.assertEqual(device.load(precision="fp16").info()["engine"]["source"], "cache")
        with mock.patch.object(device.trt, "__version__", "10.0.1.6" if self.version == "10" else "8.2.3.0"):
            paths.add(device.load()._engine["path"])
        fakegpu.configure(dict(fakegpu.ORIN, name="NVIDIA Jetson AGX Orin"))
        paths.add(device.load()._engine["path"])
        self.assertEqual(len(paths), 5)
        self.assertEqual(len(device.engine_files()), 5)

    def test_fp16_is_refused_where_the_gpu_has_no_fast_fp16(self):
        device, builds = self.device(fakegpu.PASCAL), Builds(self)
        with self.assertRaises(BackendError) as caught:
            device.load(precision="fp16")
        message = str(caught.exception)
        self.assertIn("platform_has_fast_fp16 is false", message)
        self.assertIn("NVIDIA GeForce GTX 1080, compute 6.1", message)
        self.assertIn("precision fp32", message)
        self.assertEqual((builds.count, device.engine_files()), (0, []))

    def test_int8_is_refused_on_a_nano_without_building(self):
        device, builds = self.device(fakegpu.NANO), Builds(self)
        with self.assertRaises(BackendError) as caught:
            device.load(precision="int8")
        message = str(caught.exception)
        self.assertIn("int8: this GPU (NVIDIA Tegra X1, compute 5.3) has no int8 path in TensorRT", message)
        self.assertIn("onnxruntime", message)
        self.assertEqual((builds.count, device.engine_files()), (0, []))

    def test_reduced_precision_without_builder_flags_is_refused(self):
        device = self.device(fakegpu.ORIN)  # as TensorRT 11, which types networks by the model
        flags = trtcore.make_enum("BuilderFlag", ["DEBUG", "GPU_FALLBACK", "REFIT"])
        with mock.patch.object(device.trt, "BuilderFlag", flags):
            with self.assertRaises(BackendError) as caught:
                device.load(precision="fp16")
        self.assertIn("has no FP16 builder flag", str(caught.exception))

    def test_int8_needs_a_calibration_cache_or_a_quantized_model(self):
        device = self.device(fakegpu.ORIN)
        with self.assertRaises(BackendError) as caught:
            device.load(precision="int8")
        self.assertIn("calibration_cache", str(caught.exception))
        cache = os.path.join(device.workdir, "calibration.cache")
        with open(cache, "wb") as f:
            f.write(b"TRT-8201-EntropyCalibration2\ninput: 3c010a14\n")
        calibrated = device.load(precision="int8", calibration_cache=cache).info()
        self.assertEqual((calibrated["precision"], calibrated["engine"]["source"]), ("int8", "built"))
        with open(cache, "ab") as f:
            f.write(b"logits: 3d8b2a1c\n")  # another cache: another engine
        self.assertNotEqual(device.load(precision="int8", calibration_cache=cache)._engine["path"],
                            calibrated["engine"]["path"])  # fmt: skip
        quantized = trtcore.write_model(os.path.join(device.workdir, "models", "qdq.onnx"), quantized=True)
        self.assertEqual(device.load(model=quantized, precision="int8").info()["engine"]["source"], "built")
        with self.assertRaises(BackendError) as caught:
            device.load(precision="int8", calibration_cache=cache + ".missing")
        self.assertIn("calibration cache", str(caught.exception))

    def _make_stale(self, path, **changes):
        with open(path, "rb") as f:
            payload = trtcore.deserialize(f.read())
        payload.update(changes)
        with open(path, "wb") as f:
            f.write(trtcore.serialize(payload))

    def test_engine_of_another_tensorrt_is_removed_and_rebuilt_once(self):
        device, builds = self.device(), Builds(self)
        path = device.load()._engine["path"]
        self._make_stale(path, version="10.0.1.6" if self.version == "10" else "8.2.0.6")
        engine = device.load().info()["engine"]
        self.assertEqual((engine["source"], builds.count), ("rebuilt", 2))
        self.assertIn("was built by another TensorRT version or for another GPU", engine["rebuilt_because"])
        self.assertIn("rebuild", engine["rebuilt_because"])
        with open(path, "rb") as f:
            self.assertEqual(trtcore.deserialize(f.read())["version"], device.trt.__version__)
        self.assertEqual(device.load().info()["engine"]["source"], "cache")

    def test_engine_for_another_gpu_is_a_clear_error_when_rebuilding_is_off(self):
        device = self.device()
        path = device.load()._engine["path"]
        self._make_stale(path, gpu={"name": "Xavier", "compute": [7, 2]})
        with self.assertRaises(BackendError) as caught:
            device.load(rebuild_on_mismatch=False)
        message = str(caught.exception)
        self.assertIn("was built by another TensorRT version or for another GPU", message)
        self.assertIn("expecting compute 5.3 got compute 7.2", message)
        self.assertIn("removed: rebuild it", message)
        self.assertFalse(os.path.exists(path), "the stale engine is dropped")
        self.assertEqual(device.load().info()["engine"]["source"], "built")

    def test_truncated_engine_is_not_called_a_version_mismatch(self):
        device = self.device()
        path = device.load()._engine["path"]
        with open(path, "wb") as f:
            f.write(b"\0" * 64)
        engine = device.load().info()["engine"]
        self.assertEqual(engine["source"], "rebuilt")
        self.assertIn("cannot be deserialized", engine["rebuilt_because"])
        self.assertIn("Magic tag does not match", engine["rebuilt_because"])

    def test_trtexec_builds_and_its_report_is_kept(self):
        device = self.device()
        env = dict(fakegpu.environ())
        with mock.patch.dict(os.environ, env):
            info = device.load(builder="trtexec", trtexec_path=device.trtexec()).info()
        report = info["trtexec"]
        self.assertEqual(info["engine"]["source"], "built")
        self.assertEqual(report["exit_status"], 0)
        self.assertEqual(report["status"], "passed")
        expected = {"8.2": ("8.2.1", 11.0613, 90.3035), "10": ("10.3.0", 318.007, 3.14062)}[self.version]
        self.assertEqual(
            (report["tensorrt_version"], report["throughput_qps"], report["latency"]["median_ms"]), expected
        )
        workspace = "--workspace=256" if self.version == "8.2" else "--memPoolSize=workspace:256"
        self.assertIn(workspace, report["argv"])
        self.assertIn("--shapes=input:2x4", report["argv"])
        self.assertIn("--minShapes=input:1x4", report["argv"])
        self.assertEqual(report["log_path"], info["engine"]["path"][: -len(".engine")] + ".trtexec.log")
        self.assertTrue(os.path.isfile(report["log_path"]))
        self.assertFalse([n for n in os.listdir(device.engines) if ".tmp" in n], "no temporary file left")
        again = device.load(builder="trtexec", trtexec_path="/nonexistent/trtexec").info()
        self.assertEqual(again["engine"]["source"], "cache")
        self.assertTrue(again["trtexec"]["from_build_of_cached_engine"])
        self.assertEqual(again["trtexec"]["throughput_qps"], expected[1])

    def test_trtexec_of_another_tensorrt_build_is_named(self):
        device = self.device()
        other = "10.0.1.6" if self.version == "10" else "8.2.3.0"
        with mock.patch.dict(os.environ, fakegpu.environ()):
            with self.assertRaises(BackendError) as caught:
                device.load(builder="trtexec", trtexec_path=device.trtexec(library_version=other))
        message = str(caught.exception)
        self.assertIn("trtexec (TensorRT %s) just built cannot be loaded" % {"8.2": "8.2.1", "10": "10.3.0"}[self.version],
                      message)  # fmt: skip
        self.assertIn("tensorrt %s" % device.trt.__version__, message)

    def test_missing_trtexec(self):
        device = self.device()
        with self.assertRaises(BackendError) as caught:
            device.load(builder="trtexec", trtexec_path=os.path.join(device.workdir, "no-trtexec"))
        self.assertIn("trtexec cannot be run at", str(caught.exception))
        self.assertIn("libnvinfer-bin", str(caught.exception))

    def test_an_engine_folder_that_cannot_be_written(self):
        device = self.device()
        blocker = os.path.join(device.workdir, "not-a-folder")
        with open(blocker, "w") as f:
            f.write("a file where the engine folder would go")
        with self.assertRaises(BackendError) as caught:
            device.load(engine_dir=os.path.join(blocker, "engines"))
        self.assertIn(
            "cannot write the engine cache in %s" % os.path.join(blocker, "engines"), str(caught.exception)
        )

    def test_gpu_memory_is_recorded(self):
        device = self.device()
        free_before, total = fakegpu.mem_info()
        info = device.load().info()
        free_after, _ = fakegpu.mem_info()
        self.assertAlmostEqual(info["gpu_memory_used_mib"], (free_before - free_after) / 1048576.0)
        self.assertGreater(info["gpu_memory_used_mib"], 1.0)  # weights, activations, buffers
        self.assertEqual(info["gpu_memory_total_mib"], total / 1048576.0)
        self.assertEqual(info["engine"]["device_memory_mib"], 2.0)  # the fake's activations at batch 2

    def test_declared_inputs_and_the_runtime_facts(self):
        device = self.device()
        backend = device.load()
        self.assertEqual(backend.inputs(), [("input", "tensor(float)", [-1, 4])])
        info = backend.info()
        self.assertEqual(info["api"], "binding" if self.version == "8.2" else "tensor")
        self.assertEqual(
            (info["buffers"], info["gpu"], info["compute_capability"]), ("ctypes", "NVIDIA Tegra X1", "5.3")
        )
        self.assertEqual(device.loader.loaded, ["libcudart.so.10.2"])  # after the names that are absent
        self.assertEqual(info["engine"]["profile"], {"input": [[1, 4], [2, 4], [2, 4]]})

    def test_a_file_tensorrt_cannot_parse(self):
        device = self.device()
        garbage = os.path.join(device.workdir, "models", "garbage.onnx")
        with open(garbage, "wb") as f:
            f.write(b"not a protobuf")
        with self.assertRaises(BackendError) as caught:
            device.load(model=garbage)
        self.assertIn("cannot parse %s" % garbage, str(caught.exception))

    @NEEDS_NUMPY
    def test_outputs_match_the_network_and_reduced_precision_is_close(self):
        import numpy

        device = self.device()
        x = numpy.random.RandomState(0).standard_normal((2, 4)).astype(numpy.float32)
        backend = device.load()
        fp32 = backend.run({"input": x})
        for got, want in zip(fp32, reference(x)):
            numpy.testing.assert_array_equal(got, want)
        self.assertEqual(backend._session.logger.lines, [], "TensorRT warned (a default stream?)")
        fp16 = device.load(precision="fp16").run({"input": x})
        for got, want in zip(fp16, reference(x)):
            numpy.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)
        self.assertFalse(numpy.array_equal(fp16[0], fp32[0]), "an fp16 engine is not the fp32 one")

    @NEEDS_NUMPY
    def test_an_engine_is_built_at_the_first_run_when_load_cannot_know_the_batch(self):
        import numpy

        device, builds = self.device(), Builds(self)
        backend = get_backend("tensorrt")
        backend.load(device.model, {})
        self.assertEqual((builds.count, backend.info()["engine"]), (0, None))
        x3 = numpy.ones((3, 4), dtype=numpy.float32)
        backend.run({"input": x3})
        self.assertEqual(backend.info()["engine"]["profile"], {"input": [[1, 4], [3, 4], [3, 4]]})
        out = backend.run({"input": x3[:2]})  # a smaller last chunk: same engine
        self.assertEqual((builds.count, out[0].shape), (1, (2, 3)))
        out = backend.run({"input": numpy.ones((5, 4), dtype=numpy.float32)})  # beyond the profile
        self.assertEqual((builds.count, out[1].shape), (2, (5, 1)))
        with self.assertRaises(InputSpecError):
            backend.run({"input": numpy.ones((2, 5), dtype=numpy.float32)})
        with self.assertRaises(BackendError):
            backend.run({"other": x3})

    @NEEDS_NUMPY
    def test_a_trial_runs_end_to_end(self):
        device = self.device()
        job = {
            "trial_id": "trt_%s" % self.version.replace(".", ""),
            "backend": "tensorrt",
            "model": device.model,
            "batch": 2,
            "quick": True,
            "warmup_s": 0.0,
            "min_s": 0.01,
            "max_iters": 50,
            "backend_options": {"precision": "fp16"},
        }
        emit = Collector()
        self.assertEqual(run_trial(job, emit), "ok", emit.records)
        result = [r for r in emit.records if r["type"] == "result"][0]
        self.assertEqual((result["env"]["runtime"], result["env"]["precision"]), ("tensorrt", "fp16"))
        self.assertEqual(result["env"]["engine"]["profile"], {"input": [[1, 4], [2, 4], [2, 4]]})
        self.assertGreater(result["metrics"]["iterations"], 0)
        self.assertGreater(result["env"]["gpu_memory_used_mib"], 0)


class TensorRT82Test(BothVersions, unittest.TestCase):
    version = "8.2"


class TensorRT10Test(BothVersions, unittest.TestCase):
    version = "10"


class FakesFollowEachVersionTest(unittest.TestCase):
    """The fakes hold each version's API and not the other's, so a backend that used the wrong
    one would fail here as on a device."""

    def test_8_2_has_the_binding_api_only(self):
        trt = fake_trt.load_tensorrt("8.2")
        for name in (
            "num_bindings",
            "get_binding_name",
            "binding_is_input",
            "get_binding_shape",
            "get_profile_shape",
        ):
            self.assertTrue(hasattr(trt.ICudaEngine, name), name)
        for name in ("num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_profile_shape"):
            self.assertFalse(hasattr(trt.ICudaEngine, name), name)
        self.assertTrue(hasattr(trt.IExecutionContext, "set_binding_shape"))
        self.assertFalse(hasattr(trt.IExecutionContext, "set_tensor_address"))
        self.assertFalse(hasattr(trt.IExecutionContext, "execute_async_v3"))
        self.assertTrue(hasattr(trt.IBuilderConfig, "max_workspace_size"))
        self.assertFalse(hasattr(trt.IBuilderConfig, "set_memory_pool_limit"))
        self.assertFalse(hasattr(trt, "MemoryPoolType") or hasattr(trt, "TensorIOMode"))
        self.assertTrue(hasattr(trt.Builder, "build_engine"))

    def test_10_has_the_tensor_api_only(self):
        trt = fake_trt.load_tensorrt("10")
        for name in ("num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_profile_shape"):
            self.assertTrue(hasattr(trt.ICudaEngine, name), name)
        for name in ("num_bindings", "get_binding_name", "binding_is_input", "get_binding_shape"):
            self.assertFalse(hasattr(trt.ICudaEngine, name), name)
        self.assertFalse(hasattr(trt.IExecutionContext, "set_binding_shape"))
        self.assertTrue(hasattr(trt.IExecutionContext, "execute_async_v3"))
        self.assertFalse(hasattr(trt.IBuilderConfig, "max_workspace_size"))
        self.assertFalse(hasattr(trt.Builder, "build_engine"))

    def test_8_2_parser_needs_an_explicit_batch_network(self):
        trt = fake_trt.load_tensorrt("8.2")
        logger = trt.Logger()
        network = trt.Builder(logger).create_network()
        parser = trt.OnnxParser(network, logger)
        self.assertFalse(parser.parse(b"{}"))
        self.assertIn("EXPLICIT_BATCH NetworkDefinitionCreationFlag", str(parser.get_error(0)))

    def test_a_logger_subclass_must_call_ilogger_init(self):
        trt = fake_trt.load_tensorrt("10")

        class Forgetful(trt.ILogger):
            def __init__(self):
                pass

            def log(self, severity, msg):
                pass

        with self.assertRaises(TypeError):
            trt.Builder(Forgetful())

    def test_trtexec_10_rejects_the_options_it_removed(self):
        folder = tempfile.mkdtemp(prefix="edgebench-trtexec-")
        self.addCleanup(shutil.rmtree, folder)
        script = fake_trt.write_trtexec(folder, "10")
        done = subprocess.run(
            [script, "--onnx=m.onnx", "--workspace=2048", "--explicitBatch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            universal_newlines=True,
        )
        self.assertEqual(done.returncode, 1)
        report = parse_trtexec(done.stdout)
        self.assertEqual(report["status"], "failed")
        self.assertEqual([e["kind"] for e in report["errors"]], [UNKNOWN_OPTION, UNKNOWN_OPTION])
        self.assertIn("Unknown option: --workspace 2048", done.stdout)


class BuffersTest(unittest.TestCase):
    """The CUDA binding is the first of cuda-python, pycuda, ctypes that opens."""

    def setUp(self):
        self.device = FakeDevice(self, "10", fakegpu.ORIN)

    def test_auto_takes_the_first_that_opens(self):
        self.assertEqual(cuda_buffers.open_cuda("auto").name, "ctypes")
        self.device.swap_modules(fake_cuda.pycuda_modules())
        self.assertEqual(cuda_buffers.open_cuda("auto").name, "pycuda")
        self.device.swap_modules(fake_cuda.cuda_python_modules("cudart"))
        self.assertEqual(cuda_buffers.open_cuda("auto").name, "cuda-python")

    def test_none_opens(self):
        with mock.patch.object(cuda_buffers, "load_library", fake_cuda.libcudart_loader(present=())):
            with self.assertRaises(BackendError) as caught:
                self.device.load()
        message = str(caught.exception)
        for reason in (
            "cuda-python: ",
            "pycuda: ",
            "ctypes: libcudart cannot be loaded: tried libcudart.so (",
        ):
            self.assertIn(reason, message)

    def test_each_mechanism_reports_the_gpu(self):
        self.device.swap_modules(fake_cuda.pycuda_modules())
        self.device.swap_modules(fake_cuda.cuda_python_modules("bindings"))
        for name in cuda_buffers.MECHANISMS:
            cuda = cuda_buffers.open_cuda(name)
            self.assertEqual(cuda.device(), {"name": "Orin", "compute_capability": "8.7"}, name)
            self.assertEqual(cuda.mem_info()[1], fakegpu.ORIN["total_mib"] << 20)
            cuda.close()

    @NEEDS_NUMPY
    def test_each_mechanism_runs_the_engine(self):
        import numpy

        self.device.swap_modules(fake_cuda.pycuda_modules())
        self.device.swap_modules(fake_cuda.cuda_python_modules("bindings"))
        x = numpy.arange(8, dtype=numpy.float32).reshape(2, 4)
        for name in cuda_buffers.MECHANISMS:
            backend = self.device.load(buffers=name)
            self.assertEqual(backend.info()["buffers"], name)
            for got, want in zip(backend.run({"input": x}), reference(x)):
                numpy.testing.assert_array_equal(got, want)


class OptionsTest(unittest.TestCase):
    def test_bad_values_are_named(self):
        for options, text in (
            ({"precision": "fp64"}, "precision='fp64': choose one of fp32, fp16, int8"),
            ({"builder": "onnx2trt"}, "builder='onnx2trt': choose one of api, trtexec"),
            ({"workspace_mib": 0}, "workspace_mib=0: must be an integer >= 1"),
            ({"buffers": "cupy"}, "choose one of auto, cuda-python, pycuda, ctypes"),
        ):
            with self.assertRaises(BackendError) as caught:
                trt_backend.read_options(options)
            self.assertIn(text, str(caught.exception))
        self.assertEqual(trt_backend.read_options({"precision": None})["precision"], "fp32")

    def test_engine_folder_is_beside_the_workdirs_models(self):
        self.assertEqual(trt_backend.engine_folder("/w/models/abc.onnx"), "/w/engines")
        self.assertEqual(trt_backend.engine_folder("/data/m.onnx"), "/data/engines")
        self.assertEqual(trt_backend.engine_folder("/w/models/abc.onnx", "/cache"), "/cache")

    def test_unavailable_says_what_to_install(self):
        saved = sys.modules.get("tensorrt")
        sys.modules["tensorrt"] = None
        try:
            with self.assertRaises(BackendError) as caught:
                get_backend("tensorrt")
        finally:
            sys.modules.pop("tensorrt")
            if saved is not None:
                sys.modules["tensorrt"] = saved
        self.assertIn("python3-libnvinfer", str(caught.exception))

    def test_cache_record_is_json_beside_the_engine(self):
        device = FakeDevice(self, "8.2")
        path = device.load()._engine["path"]
        with open(path[: -len(".engine")] + ".json") as f:
            record = json.load(f)
        self.assertEqual(record["tensorrt"], "8.2.1.8")
        self.assertEqual((record["gpu"], record["compute_capability"]), ("NVIDIA Tegra X1", "5.3"))
        self.assertEqual(record["profile"], {"input": [[1, 4], [2, 4], [2, 4]]})


if __name__ == "__main__":
    unittest.main()
