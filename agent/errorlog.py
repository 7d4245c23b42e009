"""The agent's own log, WORKDIR/agent.log: the tracebacks of its unexpected errors. The host
gets a one-line reason instead; the frames are for whoever debugs the agent on the device."""

import os
import time
import traceback

LOG_NAME = "agent.log"


def log_exception(workdir):
    """Appends the exception being handled to the log; returns the log's path, or None without
    a workdir or when it cannot be written (the one-line reason still goes out)."""
    if not workdir:  # a trial run in-process (tests): no place of the agent's own to write
        return None
    path = os.path.join(os.path.expanduser(workdir), LOG_NAME)
    try:
        with open(path, "a") as f:
            f.write(
                "%s pid %d\n%s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), os.getpid(), traceback.format_exc())
            )
    except (IOError, OSError):
        return None
    return path


def one_line(exc, log_path):
    """`KIND: message (traceback in PATH)`: what the host shows and stores."""
    message = str(exc).strip().splitlines()
    reason = "%s: %s" % (type(exc).__name__, message[0]) if message else type(exc).__name__
    return "%s (traceback in %s)" % (reason, log_path) if log_path else reason
