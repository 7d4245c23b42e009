"""The cells of one device, one trial at a time, through one DeviceLink. A device failure
(agent died, link lost) is retried; a trial the agent itself reports as failed is not."""

from typing import Callable, List, Optional

from .. import backends
from ..correctness import OutputChecker
from ..errors import CellRefused, CompileFailed, DeviceError, LinkLost, RuntimeMissing, UserError
from ..session import claim
from .busy import BusyNotes
from .link import DeviceLink
from .plan import Cell, FleetOptions, Settings, make_job, trial_timeout
from .progress import Outcome, Progress
from .recovery import TrialNotFinished, recover
from .seams import Seams
from .writer import BackgroundWriter

RECONNECT_AFTER_LOSS_S = 60.0
INTERRUPTED = "interrupted on the host"


class TrialRecords:
    """A trial's stream as it passes to the store (through the writer), and what it said."""

    def __init__(
        self,
        writer: BackgroundWriter,
        store,
        device: str,
        prepare: Callable[[dict], dict] = None,
        on_busy: Callable[[dict], None] = None,
    ):
        self.writer, self.store, self.device = writer, store, device
        self.prepare = prepare or (lambda record: record)
        self.on_busy = on_busy or (lambda record: None)
        self.errors: List[str] = []
        self.kinds: List[Optional[str]] = []
        self.has_result = False

    def __call__(self, record: dict) -> None:
        if record["type"] == "busy":  # about the device's lock, not this trial: not stored
            self.on_busy(record)
            return
        if record["type"] == "error":
            self.errors.append(record["error"])
            self.kinds.append(record.get("kind"))
        elif record["type"] == "result":
            self.has_result = True
            record = self.prepare(record)
        self.writer.put(self.store.ingest, record, self.device)

    @property
    def process_died(self) -> bool:
        """The trial's process died (killed, out of memory, a runtime crash): retryable."""
        return "died" in self.kinds


