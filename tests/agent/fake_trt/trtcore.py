"""What the fake TensorRT 8.2 and 10.x packages share: enums that behave like pybind11's, Dims,
the fake ONNX model format, the engine's bytes and its arithmetic, and TensorRT's log lines.
The public API of each version is in trt82/tensorrt and trt10/tensorrt; nothing here is
reachable from the agent except through them.

The fake "ONNX" file is JSON (onnx is not installed on a device, and the agent only hands the
file to TensorRT's parser). Its network: logits = x @ W and total = sum(x) per sample, over the
input flattened per sample, computed with numpy; an fp16 or int8 engine rounds through float16,
so its outputs differ from fp32 slightly, as a real reduced-precision engine's do.
"""

import json

from . import fakegpu

MAGIC = b"FAKETRT1"
WEIGHTS = [[0.5, -1.0, 0.25], [1.5, 0.75, -0.5], [-0.25, 2.0, 1.0], [1.0, 0.5, -1.5]]

# Verbatim TensorRT log lines (tests/fixtures/parsers/trtexec/trt_engine_load_errors.txt and
# public issues), with the versions and compute capabilities filled in.
DESERIALIZE_FAILED = "4: [runtime.cpp::deserializeCudaEngine::50] Error Code 4: Internal Error (Engine deserialization failed.)"
VERSION_MISMATCH_8 = (
    "6: The engine plan file is not compatible with this version of TensorRT, expecting library version %s "
    "got %s, please rebuild."
)
VERSION_MISMATCH_10 = (
    "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion stdVersionRead == "
    "kSERIALIZATION_VERSION failed.Version tag does not match. Note: Current Version: %s, Serialized Engine "
    "Version: %s)"
)
DEVICE_MISMATCH = (
    "The engine plan file is generated on an incompatible device, expecting compute %s got compute %s, "
    "please rebuild."
)
MAGIC_MISMATCH = (
    "1: [stdArchiveReader.cpp::StdArchiveReader::30] Error Code 1: Serialization (Serialization assertion "
    "magicTagRead == kMAGIC_TAG failed.Magic tag does not match)"
)
NO_PROFILE = (
    "4: [network.cpp::validate::2965] Error Code 4: Internal Error (Network has dynamic or shape inputs, "
    "but no optimization profile has been defined.)"
)
IMPLICIT_BATCH = (
    'Assertion failed: !_importer_ctx.network()->hasImplicitBatchDimension() && "This version of the ONNX parser '
    "only supports TensorRT INetworkDefinitions with an explicit batch dimension. Please ensure the network was "
    'created using the EXPLICIT_BATCH NetworkDefinitionCreationFlag."'
)
NO_CALIBRATION = (
    "1: Unexpected exception Calibration failure occurred with no scaling factors detected. This could be due to "
    "no int8 calibrator or insufficient custom scales for network layers."
)


class Strict(object):
    """pybind11 objects take no new attributes: setting one the class does not define (such as
    max_workspace_size on a 10.x IBuilderConfig) raises AttributeError, as on a device."""

    _attributes = ()  # the bound read-write properties a class keeps as plain attributes

    def __setattr__(self, name, value):
        if not name.startswith("_") and not hasattr(type(self), name) and name not in self._attributes:
            raise AttributeError(
                "'tensorrt.tensorrt.%s' object has no attribute '%s'" % (type(self).__name__, name)
            )
        object.__setattr__(self, name, value)


class EnumValue(object):
    """A pybind11 enum value: prints as `Type.NAME`, int() gives its value, equal to itself."""

    def __init__(self, type_name, name, value):
        self._type_name, self.name, self.value = type_name, name, value

    def __int__(self):
        return self.value

    __index__ = __int__

    def __eq__(self, other):
        return isinstance(other, EnumValue) and (other._type_name, other.value) == (
            self._type_name,
            self.value,
        )

    def __ne__(self, other):
        return not self == other

    def __lt__(self, other):
        return self.value < int(other)

    def __le__(self, other):
        return self.value <= int(other)

    def __hash__(self):
        return hash((self._type_name, self.value))

    def __str__(self):
        return "%s.%s" % (self._type_name, self.name)

    def __repr__(self):
        return "<%s: %d>" % (self, self.value)


def make_enum(type_name, names):
    """A class whose attributes are the enum's values, numbered in order."""
    values = dict((name, EnumValue(type_name, name, i)) for i, name in enumerate(names))
    enum_class = type(type_name, (object,), dict(values))
    enum_class.__members__ = values
    return enum_class


class Dims(object):
    """trt.Dims: a sequence of ints, not a tuple."""

    def __init__(self, shape):
        self._d = [int(d) for d in shape]

    def __len__(self):
        return len(self._d)

    def __getitem__(self, index):
        return self._d[index]

    def __iter__(self):
        return iter(self._d)

    def __str__(self):
        return "(%s)" % ", ".join(str(d) for d in self._d)

    __repr__ = __str__


