"""How the agent starts another copy of itself (a trial process, the sampler): the same
Python, the same agent (a folder or the .pyz), with other arguments.

An emulated device (the test fleet's aarch64 Pi under qemu-user) runs the agent through a
wrapper that sets EDGEBENCH_PYTHON to itself: with no binfmt_misc, an emulated program cannot
exec an aarch64 binary, so `sys.executable` (the aarch64 python) would fail with ENOEXEC."""

import os
import sys

BOOT = "import sys; sys.path.insert(0, %r); from %s.__main__ import main; sys.exit(main())"


def python_command():
    """The interpreter this agent was started with: the wrapper when emulated."""
    return os.environ.get("EDGEBENCH_PYTHON") or sys.executable


def emulator():
    """The emulator this agent runs under (e.g. "qemu-aarch64-static -cpu cortex-a72"), or None
    on real hardware."""
    return os.environ.get("EDGEBENCH_EMULATOR") or None


def agent_command(args):
    """argv that runs `edgebench-agent ARGS...` from this very agent."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    boot = BOOT % (os.path.dirname(package_dir), __package__.split(".")[0])
    return [python_command(), "-c", boot] + list(args)
