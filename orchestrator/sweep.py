"""Plan the matrix of cells (device x model x backend x batch) and run it: one queue per device,
devices in parallel, one trial at a time on a device, records ingested as they stream in.

Faults: a failing trial is stored with its reason and the sweep goes on; an agent that dies
fails its trial, which is retried (`retries`); a lost link marks the trial `waiting`, the host
reconnects with backoff and ingests the device's spool, so nothing is measured twice or lost;
a sweep whose controller died is resumed from its stored plan.
"""
import itertools
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from edgebench.agent.inputs import InputSpecError, resolve_shapes
from edgebench.agent.serve import trial_deadline_s

from .deploy import DeviceFiles, prepare
from .errors import AgentSilent, DeviceError, LinkLost, UserError
from .modelinfo import ModelInfo
from .session import AgentSession, device_busy, fetch_spool, start_session
from .transport import Connection, connect

HOST_MARGIN_S = 60.0
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 10.0


@dataclass(frozen=True)
class Cell:
    device: object          # inventory Device
    model: Optional[ModelInfo]
    backend: str
    batch: int

    @property
    def key(self) -> tuple:
        return (self.device.name, self.model.sha256 if self.model else None, self.backend, self.batch)

    @property
    def label(self) -> str:
        return "%s b%d" % (self.model.name if self.model else "null", self.batch)

    def to_plan(self) -> dict:
        return {"device": self.device.name, "model_path": str(self.model.path) if self.model else None,
                "model_sha256": self.model.sha256 if self.model else None,
                "backend": self.backend, "batch": self.batch}


@dataclass
class Settings:
    quick: bool = False
    threads: Optional[int] = None
    seed: int = 0
    shapes: dict = field(default_factory=dict)
    providers: List[str] = field(default_factory=list)
    timing: dict = field(default_factory=dict)  # overrides: min_iters, min_s, warmup_iters, ...
    perf: bool = False                          # perf stat over the timed window
    accuracy: bool = True                       # top-1 on the eval set that travels with a model
    # Controlled conditions, applied by the agent: wait before each trial until the hottest
    # thermal zone is below cooldown_c °C (at most cooldown_timeout_s); fixed clocks (and a
    # Jetson power mode) for the sweep, restored afterwards.
    cooldown_c: Optional[float] = None
    cooldown_timeout_s: float = 600.0
    pin_clocks: bool = False
    nvpmodel_mode: Optional[int] = None

    def as_dict(self) -> dict:
        return {"quick": self.quick, "threads": self.threads, "seed": self.seed, "shapes": self.shapes,
                "providers": self.providers, "timing": self.timing, "perf": self.perf, "accuracy": self.accuracy,
                "cooldown_c": self.cooldown_c, "cooldown_timeout_s": self.cooldown_timeout_s,
                "pin_clocks": self.pin_clocks, "nvpmodel_mode": self.nvpmodel_mode}


@dataclass
class FleetOptions:
    parallel: int = 8
    retries: int = 0
    fail_fast: bool = False
    accept_new: bool = False


@dataclass
class Outcome:
    cell: Cell
    trial_id: Optional[str]
    status: str               # ok | failed | skipped
    error: Optional[str] = None


class Progress:
    """What a display needs to know; the default shows nothing."""

    def started(self, cell: Cell) -> None: ...
    def finished(self, outcome: Outcome) -> None: ...
    def note(self, device: str, message: str) -> None: ...


def check_inputs(model: ModelInfo, batch: int, shapes: dict) -> None:
    """The agent would refuse these settings; refuse them here, before anything is stored."""
    try:
        resolve_shapes(list(model.inputs), batch, shapes)
    except InputSpecError as exc:
        raise UserError("model %s (%s): %s" % (model.name, model.path, exc)) from None


def plan(devices, models, backends, batches, shapes: dict = None) -> List[Cell]:
    for model, batch in itertools.product(models, batches):
        check_inputs(model, batch, shapes or {})
    cells = []
    for device, backend, batch in itertools.product(devices, backends, batches):
        if backend not in device.backends:
            raise UserError("device '%s' does not list backend '%s' (it has: %s; see %s)"
                            % (device.name, backend, ", ".join(device.backends), device.source))
        if backend == "null":
            cells.append(Cell(device, None, backend, batch))
        else:
            cells.extend(Cell(device, m, backend, batch) for m in models)
    return cells


