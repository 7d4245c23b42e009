"""Settling a trial whose records did not all arrive (a lost link, a dead or silent agent, a
killed controller): the device's spool says how it ended. Nothing is measured twice."""

from typing import Callable, Optional

from ..errors import DeviceError, LinkLost
from .backoff import Backoff
from .link import DeviceLink
from .plan import stored_trial_timeout


class TrialNotFinished(DeviceError):
    """The device ended without finishing the trial (its process died, or it never started):
    a retry may succeed. args: (reason, trial id)."""


def ingest_spool(link: DeviceLink, store, trial_id: str, note: Callable[[str], None]) -> tuple:
    """Ingests what the device spooled for this trial (into this device's trial only).
    Returns (the spool holds its end, the spool holds anything)."""
    records, problems = link.spool(trial_id)
    for record in records:
        store.ingest(record, device=link.device.name)
    for problem in problems:
        note("trial %s: %s" % (trial_id, problem))
    return any(r["type"] == "trial_end" for r in records), bool(records)


def _settle_once(link: DeviceLink, store, trial_id: str, deadline: float, note) -> Optional[str]:
    """One look at the device: the trial's stored status once its spool holds the end; None
    while the device is still measuring. TrialNotFinished when it is idle without the end."""
    if not link.conn.alive():
        link.reconnect(deadline)
    if ingest_spool(link, store, trial_id, note)[0]:
        return store.trial_status(trial_id)
    if link.busy():
        return None
    ended, started = ingest_spool(link, store, trial_id, note)  # one last look: it may just have ended
    if ended:
        return store.trial_status(trial_id)
    reason = (
        "the agent stopped before finishing the trial" if started else "the trial never started on the device"
    )
    store.fail_trial(trial_id, reason)
    raise TrialNotFinished(reason, trial_id)


def recover(link: DeviceLink, store, trial_id: str, timeout: float, note: Callable[[str], None]) -> str:
    """Waits (with backoff) while the device is still measuring; returns the stored status, or
    "lost" when the device could not be asked in time (a resume asks again). Raises
    TrialNotFinished (retryable) when the device is idle and has no end of the trial."""
    store.set_status(trial_id, "waiting")
    backoff = Backoff.within(link.seams, timeout)
    for _ in backoff.attempts():
        try:
            status = _settle_once(link, store, trial_id, backoff.deadline, note)
            if status is not None:
                return status
        except TrialNotFinished:
            raise
        except LinkLost:
            pass
        except DeviceError as exc:
            if backoff.expired():
                store.mark_lost(trial_id, "device unreachable (resume fetches it later): %s" % exc)
                return "lost"
    store.mark_lost(
        trial_id, "no end of trial in the device's spool after %.0f s (resume fetches it later)" % timeout
    )
    return "lost"


def recover_open_trials(link: DeviceLink, store, sweep_id: str, note: Callable[[str], None]) -> None:
    """Before resuming on a device: trials left open by a dead controller may have finished
    on the device; their spools are ingested (nothing is measured twice)."""
    for trial in store.open_trials(sweep_id):
        if trial.device == link.device.name:
            note("fetching spool of unfinished trial %s" % trial.id)
            try:
                recover(link, store, trial.id, stored_trial_timeout(trial.settings, trial.backend), note)
            except TrialNotFinished:
                pass  # stored as failed; its cell runs again
