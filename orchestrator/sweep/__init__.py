"""Sweeps: plan the matrix of cells (device x model x backend x batch) and run it, one queue
per device, devices in parallel, one trial at a time on a device, records ingested as they
stream in.

Faults: a failing trial is stored with its reason and the sweep goes on; an agent that dies
fails its trial, which is retried (`retries`); a lost link marks the trial `waiting`, the host
reconnects with backoff and ingests the device's spool, so nothing is measured twice or lost;
a sweep whose controller died is resumed from its stored plan.

  plan.py      cells, settings, the job a cell becomes, resuming a stored plan
  engine.py    run_sweep: workers opened in parallel, one queue per device
  worker.py    DeviceWorker: one device's cells, attempts and retries
  link.py      DeviceLink: connection, agent session, workdir; reconnects
  recovery.py  a trial whose records did not all arrive, settled from the device's spool
  busy.py      a device another sweep holds: who, said once; why its cells are skipped (--on-busy)
  progress.py  what a display is told (Progress, Outcome)
  seams.py     connect, clock and sleep, injected (tests pass transport/fake.py's)
  backoff.py   the one backoff
  writer.py    store writes off the reading thread
"""

from .backoff import Backoff
from .engine import run_sweep
from .plan import (
    HOST_MARGIN_S,
    Cell,
    FleetOptions,
    Settings,
    check_inputs,
    group_by_device,
    make_job,
    plan,
    resume_plan,
    trial_timeout,
)
from .progress import Outcome, Progress
from .recovery import TrialNotFinished, recover
from .seams import Seams
from .worker import DeviceWorker
from .writer import BackgroundWriter

__all__ = [
    "Backoff",
    "BackgroundWriter",
    "Cell",
    "DeviceWorker",
    "FleetOptions",
    "HOST_MARGIN_S",
    "Outcome",
    "Progress",
    "Seams",
    "Settings",
    "TrialNotFinished",
    "check_inputs",
    "group_by_device",
    "make_job",
    "plan",
    "recover",
    "resume_plan",
    "run_sweep",
    "trial_timeout",
]
