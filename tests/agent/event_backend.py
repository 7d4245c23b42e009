"""A test backend (no model, like `null`) that makes something happen on the hardware during
the timed window: the first run() at least AFTER_S seconds after its first run() calls EVENT.
Simulated boards use it to change a sysfs file or a firmware answer mid-trial. Register it
with `install(after_s, event)`; with no warm-up time and a timed window longer than after_s,
the event falls inside the window, whatever the machine's speed."""

import time

from agent import backends
from agent.backends import null

NAME = "event"
STATE = {"first": None, "after_s": None, "event": None}


def install(after_s, event):
    STATE.update(first=None, after_s=after_s, event=event)
    backends.REGISTRY[NAME] = __name__


def uninstall():
    backends.REGISTRY.pop(NAME, None)
    STATE.update(first=None, after_s=None, event=None)


class Backend(null.Backend):
    """The null backend, plus the event."""

    name = NAME

    def run(self, feed):
        now = time.perf_counter()
        if STATE["first"] is None:
            STATE["first"] = now
        if STATE["event"] is not None and now - STATE["first"] >= STATE["after_s"]:
            event, STATE["event"] = STATE["event"], None
            event()
