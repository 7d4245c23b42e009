"""Fake `tensorrt` 10.3.0 (JetPack 6 on a Jetson Orin), over fakegpu.

The members the 10.x bindings have (NVIDIA/TensorRT tag v10.3.0, python/src/infer/pyCore.cpp),
as far as an ONNX build-and-run touches them: the tensor API (num_io_tensors, get_tensor_name,
get_tensor_mode, get_tensor_shape, get_tensor_dtype, get_tensor_profile_shape, set_input_shape,
set_tensor_address, execute_async_v3; execute_v2 remains), `set_memory_pool_limit` with
MemoryPoolType, TensorIOMode. Absent, as in 10.x: the binding API (num_bindings,
get_binding_*, set_binding_shape, execute_async_v2), `max_workspace_size`,
`Builder.build_engine`, `Builder.max_batch_size`. Networks are always explicit batch; the
EXPLICIT_BATCH flag is deprecated and ignored.
"""

from tests.agent.fake_trt import api_common, fakegpu, trtcore
from tests.agent.fake_trt.api_common import (  # noqa: F401  (the package's public names)
    ErrorCode,
    IHostMemory,
    IInt8Calibrator,
    IInt8EntropyCalibrator2,
    IInt8MinMaxCalibrator,
    ILayer,
    ILogger,
    INetworkDefinition,
    IOptimizationProfile,
    ITensor,
    LayerType,
    Logger,
    OnnxParser,
    ParserError,
    nptype,
    volume,
)

__version__ = "10.3.0.30"

DataType = trtcore.make_enum(
    "DataType", ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8", "BF16", "INT64", "INT4"]
)
TensorIOMode = trtcore.make_enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
TensorLocation = trtcore.make_enum("TensorLocation", ["DEVICE", "HOST"])
MemoryPoolType = trtcore.make_enum(
    "MemoryPoolType",
    [
        "WORKSPACE",
        "DLA_MANAGED_SRAM",
        "DLA_LOCAL_DRAM",
        "DLA_GLOBAL_DRAM",
        "TACTIC_DRAM",
        "TACTIC_SHARED_MEMORY",
    ],
)
NetworkDefinitionCreationFlag = trtcore.make_enum(
    "NetworkDefinitionCreationFlag", ["EXPLICIT_BATCH", "STRONGLY_TYPED"]
)
BuilderFlag = trtcore.make_enum(
    "BuilderFlag",
    [
        "FP16",
        "INT8",
        "DEBUG",
        "GPU_FALLBACK",
        "REFIT",
        "DISABLE_TIMING_CACHE",
        "TF32",
        "SPARSE_WEIGHTS",
        "SAFETY_SCOPE",
        "OBEY_PRECISION_CONSTRAINTS",
        "PREFER_PRECISION_CONSTRAINTS",
        "DIRECT_IO",
        "REJECT_EMPTY_ALGORITHMS",
        "VERSION_COMPATIBLE",
        "EXCLUDE_LEAN_RUNTIME",
        "FP8",
        "ERROR_ON_TIMING_CACHE_MISS",
        "BF16",
        "DISABLE_COMPILATION_CACHE",
        "WEIGHTLESS",
        "STRIP_PLAN",
        "REFIT_IDENTICAL",
        "WEIGHT_STREAMING",
        "INT4",
    ],
)
DEFAULT_STREAM_WARNING = (
    "Using default stream in enqueueV3() may lead to performance issues due to additional calls to "
    "cudaStreamSynchronize() by TensorRT to ensure correct synchronization. Please use non-default stream instead."
)


def _version():
    return __version__


def _serialization_version(version):
    """The plan format number TensorRT 10 prints on a mismatch (239 for 10.3)."""
    major, minor = (int(p) for p in version.split(".")[:2])
    return 236 + minor if major == 10 else 200 + major


class IBuilderConfig(api_common.BuilderConfigBase):
    def __init__(self):
        api_common.BuilderConfigBase.__init__(self, BuilderFlag)
        self._workspace = fakegpu.GPU.total  # 10.x: the device's memory unless limited

    def set_memory_pool_limit(self, pool, pool_size):
        if pool == MemoryPoolType.WORKSPACE:
            self._workspace = int(pool_size)

    def get_memory_pool_limit(self, pool):
        return self._workspace if pool == MemoryPoolType.WORKSPACE else 0


class Builder(api_common.BuilderBase):
    def _version(self):
        return _version()

    def create_network(self, flags=0):
        if int(flags) & (1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)):
            api_common.log_to(self._logger)(
                "WARNING",
                "[network.cpp::NetworkV2::?] The EXPLICIT_BATCH flag is deprecated and has no effect",
            )
        return INetworkDefinition(DataType, True)

    def create_builder_config(self):
        return IBuilderConfig()

    @property
    def max_threads(self):
        return 1


