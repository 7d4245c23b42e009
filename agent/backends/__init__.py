"""Backend seam: `available()`, `load(artifact, options)`, `inputs()`, `run(feed)`, `info()`.

Runtimes are imported only when a backend is chosen, so a device without onnxruntime can
still run the agent (and the `null` backend).
"""

import importlib

# name -> module (relative to this package) defining `Backend`
REGISTRY = {
    "null": ".null",
    "onnxruntime": ".onnxrt",
    "tvm": ".tvm",
    "tensorrt": ".tensorrt",
}


class BackendError(ValueError):
    """Unknown backend, runtime missing, or a model it cannot load."""


def backend_names():
    return sorted(REGISTRY)


def get_backend(name):
    if name not in REGISTRY:
        raise BackendError("unknown backend %r; valid backends: %s" % (name, ", ".join(backend_names())))
    module = importlib.import_module(REGISTRY[name], __name__)
    backend = module.Backend()
    if not backend.available():
        raise BackendError(
            "backend %r is not available on this device: %s" % (name, backend.why_unavailable())
        )
    return backend
