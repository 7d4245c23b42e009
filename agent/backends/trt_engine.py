"""TensorRT engines: built from an ONNX file on the device (Python API or trtexec), deserialized,
and run through the API the installed TensorRT has.

Versions differ (checked against the 8.2 and 10.x Python bindings):
- build: 8.0-8.2 set `config.max_workspace_size` and need the EXPLICIT_BATCH network flag;
  8.4+ `config.set_memory_pool_limit(MemoryPoolType.WORKSPACE, n)`; 10.x networks are always
  explicit batch (the flag is deprecated) and has no `max_workspace_size` or `build_engine`.
- run: up to 8.4 the binding API (`num_bindings`, `get_binding_name`, `binding_is_input`,
  `get_binding_shape`, `context.set_binding_shape`, `execute_v2(bindings)`); 8.5+ and 10.x the
  tensor API (`num_io_tensors`, `get_tensor_name`, `get_tensor_mode`, `set_input_shape`,
  `set_tensor_address`, `execute_async_v3(stream)`); 10.x has no binding API. Which one is used
  is decided by what the engine object has, not by the version number.
- `Runtime.deserialize_cuda_engine` returns None when the engine was built by another TensorRT
  or for another GPU; the reason only goes to the logger, so the logger here keeps it.

numpy is not needed here: sizes come from DTYPES, so an engine is built and loaded without it.
"""

import os
import re
import subprocess

from ..telemetry.trtexec import is_engine_mismatch, parse_trtexec

# TensorRT DataType name -> (ONNX Runtime's type string, bytes per element, numpy dtype)
DTYPES = {
    "FLOAT": ("tensor(float)", 4, "float32"),
    "HALF": ("tensor(float16)", 2, "float16"),
    "INT8": ("tensor(int8)", 1, "int8"),
    "INT32": ("tensor(int32)", 4, "int32"),
    "INT64": ("tensor(int64)", 8, "int64"),
    "BOOL": ("tensor(bool)", 1, "bool"),
    "UINT8": ("tensor(uint8)", 1, "uint8"),
}
LOG_LINES_KEPT = 200
TRTEXEC_TAIL_LINES = 40


class EngineError(Exception):
    """TensorRT refused: `message` says what, `lines` are the logger's error and warning lines."""

    def __init__(self, message, lines=()):
        Exception.__init__(self, message)
        self.lines = list(lines)


class StaleEngine(EngineError):
    """deserialize_cuda_engine returned None: the engine must be rebuilt."""

    @property
    def mismatch(self):
        return is_engine_mismatch(self.lines)


def enum_name(value):
    """pybind11 enums print as `DataType.FLOAT`."""
    return str(value).rsplit(".", 1)[-1]


def version_tuple(version):
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def dims(shape):
    """trt.Dims (or any sequence) -> tuple of ints."""
    return tuple(int(d) for d in shape)


def volume(shape):
    count = 1
    for d in shape:
        count *= int(d)
    return count


def dtype_info(dtype, tensor):
    name = enum_name(dtype)
    if name not in DTYPES:
        raise EngineError("tensor %r has type %s, which edgebench cannot feed or read" % (tensor, name))
    return DTYPES[name]


def make_logger(trt):
    """A trt.ILogger that keeps warning and error lines (TensorRT's only word on why it failed)."""

    class KeepingLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.lines = []

        def log(self, severity, msg):
            level = enum_name(severity)
            if level in ("INTERNAL_ERROR", "ERROR", "WARNING") and len(self.lines) < LOG_LINES_KEPT:
                self.lines.append("[%s] %s" % ("W" if level == "WARNING" else "E", msg))

    return KeepingLogger()


def first_error(lines, default):
    for line in lines:
        if line.startswith("[E]"):
            return line[4:]
    return default