class DeviceWorker:
    def __init__(
        self,
        device,
        store,
        settings: Settings,
        options: FleetOptions,
        progress: Progress,
        artifacts=(),
        seams: Seams = None,
    ):
        self.device, self.store, self.settings, self.options = device, store, settings, options
        self.progress, self.seams = progress, seams or Seams()
        self.link = DeviceLink(
            device, self.seams, self.note, options.accept_new, artifacts, settings.backend_options
        )
        self.facts_stored = False
        self.aborted = False
        self.checker = OutputChecker()  # this device's outputs against ONNX Runtime on the host
        self.compile_failures: dict = {}  # (model sha256, backend) -> why its artifact failed
        self.writer = BackgroundWriter()
        self.busy_notes = BusyNotes(device.name, self.note, options.on_busy)
        # Why this device's remaining cells are not run (another sweep held it, --on-busy skip).
        self.skipping: Optional[str] = None
        try:
            self.link.ensure_session()  # a wrong python or workdir shows now, before the sweep is stored
        except BaseException:
            self.writer.close()
            self.link.conn.close()
            raise

    def note(self, message: str) -> None:
        self.progress.note(self.device.name, message)

    def abort(self) -> None:
        """Ctrl-C: stop talking to the device; the trial in flight is marked interrupted."""
        self.aborted = True
        self.link.drop_session()

    # -- one attempt at a cell --------------------------------------------------------------
    def _store_facts_once(self) -> None:
        if not self.facts_stored:
            self.store.upsert_device(self.device, facts=self.link.facts)
            self.facts_stored = True

    def _new_trial(self, cell: Cell, sweep_id: str) -> dict:
        """The trial row and its job, once the artifact and eval set are on the device."""
        files, settings = self.link.files, self.settings
        failed = self.compile_failures.get((cell.model.sha256 if cell.model else None, cell.backend))
        if failed:  # the same artifact: the compiler would fail the same way, seconds later
            raise CompileFailed(failed)
        try:
            remote_model = (
                files.ensure_model(
                    cell.model, cell.backend, settings.backend_options, cell.device.target, self.note
                )
                if cell.model
                else None
            )
        except UserError as exc:  # the compile step's: this cell fails, the sweep goes on
            self.compile_failures[(cell.model.sha256, cell.backend)] = str(exc)
            raise CompileFailed(str(exc))
        eval_set = files.ensure_eval_set(cell.model) if cell.model and settings.accuracy else None
        # Provenance travels with each trial: the device's facts as they were for this sweep.
        provenance = dict(settings.as_dict(), device_facts=self.link.facts)
        trial_id = self.store.create_trial(sweep_id, cell, provenance)
        return make_job(trial_id, cell, remote_model, settings, eval_set)

    def _output_check(self, cell: Cell) -> Callable[[dict], dict]:
        """A result record with its outputs compared to ONNX Runtime fp32 on this host."""
        settings = self.settings
        precision = backends.precision_of(cell.backend, cell.model, settings.backend_options)
        return lambda record: self.checker.checked(
            record, cell.model, cell.batch, settings.shapes, settings.seed, precision
        )

    def _run_job(self, session, job: dict, seen: TrialRecords, sweep_id: str) -> str:
        status, host_s = session.run_trial(
            job, seen, trial_timeout(job), claim(sweep_id, self.options.on_busy)
        )
        self.writer.put(self.store.set_host_time, job["trial_id"], host_s)
        return "failed" if status == "ok" and not seen.has_result else status  # as the store sees it

    def _ask_the_device(self, exc: DeviceError, cell: Cell, job: dict) -> str:
        """Link lost, agent died or silent: the device may still hold the trial."""
        self.note("%s during %s; asking the device" % (exc, cell.label))
        if isinstance(exc, LinkLost):
            self.link.forget_session()
        else:
            self.link.drop_session()
        return recover(self.link, self.store, job["trial_id"], trial_timeout(job), self.note)

    def _pass_on_warnings(self, session) -> None:
        for warning in session.warnings:
            self.note(warning)
        session.warnings.clear()

    def _attempt(self, cell: Cell, sweep_id: str) -> Outcome:
        session = self.link.ensure_session()
        self._store_facts_once()
        missing = backends.missing_runtime(cell.backend, self.device.name, self.link.facts)
        if missing:  # before the artifact is compiled or pushed
            raise RuntimeMissing(missing)
        job = self._new_trial(cell, sweep_id)
        trial_id = job["trial_id"]
        seen = TrialRecords(
            self.writer,
            self.store,
            self.device.name,
            self._output_check(cell),
            lambda record: self.busy_notes.seen(record, sweep_id),
        )
        try:
            status = self._run_job(session, job, seen, sweep_id)
        except DeviceError as exc:
            self.writer.drain()
            if self.aborted:
                self.store.fail_trial(trial_id, INTERRUPTED)
                return Outcome(cell, trial_id, "failed", INTERRUPTED)
            status = self._ask_the_device(exc, cell, job)
            seen.errors.append(self.store.trial_error(trial_id))
        except BaseException:  # Ctrl-C, a store error: the trial must not stay "running"
            self.writer.drain()
            self.store.fail_trial(trial_id, INTERRUPTED)
            raise
        self._pass_on_warnings(session)
        if seen.process_died:
            raise TrialNotFinished(seen.errors[0], trial_id)
        if status == "skipped":
            return self._skip_from_now(cell, trial_id, seen)
        error = None if status == "ok" else (seen.errors[0] if seen.errors else status)
        return Outcome(cell, trial_id, status, error)

    def _skip_from_now(self, cell: Cell, trial_id: str, seen: TrialRecords) -> Outcome:
        """Another sweep held the device and we were told to skip: this cell and the device's
        remaining ones are not run (a resume runs them)."""
        self.skipping = self.busy_notes.skip_reason or next(
            (e for e in seen.errors if e), "not run: the device was busy (--on-busy skip)"
        )
        return Outcome(cell, trial_id, "skipped", self.skipping)

    # -- a cell, with retries ---------------------------------------------------------------
    def run_cell(self, cell: Cell, sweep_id: str) -> Outcome:
        if self.skipping:
            return Outcome(cell, None, "skipped", self.skipping)
        last = None
        for _ in range(self.options.retries + 1):
            if self.aborted:
                break
            try:
                return self._attempt(cell, sweep_id)
            except CellRefused as exc:
                last = Outcome(cell, None, "failed", str(exc))
                break
            except LinkLost as exc:
                last = Outcome(cell, None, "failed", str(exc))
                self._try_reconnect()
            except DeviceError as exc:
                last = Outcome(cell, exc.args[1] if len(exc.args) > 1 else None, "failed", exc.args[0])
        if last is None:
            return Outcome(cell, None, "skipped", "not run: interrupted")
        if last.trial_id is None:  # failed before a trial existed: store the failure all the same
            last.trial_id = self.store.create_trial(sweep_id, cell, self.settings.as_dict())
            self.store.fail_trial(last.trial_id, last.error)
        return last

    def _try_reconnect(self) -> None:
        try:
            self.link.reconnect(self.seams.clock() + RECONNECT_AFTER_LOSS_S)
        except DeviceError:
            pass

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.link.close()
