"""An emulated Raspberry Pi 4 for the test fleet: an aarch64 CPython run by qemu-user.

Built once and cached under `cache_dir()/aarch64-sysroot/KEY` (KEY: a hash of what goes in):
- Debian bookworm arm64 packages of CPython 3.11 and the libraries it and the wheels load,
  fetched by `apt-get download` from this machine's own apt sources with a private apt state
  (`APT::Architectures=arm64`, lists in a temporary folder): the system's package state is left
  alone and no root is needed. Unpacked with `dpkg -x`.
- the aarch64 wheels of apache-tvm and numpy (`pip download --platform ...aarch64`), unpacked
  into `site-packages/`, at the host's own versions so the device's TVM runtime loads what the
  host's TVM compiled. Not onnxruntime: its aarch64 wheel segfaults at import under qemu.
- `python`, the device's interpreter: a shell script that runs the aarch64 python under
  `qemu-aarch64-static -cpu cortex-a72` and names itself in EDGEBENCH_PYTHON, so the agent starts
  its children through it (there is no binfmt_misc: an emulated program cannot exec an aarch64
  binary).
Everything is built in a temporary folder beside the cache entry and renamed into place, so an
interrupted build leaves nothing half made. Its latencies say nothing about a Pi.
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import List

from edgebench.agent.backends.tvm import TVM_PIN

from .agent_build import cache_dir
from .compile.cache import package_version
from .errors import UserError

EMULATED = ("rpi4",)  # what `testfleet start --emulate` accepts
QEMU = "qemu-aarch64-static"
CPU = "cortex-a72"  # the Raspberry Pi 4's core
PYTHON_IN_SYSROOT = "usr/bin/python3.11"
# Found by trying: CPython 3.11 with the stdlib modules the agent uses (hashlib needs libssl3,
# ctypes libffi8), and what the numpy and TVM wheels load (libstdc++, libgcc_s, zlib). Not
# needed: sqlite3, curses, readline, dbm, uuid's C part, libgomp.
DEBS = (
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "libexpat1",
    "zlib1g",
    "libffi8",
    "libssl3",
    "libbz2-1.0",
    "liblzma5",
    "libgcc-s1",
    "libstdc++6",
)
# Wheels at the host's versions where it has them (else these); ml_dtypes, typing_extensions
# and apache-tvm-ffi's own needs follow from pip's resolution.
WHEEL_DEFAULTS = (("apache-tvm", TVM_PIN.split("==")[1]), ("apache-tvm-ffi", None), ("numpy", None))
EXTRA_WHEELS = ("typing_extensions",)
WHEEL_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.11"
APT_TIMEOUT_S = 600
PIP_TIMEOUT_S = 900


def emulator_command() -> List[str]:
    return [QEMU, "-cpu", CPU]


def _say(text: str) -> None:
    print("edgebench: %s" % text, file=sys.stderr, flush=True)


def wheel_requirements() -> List[str]:
    """pip requirements for site-packages: pinned to the host's versions where it has them."""
    pins = []
    for name, default in WHEEL_DEFAULTS:
        version = package_version(name) or default
        pins.append("%s==%s" % (name, version) if version else name)
    return pins + list(EXTRA_WHEELS)


def sysroot_key(requirements: List[str]) -> str:
    spec = json.dumps({"debs": DEBS, "wheels": requirements, "cpu": CPU, "python": PYTHON_VERSION})
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _require_tools() -> str:
    """The path of qemu-aarch64-static; one-line errors for each missing tool."""
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise UserError("emulated rpi4: %s not found; install it: apt-get install qemu-user-static" % QEMU)
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise UserError(
                "emulated rpi4: %s not found; the aarch64 sysroot is built from Debian's arm64 "
                "packages and needs apt-get and dpkg (a Debian host)" % tool
            )
    return qemu


