"""Device facts: board, OS, kernel, CPUs, memory, Python, runtimes found.

Each collector is small and best-effort: what cannot be read is None, never a guess.
`root` lets tests point the file readers at a fake tree with the real layout.
"""

import importlib
import importlib.util
import json
import os
import re
import sys

from . import AGENT_VERSION
from .child import emulator
from .memory import meminfo_mb

# Runtimes a trial may use, and the module that provides each.
RUNTIME_MODULES = (
    ("onnxruntime", "onnxruntime"),
    ("tensorrt", "tensorrt"),
    ("tvm", "tvm"),
    ("numpy", "numpy"),
)


def _read(root, path):
    try:
        with open(os.path.join(root, path.lstrip("/")), "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def board_model(root="/"):
    """/proc/device-tree/model is NUL-terminated on the device."""
    text = _read(root, "/proc/device-tree/model") or _read(root, "/sys/firmware/devicetree/base/model")
    if text is None:
        return None
    return text.replace("\x00", "").strip() or None


def os_name(root="/"):
    text = _read(root, "/etc/os-release")
    if text is None:
        return None
    # os-release(5): the value may be in double quotes, single quotes, or bare.
    match = re.search(r'^PRETTY_NAME=(["\']?)(.*?)\1[ \t\r]*$', text, re.MULTILINE)
    return (match.group(2) or None) if match else None


def l4t_release(root="/"):
    """'# R32 (release), REVISION: 7.1, ...' -> '32.7.1' (L4T R32.7.1 = JetPack 4.6.1)."""
    text = _read(root, "/etc/nv_tegra_release")
    if text is None:
        return None
    match = re.search(r"#\s*R(\d+)\s*\(\w+\),\s*REVISION:\s*([\d.]+)", text)
    return "%s.%s" % match.groups() if match else None


def cpu_model(root="/"):
    text = _read(root, "/proc/cpuinfo") or ""
    for key in ("model name", "Model", "Hardware"):
        match = re.search(r"^%s\s*:\s*(.+)$" % key, text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return None


# `platform` is not imported: on Python 3.6 it imports subprocess, and the probe runs on every
# device of a fleet at once. os.uname() and sys say the same.
IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython", "jython": "Jython"}


def python_version():
    """As platform.python_version(): '3.6.9', '3.13.0rc1'."""
    return sys.version.split()[0]


def python_implementation():
    name = sys.implementation.name
    return IMPLEMENTATIONS.get(name, name)


def runtime_info(module_name):
    """Version (and providers, for onnxruntime) of a runtime, or None when absent."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # absent, or present but broken: both mean "cannot use it"
        if isinstance(exc, ImportError) and getattr(exc, "name", None) == module_name:
            return None
        return {
            "version": None,
            "error": "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""),
        }
    info = {"version": getattr(module, "__version__", None)}
    if module_name == "onnxruntime":
        info["providers"] = list(module.get_available_providers())
    return info


def _runtime_key(module_name):
    """Where the runtime's code is and when it last changed: a reinstall changes the key.
    None when the module is absent (or cannot even be located)."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not os.path.exists(spec.origin):
        return None
    return "%s|%s|%s" % (python_version(), spec.origin, os.stat(spec.origin).st_mtime)


def runtime_cache(workdir):
    folder = os.path.expanduser(workdir)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    return os.path.join(folder, "runtimes-cache.json")


def cached_runtime_info(cache_path):
    """runtime_info for every runtime, remembering each answer until the runtime's files
    change: importing onnxruntime and numpy to read two versions costs ~150 ms on every probe."""
    try:
        with open(cache_path) as f:
            cache = json.load(f)
    except (IOError, OSError, ValueError):
        cache = {}
    runtimes, fresh = {}, {}
    for name, module in RUNTIME_MODULES:
        key = _runtime_key(module)
        if key is not None and key in cache:
            runtimes[name] = cache[key]
        else:
            runtimes[name] = runtime_info(module)
            if key is not None:
                fresh[key] = runtimes[name]
    if fresh:
        _write_cache(cache_path, dict(cache, **fresh))
    return runtimes


def _write_cache(path, cache):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "w") as f:
            json.dump(cache, f)
        os.rename(tmp, path)
    except (IOError, OSError):
        pass  # a cache that cannot be written only costs time


def power_facts(root, settings=None):
    """Which power sensor a trial would use, and why each other one is not usable."""
    from .telemetry import power, thermal

    source, missing = power.survey(root, settings or {})
    chosen = source.describe() if source is not None else None
    if hasattr(source, "close"):
        source.close()
    return {"power_sensor": chosen, "power_sensors_missing": missing, "power_mode": thermal.power_mode(root)}


def collect_facts(root="/", cache_path=None, telemetry=None):
    memory = meminfo_mb(os.path.join(root, "proc"))
    uname = os.uname()
    facts = {
        "agent_version": AGENT_VERSION,
        "hostname": uname.nodename,
        "board": board_model(root),
        "l4t": l4t_release(root),
        "os": os_name(root),
        "kernel": uname.release,
        "arch": uname.machine,
        "cpu_model": cpu_model(root),
        "cpus": os.cpu_count(),
        "memory_total_mb": memory["total_mb"],
        "python": python_version(),
        "python_implementation": python_implementation(),
        "runtimes": cached_runtime_info(cache_path)
        if cache_path
        else dict((name, runtime_info(module)) for name, module in RUNTIME_MODULES),
        "simulated": root != "/",
        # Under an emulator (qemu-user) the arch is the emulated one, and no latency is the board's.
        "emulated": emulator(),
    }
    facts.update(power_facts(root, telemetry))
    return facts


def main(workdir, telemetry_json="{}"):
    """The host's probe in one command (orchestrator/fleet.py imports this module straight from
    the zipapp: no `serve`, no second Python, nothing a trial needs): the facts record on
    stdout, exit status 0; on failure one line on stderr (the traceback in the workdir's log)
    and exit status 1."""
    from . import sysroot
    from .protocol import encode, make_record

    try:
        telemetry = json.loads(telemetry_json) or None
        facts = collect_facts(sysroot.root(), runtime_cache(workdir), telemetry)
        sys.stdout.write(encode(make_record("facts", facts=facts)))
        return 0
    except Exception as exc:  # the host shows the one line; the frames stay on the device
        from .errorlog import log_exception, one_line

        sys.stderr.write("edgebench-agent: %s\n" % one_line(exc, log_exception(workdir)))
        return 1
