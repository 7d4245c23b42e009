"""Plan the matrix of cells (device x model x backend x batch) and run it, one trial at a
time per device, ingesting records as they stream in. A failing trial is recorded with its
reason and the sweep goes on."""
import itertools
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from .deploy import DeployReport, deploy_agent, deploy_model, resolve_workdir
from .errors import DeviceError, UserError
from .modelinfo import ModelInfo
from .session import AgentSession
from .transport import connect

# Silence allowed between two records of a trial: the timed window's cap plus model loading.
LOAD_ALLOWANCE_S = 300.0


@dataclass(frozen=True)
class Cell:
    device: object          # inventory Device
    model: Optional[ModelInfo]
    backend: str
    batch: int


@dataclass
class Settings:
    quick: bool = False
    threads: Optional[int] = None
    seed: int = 0
    shapes: dict = field(default_factory=dict)
    providers: List[str] = field(default_factory=list)
    timing: dict = field(default_factory=dict)  # overrides: min_iters, min_s, warmup_iters, ...

    def as_dict(self) -> dict:
        return {"quick": self.quick, "threads": self.threads, "seed": self.seed,
                "shapes": self.shapes, "providers": self.providers, "timing": self.timing}


@dataclass
class Outcome:
    cell: Cell
    trial_id: str
    status: str
    error: Optional[str] = None


def plan(devices, models, backends, batches) -> List[Cell]:
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


def make_job(trial_id: str, cell: Cell, remote_model: Optional[str], settings: Settings) -> dict:
    job = {"trial_id": trial_id, "backend": cell.backend, "model": remote_model, "batch": cell.batch,
           "seed": settings.seed, "shapes": settings.shapes, "quick": settings.quick,
           "backend_options": {"providers": settings.providers, "intra_op_threads": settings.threads}}
    job.update(settings.timing)
    return job


def _trial_timeout(job: dict) -> float:
    max_s = job.get("max_s") or 120.0
    return max_s + (job.get("warmup_s") or 1.0) + LOAD_ALLOWANCE_S


class DeviceRunner:
    """Runs the cells of one device through one agent session."""

    def __init__(self, device, store, sweep_id: str, settings: Settings):
        self.device, self.store, self.sweep_id, self.settings = device, store, sweep_id, settings
        self.conn = connect(device)
        self.workdir = resolve_workdir(self.conn, self._python(), device.workdir)
        self.deployed = DeployReport()
        agent_path = deploy_agent(self.conn, self.workdir, self.deployed)
        self.session = AgentSession(self.conn, self._python(), agent_path, self.workdir)
        self.facts = self.session.probe()
        store.upsert_device(device, facts=self.facts)

    def _python(self) -> str:
        return self.device.python

    def run(self, cell: Cell) -> Outcome:
        remote_model = deploy_model(self.conn, self.workdir, cell.model, self.deployed) if cell.model else None
        # Provenance travels with each trial: the device's facts as they were for this sweep.
        trial_id = self.store.create_trial(self.sweep_id, cell, dict(self.settings.as_dict(), device_facts=self.facts))
        job = make_job(trial_id, cell, remote_model, self.settings)
        try:
            status = self.session.run_trial(job, self.store.ingest, _trial_timeout(job))
        except DeviceError as exc:
            self.store.fail_trial(trial_id, str(exc))
            return Outcome(cell, trial_id, "failed", str(exc))
        error = self._trial_error(trial_id) if status != "ok" else None
        return Outcome(cell, trial_id, status, error)

    def _trial_error(self, trial_id: str) -> Optional[str]:
        from .store.schema import Trial
        with self.store.Session() as s:
            return s.get(Trial, trial_id).error

    def close(self):
        self.session.close()
        self.conn.close()


def run_sweep(cells: List[Cell], store, settings: Settings, on_progress: Callable[[Outcome], None] = None,
              sweep_settings: dict = None):
    """Runs every cell; returns (sweep id, outcomes). Devices run one after another here;
    parallel fleets come with the SSH transport."""
    for model in {c.model for c in cells if c.model}:
        store.upsert_model(model)
    sweep_id = store.create_sweep(sweep_settings or settings.as_dict())
    outcomes = []
    status = "failed"
    try:
        for device, device_cells in itertools.groupby(cells, key=lambda c: c.device.name):
            outcomes.extend(_run_device(list(device_cells), store, sweep_id, settings, on_progress))
        status = "ok" if all(o.status == "ok" for o in outcomes) else "partial"
    finally:
        store.finish_sweep(sweep_id, status)
    return sweep_id, outcomes


def _run_device(cells, store, sweep_id, settings, on_progress):
    outcomes = []
    try:
        runner = DeviceRunner(cells[0].device, store, sweep_id, settings)
    except DeviceError as exc:
        store.upsert_device(cells[0].device)
        for cell in cells:
            trial_id = store.create_trial(sweep_id, cell, settings.as_dict())
            store.fail_trial(trial_id, "device unavailable: %s" % exc)
            outcomes.append(Outcome(cell, trial_id, "failed", str(exc)))
            on_progress and on_progress(outcomes[-1])
        return outcomes
    try:
        for cell in cells:
            outcomes.append(runner.run(cell))
            on_progress and on_progress(outcomes[-1])
    finally:
        runner.close()
    return outcomes
