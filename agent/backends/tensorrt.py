"""TensorRT backend: the engine is built on the device from the ONNX file (an engine is tied to
the GPU and the TensorRT build that made it), cached there, and timed like ONNX Runtime.

Options (job["backend_options"], all optional):
    precision            fp32 | fp16 | int8 (fp16 needs platform_has_fast_fp16; int8 needs
                         platform_has_fast_int8, which a Jetson Nano lacks, and a calibration
                         cache or a model with Q/DQ layers)
    workspace_mib        builder workspace (256; TensorRT 8.0-8.2 default to none at all)
    builder              api (TensorRT's Python API) | trtexec (its report is kept in info())
    buffers              auto | cuda-python | pycuda | ctypes (device memory; cuda_buffers.py)
    calibration_cache    int8 calibration cache file on the device
    trtexec_path, trtexec_timeout_s, engine_dir, rebuild_on_mismatch (true: a stale cached engine
                         is removed and rebuilt once)
    batch, shapes        the trial's batch and shape overrides, when the trial passes them: the
                         engine is then built in load(). Without them a model with a dynamic
                         dimension is built at the first run(), for the shapes it is fed.

Cache: ENGINE_DIR/ONNXSHA-PRECISION-KEY.engine (ENGINE_DIR: WORKDIR/engines, beside
WORKDIR/models), keyed by the ONNX sha256, tensorrt.__version__, GPU name and compute
capability, precision, workspace, builder, calibration cache and the optimization profile;
written to a temporary name and renamed. KEY.json beside it records how it was built.

A timed call copies the inputs to the GPU, executes and copies the outputs back (as trtexec's
"Latency"). numpy is needed only by run().
"""

import hashlib
import importlib
import json
import os
import time

from ..inputs import InputSpecError, resolve_shapes
from . import cuda_buffers, trt_engine

TRTEXEC = "/usr/src/tensorrt/bin/trtexec"
PRECISIONS = ("fp32", "fp16", "int8")
BUILDERS = ("api", "trtexec")
BUFFERS = ("auto",) + cuda_buffers.MECHANISMS
DEFAULTS = {
    "precision": "fp32",
    "workspace_mib": 256,
    "builder": "api",
    "buffers": "auto",
    "calibration_cache": None,
    "trtexec_path": TRTEXEC,
    "trtexec_timeout_s": 3600,
    "engine_dir": None,
    "rebuild_on_mismatch": True,
    "batch": None,
    "shapes": None,
}
MIB = 1048576.0
TIMED_CALL = "host-to-device copies, execution, device-to-host copies"


def _error(message):
    from . import BackendError

    return BackendError(message)


def _choice(settings, key, choices):
    if settings[key] not in choices:
        raise _error("tensorrt option %s=%r: choose one of %s" % (key, settings[key], ", ".join(choices)))


def _positive_int(settings, key):
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _error("tensorrt option %s=%r: must be an integer >= 1" % (key, value))


def read_options(options):
    """The job's backend_options with defaults filled; BackendError naming a bad one."""
    settings = dict(DEFAULTS)
    settings.update((k, v) for k, v in (options or {}).items() if v is not None)
    _choice(settings, "precision", PRECISIONS)
    _choice(settings, "builder", BUILDERS)
    _choice(settings, "buffers", BUFFERS)
    for key in ("workspace_mib", "trtexec_timeout_s"):
        _positive_int(settings, key)
    if settings["batch"] is not None:
        _positive_int(settings, "batch")
    if not isinstance(settings["shapes"] or {}, dict):
        raise _error("tensorrt option shapes must be an object {input: [dims]}")
    return settings


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def engine_folder(artifact, configured=None):
    """WORKDIR/engines for WORKDIR/models/X.onnx; else an `engines` folder beside the model."""
    if configured:
        return os.path.expanduser(configured)
    folder = os.path.dirname(os.path.abspath(artifact))
    if os.path.basename(folder) == "models":
        return os.path.join(os.path.dirname(folder), "engines")
    return os.path.join(folder, "engines")


