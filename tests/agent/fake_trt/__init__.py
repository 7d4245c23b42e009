"""Fakes that let the TensorRT backend (agent/backends/tensorrt.py) run without a GPU:
`tensorrt` 8.2 (trt82/) and 10.x (trt10/) Python packages that follow those versions' APIs,
the CUDA bindings (fake_cuda.py), trtexec (trtexec.py), all over one fake GPU (fakegpu.py).

    module = load_tensorrt("8.2")       # a fresh module object; put it in sys.modules["tensorrt"]
    script = write_trtexec(folder, "10") # an executable trtexec for that version
"""

import importlib.util
import os
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "parsers", "trtexec")
PACKAGES = {"8.2": "trt82", "10": "trt10"}
VERSION_ENV = "EDGEBENCH_FAKE_TRT"  # which fake TensorRT the fake trtexec uses
LIBRARY_VERSION_ENV = "EDGEBENCH_FAKE_TRT_LIBRARY"  # trtexec's own TensorRT build, if it differs


def package_dir(version):
    return os.path.join(HERE, PACKAGES[version])


def load_tensorrt(version):
    """A fresh copy of the fake `tensorrt` package of this version ("8.2" or "10")."""
    path = os.path.join(package_dir(version), "tensorrt", "__init__.py")
    spec = importlib.util.spec_from_file_location("tensorrt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_trtexec(folder, version, library_version=None):
    """An executable `trtexec` in folder that runs the fake (trtexec.py) with this Python."""
    path = os.path.join(folder, "trtexec")
    env = "%s=%s" % (VERSION_ENV, version)
    if library_version:
        env += " %s=%s" % (LIBRARY_VERSION_ENV, library_version)
    with open(path, "w") as f:
        f.write(
            '#!/bin/sh\nPYTHONPATH="%s" %s exec "%s" "%s" "$@"\n'
            % (REPO, env, sys.executable, os.path.join(HERE, "trtexec.py"))
        )
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()