def write_model(path, batch=-1, features=4, quantized=False):
    """A fake ONNX file: input [batch, features] float, outputs logits [batch, 3] and total
    [batch, 1]; batch -1 is dynamic. `quantized` adds Q/DQ layers."""
    layers = ["QUANTIZE", "DEQUANTIZE", "MATRIX_MULTIPLY"] if quantized else ["MATRIX_MULTIPLY", "REDUCE"]
    model = {
        "fake_onnx": 1,
        "inputs": [{"name": "input", "dtype": "FLOAT", "shape": [batch, features]}],
        "outputs": [
            {"name": "logits", "dtype": "FLOAT", "shape": [batch, 3]},
            {"name": "total", "dtype": "FLOAT", "shape": [batch, 1]},
        ],
        "layers": layers,
    }
    with open(path, "w") as f:
        json.dump(model, f)
    return path


def read_model(data):
    """The model in a fake ONNX file's bytes, or None when it is not one."""
    try:
        model = json.loads(bytes(data).decode("utf-8"))
    except ValueError:
        return None
    return model if isinstance(model, dict) and model.get("fake_onnx") == 1 else None


def serialize(payload):
    return MAGIC + json.dumps(payload, sort_keys=True).encode("utf-8")


def deserialize(data):
    data = bytes(data)
    if not data.startswith(MAGIC):
        return None
    return json.loads(data[len(MAGIC) :].decode("utf-8"))


def gpu_settings():
    gpu = fakegpu.GPU
    return {"name": gpu.name, "compute": list(gpu.compute)}


def compute_text(compute):
    return "%d.%d" % tuple(compute)


def output_shape(name, input_shape):
    batch = input_shape[0]
    return (batch, 3) if name == "logits" else (batch, 1)


def compute(reduced, x):
    """(logits, total) for input x (numpy, [batch, features])."""
    import numpy

    weights = numpy.array(WEIGHTS, dtype=numpy.float32)[: x.shape[1]]
    flat = x.reshape(x.shape[0], -1).astype(numpy.float32)
    if reduced:
        flat, weights = flat.astype(numpy.float16), weights.astype(numpy.float16)
    logits = flat.dot(weights).astype(numpy.float32)
    total = flat.sum(axis=1, keepdims=True).astype(numpy.float32)
    return {"logits": logits, "total": total}


def within(shape, profile):
    low, _, high = profile
    return len(shape) == len(low) and all(lo <= s <= hi for s, lo, hi in zip(shape, low, high))


# Build -------------------------------------------------------------------------------------


class Network(object):
    """What the fake parser makes of a fake ONNX model."""

    def __init__(self, explicit_batch):
        self.explicit_batch = explicit_batch
        self.model = None


def parse(network, data, log):
    """(ok, errors): the model into the network, as OnnxParser.parse does."""
    if not network.explicit_batch:
        return False, ["In node -1 (importModel): INVALID_VALUE: " + IMPLICIT_BATCH]
    model = read_model(data)
    if model is None:
        return False, ["In node -1 (parseGraph): MODEL_DESERIALIZE_FAILED: Failed to parse the ONNX model."]
    network.model = model
    return True, []


def dynamic_inputs(model):
    return [t["name"] for t in model["inputs"] if -1 in t["shape"]]


def build(version, network, settings, log):
    """The engine's bytes for a parsed network and a config's settings (flags, workspace,
    profiles, calibrator), or None after logging why, as build_serialized_network does."""
    model = network.model
    dynamic = dynamic_inputs(model)
    profiles = settings["profiles"]
    if dynamic and not profiles:
        log("ERROR", NO_PROFILE)
        return None
    profile = profiles[0] if profiles else {}
    for name in dynamic:
        if name not in profile:
            log(
                "ERROR",
                "4: [network.cpp::validate::3008] Error Code 4: Internal Error (%s: dynamic input is "
                "missing dimensions in profile 0.)" % name,
            )
            return None
    flags = settings["flags"]
    if "INT8" in flags and "QUANTIZE" not in model["layers"]:
        calibrator = settings["calibrator"]
        cache = calibrator.read_calibration_cache() if calibrator is not None else None
        if not cache and (
            calibrator is None or calibrator.get_batch([t["name"] for t in model["inputs"]]) is None
        ):
            log("ERROR", NO_CALIBRATION)
            return None
    if "FP16" in flags and not fakegpu.GPU.fast_fp16:
        log(
            "WARNING",
            "Half2 support requested on hardware without native FP16 support, performance will be "
            "negatively affected.",
        )
    payload = {
        "version": version,
        "gpu": gpu_settings(),
        "model": model,
        "reduced": "FP16" in flags or "INT8" in flags,
        "flags": sorted(flags),
        "workspace": settings["workspace"],
        "profile": dict((k, [list(s) for s in v]) for k, v in profile.items()),
    }
    return serialize(payload)