def make_job(trial_id: str, cell: Cell, remote_model: Optional[str], settings: Settings,
             eval_set: Optional[str] = None) -> dict:
    job = {"trial_id": trial_id, "backend": cell.backend, "model": remote_model, "batch": cell.batch,
           "eval_set": eval_set if settings.accuracy else None,
           "seed": settings.seed, "shapes": settings.shapes, "quick": settings.quick,
           "backend_options": {"providers": settings.providers, "intra_op_threads": settings.threads},
           "telemetry": dict(cell.device.telemetry), "perf": settings.perf,
           "cooldown_c": settings.cooldown_c, "cooldown_timeout_s": settings.cooldown_timeout_s,
           "pin_clocks": settings.pin_clocks, "nvpmodel_mode": settings.nvpmodel_mode}
    job.update(settings.timing)
    return job


def trial_timeout(job: dict) -> float:
    """Silence the host allows between two records: longer than the agent's own watchdog, so a
    hung trial is reported by the device (kind "timeout") before the host gives up on it. The
    agent's deadline counts the silent cool-down wait (at most cooldown_timeout_s) too."""
    return trial_deadline_s(job) + HOST_MARGIN_S


class TrialNotFinished(DeviceError):
    """The device ended without finishing the trial (its process died, or it never started):
    a retry may succeed. args: (reason, trial id)."""


class BackgroundWriter:
    """Store writes in a thread of their own: reading a device's stream (and sending it the
    next trial) never waits on the database. Writes keep their order; `drain` waits for them."""

    def __init__(self):
        self._queue: "queue.Queue" = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.failure: Optional[BaseException] = None

    def _run(self):
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                function, args = item
                function(*args)
            except Exception as exc:  # kept and raised by drain(): a lost write must not pass silently
                self.failure = self.failure or exc
            finally:
                self._queue.task_done()

    def put(self, function, *args) -> None:
        self._queue.put((function, args))

    def drain(self) -> None:
        self._queue.join()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.failure is not None:
            raise self.failure


