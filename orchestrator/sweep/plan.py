"""What a sweep runs: its cells (device x model x backend x batch x scenario), its settings,
and the job each cell becomes for the agent."""

import itertools
import random
from dataclasses import dataclass, field, fields, replace
from typing import Dict, List, Optional

from edgebench.agent.inputs import InputSpecError, resolve_shapes
from edgebench.agent.scenarios.checks import OWN_KEYS
from edgebench.agent.serve import trial_deadline_s

from .. import backends
from ..errors import UserError
from ..modelinfo import ModelInfo
from ..options import DEFAULT_REPEATS, SINGLE_STREAM

HOST_MARGIN_S = 60.0


@dataclass(frozen=True)
class Cell:
    device: object  # inventory Device
    model: Optional[ModelInfo]
    backend: str
    batch: int
    # One of the cell's independent runs (--repeats): each is its own trial process. From 1.
    run: int = 1
    runs: int = 1
    scenario: str = SINGLE_STREAM  # how queries arrive (agent/scenarios): a sweep dimension

    @property
    def key(self) -> tuple:
        """What identifies this run of the cell in its sweep (Store.ok_cell_keys)."""
        return (
            self.device.name,
            self.model.sha256 if self.model else None,
            self.backend,
            self.batch,
            self.run,
            self.scenario,
        )

    @property
    def label(self) -> str:
        name = "%s b%d" % (self.model.name if self.model else self.backend, self.batch)
        name += "" if self.scenario == SINGLE_STREAM else " " + self.scenario
        return name if self.runs == 1 else "%s run %d/%d" % (name, self.run, self.runs)

    def to_plan(self) -> dict:
        return {
            "device": self.device.name,
            "model_path": str(self.model.path) if self.model else None,
            "model_sha256": self.model.sha256 if self.model else None,
            "backend": self.backend,
            "batch": self.batch,
            "run": self.run,
            "runs": self.runs,
            "scenario": self.scenario,
        }


@dataclass
class Settings:
    quick: bool = False
    seed: int = 0  # the inputs' values and the order of the runs
    repeats: int = DEFAULT_REPEATS
    shapes: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)  # overrides: min_iters, min_s, warmup_iters, ...
    perf: bool = False  # perf stat over the timed window
    accuracy: bool = True  # top-1 on the eval set that travels with a model
    # Controlled conditions, applied by the agent: wait before each trial until the hottest
    # thermal zone is below cooldown_c °C (at most cooldown_timeout_s); fixed clocks (and a
    # Jetson power mode) for the sweep, restored afterwards.
    cooldown_c: Optional[float] = None
    cooldown_timeout_s: float = 600.0
    pin_clocks: bool = False
    nvpmodel_mode: Optional[int] = None
    # The scenarios' options, sent with every job (agent/scenarios checks and fills them):
    # fps, on_overrun, qps, latency_target_ms, batching, max_batch, max_queue_delay_ms, ...
    scenario_options: dict = field(default_factory=dict)
    # Every declared backend's options by name (threads, providers, ...): see backends.py.
    backend_options: dict = field(default_factory=backends.option_defaults)

    def as_dict(self) -> dict:
        """As stored with the sweep and each trial: flat, the backend options by their name."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "backend_options"}
        return dict(backends.option_defaults(), **self.backend_options, **own)

    @classmethod
    def from_dict(cls, stored: dict) -> "Settings":
        """The settings a sweep was stored with (what it does not name keeps its default)."""
        own = {f.name for f in fields(cls)} - {"backend_options"}
        chosen = {k: stored[k] for k in backends.option_defaults() if k in stored}
        return cls(
            **dict({"repeats": 1}, **{k: stored[k] for k in own if k in stored}),  # before repeats: 1 run
            backend_options=dict(backends.option_defaults(), **chosen),
        )


@dataclass
class FleetOptions:
    # Devices worked on at once (each measures on its own hardware; the controller streams
    # and stores): as many as probe and deploy use, so that a 64-device sweep is 2 rounds, not 8.
    parallel: int = 32
    retries: int = 0
    fail_fast: bool = False
    accept_new: bool = False
    # A device whose lock another sweep's trial holds: wait for it, or skip its cells.
    on_busy: str = "wait"


def check_inputs(model: ModelInfo, batch: int, shapes: dict) -> None:
    """The agent would refuse these settings; refuse them here, before anything is stored."""
    try:
        resolve_shapes(list(model.inputs), batch, shapes)
    except InputSpecError as exc:
        raise UserError("model %s (%s): %s" % (model.name, model.path, exc)) from None


def check_backend(device, backend: str) -> backends.Backend:
    if backend not in device.backends:
        raise UserError(
            "device '%s' does not list backend '%s' (it has: %s; see %s)"
            % (device.name, backend, ", ".join(device.backends), device.source)
        )
    declared = backends.get(backend)
    declared.target_for(device)  # a compiled backend needs the device's target
    return declared


def plan(
    devices,
    models,
    backend_names,
    batches,
    shapes: dict = None,
    repeats: int = 1,
    seed: int = 0,
    scenarios=(SINGLE_STREAM,),
):
    """Every run of every cell, in the order they run: see `interleave`."""
    for model, batch in itertools.product(models, batches):
        check_inputs(model, batch, shapes or {})
    cells = []
    for device, backend, batch, scenario in itertools.product(devices, backend_names, batches, scenarios):
        if check_backend(device, backend).needs_model:
            cells.extend(Cell(device, m, backend, batch, scenario=scenario) for m in models)
        else:
            cells.append(Cell(device, None, backend, batch, scenario=scenario))
    return interleave(cells, repeats, seed)


def interleave(cells: List[Cell], repeats: int, seed: int) -> List[Cell]:
    """`repeats` runs of each cell in rounds: every round holds one run of every cell, in an
    order shuffled anew each round by a generator seeded with `seed`. So drift and background
    load fall on every cell alike (not on whichever ran last), each cell's runs spread over the
    whole sweep, and the same seed gives the same order. A device's queue keeps this order."""
    rng = random.Random(seed)
    order = []
    for run in range(1, repeats + 1):
        round_ = [replace(cell, run=run, runs=repeats) for cell in cells]
        if repeats > 1:
            rng.shuffle(round_)
        order.extend(round_)
    return order


