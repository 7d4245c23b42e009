"""Fakes of the three CUDA bindings agent/backends/cuda_buffers.py uses, over fakegpu:

- `libcudart_loader(...)`: stands in for ctypes.CDLL; the library's functions take ctypes
  arguments (c_size_t, c_void_p, byref(...)) and return a cudaError_t int, as libcudart's do;
- `cuda_python_modules(layout)`: `cuda.bindings.runtime` (cuda-python >= 12.6) or `cuda.cudart`
  (older), whose calls return (cudaError_t, results...);
- `pycuda_modules()`: `pycuda.driver` (init, Device, primary context, mem_alloc, memcpy_htod/dtoh,
  mem_get_info, Stream), raising pycuda.driver.Error on failure.

Each returns what the test puts in sys.modules (or patches as cuda_buffers.load_library).
"""

import ctypes
import enum
import types

from . import fakegpu

SUCCESS, INVALID_VALUE, MEMORY_ALLOCATION = 0, 1, 2
ERROR_TEXT = {0: b"no error", 1: b"invalid argument", 2: b"out of memory"}


def _value(argument):
    """A ctypes argument as the C function would see it."""
    return argument.value if hasattr(argument, "value") else argument


def _target(reference):
    """The object behind ctypes.byref(obj): the out-parameter a C function writes."""
    if not type(reference).__name__ == "CArgObject":
        raise TypeError("expected ctypes.byref(...), got %r" % (reference,))
    return reference._obj


def _function(implementation):
    """A plain function object: ctypes' function pointers take attributes (restype, argtypes)."""

    def call(*args):
        return implementation(*args)

    return call


class FakeLibcudart(object):
    """The functions cuda_buffers.CtypesCudart calls, with libcudart's signatures."""

    def __init__(self):
        for name in (
            "cudaMalloc",
            "cudaFree",
            "cudaMemcpy",
            "cudaMemGetInfo",
            "cudaGetDeviceProperties",
            "cudaDeviceGetAttribute",
            "cudaStreamCreate",
            "cudaStreamSynchronize",
            "cudaStreamDestroy",
            "cudaGetErrorString",
        ):
            setattr(self, name, _function(getattr(self, "_" + name)))

    def _cudaMalloc(self, pointer, size):
        address = fakegpu.malloc(_value(size))
        if address is None:
            return MEMORY_ALLOCATION
        _target(pointer).value = address
        return SUCCESS

    def _cudaFree(self, pointer):
        return SUCCESS if fakegpu.free(_value(pointer)) else INVALID_VALUE

    def _cudaMemcpy(self, destination, source, count, kind):
        kind = _value(kind)
        if kind not in (1, 2):
            return INVALID_VALUE
        ok = fakegpu.copy(_value(destination), _value(source), _value(count), to_device=kind == 1)
        return SUCCESS if ok else INVALID_VALUE

    def _cudaMemGetInfo(self, free, total):
        _target(free).value, _target(total).value = fakegpu.mem_info()
        return SUCCESS

    def _cudaGetDeviceProperties(self, prop, device):
        if _value(device) != 0:
            return INVALID_VALUE
        name = fakegpu.GPU.name.encode("utf-8")
        ctypes.memmove(prop, name + b"\0", len(name) + 1)  # `char name[256]` comes first
        return SUCCESS

    def _cudaDeviceGetAttribute(self, value, attribute, device):
        attributes = {75: fakegpu.GPU.compute[0], 76: fakegpu.GPU.compute[1]}
        if _value(attribute) not in attributes or _value(device) != 0:
            return INVALID_VALUE
        _target(value).value = attributes[_value(attribute)]
        return SUCCESS

    def _cudaStreamCreate(self, stream):
        _target(stream).value = fakegpu.new_stream()
        return SUCCESS

    def _cudaStreamSynchronize(self, stream):
        return SUCCESS if _value(stream) in fakegpu.GPU.streams else INVALID_VALUE

    def _cudaStreamDestroy(self, stream):
        handle = _value(stream)
        if handle not in fakegpu.GPU.streams:
            return INVALID_VALUE
        fakegpu.GPU.streams.discard(handle)
        return SUCCESS

    def _cudaGetErrorString(self, status):
        return ERROR_TEXT.get(_value(status), b"unknown error")


def libcudart_loader(present=("libcudart.so.10.2",)):
    """A ctypes.CDLL stand-in: only the sonames in `present` load (JetPack 4.6 has no
    unversioned libcudart.so without the CUDA dev package)."""
    loaded = []

    def load(name):
        if name not in present:
            raise OSError("%s: cannot open shared object file: No such file or directory" % name)
        loaded.append(name)
        return FakeLibcudart()

    load.loaded = loaded
    return load


# cuda-python -------------------------------------------------------------------------------


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


class cudaStream_t(object):
    def __init__(self, handle):
        self._handle = handle

    def __int__(self):
        return self._handle

    def getPtr(self):
        return self._handle


class cudaDeviceProp(object):
    def __init__(self):
        self.name = fakegpu.GPU.name.encode("utf-8") + b"\0" * 8  # char[256] as bytes
        self.major, self.minor = fakegpu.GPU.compute
        self.totalGlobalMem = fakegpu.GPU.total