class DeviceWorker:
    """Runs the cells of one device through one connection and one agent session."""

    def __init__(self, device, store, settings: Settings, options: FleetOptions, progress: Progress, models=()):
        self.device, self.store, self.settings, self.options = device, store, settings, options
        self.progress = progress
        self.python = device.python
        self.models = list(models)
        self.conn: Connection = connect(device, accept_new=options.accept_new)
        self.session: Optional[AgentSession] = None
        self.files: Optional[DeviceFiles] = None
        self.facts: Optional[dict] = None
        self.facts_stored = False
        self.aborted = False
        self.writer = BackgroundWriter()
        try:
            # A wrong python or workdir shows now, before the sweep is stored.
            self._ensure_session()
        except BaseException:
            self.writer.close()
            self.conn.close()
            raise

    # -- connection and session -------------------------------------------------------------
    def _ensure_files(self) -> DeviceFiles:
        """The workdir and the agent on it, without starting a session (to fetch spools)."""
        if self.files is None:
            self.files = prepare(self.conn, self.python, self.device.workdir, self.models)
            self.files.ensure_agent()
        return self.files

    def _ensure_session(self) -> AgentSession:
        if self.session is None:
            self.files, self.session = start_session(self.conn, self.python, self.device.workdir, self.models)
            if self.facts is None:
                self.facts = self.session.probe(self.device.telemetry)
        return self.session

    def _drop_session(self) -> None:
        if self.session is not None:
            try:
                self.session.close()
            except DeviceError:
                pass
            self.session = None

    def _reconnect(self, deadline: float) -> None:
        """New connection with exponential backoff, until `deadline` (monotonic)."""
        self._drop_session()
        self.conn.close()
        delay = BACKOFF_FIRST_S
        while True:
            try:
                self.conn = connect(self.device, accept_new=self.options.accept_new)
                self.files = None  # prepared again on the new connection
                return
            except DeviceError as exc:
                if time.monotonic() + delay > deadline:
                    raise DeviceError("device unreachable: %s" % exc) from None
                self.progress.note(self.device.name, "reconnecting in %.1f s (%s)" % (delay, exc))
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    # -- recovering a trial whose records did not all arrive ---------------------------------
    def _fetch_into_store(self, trial_id: str) -> tuple:
        """Ingests what the device spooled for this trial (only records of this trial, and only
        into this device's trial). Returns (the spool holds its end, the spool holds anything)."""
        files = self._ensure_files()
        records, problems = fetch_spool(self.conn, self.python, files.agent_path(), files.workdir, trial_id)
        records = [r for r in records if r.get("trial_id") == trial_id]
        for record in records:
            self.store.ingest(record, device=self.device.name)
        for problem in problems:
            self.progress.note(self.device.name, "trial %s: %s" % (trial_id, problem))
        return any(r["type"] == "trial_end" for r in records), bool(records)

    def recover(self, trial_id: str, timeout: float) -> str:
        """After a lost link, a dead or silent agent, or a killed controller: the device's spool
        settles the trial. Waits while the device is still measuring; returns the stored status,
        or "lost" when the device could not be asked in time (a resume asks again). Raises
        TrialNotFinished (retryable) when the device is idle and has no end of the trial."""
        self.store.set_status(trial_id, "waiting")
        deadline = time.monotonic() + timeout
        delay = BACKOFF_FIRST_S
        while True:
            try:
                if not self.conn.alive():
                    self._reconnect(deadline)
                if self._fetch_into_store(trial_id)[0]:
                    return self.store.trial_status(trial_id)
                files = self._ensure_files()
                if not device_busy(self.conn, self.python, files.agent_path(), files.workdir):
                    ended, started = self._fetch_into_store(trial_id)  # one last look: it may just have ended
                    if ended:
                        return self.store.trial_status(trial_id)
                    reason = ("the agent stopped before finishing the trial" if started
                              else "the trial never started on the device")
                    self.store.fail_trial(trial_id, reason)
                    raise TrialNotFinished(reason, trial_id)
            except TrialNotFinished:
                raise
            except LinkLost:
                pass
            except DeviceError as exc:
                if time.monotonic() > deadline:
                    self.store.mark_lost(trial_id, "device unreachable (resume fetches it later): %s" % exc)
                    return "lost"
            if time.monotonic() + delay > deadline:
                self.store.mark_lost(trial_id, "no end of trial in the device's spool after %.0f s (resume fetches it later)" % timeout)
                return "lost"
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    # -- running cells ---------------------------------------------------------------------
    def abort(self) -> None:
        """Ctrl-C: stop talking to the device; the trial in flight is marked interrupted."""
        self.aborted = True
        self._drop_session()

    def _attempt(self, cell: Cell, sweep_id: str) -> Outcome:
        session = self._ensure_session()
        if not self.facts_stored:
            self.store.upsert_device(self.device, facts=self.facts)
            self.facts_stored = True
        remote_model = self.files.ensure_model(cell.model) if cell.model else None
        eval_set = self.files.ensure_eval_set(cell.model) if cell.model and self.settings.accuracy else None
        # Provenance travels with each trial: the device's facts as they were for this sweep.
        trial_id = self.store.create_trial(sweep_id, cell, dict(self.settings.as_dict(), device_facts=self.facts))
        job = make_job(trial_id, cell, remote_model, self.settings, eval_set)
        errors, kinds, results = [], [], []

        def on_record(record):
            if record["type"] == "error":
                errors.append(record["error"])
                kinds.append(record.get("kind"))
            elif record["type"] == "result":
                results.append(True)
            self.writer.put(self.store.ingest, record, self.device.name)

        try:
            status, host_s = session.run_trial(job, on_record, trial_timeout(job))
            self.writer.put(self.store.set_host_time, trial_id, host_s)
            if status == "ok" and not results:  # as the store sees it: ok needs a valid result
                status = "failed"
        except DeviceError as exc:  # link lost, agent died or silent: the device may still hold the trial
            self.writer.drain()
            if self.aborted:
                self.store.fail_trial(trial_id, "interrupted on the host")
                return Outcome(cell, trial_id, "failed", "interrupted on the host")
            self.progress.note(self.device.name, "%s during %s; asking the device" % (exc, cell.label))
            if isinstance(exc, LinkLost):
                self.session = None
            else:
                self._drop_session()
            status = self.recover(trial_id, trial_timeout(job))
            errors.append(self.store.trial_error(trial_id))
        except BaseException:  # Ctrl-C, a store error: the trial must not stay "running"
            self.writer.drain()
            self.store.fail_trial(trial_id, "interrupted on the host")
            raise
        for warning in session.warnings:
            self.progress.note(self.device.name, warning)
        session.warnings.clear()
        if "died" in kinds:  # the trial's process died (killed, out of memory, a runtime crash): retryable
            raise TrialNotFinished(errors[0], trial_id)
        return Outcome(cell, trial_id, status, None if status == "ok" else (errors[0] if errors else status))

    def run_cell(self, cell: Cell, sweep_id: str) -> Outcome:
        """A device failure (agent died, device unreachable) is retried; a trial the agent
        itself reports as failed (bad shape, runtime error) is not: it would fail again."""
        last = None
        for _ in range(self.options.retries + 1):
            if self.aborted:
                break
            try:
                return self._attempt(cell, sweep_id)
            except LinkLost as exc:
                last = Outcome(cell, None, "failed", str(exc))
                try:
                    self._reconnect(time.monotonic() + 60)
                except DeviceError:
                    pass
            except DeviceError as exc:
                trial_id = exc.args[1] if len(exc.args) > 1 else None
                last = Outcome(cell, trial_id, "failed", exc.args[0])
        if last is None:
            return Outcome(cell, None, "skipped", "not run: interrupted")
        if last.trial_id is None:  # failed before a trial existed: store the failure all the same
            last.trial_id = self.store.create_trial(sweep_id, cell, self.settings.as_dict())
            self.store.fail_trial(last.trial_id, last.error)
        return last

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self._drop_session()
            self.conn.close()