def profile_for(declared, shapes):
    """{input: (min, opt, max)} for each input with a dynamic dimension: the trial's shape is
    opt and max, and min has batch 1, so a smaller last chunk (accuracy) still runs."""
    profile = {}
    for name, _, shape in declared:
        given = tuple(int(d) for d in shapes[name])
        if len(given) != len(shape) or any(d != -1 and d != g for d, g in zip(shape, given)):
            raise InputSpecError(
                "input %r has shape %s in the model; cannot run it as %s"
                % (name, "x".join("N" if d == -1 else str(d) for d in shape), "x".join(map(str, given)))
            )
        if -1 in shape:
            low = tuple(1 if i == 0 and d == -1 else g for i, (d, g) in enumerate(zip(shape, given)))
            profile[name] = (low, given, given)
    return profile


def cache_name(parts):
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()
    return "%s-%s-%s" % (parts["onnx_sha256"][:16], parts["precision"], key[:16])


class EngineCache(object):
    """FOLDER/NAME.engine and NAME.json, each written under a temporary name, then renamed."""

    def __init__(self, folder):
        self.folder = folder

    def path(self, name):
        return os.path.join(self.folder, name + ".engine")

    def temporary(self, name):
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder)
        return self.temporary_path(name)

    def temporary_path(self, name):
        """Where this process writes the engine before renaming it into place."""
        return "%s.tmp.%d" % (self.path(name), os.getpid())

    def read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except (IOError, OSError):
            return None

    def meta(self, name):
        try:
            with open(os.path.join(self.folder, name + ".json")) as f:
                return json.load(f)
        except (IOError, OSError, ValueError):
            return {}

    def commit(self, name, temporary, meta):
        """Renames the written engine into place, then its record."""
        os.rename(temporary, self.path(name))
        record = os.path.join(self.folder, name + ".json")
        with open(record + ".tmp", "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        os.rename(record + ".tmp", record)

    def write(self, name, serialized, meta):
        temporary = self.temporary(name)
        with open(temporary, "wb") as f:
            f.write(serialized)
            f.flush()
            os.fsync(f.fileno())
        self.commit(name, temporary, meta)

    def drop(self, name):
        for path in (self.path(name), os.path.join(self.folder, name + ".json")):
            if os.path.exists(path):
                os.remove(path)


class Session(object):
    """One deserialized engine, its execution context, device buffers and stream."""

    def __init__(self, trt, cuda, runtime, engine, logger, shapes):
        self.runtime, self.engine, self.logger, self.cuda = runtime, engine, logger, cuda
        self.context = engine.create_execution_context()
        if self.context is None:
            raise trt_engine.EngineError(
                "TensorRT could not create an execution context: %s"
                % trt_engine.first_error(logger.lines, "out of GPU memory?")
            )
        self.api = trt_engine.io_api(trt, engine, self.context)
        self.inputs = [t for t in self.api.tensors if t.is_input]
        self.outputs = [t for t in self.api.tensors if not t.is_input]
        self.stream = cuda.stream()
        self.current = {}
        self._allocate(shapes)

    def _set_shape(self, tensor, shape):
        shape = tuple(int(d) for d in shape)
        if self.current.get(tensor.name) == shape:
            return
        if -1 in tensor.shape and not self.api.set_input_shape(tensor, shape):
            raise trt_engine.EngineError(
                "TensorRT refused shape %s for input %r: %s"
                % (
                    shape,
                    tensor.name,
                    trt_engine.first_error(self.logger.lines, "outside the engine's profile"),
                )
            )
        self.current[tensor.name] = shape

    def _allocate(self, shapes):
        """Buffers for the largest shapes (the profile's max, which the trial's shapes are)."""
        for tensor in self.inputs:
            self._set_shape(tensor, shapes[tensor.name])
        for tensor in self.api.tensors:
            shape = self.current[tensor.name] if tensor.is_input else self.api.shape(tensor)
            tensor.capacity = max(trt_engine.volume(shape) * tensor.itemsize, 1)
            tensor.pointer = self.cuda.malloc(tensor.capacity)
            if not self.api.bind(tensor, tensor.pointer):
                raise trt_engine.EngineError("TensorRT refused the address of tensor %r" % tensor.name)

    def fits(self, feed):
        """Whether the feed's shapes fit: the shapes set last (the timed loop's case) at once."""
        try:
            if all(feed[t.name].shape == self.current[t.name] for t in self.inputs):
                return True
            return self.accepts(dict((t.name, feed[t.name].shape) for t in self.inputs))
        except KeyError:
            return False  # an input missing from the feed: named by Backend._feed_shapes

    def accepts(self, shapes):
        """Whether these input shapes fit this engine (its static shapes and its profile)."""
        for tensor in self.inputs:
            shape = tuple(int(d) for d in shapes[tensor.name])
            if -1 not in tensor.shape:
                if shape != tensor.shape:
                    return False
                continue
            low, _, high = self.api.profile(tensor)
            if len(shape) != len(low) or any(s < lo or s > hi for s, lo, hi in zip(shape, low, high)):
                return False
        return True

    def run(self, feed):
        import numpy

        for tensor in self.inputs:
            array = numpy.ascontiguousarray(feed[tensor.name], dtype=tensor.numpy_dtype)
            self._set_shape(tensor, array.shape)
            self.cuda.to_device(tensor.pointer, array)
        if not self.api.execute(self.cuda, self.stream):
            raise trt_engine.EngineError(
                "TensorRT execution failed: %s"
                % trt_engine.first_error(self.logger.lines, "no reason logged")
            )
        results = []
        for tensor in self.outputs:
            out = numpy.empty(self.api.shape(tensor), dtype=tensor.numpy_dtype)
            self.cuda.to_host(out, tensor.pointer)
            results.append(out)
        return results

    def close(self):
        for tensor in self.api.tensors:
            if tensor.pointer:
                self.cuda.free(tensor.pointer)
                tensor.pointer = None
        self.cuda.destroy_stream(self.stream)
        self.context = self.engine = self.runtime = None


class Backend(object):
    name = "tensorrt"
    needs_model = True

    def __init__(self):
        self._trt = None
        self._import_error = None
        self._cuda = None
        self._session = None
        self._declared = []
        self._engine = {}
        self._memory = {}
        self._trtexec = None

    def _runtime(self):
        if self._trt is None and self._import_error is None:
            try:
                self._trt = importlib.import_module("tensorrt")
            except ImportError as exc:
                self._import_error = str(exc)
        return self._trt

    def available(self):
        return self._runtime() is not None

    def why_unavailable(self):
        return (
            "tensorrt (TensorRT's Python bindings) cannot be imported (%s); on a Jetson it comes with "
            "JetPack (python3-libnvinfer)" % self._import_error
        )

    # load ------------------------------------------------------------------------------------

    def load(self, artifact, options):
        self._settings = read_options(options)
        self._artifact = artifact
        try:
            self._cuda = cuda_buffers.open_cuda(self._settings["buffers"])
            self._gpu = self._cuda.device()
            self._free_before, self._total = self._cuda.mem_info()
            network = trt_engine.ParsedOnnx(self._runtime(), artifact)
            try:
                self._declared = network.inputs()
                self._check_precision(network)
                self._key = self._key_parts()
                shapes = self._known_shapes()
                if shapes is not None:
                    self._open(shapes, network)
            finally:
                network.close()
        except (trt_engine.EngineError, cuda_buffers.CudaError) as exc:
            raise _error(str(exc))

    def _gpu_text(self):
        return "this GPU (%s, compute %s)" % (self._gpu["name"], self._gpu["compute_capability"])

    def _check_precision(self, network):
        precision = self._settings["precision"]
        if precision != "fp32" and not network.has_precision_flag(precision):
            raise _error(
                "%s: TensorRT %s has no %s builder flag (it builds the network as typed in the ONNX file); "
                "use precision fp32 with a model converted to %s"
                % (precision, self._trt.__version__, precision.upper(), precision)
            )
        if precision == "fp16" and network.fast_fp16 is False:
            raise _error(
                "fp16: %s has no fast fp16 in TensorRT (platform_has_fast_fp16 is false); use precision fp32"
                % self._gpu_text()
            )
        if precision != "int8":
            return
        if network.fast_int8 is False:
            raise _error(
                "int8: %s has no int8 path in TensorRT (platform_has_fast_int8 is false), so no engine was "
                "built; run int8 models on the CPU (backend onnxruntime) or use precision fp16 or fp32"
                % self._gpu_text()
            )
        if self._settings["calibration_cache"] is None and not network.is_quantized():
            raise _error(
                "int8: %s has no Q/DQ layers and no calibration_cache was given; give a calibration "
                "cache made for this model, or quantize the model (Q/DQ)" % self._artifact
            )

    def _calibration(self):
        """(path, bytes) of the int8 calibration cache, or (None, None)."""
        path = self._settings["calibration_cache"]
        if self._settings["precision"] != "int8" or path is None:
            return None, None
        try:
            with open(os.path.expanduser(path), "rb") as f:
                return path, f.read()
        except (IOError, OSError) as exc:
            raise _error("int8 calibration cache %s cannot be read: %s" % (path, exc.strerror or exc))

    def _key_parts(self):
        """What an engine depends on, less the profile (added per shape in _open)."""
        _, calibration = self._calibration()
        return {
            "onnx_sha256": file_sha256(self._artifact),
            "tensorrt": self._trt.__version__,
            "gpu": self._gpu["name"],
            "compute_capability": self._gpu["compute_capability"],
            "precision": self._settings["precision"],
            "workspace_mib": self._settings["workspace_mib"],
            "builder": self._settings["builder"],
            "calibration_sha256": hashlib.sha256(calibration).hexdigest() if calibration else None,
        }

    def _known_shapes(self):
        """The trial's input shapes when load() can know them, else None (built at run())."""
        names = [(name, shape) for name, _, shape in self._declared]
        if self._settings["batch"] is not None:
            resolved = resolve_shapes(names, self._settings["batch"], self._settings["shapes"] or {})
            return dict((name, shape) for (name, _), shape in zip(names, resolved))
        if all(-1 not in shape for _, shape in names):
            return dict(names)
        return None

    # engine ----------------------------------------------------------------------------------

    def _open(self, shapes, network=None):
        """Engine for these shapes from the cache, else built; a stale cached one is removed and,
        unless rebuild_on_mismatch is off, rebuilt once."""
        profile = profile_for(self._declared, shapes)
        plan = {
            "precision": self._settings["precision"],
            "workspace_mib": self._settings["workspace_mib"],
            "profile": profile,
        }
        parts = dict(self._key, profile=dict((k, [list(s) for s in v]) for k, v in profile.items()))
        cache = EngineCache(engine_folder(self._artifact, self._settings["engine_dir"]))
        name = cache_name(parts)
        data, source, because = cache.read(name), "cache", None
        if data is None:
            data, source = self._build(cache, name, plan, parts, network), "built"
        try:
            loaded = trt_engine.deserialize(self._trt, data)
        except trt_engine.StaleEngine as exc:
            cache.drop(name)
            because = self._stale_message(exc, cache.path(name), source)
            if source != "cache" or not self._settings["rebuild_on_mismatch"]:
                raise _error(because)
            data, source = self._build(cache, name, plan, parts, network), "rebuilt"
            loaded = trt_engine.deserialize(self._trt, data)
        self._start_session(loaded, shapes)
        self._describe_engine(cache, name, data, source, because, parts)

    def _stale_message(self, exc, path, source):
        if source != "cache":
            builder = "TensorRT's builder"
            if self._settings["builder"] == "trtexec":
                builder = "trtexec (TensorRT %s)" % (self._trtexec or {}).get("tensorrt_version")
            return "the engine %s just built cannot be loaded by this Python tensorrt %s: %s" % (
                builder,
                self._trt.__version__,
                exc,
            )
        if exc.mismatch:
            what = "was built by another TensorRT version or for another GPU"
        else:
            what = "cannot be deserialized (truncated, or not an engine)"
        return "cached TensorRT engine %s %s (TensorRT: %s); it was removed: rebuild it" % (path, what, exc)

    def _build(self, cache, name, plan, parts, network):
        try:
            return self._build_into(cache, name, plan, parts, network)
        except (IOError, OSError) as exc:
            raise trt_engine.EngineError(
                "cannot write the engine cache in %s: %s (set engine_dir)"
                % (cache.folder, exc.strerror or exc)
            )
        finally:  # a failed or killed build leaves no partial engine behind
            _remove_quietly(cache.temporary_path(name))

    def _build_into(self, cache, name, plan, parts, network):
        started = time.time()
        calibration_path, calibration = self._calibration()
        meta = dict(parts, built_unix=started)
        if self._settings["builder"] == "trtexec":
            temporary = cache.temporary(name)
            self._trtexec = trt_engine.build_with_trtexec(
                self._settings["trtexec_path"],
                self._artifact,
                temporary,
                os.path.join(cache.folder, name + ".trtexec.log"),
                plan,
                self._trt.__version__,
                calibration_path,
                self._settings["trtexec_timeout_s"],
            )
            meta.update(build_s=time.time() - started, trtexec=self._trtexec)
            cache.commit(name, temporary, meta)
        else:
            own = network is None
            network = network or trt_engine.ParsedOnnx(self._trt, self._artifact)
            try:
                serialized = network.build(plan, calibration)
            finally:
                if own:
                    network.close()
            meta.update(build_s=time.time() - started)
            cache.write(name, serialized, meta)
        return cache.read(name)

    def _start_session(self, loaded, shapes):
        if self._session is not None:
            self._session.close()
            self._session = None
        runtime, engine, logger = loaded
        self._session = Session(self._trt, self._cuda, runtime, engine, logger, shapes)
        free_after, total = self._cuda.mem_info()
        self._memory = {
            "gpu_memory_used_mib": (self._free_before - free_after) / MIB,
            "gpu_memory_free_before_mib": self._free_before / MIB,
            "gpu_memory_free_after_mib": free_after / MIB,
            "gpu_memory_total_mib": total / MIB,
        }

    def _describe_engine(self, cache, name, data, source, because, parts):
        meta = cache.meta(name)
        if source == "cache" and meta.get("trtexec"):
            self._trtexec = dict(meta["trtexec"], from_build_of_cached_engine=True)
        engine = self._session.engine
        self._engine = {
            "path": cache.path(name),
            "source": source,
            "rebuilt_because": because,
            "build_s": meta.get("build_s"),
            "built_unix": meta.get("built_unix"),
            "size_mb": len(data) / MIB,
            "device_memory_mib": getattr(engine, "device_memory_size", 0) / MIB,
            "profile": parts["profile"],
        }

    # seam ------------------------------------------------------------------------------------

    def inputs(self):
        return [
            (name, trt_engine.DTYPES.get(kind, (kind,))[0], list(shape))
            for name, kind, shape in self._declared
        ]

    def run(self, feed):
        session = self._session
        try:
            if session is None or not session.fits(feed):
                self._open(self._feed_shapes(feed))
            return self._session.run(feed)
        except (trt_engine.EngineError, cuda_buffers.CudaError) as exc:
            raise _error(str(exc))

    def _feed_shapes(self, feed):
        missing = [name for name, _, _ in self._declared if name not in feed]
        if missing:
            raise _error("the feed lacks input(s) %s" % ", ".join(missing))
        return dict((name, tuple(feed[name].shape)) for name, _, _ in self._declared)

    def info(self):
        trt, settings = self._trt, getattr(self, "_settings", DEFAULTS)
        info = {
            "runtime": "tensorrt",
            "version": trt.__version__ if trt is not None else None,
            "precision": settings["precision"],
            "builder": settings["builder"],
            "workspace_mib": settings["workspace_mib"],
            "api": self._session.api.name if self._session is not None else None,
            "buffers": self._cuda.name if self._cuda is not None else None,
            "gpu": getattr(self, "_gpu", {}).get("name"),
            "compute_capability": getattr(self, "_gpu", {}).get("compute_capability"),
            "engine": self._engine or None,
            "trtexec": self._trtexec,
            "timed_call": TIMED_CALL,
        }
        info.update(self._memory)
        return info


def _remove_quietly(path):
    try:
        os.remove(path)
    except (IOError, OSError):
        pass  # renamed into place already, or never written