class ParsedOnnx(object):
    """An ONNX file parsed into a TensorRT network by the device's own TensorRT."""

    def __init__(self, trt, path):
        self.trt = trt
        self.logger = make_logger(trt)
        self.builder = trt.Builder(self.logger)
        self.network = self.builder.create_network(self._network_flags())
        self.parser = trt.OnnxParser(self.network, self.logger)  # holds the weights: keep it alive
        if not self.parser.parse_from_file(path):
            errors = [str(self.parser.get_error(i)) for i in range(self.parser.num_errors)]
            raise EngineError(
                "TensorRT %s cannot parse %s: %s"
                % (trt.__version__, path, (errors or ["no reason given"])[0]),
                errors,
            )

    def _network_flags(self):
        if version_tuple(self.trt.__version__) >= (10,):
            return 0  # always explicit batch; the flag is deprecated
        return 1 << int(self.trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)

    def inputs(self):
        """[(name, TensorRT type name, declared shape with -1 for a dynamic dimension)]"""
        tensors = [self.network.get_input(i) for i in range(self.network.num_inputs)]
        return [(t.name, enum_name(t.dtype), dims(t.shape)) for t in tensors]

    # None: this TensorRT no longer says (11.x removed platform_has_fast_* with the precision flags).
    @property
    def fast_fp16(self):
        return getattr(self.builder, "platform_has_fast_fp16", None)

    @property
    def fast_int8(self):
        return getattr(self.builder, "platform_has_fast_int8", None)

    def has_precision_flag(self, precision):
        """Whether BuilderFlag.FP16 / INT8 exist (11.x builds networks as typed in the model)."""
        return hasattr(self.trt.BuilderFlag, precision.upper())

    def is_quantized(self):
        """Q/DQ layers: an explicitly quantized model needs no calibration for int8."""
        for i in range(self.network.num_layers):
            if enum_name(self.network.get_layer(i).type) in ("QUANTIZE", "DEQUANTIZE"):
                return True
        return False

    def build(self, plan, calibration_cache=None):
        """The serialized engine (a buffer) for `plan`: precision, workspace_mib, profile."""
        trt, config = self.trt, self.builder.create_builder_config()
        workspace = int(plan["workspace_mib"]) << 20
        if hasattr(config, "set_memory_pool_limit"):  # 8.4+
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
        else:
            config.max_workspace_size = workspace
        calibrator = self._set_precision(config, plan["precision"], calibration_cache)
        self._add_profile(config, plan["profile"])
        serialized = self.builder.build_serialized_network(self.network, config)
        del calibrator  # only needed while building
        if serialized is None:
            raise EngineError(
                "TensorRT %s could not build an engine: %s"
                % (trt.__version__, first_error(self.logger.lines, "no reason logged")),
                self.logger.lines,
            )
        return serialized

    def _set_precision(self, config, precision, calibration_cache):
        trt = self.trt
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        elif precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
            if calibration_cache is not None:
                calibrator = cache_calibrator(trt, calibration_cache)
                config.int8_calibrator = calibrator
                return calibrator
        return None

    def _add_profile(self, config, profile):
        """profile: {input: (min, opt, max)} for the inputs with a dynamic dimension (else empty)."""
        if not profile:
            return
        opt_profile = self.builder.create_optimization_profile()
        for name, (low, opt, high) in sorted(profile.items()):
            opt_profile.set_shape(name, low, opt, high)
        if config.add_optimization_profile(opt_profile) < 0:
            raise EngineError("TensorRT refused the optimization profile %r" % (profile,), self.logger.lines)

    def close(self):
        self.parser = self.network = self.builder = None


def cache_calibrator(trt, cache):
    """An int8 calibrator that only replays a calibration cache (no images on the device)."""

    class CacheCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            return None

        def read_calibration_cache(self):
            return cache

        def write_calibration_cache(self, cache):
            pass

    return CacheCalibrator()


def deserialize(trt, data):
    """(runtime, engine); StaleEngine with the logger's lines when TensorRT returns None."""
    logger = make_logger(trt)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise StaleEngine(first_error(logger.lines, "deserialize_cuda_engine returned None"), logger.lines)
    return runtime, engine, logger


class Tensor(object):
    def __init__(self, name, index, is_input, dtype_name, shape):
        self.name, self.index, self.is_input = name, index, is_input
        self.onnx_type, self.itemsize, self.numpy_dtype = dtype_info(dtype_name, name)
        self.shape = shape  # as declared by the engine: -1 where dynamic
        self.pointer = None
        self.capacity = 0


class BindingApi(object):
    """TensorRT 8.0-8.4: bindings by index, execute_v2(list of pointers), synchronous."""

    name = "binding"

    def __init__(self, engine, context):
        self.engine, self.context = engine, context
        self.tensors = [
            Tensor(
                engine.get_binding_name(i),
                i,
                bool(engine.binding_is_input(i)),
                enum_name(engine.get_binding_dtype(i)),
                dims(engine.get_binding_shape(i)),
            )
            for i in range(engine.num_bindings)
        ]
        self._bindings = [0] * len(self.tensors)

    def profile(self, tensor):
        return [dims(s) for s in self.engine.get_profile_shape(0, tensor.index)]

    def set_input_shape(self, tensor, shape):
        return bool(self.context.set_binding_shape(tensor.index, shape))

    def shape(self, tensor):
        return dims(self.context.get_binding_shape(tensor.index))

    def bind(self, tensor, pointer):
        self._bindings[tensor.index] = pointer
        return True

    def execute(self, cuda, stream):
        return bool(self.context.execute_v2(self._bindings))