def load(version, data, log, version_message):
    """The payload of an engine's bytes, or None after logging TensorRT's lines: another
    TensorRT (version_message), another GPU, or not an engine at all."""
    payload = deserialize(data)
    if payload is None:
        log("ERROR", MAGIC_MISMATCH)
        log("ERROR", DESERIALIZE_FAILED)
        return None
    if payload["version"] != version:
        log("ERROR", version_message(payload["version"]))
        log("ERROR", DESERIALIZE_FAILED)
        return None
    if payload["gpu"]["compute"] != list(fakegpu.GPU.compute):
        log(
            "ERROR",
            DEVICE_MISMATCH % (compute_text(fakegpu.GPU.compute), compute_text(payload["gpu"]["compute"])),
        )
        log("ERROR", DESERIALIZE_FAILED)
        return None
    fakegpu.count(len(data))  # weights
    return payload


# Run ---------------------------------------------------------------------------------------


class EngineCore(object):
    """A deserialized engine: its I/O tensors in binding order (inputs, then outputs)."""

    def __init__(self, payload):
        self.payload = payload
        model = payload["model"]
        self.io = [(t["name"], True, t["dtype"], tuple(t["shape"])) for t in model["inputs"]]
        self.io += [(t["name"], False, t["dtype"], tuple(t["shape"])) for t in model["outputs"]]
        self.profile = dict((k, [tuple(s) for s in v]) for k, v in payload["profile"].items())
        largest = max([v[2][0] for v in self.profile.values()] + [1])
        self.device_memory_size = (1 << 20) * largest  # activations

    def index(self, name):
        for i, (tensor, _, _, _) in enumerate(self.io):
            if tensor == name:
                return i
        return -1


class ContextCore(object):
    """An execution context: input shapes set, addresses bound, execution over fakegpu."""

    def __init__(self, engine, log):
        self.engine, self.log = engine, log
        self.shapes = dict((name, shape) for name, is_input, _, shape in engine.io if is_input)
        self.addresses = {}
        self.executions = 0
        fakegpu.count(engine.device_memory_size)

    def set_shape(self, name, shape):
        shape = tuple(int(d) for d in shape)
        declared = [s for n, is_input, _, s in self.engine.io if n == name and is_input]
        if not declared:
            self.log("ERROR", "3: Cannot find binding of given name: %s" % name)
            return False
        if -1 not in declared[0]:
            return shape == declared[0]
        if not within(shape, self.engine.profile[name]):
            self.log(
                "ERROR",
                "3: [executionContext.cpp::setBindingDimensions::969] Error Code 3: API Usage Error "
                "(Parameter check failed at: runtime/api/executionContext.cpp::setBindingDimensions::969, "
                "condition: profileMaxDims.d[i] >= dimensions.d[i]. Supplied binding dimension %s for "
                "bindings[%d] exceed min ~ max range)" % (list(shape), self.engine.index(name)),
            )
            return False
        self.shapes[name] = shape
        return True

    def shape(self, name):
        for tensor, is_input, _, declared in self.engine.io:
            if tensor == name:
                if is_input:
                    return self.shapes[name]
                source = self.shapes[self.engine.io[0][0]]
                return (-1,) * len(declared) if -1 in source else output_shape(name, source)
        return None

    def specified(self):
        return all(-1 not in shape for shape in self.shapes.values())

    def execute(self, addresses):
        """Reads the inputs at their addresses, computes, writes the outputs; False (logged)
        when a shape is unset or an address is not fake GPU memory big enough."""
        import numpy

        if not self.specified():
            self.log(
                "ERROR",
                "3: [executionContext.cpp::enqueueInternal::360] Error Code 3: API Usage Error "
                "(Parameter check failed: all input dimensions must be specified.)",
            )
            return False
        arrays = {}
        for name, is_input, _dtype, _ in self.engine.io:
            if not is_input:
                continue
            shape = self.shapes[name]
            nbytes = 4 * int(numpy.prod(shape))
            data = fakegpu.read(addresses.get(name) or 0, nbytes)
            if data is None:
                self.log(
                    "ERROR",
                    "1: [reformat.cpp::executeCutensor::385] Error Code 1: CuTensor (Internal "
                    "cuTensor permutate execute failed)",
                )
                return False
            arrays[name] = numpy.frombuffer(data, dtype=numpy.float32).reshape(shape)
        outputs = compute(self.engine.payload["reduced"], arrays[self.engine.io[0][0]])
        for name, array in outputs.items():
            if not fakegpu.write(addresses.get(name) or 0, array.tobytes()):
                self.log(
                    "ERROR",
                    "1: [convolutionRunner.cpp::execute::391] Error Code 1: Cask (Cask convolution "
                    "execution)",
                )
                return False
        self.executions += 1
        return True
