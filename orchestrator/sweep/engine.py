"""Runs a plan: one queue per device, devices in parallel, one trial at a time on a device."""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

from ..errors import DeviceError, UserError
from ..session import controller
from .plan import Cell, FleetOptions, Settings, group_by_device
from .progress import Outcome, Progress
from .recovery import recover_open_trials
from .seams import Seams
from .worker import DeviceWorker


def open_workers(queues, store, settings, options, progress, seams: Seams) -> tuple:
    """Connects to every device in parallel: ({name: worker}, {name: why unreachable}). A user
    error (unknown host key, failed authentication) aborts the whole sweep before anything is
    stored; an unreachable device only fails its own cells."""

    def open_one(cells):
        device = cells[0].device
        artifacts = {(c.model, c.backend) for c in cells if c.model}
        try:
            return device, DeviceWorker(device, store, settings, options, progress, artifacts, seams), None
        except (DeviceError, UserError) as exc:
            return device, None, exc

    with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
        results = list(pool.map(open_one, queues.values()))
    user_errors = [error for _, _, error in results if isinstance(error, UserError)]
    if user_errors:  # e.g. an unknown host key: nothing is stored, nothing is left open
        close_all(worker for _, worker, _ in results if worker is not None)
        raise user_errors[0]
    workers = {device.name: worker for device, worker, _ in results if worker is not None}
    unreachable = {device.name: str(error) for device, worker, error in results if worker is None}
    return workers, unreachable


def _fail_unreachable(store, sweep_id: str, cell: Cell, reason: str) -> Outcome:
    store.upsert_device(cell.device)
    trial_id = store.create_trial(sweep_id, cell, {})
    store.fail_trial(trial_id, "device unreachable: %s" % reason)
    return Outcome(cell, trial_id, "failed", "device unreachable: %s" % reason)


def run_queue(
    worker: Optional[DeviceWorker],
    cells: List[Cell],
    store,
    sweep_id: str,
    unreachable_reason: Optional[str],
    stop: threading.Event,
    progress: Progress,
) -> List[Outcome]:
    outcomes = []
    for cell in cells:
        if stop.is_set():
            outcomes.append(Outcome(cell, None, "skipped", "not run: --fail-fast stopped the sweep"))
            continue
        progress.started(cell)
        if worker is None:
            outcome = _fail_unreachable(store, sweep_id, cell, unreachable_reason)
        else:
            outcome = worker.run_cell(cell, sweep_id)
        outcomes.append(outcome)
        progress.finished(outcome)
        # A device skipped because another sweep held it (--on-busy skip) is not a failure.
        if outcome.status not in ("ok", "skipped") and worker is not None and worker.options.fail_fast:
            stop.set()
    return outcomes


def _run_devices(queues, workers, unreachable, store, sweep_id, resume: bool, stop, progress, pool) -> list:
    def run_device(name):
        worker, queue = workers.get(name), queues[name]
        recovered = []
        if worker is not None and resume:
            recover_open_trials(worker.link, store, sweep_id, worker.note)
            done = store.ok_cell_keys(sweep_id)
            # The queue holds the runs without an ok trial when the resume began: those ok now
            # were finished on the device while the controller was away.
            recovered = [Outcome(cell, None, "ok", recovered=True) for cell in queue if cell.key in done]
            for outcome in recovered:
                progress.finished(outcome)
            queue = [cell for cell in queue if cell.key not in done]
        return recovered + run_queue(worker, queue, store, sweep_id, unreachable.get(name), stop, progress)

    futures = [pool.submit(run_device, name) for name in queues]
    try:
        return list(itertools.chain.from_iterable(f.result() for f in futures))
    except KeyboardInterrupt:  # stop now: no new trial, the ones in flight are cut short
        stop.set()
        for worker in workers.values():
            worker.abort()
        raise


def run_sweep(
    cells: List[Cell],
    store,
    settings: Settings,
    options: FleetOptions = None,
    progress: Progress = None,
    sweep_settings: dict = None,
    resume_id: str = None,
    seams: Seams = None,
):
    """Runs every cell; returns (sweep id, outcomes). With `resume_id`, runs into that sweep:
    open trials are recovered from the devices' spools first. `seams`: how to connect, the
    clock and sleep (tests pass a fake transport's)."""
    options, progress, seams = options or FleetOptions(), progress or Progress(), seams or Seams()
    queues = group_by_device(cells)
    workers, unreachable = open_workers(queues, store, settings, options, progress, seams)
    for model in {c.model for c in cells if c.model}:
        store.upsert_model(model)
    sweep_id = resume_id or store.create_sweep(
        dict(sweep_settings or settings.as_dict(), plan=[c.to_plan() for c in cells], controller=controller())
    )
    status = "failed"
    pool = ThreadPoolExecutor(max_workers=max(1, options.parallel))
    try:
        outcomes = _run_devices(
            queues, workers, unreachable, store, sweep_id, bool(resume_id), threading.Event(), progress, pool
        )
        status = "ok" if all(o.status == "ok" for o in outcomes) else "partial"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            close_all(workers.values())
        finally:
            store.finish_sweep(sweep_id, status)
    return sweep_id, outcomes


def close_all(workers) -> None:
    """Closes every worker even if one fails to; the first failure is raised at the end."""
    failure = None
    for worker in list(workers):
        try:
            worker.close()
        except Exception as exc:  # a store write that failed in the background
            failure = failure or exc
    if failure is not None:
        raise failure
