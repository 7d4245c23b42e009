"""Device memory for TensorRT's inputs and outputs, through whichever CUDA binding the device has:
cuda-python (`cuda.bindings.runtime`, or `cuda.cudart` before cuda-python 12.6), pycuda, or
ctypes on libcudart. One small class per mechanism, each with the same methods:

    malloc(nbytes) -> int pointer        free(pointer)
    to_device(pointer, array)            to_host(array, pointer)   (contiguous numpy arrays)
    mem_info() -> (free bytes, total)    device() -> {"name", "compute_capability"}
    stream() -> opaque stream            stream_handle(stream) -> int (for TensorRT)
    sync(stream)                         destroy_stream(stream)    close()

`open_cuda(prefer)` returns the first that works and says why each one before it did not.
A Jetson Nano (JetPack 4.6, Python 3.6) usually has pycuda or only libcudart: cuda-python
needs Python 3.8 or later.
"""

import atexit
import ctypes
import importlib

MECHANISMS = ("cuda-python", "pycuda", "ctypes")
# Sonames tried in order: the unversioned link exists only with the CUDA toolkit's dev files.
LIBCUDART_NAMES = (
    "libcudart.so",
    "libcudart.so.12",
    "libcudart.so.11.0",
    "libcudart.so.10.2",
    "/usr/local/cuda/lib64/libcudart.so",
)
MEMCPY_HOST_TO_DEVICE = 1  # cudaMemcpyKind
MEMCPY_DEVICE_TO_HOST = 2
ATTR_COMPUTE_CAPABILITY_MAJOR = 75  # cudaDeviceAttr, unchanged since CUDA 5
ATTR_COMPUTE_CAPABILITY_MINOR = 76
# cudaDeviceProp starts with `char name[256]`; the struct grew from ~700 bytes (CUDA 10) to
# ~1000 (CUDA 12), so ctypes passes a buffer larger than any and reads only the name.
DEVICE_PROP_BYTES = 4096
NAME_BYTES = 256

# ctypes.CDLL, replaceable by tests (a fake libcudart).
load_library = ctypes.CDLL


class CudaError(RuntimeError):
    """A CUDA call failed, or no CUDA binding could be used."""


def _c_string(raw):
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


class CudaPython(object):
    """NVIDIA's cuda-python: every call returns (error, results...)."""

    name = "cuda-python"

    def __init__(self):
        try:
            self._rt = importlib.import_module("cuda.bindings.runtime")
        except ImportError:
            self._rt = importlib.import_module("cuda.cudart")

    def _call(self, what, result):
        if result[0] != self._rt.cudaError_t.cudaSuccess:
            raise CudaError("%s failed: %s" % (what, result[0]))
        return result[1:]

    def malloc(self, nbytes):
        return int(self._call("cudaMalloc", self._rt.cudaMalloc(nbytes))[0])

    def free(self, pointer):
        self._call("cudaFree", self._rt.cudaFree(pointer))

    def to_device(self, pointer, array):
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpy", self._rt.cudaMemcpy(pointer, array.ctypes.data, array.nbytes, kind))

    def to_host(self, array, pointer):
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpy", self._rt.cudaMemcpy(array.ctypes.data, pointer, array.nbytes, kind))

    def mem_info(self):
        free, total = self._call("cudaMemGetInfo", self._rt.cudaMemGetInfo())
        return int(free), int(total)

    def device(self):
        (prop,) = self._call("cudaGetDeviceProperties", self._rt.cudaGetDeviceProperties(0))
        name = prop.name if isinstance(prop.name, str) else _c_string(bytes(prop.name))
        return {"name": name.strip(), "compute_capability": "%d.%d" % (prop.major, prop.minor)}

    def stream(self):
        return self._call("cudaStreamCreate", self._rt.cudaStreamCreate())[0]

    def stream_handle(self, stream):
        return int(stream)

    def sync(self, stream):
        self._call("cudaStreamSynchronize", self._rt.cudaStreamSynchronize(stream))

    def destroy_stream(self, stream):
        self._call("cudaStreamDestroy", self._rt.cudaStreamDestroy(stream))

    def close(self):
        pass


class PyCuda(object):
    """pycuda on the device's primary context: the one the CUDA runtime, and so TensorRT, uses
    (pycuda.autoinit would make a second context)."""

    name = "pycuda"

    def __init__(self):
        self._drv = importlib.import_module("pycuda.driver")
        self._drv.init()
        self._device = self._drv.Device(0)
        self._context = self._device.retain_primary_context()
        self._context.push()
        self._allocations = {}  # pointer -> DeviceAllocation (freed when dropped)
        # pycuda aborts the process at exit when a pushed context is still on the stack.
        atexit.register(self.close)

    def malloc(self, nbytes):
        allocation = self._drv.mem_alloc(nbytes)
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, pointer):
        self._allocations.pop(pointer).free()

    def to_device(self, pointer, array):
        self._drv.memcpy_htod(pointer, array)

    def to_host(self, array, pointer):
        self._drv.memcpy_dtoh(array, pointer)

    def mem_info(self):
        free, total = self._drv.mem_get_info()
        return int(free), int(total)

    def device(self):
        major, minor = self._device.compute_capability()
        return {"name": self._device.name(), "compute_capability": "%d.%d" % (major, minor)}

    def stream(self):
        return self._drv.Stream()

    def stream_handle(self, stream):
        return int(stream.handle)

    def sync(self, stream):
        stream.synchronize()

    def destroy_stream(self, stream):
        pass  # pycuda frees a Stream when it is garbage collected

    def close(self):
        if self._context is None:
            return
        for allocation in self._allocations.values():
            allocation.free()
        self._allocations.clear()
        self._context.pop()
        self._context.detach()
        self._context = None


