"""The Store: owns its sessions; ingest of agent records is idempotent on the trial id."""
import uuid
from typing import Optional

from sqlalchemy import select

from .db import open_engine, session_factory
from .schema import Device, Metrics, Model, Sweep, Trial, utcnow, METRIC_COLUMNS

FINAL_STATUSES = ("ok", "failed")


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class Store:
    def __init__(self, url: str = None, create: bool = True):
        self.engine = open_engine(url, create=create)
        self.Session = session_factory(self.engine)

    def close(self):
        self.engine.dispose()

    def upsert_device(self, device, facts: Optional[dict] = None) -> None:
        with self.Session.begin() as s:
            row = s.get(Device, device.name) or Device(name=device.name)
            row.connection = device.connection
            row.platform = device.platform
            if facts is not None:
                row.facts, row.facts_at = facts, utcnow()
            s.add(row)

    def upsert_model(self, info) -> None:
        with self.Session.begin() as s:
            if s.get(Model, info.sha256) is None:
                s.add(Model(sha256=info.sha256, name=info.name, path=str(info.path), params=info.params,
                            size_bytes=info.size_bytes, precision=info.precision,
                            inputs=[list(i) for i in info.inputs], opset=info.opset))

    def create_sweep(self, settings: dict) -> str:
        sweep_id = new_id()
        with self.Session.begin() as s:
            s.add(Sweep(id=sweep_id, settings=settings))
        return sweep_id

    def finish_sweep(self, sweep_id: str, status: str) -> None:
        with self.Session.begin() as s:
            sweep = s.get(Sweep, sweep_id)
            sweep.status, sweep.finished_at = status, utcnow()

    def create_trial(self, sweep_id: str, cell, settings: dict) -> str:
        trial_id = new_id()
        with self.Session.begin() as s:
            s.add(Trial(id=trial_id, sweep_id=sweep_id, device=cell.device.name,
                        model_sha256=cell.model.sha256 if cell.model else None, backend=cell.backend,
                        precision=cell.model.precision if cell.model else None, batch=cell.batch,
                        settings=settings))
        return trial_id

    def fail_trial(self, trial_id: str, reason: str) -> None:
        with self.Session.begin() as s:
            trial = s.get(Trial, trial_id)
            if trial.status not in FINAL_STATUSES:
                trial.status, trial.error, trial.finished_at = "failed", reason, utcnow()

    def ingest(self, record: dict) -> None:
        """Applies one agent record to its trial. Applying the same record twice changes nothing."""
        with self.Session.begin() as s:
            trial = s.get(Trial, record.get("trial_id") or "")
            if trial is None:
                return
            kind = record["type"]
            if kind == "trial_start" and trial.status == "pending":
                trial.status, trial.agent_version = "running", record.get("agent_version")
            elif kind == "result" and s.get(Metrics, trial.id) is None:
                trial.env = record.get("env")
                s.add(_metrics_row(trial.id, record))
            elif kind == "error" and trial.error is None:
                trial.error = record.get("error")
            elif kind == "trial_end" and trial.status not in FINAL_STATUSES:
                trial.status, trial.finished_at = record.get("status", "failed"), utcnow()

    def trial_status(self, trial_id: str) -> Optional[str]:
        with self.Session() as s:
            return s.scalar(select(Trial.status).where(Trial.id == trial_id))


def _metrics_row(trial_id: str, record: dict) -> Metrics:
    sent = record.get("metrics") or {}
    values = {name: sent.get(name) for name in METRIC_COLUMNS}
    return Metrics(trial_id=trial_id, extra=sent, samples_ms=record.get("samples_ms"), **values)