class ICudaEngine(trtcore.Strict):
    def __init__(self, core, log):
        self._core, self._log = core, log

    def _tensor(self, name):
        for tensor in self._core.io:
            if tensor[0] == name:
                return tensor
        return None

    @property
    def num_io_tensors(self):
        return len(self._core.io)

    def get_tensor_name(self, index):
        return self._core.io[index][0] if 0 <= index < len(self._core.io) else None

    def get_tensor_mode(self, name):
        tensor = self._tensor(name)
        if tensor is None:
            return TensorIOMode.NONE
        return TensorIOMode.INPUT if tensor[1] else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name):
        return trtcore.Dims(self._tensor(name)[3])

    def get_tensor_dtype(self, name):
        return getattr(DataType, self._tensor(name)[2])

    def get_tensor_location(self, name):
        return TensorLocation.DEVICE

    def get_tensor_profile_shape(self, name, profile_index):
        if profile_index != 0 or name not in self._core.profile:
            raise RuntimeError(
                "Error in get_tensor_profile_shape: %s has no profile %d" % (name, profile_index)
            )
        return [trtcore.Dims(s) for s in self._core.profile[name]]

    @property
    def num_optimization_profiles(self):
        return 1

    @property
    def device_memory_size(self):
        return self._core.device_memory_size

    @property
    def device_memory_size_v2(self):
        return self._core.device_memory_size

    @property
    def num_layers(self):
        return len(self._core.payload["model"]["layers"])

    @property
    def name(self):
        return "fake_network"

    def serialize(self):
        return IHostMemory(trtcore.serialize(self._core.payload))

    def create_execution_context(self):
        return IExecutionContext(self, trtcore.ContextCore(self._core, self._log))


class IExecutionContext(trtcore.Strict):
    def __init__(self, engine, core):
        self._engine, self._core = engine, core
        self._addresses = {}
        self.debug_sync = False

    @property
    def engine(self):
        return self._engine

    @property
    def debug_sync(self):
        return self._debug_sync

    @debug_sync.setter
    def debug_sync(self, value):
        self._debug_sync = bool(value)

    @property
    def active_optimization_profile(self):
        return 0

    def set_input_shape(self, name, shape):
        return self._core.set_shape(name, shape)

    def get_tensor_shape(self, name):
        shape = self._core.shape(name)
        return trtcore.Dims(shape if shape is not None else [])

    def set_tensor_address(self, name, memory):
        if self._engine._tensor(name) is None:
            self._core.log(
                "ERROR",
                "3: [executionContext.cpp::setTensorAddress::1563] Error Code 3: API Usage Error "
                "(Parameter check failed, condition: mEngine.bindingIndexFromTensorName(tensorName) != "
                "-1. Given invalid tensor name: %s)" % name,
            )
            return False
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name):
        return self._addresses.get(name, 0)

    @property
    def all_binding_shapes_specified(self):
        return self._core.specified()

    @property
    def all_shape_inputs_specified(self):
        return True

    def infer_shapes(self):
        return [] if self._core.specified() else [n for n, s in self._core.shapes.items() if -1 in s]

    def execute_async_v3(self, stream_handle):
        missing = [name for name, _, _, _ in self._core.engine.io if name not in self._addresses]
        if missing:
            self._core.log(
                "ERROR",
                "3: [executionContext.cpp::enqueueV3::2666] Error Code 3: API Usage Error "
                "(Parameter check failed, condition: mContext.profileObliviousBindings.at(profileObliviousIndex) "
                "|| getPtrOrNull(mOutputAllocators, profileObliviousIndex). Address is not set for %s.)"
                % missing[0],
            )
            return False
        if stream_handle == 0:
            self._core.log("WARNING", DEFAULT_STREAM_WARNING)
        elif stream_handle not in fakegpu.GPU.streams:
            self._core.log("ERROR", "1: [enqueue] Error Code 1: Cuda Runtime (invalid resource handle)")
            return False
        return self._core.execute(self._addresses)

    def execute_v2(self, bindings):
        io = self._core.engine.io
        if len(bindings) != len(io):
            return False
        return self._core.execute(dict((name, int(b)) for (name, _, _, _), b in zip(io, bindings)))


class Runtime(api_common.RuntimeBase):
    _engine_class = ICudaEngine

    def _version(self):
        return _version()

    def _version_message(self, built_by):
        return trtcore.VERSION_MISMATCH_10 % (
            _serialization_version(_version()),
            _serialization_version(built_by),
        )