def _open_workers(cells_by_device, store, settings, options, progress) -> tuple:
    """Connects to every device in parallel. A user error (unknown host key, failed
    authentication) aborts the whole sweep before anything is stored; an unreachable device
    only fails its own cells."""
    workers, unreachable = {}, {}
    devices = [queue[0].device for queue in cells_by_device.values()]

    def open_one(device):
        try:
            models = {c.model for c in cells_by_device[device.name] if c.model}
            return device, DeviceWorker(device, store, settings, options, progress, models), None
        except DeviceError as exc:
            return device, None, str(exc)
        except UserError as exc:
            return device, None, exc

    with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
        results = list(pool.map(open_one, devices))
    user_errors = [error for _, _, error in results if isinstance(error, UserError)]
    if user_errors:  # e.g. an unknown host key: nothing is stored, nothing is left open
        _close_all(worker for _, worker, _ in results if worker is not None)
        raise user_errors[0]
    for device, worker, error in results:
        if worker is not None:
            workers[device.name] = worker
        else:
            unreachable[device.name] = error
    return workers, unreachable


def group_by_device(cells: List[Cell]) -> Dict[str, List[Cell]]:
    queues: Dict[str, List[Cell]] = {}
    for cell in cells:
        queues.setdefault(cell.device.name, []).append(cell)
    return queues


def _run_queue(worker: Optional[DeviceWorker], cells: List[Cell], store, sweep_id: str,
               unreachable_reason: Optional[str], stop: threading.Event, progress: Progress) -> List[Outcome]:
    outcomes = []
    for cell in cells:
        if stop.is_set():
            outcomes.append(Outcome(cell, None, "skipped", "not run: --fail-fast stopped the sweep"))
            continue
        progress.started(cell)
        if worker is None:
            store.upsert_device(cell.device)
            trial_id = store.create_trial(sweep_id, cell, {})
            store.fail_trial(trial_id, "device unreachable: %s" % unreachable_reason)
            outcome = Outcome(cell, trial_id, "failed", "device unreachable: %s" % unreachable_reason)
        else:
            outcome = worker.run_cell(cell, sweep_id)
        outcomes.append(outcome)
        progress.finished(outcome)
        if outcome.status != "ok" and worker is not None and worker.options.fail_fast:
            stop.set()
    return outcomes


