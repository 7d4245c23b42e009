"""A device whose lock another trial holds (another controller's sweep, or a trial left
running): what the user is told while the sweep waits for it, and why its cells are skipped
under --on-busy skip. The agent says who holds the lock in `busy` records (agent/lock.py)."""

import time
from typing import Callable, Optional

from edgebench.agent.lock import describe_holder

# While one wait goes on, a line this often (the agent reports every 10 s).
STILL_WAITING_EVERY_S = 60.0


def holder_words(holder: Optional[dict]) -> str:
    """ "sweep 3f2a… from alice@lab-pc (pid 4242) since 14:02:11", in this controller's time."""
    return describe_holder(holder, time.localtime, "")


def _holder_key(holder: Optional[dict]) -> tuple:
    holder = holder or {}
    return tuple(holder.get(key) for key in ("host", "user", "pid", "sweep"))


class BusyNotes:
    """Turns a device's `busy` records into lines for the user: one when a wait for another
    holder begins (not one per trial while two sweeps take turns), then one a minute while it
    lasts. `skip_reason` says why the device's cells were skipped, once they are."""

    def __init__(self, device: str, note: Callable[[str], None], on_busy: str):
        self.device, self.note, self.on_busy = device, note, on_busy
        self.trial: Optional[str] = None  # the trial whose wait was noted last
        self.holder_key: Optional[tuple] = None
        self.noted_at_s = 0.0
        self.skip_reason: Optional[str] = None

    def seen(self, record: dict, sweep_id: str) -> None:
        holder, waited_s = record.get("holder"), float(record.get("waited_s") or 0.0)
        who = holder_words(holder)
        if record.get("on_busy") == "skip":
            self.skip_reason = "not run: %s was busy with %s (--on-busy skip)" % (self.device, who)
            self.note(
                "busy with %s; skipping its runs (--on-busy skip; `edgebench sweep --resume %s` runs "
                "them later)" % (who, sweep_id)
            )
        elif record.get("trial_id") != self.trial:
            self._wait_begins(record.get("trial_id"), holder, who, waited_s)
        elif waited_s - self.noted_at_s >= STILL_WAITING_EVERY_S:
            self.noted_at_s = waited_s
            self.note("still busy with %s after %.0f s; waiting" % (who, waited_s))

    def _wait_begins(self, trial_id: str, holder: Optional[dict], who: str, waited_s: float) -> None:
        self.trial, self.noted_at_s = trial_id, waited_s
        if _holder_key(holder) == self.holder_key:
            return  # the same sweep again: the two take turns, trial by trial
        self.holder_key = _holder_key(holder)
        why = (
            "it is this sweep's own earlier trial"
            if self.on_busy == "skip"
            else "--on-busy %s" % self.on_busy
        )
        self.note("busy with %s; waiting (%s)" % (who, why))