def _pointer(value):
    """cuda-python takes an int or an object with a buffer (a numpy array) for void*."""
    if isinstance(value, int):
        return value
    return value.ctypes.data


def _runtime_module(name):
    rt = types.ModuleType(name)
    rt.cudaError_t = cudaError_t
    rt.cudaMemcpyKind = cudaMemcpyKind
    rt.cudaStream_t = cudaStream_t
    ok, bad = cudaError_t.cudaSuccess, cudaError_t.cudaErrorInvalidValue

    def cudaMalloc(size):
        address = fakegpu.malloc(size)
        return (cudaError_t.cudaErrorMemoryAllocation, 0) if address is None else (ok, address)

    def cudaMemcpy(dst, src, count, kind):
        kind = cudaMemcpyKind(kind)
        to_device = kind == cudaMemcpyKind.cudaMemcpyHostToDevice
        done = fakegpu.copy(_pointer(dst), _pointer(src), count, to_device=to_device)
        return (ok if done else bad,)

    def cudaStreamCreate():
        return ok, cudaStream_t(fakegpu.new_stream())

    def cudaStreamSynchronize(stream):
        return (ok if int(stream) in fakegpu.GPU.streams else bad,)

    def cudaStreamDestroy(stream):
        known = int(stream) in fakegpu.GPU.streams
        fakegpu.GPU.streams.discard(int(stream))
        return (ok if known else bad,)

    rt.cudaMalloc = cudaMalloc
    rt.cudaFree = lambda pointer: (ok if fakegpu.free(int(pointer)) else bad,)
    rt.cudaMemcpy = cudaMemcpy
    rt.cudaMemGetInfo = lambda: (ok,) + fakegpu.mem_info()
    rt.cudaGetDeviceProperties = lambda device: (ok, cudaDeviceProp()) if device == 0 else (bad, None)
    rt.cudaStreamCreate = cudaStreamCreate
    rt.cudaStreamSynchronize = cudaStreamSynchronize
    rt.cudaStreamDestroy = cudaStreamDestroy
    return rt


def cuda_python_modules(layout="bindings"):
    """sys.modules entries for cuda-python: "bindings" (cuda.bindings.runtime, 12.6+) or
    "cudart" (cuda.cudart, before). The top package has no other submodule."""
    cuda = types.ModuleType("cuda")
    cuda.__path__ = []
    if layout == "bindings":
        bindings = types.ModuleType("cuda.bindings")
        bindings.__path__ = []
        bindings.runtime = _runtime_module("cuda.bindings.runtime")
        cuda.bindings = bindings
        return {"cuda": cuda, "cuda.bindings": bindings, "cuda.bindings.runtime": bindings.runtime}
    cuda.cudart = _runtime_module("cuda.cudart")
    return {"cuda": cuda, "cuda.cudart": cuda.cudart, "cuda.bindings": None}


# pycuda ------------------------------------------------------------------------------------


def pycuda_modules():
    """sys.modules entries for pycuda and pycuda.driver."""
    drv = types.ModuleType("pycuda.driver")
    state = {"initialized": False, "contexts": []}

    class Error(Exception):
        pass

    class DeviceAllocation(object):
        def __init__(self, address):
            self._address = address

        def __int__(self):
            return self._address

        def free(self):
            if self._address is not None:
                fakegpu.free(self._address)
                self._address = None

    class Context(object):
        def push(self):
            state["contexts"].append(self)

        def pop(self):
            state["contexts"].remove(self)

        def detach(self):
            pass

    class Device(object):
        def __init__(self, number):
            if not state["initialized"]:
                raise Error("cuInit has not been called")
            self.number = number

        def name(self):
            return fakegpu.GPU.name

        def compute_capability(self):
            return fakegpu.GPU.compute

        def retain_primary_context(self):
            return Context()

    class Stream(object):
        def __init__(self):
            self.handle = fakegpu.new_stream()

        def synchronize(self):
            pass

    def needs_context():
        if not state["contexts"]:
            raise Error("invalid device context - no currently active context?")

    def mem_alloc(nbytes):
        needs_context()
        address = fakegpu.malloc(nbytes)
        if address is None:
            raise Error("cuMemAlloc failed: out of memory")
        return DeviceAllocation(address)

    def memcpy_htod(dest, src):
        needs_context()
        if not fakegpu.copy(int(dest), src.ctypes.data, src.nbytes, to_device=True):
            raise Error("cuMemcpyHtoD failed: invalid argument")

    def memcpy_dtoh(dest, src):
        needs_context()
        if not fakegpu.copy(dest.ctypes.data, int(src), dest.nbytes, to_device=False):
            raise Error("cuMemcpyDtoH failed: invalid argument")

    def init():
        state["initialized"] = True

    def mem_get_info():
        needs_context()
        return fakegpu.mem_info()

    drv.Error, drv.Device, drv.Stream, drv.init = Error, Device, Stream, init
    drv.mem_alloc, drv.mem_get_info, drv.memcpy_htod, drv.memcpy_dtoh = (
        mem_alloc,
        mem_get_info,
        memcpy_htod,
        memcpy_dtoh,
    )
    drv.state = state
    pycuda = types.ModuleType("pycuda")
    pycuda.__path__ = []
    pycuda.driver = drv
    return {"pycuda": pycuda, "pycuda.driver": drv}
