"""Fake `tensorrt` 8.2.1 (JetPack 4.6.1 on a Jetson Nano, Python 3.6), over fakegpu.

The members the 8.2 bindings have (NVIDIA/TensorRT tag 8.2.1, python/src/infer/pyCore.cpp),
as far as an ONNX build-and-run touches them: the binding API (num_bindings, get_binding_name,
binding_is_input, get_binding_shape, get_binding_dtype, get_profile_shape, set_binding_shape,
execute_v2, execute_async_v2), `IBuilderConfig.max_workspace_size` (default 0: no workspace),
the deprecated `Builder.build_engine`, `Builder.max_batch_size`. Absent, as in 8.2: the tensor
API (num_io_tensors, get_tensor_name, set_input_shape, set_tensor_address, execute_async_v3),
`set_memory_pool_limit` / MemoryPoolType (8.3), TensorIOMode (8.5), UINT8/INT64 (8.5/9.x).
The ONNX parser needs a network created with the EXPLICIT_BATCH flag.
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

__version__ = "8.2.1.8"

DataType = trtcore.make_enum("DataType", ["FLOAT", "HALF", "INT8", "INT32", "BOOL"])
NetworkDefinitionCreationFlag = trtcore.make_enum(
    "NetworkDefinitionCreationFlag", ["EXPLICIT_BATCH", "EXPLICIT_PRECISION"]
)
BuilderFlag = trtcore.make_enum(
    "BuilderFlag",
    [
        "FP16",
        "INT8",
        "DEBUG",
        "GPU_FALLBACK",
        "STRICT_TYPES",
        "REFIT",
        "DISABLE_TIMING_CACHE",
        "TF32",
        "SPARSE_WEIGHTS",
        "SAFETY_SCOPE",
        "OBEY_PRECISION_CONSTRAINTS",
        "PREFER_PRECISION_CONSTRAINTS",
        "DIRECT_IO",
        "REJECT_EMPTY_ALGORITHMS",
    ],
)


def _version():
    return __version__


def _three_parts(version):
    return ".".join(version.split(".")[:3])


class IBuilderConfig(api_common.BuilderConfigBase):
    def __init__(self):
        api_common.BuilderConfigBase.__init__(self, BuilderFlag)

    @property
    def max_workspace_size(self):
        return self._workspace

    @max_workspace_size.setter
    def max_workspace_size(self, size):
        self._workspace = int(size)


class Builder(api_common.BuilderBase):
    max_batch_size = 1  # implicit-batch networks only; settable

    def _version(self):
        return _version()

    def create_network(self, flags=0):
        explicit = bool(int(flags) & (1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)))
        return INetworkDefinition(DataType, explicit)

    def create_builder_config(self):
        return IBuilderConfig()

    def build_engine(self, network, config):
        """Deprecated in 8.0 for build_serialized_network; returns an ICudaEngine or None."""
        serialized = self.build_serialized_network(network, config)
        return None if serialized is None else Runtime(self._logger).deserialize_cuda_engine(serialized)


class ICudaEngine(trtcore.Strict):
    def __init__(self, core, log):
        self._core, self._log = core, log

    def _index(self, binding):
        return self._core.index(binding) if isinstance(binding, str) else int(binding)

    @property
    def num_bindings(self):
        return len(self._core.io)

    def __len__(self):
        return self.num_bindings

    def __getitem__(self, index):
        return self.get_binding_name(index)

    def get_binding_name(self, index):
        return self._core.io[index][0] if 0 <= index < len(self._core.io) else None

    def get_binding_index(self, name):
        return self._core.index(name)

    def binding_is_input(self, index):
        return self._core.io[self._index(index)][1]

    def get_binding_shape(self, index):
        return trtcore.Dims(self._core.io[self._index(index)][3])

    def get_binding_dtype(self, index):
        return getattr(DataType, self._core.io[self._index(index)][2])

    def get_profile_shape(self, profile_index, binding):
        name = self._core.io[self._index(binding)][0]
        if profile_index != 0 or name not in self._core.profile:
            raise RuntimeError(
                "Error in get_profile_shape: binding %s has no profile %d" % (name, profile_index)
            )
        return [trtcore.Dims(s) for s in self._core.profile[name]]

    @property
    def num_optimization_profiles(self):
        return 1

    @property
    def has_implicit_batch_dimension(self):
        return False

    @property
    def max_batch_size(self):
        return 1

    @property
    def device_memory_size(self):
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
        self._debug_sync = False
        self._profile = 0

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
        return self._profile

    @active_optimization_profile.setter
    def active_optimization_profile(self, index):
        if index != 0:
            raise RuntimeError("Error in set optimization profile.")
        self._profile = index

    def set_binding_shape(self, binding, shape):
        io = self._core.engine.io
        if not 0 <= binding < len(io) or not io[binding][1]:
            self._core.log(
                "ERROR",
                "3: [executionContext.cpp::setBindingDimensions::926] Error Code 3: API Usage "
                "Error (Parameter check failed: bindingIndex must be an input binding)",
            )
            return False
        return self._core.set_shape(io[binding][0], shape)

    def get_binding_shape(self, binding):
        return trtcore.Dims(self._core.shape(self._core.engine.io[binding][0]))

    @property
    def all_binding_shapes_specified(self):
        return self._core.specified()

    def execute_v2(self, bindings):
        io = self._core.engine.io
        if len(bindings) != len(io):
            self._core.log(
                "ERROR",
                "3: [executionContext.cpp::executeV2] Error Code 3: API Usage Error (bindings "
                "must hold one pointer per binding)",
            )
            return False
        return self._core.execute(dict((name, int(b)) for (name, _, _, _), b in zip(io, bindings)))

    def execute_async_v2(self, bindings, stream_handle, input_consumed=None):
        if stream_handle and stream_handle not in fakegpu.GPU.streams:
            return False
        return self.execute_v2(bindings)


class Runtime(api_common.RuntimeBase):
    _engine_class = ICudaEngine

    def _version(self):
        return _version()

    def _version_message(self, built_by):
        return trtcore.VERSION_MISMATCH_8 % (_three_parts(_version()), _three_parts(built_by))
