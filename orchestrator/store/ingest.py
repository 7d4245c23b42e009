"""The Store: owns its sessions; ingest of agent records is idempotent on the trial id."""

import threading
import uuid
from contextlib import contextmanager
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..backends import precision_of
from ..options import SINGLE_STREAM
from .db import StoreLocked, open_engine, session_factory, store_where
from .samples import samples_row
from .schema import Device, Metrics, Model, Sweep, Trial, utcnow, METRIC_COLUMNS

FINAL_STATUSES = ("ok", "failed")
# pending: created; running: the agent started it; waiting: the link dropped mid-trial and the
# host is fetching the device's spool; lost: the host gave up waiting, but the device may still
# hold the records (a resume fetches them); ok / failed: final.
OPEN_STATUSES = ("pending", "running", "waiting", "lost")


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class Store:
    def __init__(self, url: str = None, create: bool = True, write: Optional[bool] = None):
        """`create`: make the store if it does not exist; `write` (default: `create`): the
        command writes to it (see db.open_engine)."""
        self.engine = open_engine(url, create=create, write=write)
        self.where = store_where(url)  # for messages: its file, or its URL without the password
        self.Session = session_factory(self.engine)
        # Devices run in parallel threads; SQLite takes one writer at a time anyway, and a lock
        # here is cheaper and clearer than retrying on "database is locked".
        self._write_lock = threading.Lock()
        # Once another process held the store past the busy timeout, later writes fail at once
        # instead of each waiting as long again (a sweep's last writes, its workers').
        self._locked: Optional[StoreLocked] = None

    @contextmanager
    def writing(self):
        with self._write_lock:
            if self._locked is not None:
                raise self._locked
            try:
                with self.Session.begin() as session:
                    yield session
            except StoreLocked as exc:
                self._locked = exc
                raise

    def close(self):
        self.engine.dispose()

    def _upsert(self, write) -> None:
        """`write(session)` adds a row shared by every controller (a device, a model) unless it
        is there. Two controllers on one store can both find it missing and both insert it:
        the second's insert fails on the key, and its write, run again, finds the row."""
        try:
            with self.writing() as s:
                write(s)
        except IntegrityError:
            with self.writing() as s:
                write(s)

    def upsert_device(self, device, facts: Optional[dict] = None) -> None:
        def write(s):
            row = s.get(Device, device.name) or Device(name=device.name)
            row.connection = device.connection
            row.platform = device.platform
            if facts is not None:
                row.facts, row.facts_at = facts, utcnow()
                row.simulated = bool(facts.get("simulated"))
                row.emulated = bool(facts.get("emulated"))  # the emulator's command, or null
            s.add(row)

        self._upsert(write)

    def upsert_model(self, info) -> None:
        def write(s):
            if s.get(Model, info.sha256) is None:
                s.add(
                    Model(
                        sha256=info.sha256,
                        name=info.name,
                        path=str(info.path),
                        params=info.params,
                        size_bytes=info.size_bytes,
                        precision=info.precision,
                        inputs=[list(i) for i in info.inputs],
                        opset=info.opset,
                    )
                )

        self._upsert(write)

    def create_sweep(self, settings: dict) -> str:
        sweep_id = new_id()
        with self.writing() as s:
            s.add(Sweep(id=sweep_id, settings=settings))
        return sweep_id

    def finish_sweep(self, sweep_id: str, status: str) -> None:
        with self.writing() as s:
            sweep = s.get(Sweep, sweep_id)
            sweep.status, sweep.finished_at = status, utcnow()

    def mark_lost(self, trial_id: str, reason: str) -> None:
        with self.writing() as s:
            trial = s.get(Trial, trial_id)
            if trial.status not in FINAL_STATUSES:
                trial.status, trial.error = "lost", reason

    def set_status(self, trial_id: str, status: str) -> None:
        with self.writing() as s:
            trial = s.get(Trial, trial_id)
            if trial.status not in FINAL_STATUSES:
                trial.status = status

    def open_trials(self, sweep_id: str) -> list:
        """Trials of a sweep that never reached a final status (controller killed, link lost)."""
        with self.Session() as s:
            return list(
                s.scalars(select(Trial).where(Trial.sweep_id == sweep_id, Trial.status.in_(OPEN_STATUSES)))
            )

    def create_trial(self, sweep_id: str, cell, settings: dict) -> str:
        trial_id = new_id()
        with self.writing() as s:
            s.add(
                Trial(
                    id=trial_id,
                    sweep_id=sweep_id,
                    device=cell.device.name,
                    model_sha256=cell.model.sha256 if cell.model else None,
                    backend=cell.backend,
                    precision=precision_of(cell.backend, cell.model, settings),
                    batch=cell.batch,
                    run=cell.run,
                    scenario=cell.scenario,
                    settings=settings,
                )
            )
        return trial_id

    def fail_trial(self, trial_id: str, reason: str) -> None:
        with self.writing() as s:
            trial = s.get(Trial, trial_id)
            if trial.status not in FINAL_STATUSES:
                trial.status, trial.error, trial.finished_at = "failed", reason, utcnow()

    def ingest(self, record: dict, device: Optional[str] = None) -> None:
        """Applies one agent record to its trial. Applying the same record twice changes nothing.
        With `device`, a record for another device's trial is ignored."""
        with self.writing() as s:
            trial = s.get(Trial, record.get("trial_id") or "")
            if trial is None or (device is not None and trial.device != device):
                return
            kind = record["type"]
            if kind == "trial_start" and trial.status == "pending":
                trial.status, trial.agent_version = "running", _agent_version(record)
            elif kind == "result" and trial.status not in FINAL_STATUSES and s.get(Metrics, trial.id) is None:
                trial.env = record.get("env")
                trial.simulated = bool((record.get("metrics") or {}).get("simulated"))
                trial.emulated = bool((record.get("metrics") or {}).get("emulated"))
                s.add(_metrics_row(trial.id, record))
                if record.get("samples_ms") is not None:
                    s.add(samples_row(trial.id, record["samples_ms"]))
            elif kind == "error" and (trial.error is None or trial.status == "lost"):
                trial.error = record.get("error")
            elif kind == "trial_end" and trial.status not in FINAL_STATUSES:
                status = record.get("status", "failed")
                if status == "ok":
                    trial.error = None  # a lost trial that the device finished after all
                if status == "ok" and s.get(Metrics, trial.id) is None:
                    status, trial.error = (
                        "failed",
                        trial.error or "the agent reported ok but sent no valid result",
                    )
                trial.status, trial.finished_at, trial.agent_s = status, utcnow(), record.get("agent_s")

    def set_host_time(self, trial_id: str, host_s: float) -> None:
        with self.writing() as s:
            s.get(Trial, trial_id).host_s = host_s

    def ok_cell_keys(self, sweep_id: str) -> set:
        """(device, model sha256, backend, batch, run, scenario) of the sweep's runs that have an ok trial
        (`Cell.key`)."""
        with self.Session() as s:
            rows = s.execute(
                select(
                    Trial.device,
                    Trial.model_sha256,
                    Trial.backend,
                    Trial.batch,
                    func.coalesce(Trial.run, 1),
                    func.coalesce(Trial.scenario, SINGLE_STREAM),
                ).where(Trial.sweep_id == sweep_id, Trial.status == "ok")
            )
            return {tuple(row) for row in rows}

    def sweep(self, sweep_id: Optional[str] = None, eligible=None) -> Optional[Sweep]:
        """The sweep with this id, or (None) the latest one that did not finish ok, of those
        `eligible(settings, status)` accepts (default: any)."""
        with self.Session() as s:
            if sweep_id:
                return s.get(Sweep, sweep_id)
            unfinished = s.scalars(
                select(Sweep).where(Sweep.status != "ok").order_by(Sweep.created_at.desc())
            )
            return next((w for w in unfinished if eligible is None or eligible(w.settings, w.status)), None)

    def claim_sweep(self, sweep_id: str, controller: dict, still_running) -> Optional[dict]:
        """Marks the sweep as running under `controller` (who resumes it), unless
        `still_running(settings, status)` says a live controller runs it: then returns that
        controller and changes nothing. Under the write lock (a row lock on a server store):
        of two resumes at once, one runs the sweep, the other is told who does."""
        with self.writing() as s:
            sweep = s.get(Sweep, sweep_id, with_for_update=True)
            if still_running(sweep.settings, sweep.status):
                return dict(sweep.settings.get("controller") or {})
            # A new dict: SQLAlchemy does not see a JSON value changed in place.
            sweep.settings = dict(sweep.settings, controller=controller)
            sweep.status, sweep.finished_at = "running", None
        return None

    def unfinished_sweeps(self) -> int:
        with self.Session() as s:
            return s.scalar(select(func.count()).select_from(Sweep).where(Sweep.status != "ok"))

    def trial_error(self, trial_id: str) -> Optional[str]:
        with self.Session() as s:
            return s.scalar(select(Trial.error).where(Trial.id == trial_id))

    def trial_status(self, trial_id: str) -> Optional[str]:
        with self.Session() as s:
            return s.scalar(select(Trial.status).where(Trial.id == trial_id))


def _agent_version(record: dict) -> Optional[str]:
    """As the device said it, cut to its column's length (PostgreSQL refuses a longer one)."""
    version = record.get("agent_version")
    return None if version is None else str(version)[: Trial.agent_version.type.length]


def _metrics_row(trial_id: str, record: dict) -> Metrics:
    sent = record.get("metrics") or {}
    values = {name: sent.get(name) for name in METRIC_COLUMNS}
    return Metrics(
        trial_id=trial_id,
        extra=sent,  # the raw samples go to latency_samples (samples.py), compressed
        telemetry=record.get("telemetry"),
        **values,
    )
