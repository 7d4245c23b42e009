"""Apache TVM backend: a shared library compiled on the host for this device's target
(orchestrator/compile/tvm_build.py), loaded with `tvm.runtime.load_module` and run in the
Relax VM on the CPU.

The library carries `edgebench_io`, a function returning JSON: the inputs (name, ONNX
Runtime-style type, declared shape), the target and the TVM version it was compiled with.
Threads: TVM_NUM_THREADS, set before the runtime's thread pool starts (at the first run).
"""

import importlib
import json
import os

IO_FUNCTION = "edgebench_io"  # the host's compile step adds it
THREADS_ENV = "TVM_NUM_THREADS"
# The TVM the host compiles with (pyproject's `tvm` extra); the host's declaration and the
# emulated Pi's wheels read it from here.
TVM_PIN = "apache-tvm==0.27.0.post1"
INSTALL = "pip3 install %s (the TVM version the host compiles with)" % TVM_PIN


def last_line(exc):
    """TVM's errors end with the message, after the C++ frames."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


class Backend(object):
    name = "tvm"
    needs_model = True

    def __init__(self):
        self._tvm = None
        self._import_error = None
        self._main = None
        self._io = {}
        self._threads = None

    def _runtime(self):
        if self._tvm is None and self._import_error is None:
            try:
                tvm = importlib.import_module("tvm")
                importlib.import_module("tvm.relax")
                importlib.import_module("numpy")
                self._tvm = tvm
            except Exception as exc:  # ImportError, or a shared library TVM cannot open
                self._import_error = last_line(exc)
        return self._tvm

    def available(self):
        return self._runtime() is not None

    def why_unavailable(self):
        return "tvm cannot be imported (%s); install it on the device: %s" % (self._import_error, INSTALL)

    def load(self, artifact, options):
        from . import BackendError

        tvm = self._runtime()
        self._threads = int(options["intra_op_threads"]) if options.get("intra_op_threads") else None
        if self._threads:
            os.environ[THREADS_ENV] = str(self._threads)
        try:
            vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(artifact), tvm.cpu())
        except Exception as exc:  # a library for another machine, or from another TVM version
            raise BackendError(
                "tvm %s cannot load %s: %s (was it compiled for this device's target, with this TVM?)"
                % (tvm.__version__, artifact, last_line(exc))
            )
        self._io = self._read_io(vm, artifact)
        self._main = vm["main"]

    def _read_io(self, vm, artifact):
        from . import BackendError

        try:
            io = json.loads(str(vm[IO_FUNCTION]()))
        except Exception:  # no such function, or not JSON
            raise BackendError(
                "%s has no %s description: compile it with `edgebench compile` (or let sweep do it)"
                % (artifact, IO_FUNCTION)
            )
        arity = vm._get_function_arity("main")
        if arity != len(io["inputs"]):
            raise BackendError(
                "%s: its main function takes %d inputs, its description lists %d"
                % (artifact, arity, len(io["inputs"]))
            )
        return io

    def inputs(self):
        return [(name, type_str, list(shape)) for name, type_str, shape in self._io["inputs"]]

    def _tensor(self, array):
        tvm = self._tvm
        make = getattr(tvm.runtime, "tensor", None) or tvm.nd.array  # tvm.nd before 0.21
        return make(array)

    def run(self, feed):
        result = self._main(*[self._tensor(feed[name]) for name, _, _ in self._io["inputs"]])
        if hasattr(result, "numpy"):  # one output
            return [result.numpy()]
        return [output.numpy() for output in result]

    def info(self):
        tvm = self._tvm
        info = {
            "runtime": "tvm",
            "version": tvm.__version__,
            "target": self._io.get("target"),
            "target_spec": self._io.get("target_spec"),
            "compiled_with": self._io.get("tvm_version"),
            "intra_op_threads": self._threads,
        }
        try:
            info["threads"] = int(tvm.get_global_func("runtime.NumThreads")())
        except Exception:  # an older runtime without it: not known, not 0
            info["threads"] = None
        return info
