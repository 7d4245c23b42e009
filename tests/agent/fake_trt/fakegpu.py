"""One fake GPU behind the fake CUDA bindings and the fake TensorRT: its properties (name,
compute capability, what TensorRT may build for it), its memory and its streams.

"Device memory" is real host memory (ctypes buffers), so the agent's copies move real bytes and
the fake engine reads its inputs from, and writes its outputs to, the pointers it is bound to;
a pointer the fake GPU did not hand out, or a copy past an allocation's end, is an error, as
on a GPU. Memory TensorRT keeps for itself (weights, activations) is only counted.

A subprocess (the fake trtexec) gets the same GPU through `environ()` / `configure_from_env()`.
"""

import ctypes
import json
import os

ENV = "EDGEBENCH_FAKE_GPU"
MIB = 1 << 20

# A Jetson Nano (JetPack 4.6): Maxwell, fp16 but no int8 in TensorRT.
NANO = {
    "name": "NVIDIA Tegra X1",
    "compute": [5, 3],
    "fast_fp16": True,
    "fast_int8": False,
    "total_mib": 3964,
}
# A Jetson Orin Nano (JetPack 6): Ampere, fp16 and int8.
ORIN = {"name": "Orin", "compute": [8, 7], "fast_fp16": True, "fast_int8": True, "total_mib": 7620}
# An old GPU without fast fp16 (a GTX 1080: compute 6.1 has no fast fp16 in TensorRT).
PASCAL = {
    "name": "NVIDIA GeForce GTX 1080",
    "compute": [6, 1],
    "fast_fp16": False,
    "fast_int8": True,
    "total_mib": 8110,
}


class Gpu(object):
    def __init__(self, name, compute, fast_fp16, fast_int8, total_mib):
        self.name = name
        self.compute = tuple(compute)
        self.fast_fp16 = fast_fp16
        self.fast_int8 = fast_int8
        self.total = total_mib * MIB
        self.counted = 0  # TensorRT's own memory
        self.allocations = {}  # address -> ctypes buffer
        self.streams = set()
        self.copies = 0

    @property
    def used(self):
        return self.counted + sum(len(b) for b in self.allocations.values())

    def settings(self):
        return {
            "name": self.name,
            "compute": list(self.compute),
            "fast_fp16": self.fast_fp16,
            "fast_int8": self.fast_int8,
            "total_mib": self.total // MIB,
        }


GPU = Gpu(**NANO)


def configure(settings):
    """A fresh GPU (nothing allocated) with these settings (NANO, ORIN, PASCAL or alike)."""
    global GPU
    GPU = Gpu(**settings)
    return GPU


def environ():
    return {ENV: json.dumps(GPU.settings())}


def configure_from_env():
    if os.environ.get(ENV):
        configure(json.loads(os.environ[ENV]))


def malloc(nbytes):
    if nbytes <= 0 or GPU.used + nbytes > GPU.total:
        return None
    buffer = ctypes.create_string_buffer(nbytes)
    GPU.allocations[ctypes.addressof(buffer)] = buffer
    return ctypes.addressof(buffer)


def free(address):
    return GPU.allocations.pop(address, None) is not None


def owns(address, nbytes):
    """Whether [address, address + nbytes) lies inside one allocation."""
    for start, buffer in GPU.allocations.items():
        if start <= address and address + nbytes <= start + len(buffer):
            return True
    return False


def copy(destination, source, nbytes, to_device):
    """A cudaMemcpy: the device side must be fake GPU memory."""
    if not owns(destination if to_device else source, nbytes):
        return False
    ctypes.memmove(destination, source, nbytes)
    GPU.copies += 1
    return True


def read(address, nbytes):
    return ctypes.string_at(address, nbytes) if owns(address, nbytes) else None


def write(address, data):
    if not owns(address, len(data)):
        return False
    ctypes.memmove(address, data, len(data))
    return True


def count(nbytes):
    GPU.counted += nbytes


def mem_info():
    return GPU.total - GPU.used, GPU.total


def new_stream():
    handle = 0x5000 + len(GPU.streams) + 1
    GPU.streams.add(handle)
    return handle