def group_by_device(cells: List[Cell]) -> Dict[str, List[Cell]]:
    queues: Dict[str, List[Cell]] = {}
    for cell in cells:
        queues.setdefault(cell.device.name, []).append(cell)
    return queues


def _conditions(settings: Settings) -> dict:
    return {
        "cooldown_c": settings.cooldown_c,
        "cooldown_timeout_s": settings.cooldown_timeout_s,
        "pin_clocks": settings.pin_clocks,
        "nvpmodel_mode": settings.nvpmodel_mode,
    }


def make_job(
    trial_id: str, cell: Cell, remote_model: Optional[str], settings: Settings, eval_set: Optional[str] = None
) -> dict:
    """The request the agent gets for one trial of `cell`."""
    job = {
        "trial_id": trial_id,
        "backend": cell.backend,
        "model": remote_model,
        "batch": cell.batch,
        "eval_set": eval_set if settings.accuracy else None,
        "seed": settings.seed,
        "shapes": settings.shapes,
        "quick": settings.quick,
        "backend_options": backends.get(cell.backend).job_options(settings.backend_options),
        "telemetry": dict(cell.device.telemetry),
        "perf": settings.perf,
        **_conditions(settings),
    }
    if cell.scenario != SINGLE_STREAM:  # a single-stream job stays as it always was
        own = OWN_KEYS[cell.scenario]
        job.update({k: v for k, v in settings.scenario_options.items() if k in own}, scenario=cell.scenario)
    job.update(settings.timing)
    return job


def trial_timeout(job: dict) -> float:
    """Silence the host allows between two records: longer than the agent's own watchdog, so a
    hung trial is reported by the device (kind "timeout") before the host gives up on it. The
    agent's deadline counts the silent cool-down wait (at most cooldown_timeout_s) too."""
    return trial_deadline_s(job) + HOST_MARGIN_S


def stored_trial_timeout(stored: dict, backend: Optional[str] = None) -> float:
    """trial_timeout for a trial from its stored settings (timing overrides, cool-down wait)
    and its backend (one that builds on the device is allowed the build)."""
    stored = stored or {}
    job = dict(stored.get("timing") or {}, backend=backend)
    job.update((key, stored.get(key)) for key in ("cooldown_c", "cooldown_timeout_s"))
    return trial_timeout(job)


def resume_plan(store, sweep, inventory, inspect_model) -> tuple:
    """The cells of a stored sweep that have no successful trial yet, and its settings."""
    stored = dict(sweep.settings)
    cells, done = [], store.ok_cell_keys(sweep.id)
    for entry in stored.get("plan") or []:
        model = inspect_model(entry["model_path"]) if entry["model_path"] else None
        if model is not None and model.sha256 != entry["model_sha256"]:
            raise UserError(
                "cannot resume sweep %s: %s changed since it started (sha256 %s, was %s)"
                % (sweep.id, entry["model_path"], model.sha256[:12], entry["model_sha256"][:12])
            )
        cell = Cell(
            inventory.device(entry["device"]),
            model,
            entry["backend"],
            entry["batch"],
            entry.get("run", 1),  # a plan stored before repeats existed: one run per cell
            entry.get("runs", 1),
            entry.get("scenario", SINGLE_STREAM),
        )
        if cell.key not in done:
            cells.append(cell)
    return cells, Settings.from_dict(stored)