def _run(argv: List[str], what: str, timeout: float, cwd: Path = None) -> None:
    try:
        proc = subprocess.run(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise UserError("emulated rpi4: %s took over %d s (network?)" % (what, timeout))
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        reason = next(
            (line for line in lines if line.startswith(("E:", "ERROR:"))), lines[-1] if lines else ""
        )
        raise UserError(
            "emulated rpi4: %s failed (network, or no arm64 in apt's sources?): %s" % (what, reason)
        )


def _apt_options(state: Path) -> List[str]:
    """A private apt state for arm64 over this machine's own sources: nothing system-wide moves."""
    (state / "lists" / "partial").mkdir(parents=True)
    (state / "cache" / "archives" / "partial").mkdir(parents=True)
    options = {
        "Dir::State::Lists": state / "lists",
        "Dir::Cache": state / "cache",
        "Dir::State::status": "/dev/null",
        "APT::Architecture": "arm64",
        "APT::Architectures": "arm64",
        # As root apt fetches as the user _apt, who cannot write in a private folder of root's.
        "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
    }
    return [arg for key, value in options.items() if value != "" for arg in ("-o", "%s=%s" % (key, value))]


def _fetch_debs(work: Path) -> List[Path]:
    apt = ["apt-get", "-q"] + _apt_options(work / "apt")
    _run(apt + ["update"], "apt-get update (arm64 package lists)", APT_TIMEOUT_S)
    debs = work / "debs"
    debs.mkdir()
    _run(apt + ["download"] + list(DEBS), "apt-get download of the arm64 packages", APT_TIMEOUT_S, cwd=debs)
    return sorted(debs.glob("*.deb"))


def _unpack_debs(debs: List[Path], root: Path) -> None:
    for deb in debs:
        _run(["dpkg", "-x", str(deb), str(root)], "dpkg -x %s" % deb.name, APT_TIMEOUT_S)


def _fetch_wheels(work: Path, requirements: List[str]) -> List[Path]:
    wheels = work / "wheels"
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(wheels)]
    argv += [arg for platform in WHEEL_PLATFORMS for arg in ("--platform", platform)]
    argv += ["--python-version", PYTHON_VERSION, "--implementation", "cp"] + requirements
    _run(argv, "pip download of the aarch64 wheels (%s)" % " ".join(requirements), PIP_TIMEOUT_S)
    return sorted(wheels.glob("*.whl"))


def _unpack_wheel(wheel: Path, site: Path) -> None:
    """A wheel is a zip; its NAME.data/{purelib,platlib} belong in site-packages too."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    for data in site.glob("*.data"):
        for kind in ("purelib", "platlib"):
            for item in (data / kind).glob("*") if (data / kind).is_dir() else ():
                shutil.move(str(item), str(site / item.name))
        shutil.rmtree(data)


def wrapper_text(qemu: str, sysroot: Path) -> str:
    python, site = sysroot / "python", sysroot / "site-packages"
    q = shlex.quote
    return (
        "#!/bin/sh\n"
        "# edgebench: an emulated Raspberry Pi 4's python (aarch64 CPython under qemu-user).\n"
        "# Its latencies say nothing about a Pi. The agent starts its children through this\n"
        "# script (EDGEBENCH_PYTHON): an emulated program cannot exec an aarch64 binary.\n"
        "EDGEBENCH_PYTHON=%s\n"
        "EDGEBENCH_EMULATOR=%s\n"
        "PYTHONPATH=%s\n"
        "export EDGEBENCH_PYTHON EDGEBENCH_EMULATOR PYTHONPATH\n"
        'exec %s -cpu %s -L %s %s "$@"\n'
        % (
            q(str(python)),
            q(" ".join(emulator_command())),
            q(str(site)),
            q(qemu),
            CPU,
            q(str(sysroot)),
            q(str(sysroot / PYTHON_IN_SYSROOT)),
        )
    )


def _build(work: Path, final: Path, qemu: str, requirements: List[str]) -> None:
    root = work / "root"
    root.mkdir()
    debs = _fetch_debs(work)
    _say("aarch64 sysroot: unpacking %d arm64 packages" % len(debs))
    _unpack_debs(debs, root)
    _say("aarch64 sysroot: downloading the aarch64 wheels (%s)" % ", ".join(requirements))
    wheels = _fetch_wheels(work, requirements)
    for wheel in wheels:
        _unpack_wheel(wheel, root / "site-packages")
    wrapper = root / "python"
    wrapper.write_text(wrapper_text(qemu, final))
    wrapper.chmod(0o755)
    manifest = {
        "debs": [d.name for d in debs],
        "wheels": [w.name for w in wheels],
        "emulator": emulator_command(),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def ensure_sysroot() -> Path:
    """The sysroot folder (its `python` is the device's interpreter), built on first use."""
    qemu = _require_tools()
    requirements = wheel_requirements()
    parent = cache_dir() / "aarch64-sysroot"
    final = parent / sysroot_key(requirements)
    if (final / "python").is_file():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _say("building the aarch64 sysroot for the emulated rpi4 (once: ~130 MB to fetch, ~400 MB in %s)" % final)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=str(parent)))
    try:
        _build(work, final, qemu, requirements)
        try:
            os.rename(str(work / "root"), str(final))
        except OSError:
            if not (final / "python").is_file():  # not another build that finished first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _say("aarch64 sysroot ready in %.0f s" % (time.monotonic() - started))
    return final


def device_python(kind: str) -> str:
    """The `python` of an emulated device of `kind` (only rpi4), building its sysroot first."""
    if kind not in EMULATED:
        raise UserError("test fleet: cannot emulate %r (can: %s)" % (kind, ", ".join(EMULATED)))
    return str(ensure_sysroot() / "python")
