"""How the agent starts another copy of itself (a trial process, the sampler): the same
Python, the same agent (a folder or the .pyz), with other arguments."""

import os
import sys

BOOT = "import sys; sys.path.insert(0, %r); from %s.__main__ import main; sys.exit(main())"


def agent_command(args):
    """argv that runs `edgebench-agent ARGS...` from this very agent."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    boot = BOOT % (os.path.dirname(package_dir), __package__.split(".")[0])
    return [sys.executable, "-c", boot] + list(args)