def recover_open_trials(worker: DeviceWorker, store, sweep_id: str, progress: Progress) -> None:
    """Before resuming on a device: trials left open by a dead controller may have finished
    on the device; their spools are ingested (nothing is measured twice)."""
    for trial in store.open_trials(sweep_id):
        if trial.device == worker.device.name:
            progress.note(worker.device.name, "fetching spool of unfinished trial %s" % trial.id)
            try:
                worker.recover(trial.id, timeout=trial_timeout(trial.settings.get("timing") or {}))
            except TrialNotFinished:
                pass  # stored as failed; its cell runs again below


def resume_plan(store, sweep, inventory, inspect_model) -> tuple:
    """The cells of a stored sweep that have no successful trial yet, and its settings."""
    stored = dict(sweep.settings)
    settings = Settings(**{k: stored[k] for k in Settings().as_dict() if k in stored})
    cells, done = [], store.ok_cell_keys(sweep.id)
    for entry in stored.get("plan") or []:
        model = inspect_model(entry["model_path"]) if entry["model_path"] else None
        if model is not None and model.sha256 != entry["model_sha256"]:
            raise UserError("cannot resume sweep %s: %s changed since it started (sha256 %s, was %s)"
                            % (sweep.id, entry["model_path"], model.sha256[:12], entry["model_sha256"][:12]))
        cell = Cell(inventory.device(entry["device"]), model, entry["backend"], entry["batch"])
        if cell.key not in done:
            cells.append(cell)
    return cells, settings


def run_sweep(cells: List[Cell], store, settings: Settings, options: FleetOptions = None,
              progress: Progress = None, sweep_settings: dict = None, resume_id: str = None):
    """Runs every cell; returns (sweep id, outcomes). With `resume_id`, runs into that sweep:
    open trials are recovered from the devices' spools first."""
    options = options or FleetOptions()
    progress = progress or Progress()
    queues = group_by_device(cells)
    workers, unreachable = _open_workers(queues, store, settings, options, progress)
    for model in {c.model for c in cells if c.model}:
        store.upsert_model(model)
    sweep_id = resume_id or store.create_sweep(dict(sweep_settings or settings.as_dict(),
                                                    plan=[c.to_plan() for c in cells]))
    stop = threading.Event()
    status = "failed"
    pool = ThreadPoolExecutor(max_workers=max(1, options.parallel))
    try:
        def run_device(name):
            worker, queue = workers.get(name), queues[name]
            if worker is not None and resume_id:
                recover_open_trials(worker, store, sweep_id, progress)
                done = store.ok_cell_keys(sweep_id)
                queue = [cell for cell in queue if cell.key not in done]
            return _run_queue(worker, queue, store, sweep_id, unreachable.get(name), stop, progress)

        futures = [pool.submit(run_device, name) for name in queues]
        try:
            outcomes = list(itertools.chain.from_iterable(f.result() for f in futures))
        except KeyboardInterrupt:  # stop now: no new trial, the ones in flight are cut short
            stop.set()
            for worker in workers.values():
                worker.abort()
            status = "interrupted"
            raise
        status = "ok" if all(o.status == "ok" for o in outcomes) else "partial"
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            _close_all(workers.values())
        finally:
            store.finish_sweep(sweep_id, status)
    return sweep_id, outcomes


def _close_all(workers) -> None:
    """Closes every worker even if one fails to; the first failure is raised at the end."""
    failure = None
    for worker in list(workers):
        try:
            worker.close()
        except Exception as exc:  # a store write that failed in the background
            failure = failure or exc
    if failure is not None:
        raise failure