class TensorApi(object):
    """TensorRT 8.5+ and 10.x: tensors by name, addresses set once, execute_async_v3 on a stream."""

    name = "tensor"

    def __init__(self, trt, engine, context):
        self.engine, self.context = engine, context
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.tensors = [
            Tensor(
                name,
                i,
                engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                enum_name(engine.get_tensor_dtype(name)),
                dims(engine.get_tensor_shape(name)),
            )
            for i, name in enumerate(names)
        ]

    def profile(self, tensor):
        return [dims(s) for s in self.engine.get_tensor_profile_shape(tensor.name, 0)]

    def set_input_shape(self, tensor, shape):
        return bool(self.context.set_input_shape(tensor.name, shape))

    def shape(self, tensor):
        return dims(self.context.get_tensor_shape(tensor.name))

    def bind(self, tensor, pointer):
        return bool(self.context.set_tensor_address(tensor.name, pointer))

    def execute(self, cuda, stream):
        ok = bool(self.context.execute_async_v3(cuda.stream_handle(stream)))
        cuda.sync(stream)
        return ok


def io_api(trt, engine, context):
    if hasattr(engine, "num_io_tensors"):
        return TensorApi(trt, engine, context)
    return BindingApi(engine, context)


# trtexec ------------------------------------------------------------------------------------


def _shape_text(name, shape):
    quoted = "'%s'" % name if re.search(r"[:,']", name) else name
    return "%s:%s" % (quoted, "x".join(str(d) for d in shape))


def trtexec_argv(trtexec, onnx, engine_path, plan, trt_version, calibration_cache_path=None):
    """trtexec's command line for `plan`. 8.4 replaced --workspace by --memPoolSize (10.x rejects
    --workspace); ONNX networks are explicit batch without --explicitBatch (removed in 10.x).
    trtexec benchmarks the engine at the trial's shapes after building it; that report is kept."""
    argv = [trtexec, "--onnx=%s" % onnx, "--saveEngine=%s" % engine_path]
    if version_tuple(trt_version) >= (8, 4):
        argv.append("--memPoolSize=workspace:%d" % plan["workspace_mib"])
    else:
        argv.append("--workspace=%d" % plan["workspace_mib"])
    if plan["precision"] == "fp16":
        argv.append("--fp16")
    elif plan["precision"] == "int8":
        argv.append("--int8")
        if calibration_cache_path:
            argv.append("--calib=%s" % calibration_cache_path)
    profile = plan["profile"]  # only the inputs with a dynamic dimension
    for flag, which in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2), ("--shapes", 1)):
        if profile:
            argv.append(
                "%s=%s" % (flag, ",".join(_shape_text(n, profile[n][which]) for n in sorted(profile)))
            )
    return argv


def run_trtexec(argv, timeout_s):
    """(exit status, log text); EngineError when trtexec is missing or runs past timeout_s."""
    try:
        done = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
            errors="replace",
            timeout=timeout_s,
        )
    except (IOError, OSError) as exc:
        raise EngineError(
            "trtexec cannot be run at %s (%s): install TensorRT's binaries (libnvinfer-bin) or set "
            "trtexec_path" % (argv[0], exc.strerror or exc)
        )
    except subprocess.TimeoutExpired:
        raise EngineError("trtexec did not finish within %d s: %s" % (timeout_s, " ".join(argv)))
    return done.returncode, done.stdout


def trtexec_report(argv, status, log, log_path):
    """trtexec's own figures, parsed, kept beside edgebench's (only the tail of errors)."""
    report = parse_trtexec(log)
    report["exit_status"] = status
    report["argv"] = argv
    report["log_path"] = log_path
    report["errors"] = report["errors"][-TRTEXEC_TAIL_LINES:]
    return report


def build_with_trtexec(
    trtexec, onnx, engine_path, log_path, plan, trt_version, calibration_cache_path, timeout_s
):
    """Runs trtexec into engine_path, its log into log_path; returns its parsed report."""
    argv = trtexec_argv(trtexec, onnx, engine_path, plan, trt_version, calibration_cache_path)
    status, log = run_trtexec(argv, timeout_s)
    with open(log_path, "w") as f:
        f.write(log)
    report = trtexec_report(argv, status, log, log_path)
    if status != 0 or not os.path.isfile(engine_path):
        errors = [e["message"] for e in report["errors"]] or log.strip().splitlines()[-1:] or ["no output"]
        raise EngineError("trtexec failed (exit status %d): %s (log: %s)" % (status, errors[0], log_path))
    return report