class CtypesCudart(object):
    """The CUDA runtime library itself, through ctypes: needs nothing but libcudart.so."""

    name = "ctypes"

    def __init__(self):
        self._lib, self.library = self._load()
        self._lib.cudaGetErrorString.restype = ctypes.c_char_p

    @staticmethod
    def _load():
        tried = []
        for soname in LIBCUDART_NAMES:
            try:
                return load_library(soname), soname
            except OSError as exc:
                tried.append("%s (%s)" % (soname, str(exc).splitlines()[0] if str(exc) else "not found"))
        raise CudaError("libcudart cannot be loaded: tried " + ", ".join(tried))

    def _check(self, what, status):
        if status != 0:
            message = self._lib.cudaGetErrorString(status)
            raise CudaError("%s failed: error %d (%s)" % (what, status, _c_string(message or b"")))

    def malloc(self, nbytes):
        pointer = ctypes.c_void_p()
        self._check("cudaMalloc", self._lib.cudaMalloc(ctypes.byref(pointer), ctypes.c_size_t(nbytes)))
        return pointer.value

    def free(self, pointer):
        self._check("cudaFree", self._lib.cudaFree(ctypes.c_void_p(pointer)))

    def _copy(self, destination, source, nbytes, kind):
        status = self._lib.cudaMemcpy(
            ctypes.c_void_p(destination), ctypes.c_void_p(source), ctypes.c_size_t(nbytes), ctypes.c_int(kind)
        )
        self._check("cudaMemcpy", status)

    def to_device(self, pointer, array):
        self._copy(pointer, array.ctypes.data, array.nbytes, MEMCPY_HOST_TO_DEVICE)

    def to_host(self, array, pointer):
        self._copy(array.ctypes.data, pointer, array.nbytes, MEMCPY_DEVICE_TO_HOST)

    def mem_info(self):
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        self._check("cudaMemGetInfo", self._lib.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)))
        return int(free.value), int(total.value)

    def _attribute(self, attribute):
        value = ctypes.c_int()
        status = self._lib.cudaDeviceGetAttribute(
            ctypes.byref(value), ctypes.c_int(attribute), ctypes.c_int(0)
        )
        self._check("cudaDeviceGetAttribute", status)
        return value.value

    def device(self):
        prop = ctypes.create_string_buffer(DEVICE_PROP_BYTES)
        self._check("cudaGetDeviceProperties", self._lib.cudaGetDeviceProperties(prop, ctypes.c_int(0)))
        major = self._attribute(ATTR_COMPUTE_CAPABILITY_MAJOR)
        minor = self._attribute(ATTR_COMPUTE_CAPABILITY_MINOR)
        return {"name": _c_string(prop.raw[:NAME_BYTES]), "compute_capability": "%d.%d" % (major, minor)}

    def stream(self):
        stream = ctypes.c_void_p()
        self._check("cudaStreamCreate", self._lib.cudaStreamCreate(ctypes.byref(stream)))
        return stream.value

    def stream_handle(self, stream):
        return int(stream or 0)

    def sync(self, stream):
        self._check("cudaStreamSynchronize", self._lib.cudaStreamSynchronize(ctypes.c_void_p(stream)))

    def destroy_stream(self, stream):
        self._check("cudaStreamDestroy", self._lib.cudaStreamDestroy(ctypes.c_void_p(stream)))

    def close(self):
        pass


OPENERS = {"cuda-python": CudaPython, "pycuda": PyCuda, "ctypes": CtypesCudart}


def open_cuda(prefer="auto"):
    """The first mechanism that opens, in MECHANISMS order (or only `prefer`)."""
    order = MECHANISMS if prefer in (None, "auto") else (prefer,)
    reasons = []
    for name in order:
        try:
            return OPENERS[name]()
        except Exception as exc:  # ImportError, pycuda's own errors, OSError, CudaError
            reasons.append("%s: %s" % (name, (str(exc) or type(exc).__name__).splitlines()[0]))
    raise CudaError(
        "no CUDA binding could be used for TensorRT's buffers (%s); install cuda-python or pycuda, "
        "or make libcudart.so loadable (LD_LIBRARY_PATH=/usr/local/cuda/lib64)" % "; ".join(reasons)
    )
