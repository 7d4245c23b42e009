"""Classes of the `tensorrt` Python API that 8.2 and 10.x bind alike (checked against
python/src/infer/pyCore.cpp, pyGraph.cpp, pyInt8.cpp and parsers/pyOnnx.cpp at NVIDIA/TensorRT
tags 8.2.1 and v10.3.0). Each fake package re-exports them beside its own version's classes.
"""

import sys

from . import fakegpu, trtcore

Severity = trtcore.make_enum("Severity", ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"])
ErrorCode = trtcore.make_enum(
    "ErrorCode",
    [
        "SUCCESS",
        "INTERNAL_ERROR",
        "MEM_ALLOC_FAILED",
        "MODEL_DESERIALIZE_FAILED",
        "INVALID_VALUE",
        "INVALID_GRAPH",
        "INVALID_NODE",
        "UNSUPPORTED_GRAPH",
        "UNSUPPORTED_NODE",
    ],
)
LayerType = trtcore.make_enum(
    "LayerType",
    [
        "CONVOLUTION",
        "FULLY_CONNECTED",
        "ACTIVATION",
        "POOLING",
        "MATRIX_MULTIPLY",
        "REDUCE",
        "QUANTIZE",
        "DEQUANTIZE",
    ],
)


class ILogger(object):
    """Subclasses must call ILogger.__init__ (pybind11's trampoline) and define log()."""

    Severity = Severity

    def __init__(self):
        self._trt_initialized = True

    def log(self, severity, msg):
        raise RuntimeError('Tried to call pure virtual function "ILogger::log"')


for _name in Severity.__members__:  # export_values(): trt.ILogger.ERROR
    setattr(ILogger, _name, getattr(Severity, _name))


class Logger(ILogger):
    def __init__(self, min_severity=Severity.WARNING):
        ILogger.__init__(self)
        self.min_severity = min_severity

    def log(self, severity, msg):
        if severity <= self.min_severity:
            sys.stderr.write("[TRT] [%s] %s\n" % (severity.name[0], msg))


def checked_logger(logger):
    if not isinstance(logger, ILogger):
        raise TypeError("incompatible constructor arguments: logger must be a tensorrt.ILogger")
    if not getattr(logger, "_trt_initialized", False):
        raise TypeError("tensorrt.tensorrt.ILogger.__init__() must be called when overriding __init__")
    return logger


def log_to(logger):
    """How the fake library logs: logger.log(Severity.X, msg), as libnvinfer does."""
    return lambda level, msg: logger.log(getattr(Severity, level), msg)


class ITensor(trtcore.Strict):
    _attributes = ("name", "shape", "dtype")

    def __init__(self, data_type, spec):
        self.name = spec["name"]
        self.shape = trtcore.Dims(spec["shape"])
        self.dtype = getattr(data_type, spec["dtype"])


class ILayer(trtcore.Strict):
    _attributes = ("name", "type")

    def __init__(self, index, kind):
        self.name = "layer_%d" % index
        self.type = getattr(LayerType, kind)


class INetworkDefinition(trtcore.Strict):
    """Filled by OnnxParser; the DataType enum is the package's own."""

    def __init__(self, data_type, explicit_batch):
        self._core = trtcore.Network(explicit_batch)
        self._data_type = data_type

    def _tensors(self, which):
        model = self._core.model or {"inputs": [], "outputs": []}
        return [ITensor(self._data_type, spec) for spec in model[which]]

    @property
    def num_inputs(self):
        return len(self._tensors("inputs"))

    @property
    def num_outputs(self):
        return len(self._tensors("outputs"))

    @property
    def num_layers(self):
        return len((self._core.model or {}).get("layers", []))

    def get_input(self, index):
        return self._tensors("inputs")[index]

    def get_output(self, index):
        return self._tensors("outputs")[index]

    def get_layer(self, index):
        return ILayer(index, self._core.model["layers"][index])

    @property
    def has_implicit_batch_dimension(self):
        return not self._core.explicit_batch


class ParserError(trtcore.Strict):
    def __init__(self, text):
        self._node, rest = -1, text.split("): ", 1)[1]
        self._code, self._desc = rest.split(": ", 1)
        self._func = text.split("(", 1)[1].split(")", 1)[0]

    def code(self):
        return getattr(ErrorCode, self._code)

    def desc(self):
        return self._desc

    def node(self):
        return self._node

    def func(self):
        return self._func

    def __str__(self):
        return "In node %d (%s): %s: %s" % (self._node, self._func, self._code, self._desc)


class OnnxParser(trtcore.Strict):
    def __init__(self, network, logger):
        self._network, self._logger, self._errors = network, checked_logger(logger), []

    def parse(self, model, path=None):
        ok, errors = trtcore.parse(self._network._core, model, log_to(self._logger))
        self._errors.extend(ParserError(e) for e in errors)
        return ok

    def parse_from_file(self, model):
        try:
            with open(model, "rb") as f:
                data = f.read()
        except (IOError, OSError):
            self._errors.append(
                ParserError("In node -1 (parseFromFile): INVALID_VALUE: Failed to open %s" % model)
            )
            return False
        return self.parse(data, model)

    @property
    def num_errors(self):
        return len(self._errors)

    def get_error(self, index):
        return self._errors[index]

    def clear_errors(self):
        self._errors = []


class IOptimizationProfile(trtcore.Strict):
    def __init__(self):
        self._shapes = {}

    def set_shape(self, input, min, opt, max):
        shapes = [tuple(int(d) for d in s) for s in (min, opt, max)]
        if len(set(len(s) for s in shapes)) != 1 or not all(a <= b for a, b in zip(shapes[0], shapes[1])):
            raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
        if not all(a <= b for a, b in zip(shapes[1], shapes[2])):
            raise RuntimeError("Shape provided for max is inconsistent with other shapes.")
        self._shapes[input] = shapes

    def get_shape(self, input):
        return [trtcore.Dims(s) for s in self._shapes.get(input, [])]

    def __bool__(self):
        return bool(self._shapes)

    __nonzero__ = __bool__


class IHostMemory(bytes):
    """The serialized engine: a buffer."""

    @property
    def nbytes(self):
        return len(self)


class IInt8Calibrator(object):
    def __init__(self):
        self._trt_initialized = True


class IInt8EntropyCalibrator2(IInt8Calibrator):
    pass


class IInt8MinMaxCalibrator(IInt8Calibrator):
    pass


class BuilderBase(trtcore.Strict):
    """Builder members both versions bind; `_version` and `_network_class` come from the package."""

    def __init__(self, logger):
        self._logger = checked_logger(logger)

    @property
    def logger(self):
        return self._logger

    @property
    def platform_has_fast_fp16(self):
        return fakegpu.GPU.fast_fp16

    @property
    def platform_has_fast_int8(self):
        return fakegpu.GPU.fast_int8

    @property
    def platform_has_tf32(self):
        return fakegpu.GPU.compute >= (8, 0)

    def create_optimization_profile(self):
        return IOptimizationProfile()

    def _settings(self, config):
        calibrator = config.int8_calibrator
        if calibrator is not None and not getattr(calibrator, "_trt_initialized", False):
            raise TypeError(
                "tensorrt.tensorrt.IInt8Calibrator.__init__() must be called when overriding __init__"
            )
        return {
            "flags": set(config._flags),
            "workspace": config._workspace,
            "profiles": [p._shapes for p in config._profiles],
            "calibrator": calibrator,
        }

    def build_serialized_network(self, network, config):
        if network._core.model is None:
            log_to(self._logger)(
                "ERROR",
                "4: [network.cpp::validate::2411] Error Code 4: Internal Error (Network "
                "must have at least one output)",
            )
            return None
        data = trtcore.build(self._version(), network._core, self._settings(config), log_to(self._logger))
        return None if data is None else IHostMemory(data)


class BuilderConfigBase(trtcore.Strict):
    def __init__(self, flag_enum):
        self._flags, self._workspace, self._profiles = set(), 0, []
        self._flag_enum = flag_enum
        self._calibrator = None

    @property
    def int8_calibrator(self):
        return self._calibrator

    @int8_calibrator.setter
    def int8_calibrator(self, calibrator):
        self._calibrator = calibrator

    def set_flag(self, flag):
        self._flags.add(flag.name)

    def clear_flag(self, flag):
        self._flags.discard(flag.name)

    def get_flag(self, flag):
        return flag.name in self._flags

    @property
    def flags(self):
        return sum(1 << int(getattr(self._flag_enum, name)) for name in self._flags)

    def add_optimization_profile(self, profile):
        if not profile:
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self):
        return len(self._profiles)


class RuntimeBase(trtcore.Strict):
    def __init__(self, logger):
        self._logger = checked_logger(logger)

    @property
    def logger(self):
        return self._logger

    def deserialize_cuda_engine(self, serialized_engine):
        log = log_to(self._logger)
        payload = trtcore.load(self._version(), memoryview(serialized_engine), log, self._version_message)
        return None if payload is None else self._engine_class(trtcore.EngineCore(payload), log)


def volume(iterable):
    count = 1
    for d in iterable:
        count *= d
    return count


def nptype(trt_type):
    import numpy

    names = {"FLOAT": numpy.float32, "HALF": numpy.float16, "INT8": numpy.int8, "INT32": numpy.int32}
    names.update(BOOL=numpy.bool_, UINT8=numpy.uint8, INT64=numpy.int64)
    if trt_type.name not in names:
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
    return names[trt_type.name]
