"""The `edgebench` command line: parse arguments, call a function, print. Nothing else."""

import json
import functools
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple

import typer
from rich.console import Console
from rich.table import Table

# Only light modules here: `--help`, `devices` and argument errors must answer at once, so
# pandas, SQLAlchemy (the store), the reports and the sweep are imported by the commands that
# use them, and plain option values are checked without pydantic (quickparams.py;
# tests/test_cli_startup.py).
from . import backends, options, quickparams, scenario_options, usage
from .compile import targets as compile_targets
from .errors import DeviceError, UserError
from .inventory import load_inventory
from .modelinfo import find_models, inspect_model

if TYPE_CHECKING:
    from .store import Store
    from .sweep import FleetOptions, Settings

quickparams.install()

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Benchmark ML models across a fleet of edge devices."
)
out = Console()
err = Console(stderr=True)

InventoryOpt = typer.Option(
    None,
    "--inventory",
    envvar="EDGEBENCH_INVENTORY",
    help="Inventory file: edgebench's YAML, or an Ansible inventory (INI or YAML) "
    "(default: ./inventory.yaml, else the shipped one).",
)
DbOpt = typer.Option(
    None, "--db", envvar="EDGEBENCH_DB", help="Results store URL (default: sqlite:///results/edgebench.db)."
)


@app.command()
def devices(
    inventory: Optional[Path] = InventoryOpt,
    from_ansible: Optional[Path] = typer.Option(
        None,
        "--from-ansible",
        metavar="FILE",
        help="Print the edgebench inventory equivalent to this Ansible inventory (INI or YAML), "
        "to save as inventory.yaml; --inventory FILE also reads one directly.",
    ),
):
    """List the devices of the inventory."""
    if from_ansible is not None:
        from .ansible_inventory import convert

        text, note = convert(from_ansible)
        sys.stdout.write(text)
        _say(note)
        return
    inv = load_inventory(inventory)
    table = Table(title="devices in %s" % inv.where)
    for column in ("name", "connection", "address", "platform", "python", "workdir", "groups", "backends"):
        table.add_column(column)
    for d in inv.devices.values():
        address = (
            "-" if d.connection == "local" else (d.ssh_alias or "%s@%s:%s" % (d.user or "", d.host, d.port))
        )
        table.add_row(
            d.name,
            d.connection,
            address,
            d.platform,
            d.python,
            d.workdir,
            ",".join(d.groups),
            ",".join(d.backends),
        )
    out.print(table)


ParallelOpt = typer.Option(32, "--parallel", help="Devices worked on at once.")
AcceptNewOpt = typer.Option(
    False, "--accept-new", help="Record unknown SSH host keys (changed keys are still refused)."
)
MEASUREMENT, CONDITIONS = "Measurement", "Controlled conditions"
CooldownOpt = typer.Option(
    None,
    "--cooldown-c",
    metavar="T",
    rich_help_panel=CONDITIONS,
    help="Before each trial, wait until the hottest thermal zone is below T °C (recorded).",
)
CooldownTimeoutOpt = typer.Option(
    None,
    "--cooldown-timeout",
    metavar="S",
    rich_help_panel=CONDITIONS,
    help="With --cooldown-c: the longest wait in seconds (default: 600).",
)
PinClocksOpt = typer.Option(
    False,
    "--pin-clocks",
    rich_help_panel=CONDITIONS,
    help="Fixed clocks during each trial (jetson_clocks on a Jetson, the performance governor elsewhere), restored after it.",
)
NvpmodelOpt = typer.Option(
    None,
    "--nvpmodel",
    metavar="MODE",
    rich_help_panel=CONDITIONS,
    help="With --pin-clocks: the Jetson power mode to set (nvpmodel -m MODE) while clocks are pinned.",
)


def _select(inventory, device: List[str], group: Optional[str], all_: bool):
    return load_inventory(inventory).select(device or None, group, all_)


@app.command()
def probe(
    device: List[str] = typer.Option([], "--device", "-d", help="Device name (repeatable) (default: local)."),
    group: Optional[str] = typer.Option(None, "--group", "-g", help="Every device of this group."),
    all_: bool = typer.Option(False, "--all", help="Every device of the inventory."),
    as_json: bool = typer.Option(False, "--json", help="Print the facts as JSON."),
    parallel: int = typer.Option(32, "--parallel", help="Devices probed at once."),
    accept_new: bool = AcceptNewOpt,
    inventory: Optional[Path] = InventoryOpt,
    db: Optional[str] = DbOpt,
):
    """Show devices' facts (board, OS, CPUs, memory, Python, runtimes) and store them."""
    from .display import MANY_DEVICES, fleet_line
    from .fleet import BackgroundStore, probe_all

    def open_store():
        from .store import Store

        return Store(db)

    devices_ = _select(inventory, device, group, all_)
    store = BackgroundStore(open_store)  # opened while the first devices are probed
    with fleet_line("probed", len(devices_), err) as line:
        results = probe_all(devices_, store, parallel=parallel, accept_new=accept_new, done=line.done)
    store.get()  # a store that cannot be opened is an error even when no device answered
    if as_json:
        payload = {r.device.name: r.value if r.ok else {"error": r.error} for r in results}
        _print_json(payload[devices_[0].name] if len(devices_) == 1 else payload)
    elif len(results) > MANY_DEVICES:
        if any(r.ok for r in results):  # none answered: the reasons below say all there is
            out.print(_fleet_facts_table([r for r in results if r.ok]))
    else:
        for r in (r for r in results if r.ok):
            table = Table(title="device %s" % r.device.name, show_header=False)
            for key, value in r.value.items():
                table.add_row(key, _fact_text(value))
            out.print(table)
            out.print(_power_sentence(r.device.name, r.value), highlight=False, soft_wrap=True)
    failed = [r for r in results if not r.ok]
    for r in failed:
        _say("unreachable: %s: %s" % (r.device.name, r.error))
    if failed:
        raise typer.Exit(1)


def _print_json(payload) -> None:
    """rich's print_json on a terminal (colours); the same text written plainly elsewhere, where
    highlighting a fleet's facts took longer than probing it."""
    if out.is_terminal:
        out.print_json(json.dumps(payload))
    else:
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


FLEET_FACTS = ("board", "os", "arch", "cpus", "memory MB", "python", "runtimes", "power")
FEW_KINDS = 3  # up to this many kinds of device: a column each, the facts down the side


def _fleet_facts_table(results) -> Table:
    """Many devices, grouped by the facts shown here (a fleet is mostly alike; `probe --device
    NAME` or `--json` gives every fact of each): a few kinds side by side, so that no fact is
    cut on an 80-column terminal; more kinds, a row each."""
    kinds = {}  # the facts shown -> the devices that have them, in the inventory's order
    for r in results:
        kinds.setdefault(_fleet_facts_row(r.value), []).append(r.device.name)
    table = Table(title="%d devices" % len(results))
    if len(kinds) <= FEW_KINDS:
        table.add_column("")
        for devices in kinds.values():
            table.add_column(_devices_cell(devices), overflow="fold")
        for index, fact in enumerate(FLEET_FACTS):
            table.add_row(fact, *(kind[index] for kind in kinds))
        return table
    table.add_column("device", overflow="fold")  # the names are what a reader looks for: never cut
    for fact in FLEET_FACTS:
        table.add_column(fact)
    for kind, devices in kinds.items():
        table.add_row(_devices_cell(devices), *kind)
    return table


def _devices_cell(names: List[str]) -> str:
    """'sim01 – sim64 (64)'; one device's name alone."""
    from .display import compact_names

    return compact_names(names) + (" (%d)" % len(names) if len(names) > 1 else "")


def _fleet_facts_row(facts: dict) -> tuple:
    runtimes = ", ".join(
        "%s %s" % (name, info.get("version") or "?")
        for name, info in (facts.get("runtimes") or {}).items()
        if info
    )
    memory = facts.get("memory_total_mb")
    return (
        *(str(facts.get(key) or "–") for key in ("board", "os", "arch", "cpus")),
        "%.0f" % memory if memory else "–",
        str(facts.get("python") or "–"),
        runtimes or "–",
        (facts.get("power_sensor") or {}).get("sensor") or "–",
    )


def _power_sentence(name: str, facts: dict) -> str:
    sensor = facts.get("power_sensor")
    if sensor:
        return "%s: power from %s, every %s ms%s%s" % (
            name,
            sensor["sensor"],
            sensor["interval_ms"],
            ", board total = %s" % sensor["total_rail"] if sensor.get("total_rail") else "",
            " (SIMULATED board)" if facts.get("simulated") else "",
        )
    return (
        '%s: no power sensor found, so power and energy will show as "–" (not measured). Looked for: %s'
        % (name, "; ".join("%s (%s)" % item for item in (facts.get("power_sensors_missing") or {}).items()))
    )


def _fact_text(value) -> str:
    if value is None:
        return "– (not found)"
    if isinstance(value, float):
        return "%.1f" % value
    if isinstance(value, dict) and "version" in value:  # one runtime
        extra = " (%s)" % ", ".join(value["providers"]) if value.get("providers") else ""
        return "%s%s" % (value.get("version") or value.get("error"), extra)
    if isinstance(value, dict):
        return "; ".join("%s: %s" % (k, _fact_text(v)) for k, v in value.items())
    return str(value)


@app.command()
def deploy(
    device: List[str] = typer.Option([], "--device", "-d", help="Device name (repeatable)."),
    group: Optional[str] = typer.Option(None, "--group", "-g", help="Every device of this group."),
    all_: bool = typer.Option(False, "--all", help="Every device of the inventory."),
    model: List[Path] = typer.Option(
        [], "--model", "-m", help="Model file or folder to push too (repeatable)."
    ),
    parallel: int = typer.Option(32, "--parallel", help="Devices worked on at once."),
    accept_new: bool = AcceptNewOpt,
    inventory: Optional[Path] = InventoryOpt,
):
    """Push the agent (and models) to devices; what a device already has is not sent again."""
    from .display import fleet_line
    from .fleet import deploy_devices

    if not (device or group or all_):
        raise UserError("deploy: name devices with --device, --group or --all")
    devices_ = _select(inventory, device, group, all_)
    models = [m for path in model for m in find_models(path)]
    note = (lambda name, message: _say("%s: %s" % (name, message))) if models else None
    with fleet_line("deployed", len(devices_), err, failure="failed") as line:
        results = deploy_devices(
            devices_, models, parallel=parallel, accept_new=accept_new, note=note, done=line.done
        )
    for r in results:
        if r.ok:
            report = r.value
            for path, size in report.sent:
                out.print(
                    "%s: sent %s (%s bytes)" % (r.device.name, path, format(size, ",")), highlight=False
                )
            out.print(
                "%s: %s bytes sent, %d file(s) already there"
                % (r.device.name, format(report.bytes_sent, ","), len(report.skipped)),
                highlight=False,
            )
            for why in report.refused:  # the sweep refuses those cells the same way
                _say("%s: nothing sent for it: %s" % (r.device.name, why))
        else:
            _say("%s: deploy failed: %s" % (r.device.name, r.error))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


COMPILED_NAMES = ", ".join(b.name for b in backends.BACKENDS.values() if b.compile is not None)


@app.command("compile")
def compile_models(
    model: Path = typer.Argument(..., metavar="MODEL_OR_FOLDER", help="An .onnx file, or a folder of them."),
    backend: str = typer.Option(
        "tvm", "--backend", "-b", help="A backend with a compile step: %s." % COMPILED_NAMES
    ),
    target: str = typer.Option(
        compile_targets.NATIVE,
        "--target",
        "-t",
        help="What to compile for: %s (a device's is its inventory `target:`)."
        % ", ".join(compile_targets.NAMES),
    ),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", help="Also copy each artifact into this folder as MODEL.BACKEND.TARGET.SUFFIX."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print what was compiled and what came from the cache, as JSON."
    ),
):
    """Compile models on this host for a target, through the cache that sweep and deploy use."""
    from .compile import cache

    declared = backends.get(backend)
    if declared.compile is None:
        raise UserError(
            "backend '%s' runs the model file as it is: nothing to compile (compiled backends: %s)"
            % (backend, COMPILED_NAMES)
        )
    compile_targets.get(target)
    if out_dir is not None and not out_dir.is_dir():
        raise UserError("--out: folder does not exist: %s" % out_dir)
    done = []
    for info in find_models(model):
        item = cache.compiled(declared, info, None, target, note=_say)
        entry = item.as_dict()
        if out_dir is not None:
            name = "%s.%s.%s%s" % (info.name, backend, target, declared.artifact.suffix)
            entry["copy"] = str(
                options.write_atomically(out_dir / name, Path(item.path).read_bytes(), "--out")
            )
        done.append(entry)
        if not as_json:
            how = "from the cache" if item.cached else "compiled in %.1f s" % item.seconds
            copy = " (copied to %s)" % entry["copy"] if "copy" in entry else ""
            out.print(
                "%s: %s for %s %s: %s%s" % (info.name, backend, target, how, item.path, copy),
                highlight=False,
                soft_wrap=True,
            )
    if as_json:
        out.print_json(json.dumps(done))


@app.command()
def trust(
    device: str = typer.Argument(..., help="Device whose SSH host key to record."),
    inventory: Optional[Path] = InventoryOpt,
):
    """Show a device's SSH host key fingerprint (and its jump hosts') and record it in known_hosts."""
    from .transport.hostkeys import known_hosts_path
    from .transport.ssh import trust as trust_keys

    for seen in trust_keys(load_inventory(inventory).device(device)):
        verb = "already trusted" if seen.known else "recorded in %s" % known_hosts_path()
        who = "%s, %s" % (device, seen.hop) if seen.hop else device
        out.print(
            "%s: %s %s %s: %s" % (who, seen.entry, seen.key.get_name(), seen.fingerprint, verb),
            highlight=False,
        )


def _measurement_params() -> list:
    """The options `run` and `sweep` share, declared once: every backend's (backends.py), the
    measurement's and the controlled conditions."""
    param = options.Param
    declared = [
        param(
            o.name,
            o.annotation,
            typer.Option(
                o.default, o.flag, help=o.help, metavar=o.metavar, rich_help_panel="Backend options"
            ),
        )
        for o in backends.all_options()
    ]
    return declared + [
        param(
            "shape",
            List[str],
            typer.Option(
                [],
                "--shape",
                help="Input shape override, name=1x3x32x32 (repeatable).",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "quick",
            bool,
            typer.Option(
                False,
                "--quick",
                help="Short warm-up and timing window, for tests and demos.",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "perf",
            bool,
            typer.Option(
                False,
                "--perf",
                help="Count perf stat events over the timed window.",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "no_accuracy",
            bool,
            typer.Option(
                False,
                "--no-accuracy",
                help="Skip top-1 accuracy on the eval set sent with each model.",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "repeats",
            Optional[int],
            typer.Option(
                None,
                "--repeats",
                "-r",
                help="Independent runs per cell, each its own trial process, interleaved over the "
                "sweep; figures and intervals come from the spread between runs "
                "(default: %d; --quick 1)." % options.DEFAULT_REPEATS,
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "seed",
            int,
            typer.Option(
                0,
                "--seed",
                help="Seed of the input values and of the runs' shuffled order.",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "min_iters",
            Optional[int],
            typer.Option(
                None,
                "--min-iters",
                help="Timed iterations at least (default: 100; --quick 20).",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "min_seconds",
            Optional[float],
            typer.Option(
                None,
                "--min-seconds",
                help="Timed seconds at least, per run (default: 2; --quick 0.3).",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param(
            "warmup",
            Optional[int],
            typer.Option(
                None,
                "--warmup",
                help="Warm-up iterations at least (default: 10; --quick 3).",
                rich_help_panel=MEASUREMENT,
            ),
        ),
        param("cooldown_c", Optional[float], CooldownOpt),
        param("cooldown_timeout", Optional[float], CooldownTimeoutOpt),
        param("pin_clocks", bool, PinClocksOpt),
        param("nvpmodel", Optional[int], NvpmodelOpt),
        *scenario_options.params(),
    ]


measurement_options = options.shared(_measurement_params(), into="measure")
RetriesOpt = typer.Option(0, "--retries", help="Retries of a trial whose agent or device died.")
OnBusyOpt = typer.Option(
    "wait",
    "--on-busy",
    help="A device another sweep is measuring on (its lock names the holder): wait for it, or skip "
    "its runs (they are left for `sweep --resume`).",
)
BACKEND_NAMES = ", ".join(backends.names())
NO_MODEL = ", ".join("--backend %s" % b.name for b in backends.BACKENDS.values() if not b.needs_model)


def _conditions(measure: dict) -> dict:
    return options.conditions(
        measure["cooldown_c"], measure["cooldown_timeout"], measure["pin_clocks"], measure["nvpmodel"]
    )


def _settings(measure: dict, conditions: dict, batches) -> Tuple["Settings", tuple]:
    """The sweep's settings and its scenarios (a dimension of the plan)."""
    from .sweep import Settings

    scenarios, scenario_settings = scenario_options.scenario_settings(measure, batches)
    return Settings(
        quick=measure["quick"],
        seed=options.check_seed(measure["seed"]),  # the device seeds numpy with it
        repeats=options.repeats(measure["repeats"], measure["quick"]),
        shapes=options.parse_shapes(measure["shape"]),
        timing=options.timing_overrides(measure["min_iters"], measure["min_seconds"], measure["warmup"]),
        perf=measure["perf"],
        accuracy=not measure["no_accuracy"],
        backend_options=backends.parse_options(measure),
        scenario_options=scenario_settings,
        **conditions,
    ), scenarios


@app.command()
@measurement_options
def run(
    device: str = typer.Option("local", "--device", "-d", help="Device name from the inventory."),
    model: Optional[Path] = typer.Option(
        None, "--model", "-m", help="ONNX model file (not needed for %s)." % NO_MODEL
    ),
    backend: str = typer.Option("onnxruntime", "--backend", "-b", help="One of: %s." % BACKEND_NAMES),
    batch: int = typer.Option(1, "--batch", help="Batch size (the model's dynamic first dimension)."),
    retries: int = RetriesOpt,
    on_busy: str = OnBusyOpt,
    accept_new: bool = AcceptNewOpt,
    inventory: Optional[Path] = InventoryOpt,
    db: Optional[str] = DbOpt,
    measure: dict = None,
):
    """Measure one model on one device (in --repeats independent runs) and store it."""
    from .sweep import FleetOptions, plan
    from .sweep.plan import check_backend

    options.check_batches([batch])
    conditions = _conditions(measure)
    dev = load_inventory(inventory).device(device)
    if check_backend(dev, backend).needs_model and model is None:
        raise UserError("--model is required for backend '%s'" % backend)
    models = [inspect_model(model)] if model is not None else []
    settings, scenarios = _settings(measure, conditions, [batch])
    cells = plan(
        [dev], models, [backend], [batch], settings.shapes, settings.repeats, settings.seed, scenarios
    )
    fleet = FleetOptions(
        parallel=1,
        retries=options.check_non_negative(retries, "--retries"),
        accept_new=accept_new,
        on_busy=options.check_on_busy(on_busy),
    )
    _execute(cells, settings, fleet, db, {"command": "run"})


@app.command()
@measurement_options
def sweep(
    target: Optional[str] = typer.Argument(
        None,
        metavar="DIR|SWEEP_ID",
        help="Folder of .onnx models (or one file); with --resume, the sweep to resume (default: the latest unfinished).",
    ),
    device: List[str] = typer.Option([], "--device", "-d", help="Device name (repeatable) (default: local)."),
    group: Optional[str] = typer.Option(None, "--group", "-g", help="Every device of this inventory group."),
    all_: bool = typer.Option(False, "--all", help="Every device of the inventory."),
    backend: str = typer.Option(
        "onnxruntime", "--backend", "-b", help="Comma-separated backends, of: %s." % BACKEND_NAMES
    ),
    batch: str = typer.Option("1", "--batch", help="Comma-separated batch sizes, e.g. 1,8."),
    parallel: int = ParallelOpt,
    retries: int = RetriesOpt,
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed trial."),
    on_busy: str = OnBusyOpt,
    resume: bool = typer.Option(
        False, "--resume", help="Run the cells of a stored sweep that have no successful trial."
    ),
    accept_new: bool = AcceptNewOpt,
    inventory: Optional[Path] = InventoryOpt,
    db: Optional[str] = DbOpt,
    measure: dict = None,
):
    """Benchmark every model in DIR on the chosen devices, backends and batch sizes."""
    from .sweep import FleetOptions, plan

    fleet = FleetOptions(
        parallel=options.check_positive(parallel, "--parallel"),
        retries=options.check_non_negative(retries, "--retries"),
        fail_fast=fail_fast,
        accept_new=accept_new,
        on_busy=options.check_on_busy(on_busy),
    )
    conditions = _conditions(measure)
    if resume and conditions != options.conditions(None, None, False, None):
        raise UserError(
            "--resume: a resumed sweep keeps the conditions it was started with "
            "(--cooldown-c, --cooldown-timeout, --pin-clocks, --nvpmodel)"
        )
    if resume:
        return _resume(target, fleet, inventory, db)
    if target is None:
        raise UserError("sweep: give the folder of models (DIR), or --resume")
    batches = options.parse_batches(batch)
    backend_names = options.parse_list(backend, "--backend")
    devices_ = _select(inventory, device, group, all_)
    models = find_models(target)
    settings, scenarios = _settings(measure, conditions, batches)
    cells = plan(
        devices_, models, backend_names, batches, settings.shapes, settings.repeats, settings.seed, scenarios
    )
    _execute(cells, settings, fleet, db, {"command": "sweep", "models_dir": str(target)})


def _resume(sweep_id: Optional[str], fleet: "FleetOptions", inventory, db) -> None:
    from .store import Store
    from .sweep import resume_plan

    from .session import controller, resumable_here, running_here

    store = Store(db, create=False, write=True)
    stored = store.sweep(sweep_id, eligible=resumable_here)
    if stored is None and sweep_id:
        raise UserError(
            "no sweep %r to resume in %s (see edgebench results for sweep ids)" % (sweep_id, store.where)
        )
    if stored is None:  # e.g. the controller was killed right after the end: not a mistake
        others = store.unfinished_sweeps()
        if not others:
            _say("nothing to resume: every sweep in %s finished" % store.where)
        else:
            _say(
                "nothing to resume: every sweep started here in %s finished; %d other unfinished "
                "sweep(s) (running, or another user's or host's): give the id to resume one"
                % (store.where, others)
            )
        return
    running = store.claim_sweep(stored.id, controller(), running_here)
    if running is not None:
        raise UserError(
            "sweep %s is running now in pid %s (%s@%s): let it finish, or stop it, then resume it"
            % (stored.id, running.get("pid"), running.get("user"), running.get("host"))
        )
    cells, settings = resume_plan(store, stored, load_inventory(inventory), inspect_model)
    err.print("resuming sweep %s: %d run(s) without a successful trial" % (stored.id, len(cells)))
    _execute(cells, settings, fleet, db, {}, resume_id=stored.id, store=store)


def _execute(
    cells,
    settings: "Settings",
    fleet: "FleetOptions",
    db: Optional[str],
    context: dict,
    resume_id: Optional[str] = None,
    store: Optional["Store"] = None,
) -> None:
    from .display import LiveProgress
    from .store import Store
    from .sweep import run_sweep

    store = store or Store(db)
    sweep_settings = dict(settings.as_dict(), **context)
    with LiveProgress(cells, err) as progress:
        sweep_id, outcomes = run_sweep(
            cells,
            store,
            settings,
            fleet,
            progress=progress,
            sweep_settings=sweep_settings,
            resume_id=resume_id,
        )
    _print_summary(store, sweep_id, outcomes)


def _print_summary(store, sweep_id, outcomes) -> None:
    from .report.scenarios import CAPTION as SCENARIO_CAPTION
    from .report.scenarios import scenario_table
    from .report.tables import model_table, render
    from .store import results_frame

    ok = sum(1 for o in outcomes if o.status == "ok")
    skipped = sum(1 for o in outcomes if o.status == "skipped")
    recovered = sum(1 for o in outcomes if o.recovered)
    _say(
        "sweep %s: %d run(s) ok%s, %d failed, %d not run (results: edgebench results --sweep %s)"
        % (
            sweep_id,
            ok,
            " (%d recovered from the devices' spools)" % recovered if recovered else "",
            len(outcomes) - ok - skipped,
            skipped,
            sweep_id,
        )
    )
    for o in outcomes:
        if o.status == "failed":
            _say("failed: %s %s: %s" % (o.cell.device.name, o.cell.label, o.error))
    frame = results_frame(store, sweep_id)
    single = model_table(frame)
    if len(single):
        print(render(single, "markdown"))
    scenarios = scenario_table(frame)
    if len(scenarios):
        print(render(scenarios, "markdown", caption=SCENARIO_CAPTION))
    if ok < len(outcomes):
        raise typer.Exit(1)


@app.command()
def results(
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    sweep_id: Optional[str] = typer.Option(None, "--sweep", help="Only this sweep."),
    trial_id: Optional[str] = typer.Option(None, "--trial", help="Only this trial."),
    telemetry: bool = typer.Option(
        False, "--telemetry", help="With --trial: the power time series (csv or json)."
    ),
    db: Optional[str] = DbOpt,
):
    """Print stored trials, one row per trial (one per run), each with its cell's between-run
    figures."""
    from .store import Store, results_frame
    from .store.queries import trial_conditions, trial_telemetry

    options.check_choice(fmt, ("table", "csv", "json"), "--format")
    store = Store(db, create=False)
    _require_sweep(store, sweep_id)
    if telemetry:
        if not trial_id:
            raise UserError("--telemetry needs --trial ID (see edgebench results for trial ids)")
        return _print_telemetry(trial_telemetry(store, trial_id), fmt)
    frame = results_frame(store, sweep_id)
    if trial_id:
        frame = frame[frame["trial_id"] == trial_id]
        if frame.empty:
            raise UserError("no trial %r in %s" % (trial_id, store.engine.url))
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", indent=1) + "\n")
    else:
        _print_results_table(frame)
        if trial_id:
            _print_trial_details(frame.iloc[0], trial_conditions(store, trial_id))


def _require_sweep(store, sweep_id: Optional[str]) -> None:
    if sweep_id and store.sweep(sweep_id) is None:
        raise UserError("no sweep %r in %s" % (sweep_id, store.engine.url))


def _print_telemetry(series: dict, fmt: str) -> None:
    import pandas as pd

    from .store.queries import telemetry_rows

    rows = telemetry_rows(series)
    if fmt == "json":
        payload = {k: v for k, v in series.items() if k != "power"}
        payload["samples"] = rows
        sys.stdout.write(json.dumps(payload, indent=1, default=str) + "\n")
        return
    if not rows:
        _say(
            "trial %s has no power samples (sensor: %s)"
            % (series["trial_id"], series["sensor"] or "none found")
        )
        return
    sys.stdout.write(pd.DataFrame(rows, columns=["t_s", "power_mw", "phase"]).to_csv(index=False))
    _say(
        "trial %s: %d samples from %s every %s ms%s"
        % (
            series["trial_id"],
            len(rows),
            series["sensor"],
            series["interval_ms"],
            " (SIMULATED)" if series["simulated"] else "",
        )
    )


def _print_results_table(frame) -> None:
    import pandas as pd

    from .store.runs import cell_key

    # "2/5": the run and how many runs its cell has (the most the store shows of it).
    keys = [cell_key(r) for r in frame.to_dict("records")]
    most: dict = {}
    for key, run, runs in zip(keys, frame["run"], frame["runs"]):
        most[key] = max([most.get(key, 0)] + [int(v) for v in (run, runs) if not pd.isna(v)])
    run_of = ["–" if pd.isna(run) else "%d/%d" % (run, most[key]) for key, run in zip(keys, frame["run"])]
    shown = [
        "trial_id",
        "sweep_id",
        "device",
        "model",
        "backend",
        "precision",
        "batch",
        "run",
        "status",
        "iterations",
        "latency_p50_ms",
        "latency_p99_ms",
        "throughput_ips",
        "peak_rss_mb",
    ]
    table = Table()
    for column in shown + ["doubts"]:
        table.add_column(
            column,
            justify="right"
            if column
            not in ("trial_id", "sweep_id", "device", "model", "backend", "precision", "status", "doubts")
            else "left",
        )
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = [run_of[i] if c == "run" else _cell(row[c]) for c in shown]
        table.add_row(*cells, ", ".join(_doubts(row)) or "–")
    out.print(table)


def _doubts(row) -> list:
    """What makes a trial's numbers doubtful, in words (the tables mark the same with footnotes):
    its own, and its cell's runs disagreeing."""
    from .report.doubt import truth
    from .store.runs import runs_disagree

    found = ["simulated"] if truth(row["simulated"]) else []
    found += ["emulated (its latencies say nothing about the board)"] if truth(row["emulated"]) else []
    found += ["latency unstable"] if truth(row["unstable"]) else []
    spread = row["runs_spread"]
    if runs_disagree(spread):
        found.append("runs disagree (their medians' std is %.1f%% of their median)" % (100 * spread))
    if truth(row["busy"]):
        why = row["busy_reason"]
        found.append("device busy" + (" (%s)" % why if isinstance(why, str) and why.strip() else ""))
    found += ["energy unreliable"] if truth(row["energy_reliable"]) is False else []
    if truth(row["outputs_match"]) is False:
        found.append(
            "outputs differ from ONNX Runtime on the host (max abs error %.3g)" % row["output_max_abs_error"]
        )
    return found + (["throttled"] if truth(row["throttled"]) else [])


def _output_check_text(row) -> str:
    """The seeded input's outputs against ONNX Runtime fp32 on the host, in words."""
    import pandas as pd

    from .report.doubt import truth

    verdict = {True: "match", False: "DIFFER", None: "not compared"}[truth(row["outputs_match"])]
    text = "outputs vs ONNX Runtime fp32 on the host: %s" % verdict
    if not pd.isna(row["output_max_abs_error"]):
        text += "; max abs error %.3g, max error relative to the output's scale %s" % (
            row["output_max_abs_error"],
            _cell(row["output_max_rel_error"]),
        )
    note = row["output_check_note"]
    return text + (" (%s)" % note if isinstance(note, str) and note else "")


def _print_trial_details(row, conditions: dict) -> None:
    """`results --trial ID`: the doubts with their reasons, and the conditions it ran under."""
    import pandas as pd

    from .report.doubt import truth

    def line(text):
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    runs = 0 if pd.isna(row["runs"]) else int(row["runs"])
    if runs:
        line(
            "cell: latency p50 %s ms (median of the run medians, %d run%s); 95%% t interval between "
            "runs [%s, %s]; spread %s"
            % (
                _cell(row["latency_p50_runs_ms"]),
                runs,
                "" if runs == 1 else "s",
                _cell(row["latency_p50_runs_ci95_low_ms"]),
                _cell(row["latency_p50_runs_ci95_high_ms"]),
                "–" if pd.isna(row["runs_spread"]) else "%.1f%% (std / median)" % (100 * row["runs_spread"]),
            )
        )
        unstable = {True: "UNSTABLE", False: "no", None: "unknown"}[truth(row["runs_unstable"])]
        reason = row["unstable_reason"] if isinstance(row["unstable_reason"], str) else ""
        line("cell unstable: %s%s" % (unstable, " (%s)" % reason if reason else ""))
    else:
        line("cell: no successful run")
    line(
        "this run: latency p50 %s ms, 95%% interval of its median [%s, %s] (its own samples)"
        % (
            _cell(row["latency_p50_ms"]),
            _cell(row["latency_p50_ci95_low_ms"]),
            _cell(row["latency_p50_ci95_high_ms"]),
        )
    )
    busy = {True: "BUSY", False: "no", None: "unknown"}[truth(row["busy"])]
    line(
        "this run's load: other processes %s CPU cores, load average %s -> %s; device busy: %s%s"
        % (
            _cell(row["other_cpu_cores"]),
            _cell(row["loadavg_before"]),
            _cell(row["loadavg_after"]),
            busy,
            " (%s)" % row["busy_reason"] if isinstance(row["busy_reason"], str) else "",
        )
    )
    reliable = truth(row["energy_reliable"])
    if reliable is not None:
        line(
            "energy: %s (%s power samples, largest gap %s ms, coverage %s)"
            % (
                "reliable" if reliable else "UNRELIABLE",
                _cell(row["power_samples"]),
                _cell(row["power_max_gap_ms"]),
                _cell(row["power_coverage"]),
            )
        )
    throttled = {True: "THROTTLED", False: "no", None: "unknown"}[truth(row["throttled"])]
    line(
        "throttled: %s%s"
        % (throttled, " (%s)" % row["throttle_reason"] if isinstance(row["throttle_reason"], str) else "")
    )
    line(_output_check_text(row))
    if not pd.isna(row["accuracy_n"]):
        line(
            "accuracy: %s on %s samples, 95%% Wilson interval [%s, %s]"
            % (
                _cell(row["accuracy"]),
                row["accuracy_n"],
                _cell(row["accuracy_ci95_low"]),
                _cell(row["accuracy_ci95_high"]),
            )
        )
    line(
        "conditions requested: %s" % (json.dumps(conditions["requested"]) if conditions["requested"] else "–")
    )
    line(
        "conditions applied: %s"
        % (json.dumps(conditions["applied"], default=str) if conditions["applied"] else "–")
    )


def _cell(value) -> str:
    import pandas as pd

    if value is None or pd.isna(value):
        return "–"
    return "%.4g" % value if isinstance(value, float) else str(value)


@app.command()
def report(
    table: str = typer.Option(
        "device",
        "--table",
        "-t",
        help="device (Table 2 shape), model (Table 3 shape) or scenario (stream, server, offline cells).",
    ),
    fmt: str = typer.Option("markdown", "--format", "-f", help="markdown, latex, csv or html."),
    out_file: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Write to this file instead of stdout."
    ),
    sweep_id: Optional[str] = typer.Option(None, "--sweep", help="Only this sweep (default: all)."),
    model: Optional[str] = typer.Option(None, "--model", help="Device table: only this model."),
    device: Optional[str] = typer.Option(None, "--device", help="Model table: only this device."),
    html_dir: Optional[Path] = typer.Option(
        None,
        "--html",
        help="Write a static page to this folder instead: DIR/index.html with both tables, the figures "
        "and each row's provenance (replaces an earlier report there; --sweep applies).",
    ),
    db: Optional[str] = DbOpt,
):
    """Paper-style tables: each cell from the runs of the latest sweep that measured it; with
    --html DIR, one static page holding both tables, the figures and each row's provenance."""
    from .report.scenarios import CAPTION as SCENARIO_CAPTION
    from .report.scenarios import scenario_table
    from .report.tables import device_table, model_table, render
    from .store import Store, results_frame

    options.check_choice(table, ("device", "model", "scenario"), "--table")
    options.check_choice(fmt, ("markdown", "latex", "csv", "html"), "--format")
    if html_dir is not None and out_file is not None:
        raise UserError("--html writes a folder, --out one table: give one of them")
    store = Store(db, create=False)
    _require_sweep(store, sweep_id)
    if html_dir is not None:
        from .report.html import write_html_report

        written = write_html_report(store, html_dir, sweep_id)
        _say("wrote %s (%d figures, %d not drawn)" % (written.page, written.figures, written.skipped))
        return
    frame = results_frame(store, sweep_id)
    if table == "scenario":
        text = render(scenario_table(frame), fmt, caption=SCENARIO_CAPTION)
    else:
        shaped = device_table(frame, model=model) if table == "device" else model_table(frame, device=device)
        text = render(shaped, fmt)
    if out_file is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    _say("wrote %s" % options.write_atomically(out_file, text))


plot_app = typer.Typer(no_args_is_help=True, help="Plots of stored trials.")
app.add_typer(plot_app, name="plot")


@plot_app.command("power")
def plot_power_command(
    trial_id: str = typer.Option(..., "--trial", help="Trial id (see edgebench results)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="Image file to write (.png, .svg, .pdf)."),
    db: Optional[str] = DbOpt,
):
    """Power over time during a trial, the timed window shaded, the idle baseline dashed."""
    from .report.plots import doubts_of, plot_power
    from .store import Store
    from .store.queries import trial_telemetry

    series = trial_telemetry(Store(db, create=False), trial_id)
    origin_free = [(t, mw) for t, mw in series["power"]]
    path = plot_power(
        origin_free,
        out_file,
        window=tuple(series["window"]) if series["window"] else None,
        idle_mw=series["idle_power_mw"],
        title="trial %s on %s" % (trial_id, series["device"]),
        sensor=series["sensor"] or "",
        simulated=bool(series["simulated"]),
        doubts=doubts_of(series),
    )
    _say("wrote %s" % path)


# `edgebench plot KIND`: the paper's figures (report/figures.py), one command per kind.
FIGURE_HELP = {
    "tradeoff": "Latency (median of runs, 95% interval) vs top-1 accuracy, with each device's Pareto front.",
    "radar": "Throughput, latency, power, size and accuracy per model, each axis relative to the best.",
    "platform": "Inference time and power per device, grouped bars per model.",
    "confusion": "Confusion matrix of the predictions made on the device (the latest trial of a model).",
    "latency": "Latency distribution per device and model, from the raw samples.",
    "batch": "Latency per call and per sample, and throughput, against the batch size.",
}


def _figure_params(kind: str) -> list:
    param = options.Param
    found = [
        param(
            "sweep_id", Optional[str], typer.Option(None, "--sweep", help="Only this sweep (default: all).")
        ),
        param("device", Optional[str], typer.Option(None, "--device", "-d", help="Only this device.")),
        param(
            "model", Optional[str], typer.Option(None, "--model", "-m", help="Only this model (its name).")
        ),
    ]
    if kind != "batch":
        help_text = "Only cells at this batch size (default: the smallest)."
        if kind in ("confusion", "latency"):
            help_text = "Only cells at this batch size."
        found.append(param("batch", Optional[int], typer.Option(None, "--batch", help=help_text)))
    if kind == "confusion":
        found.append(
            param("trial", Optional[str], typer.Option(None, "--trial", help="This trial's predictions."))
        )
    out_help = "Image file to write, .png, .svg or .pdf (default: results/figures/%s.png)." % kind
    return found + [
        param("out_file", Optional[Path], typer.Option(None, "--out", "-o", help=out_help)),
        param("db", Optional[str], DbOpt),
    ]


def _figure_command(kind: str):
    def command(given: dict = None):
        _draw_figure(kind, **given)

    command.__doc__ = FIGURE_HELP[kind]
    return options.shared(_figure_params(kind), into="given")(command)


def _draw_figure(kind: str, sweep_id=None, out_file=None, db=None, **figure_options) -> None:
    from .report.figures import draw
    from .store import Store

    store = Store(db, create=False)
    _require_sweep(store, sweep_id)
    if figure_options.get("batch") is not None:
        options.check_batches([figure_options["batch"]])
    made = []  # the default folder's parts that this command creates
    if out_file is None:
        out_file = Path("results", "figures", "%s.png" % kind)
        made = [p for p in reversed(out_file.parents) if p != Path(".") and not p.exists()]
        out_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        path = draw(kind, store, out_file, sweep_id, **figure_options)
    except UserError:
        for folder in reversed(made):  # nothing drawn: no empty folder left behind
            if not any(folder.iterdir()):
                folder.rmdir()
        raise
    _say("wrote %s" % path)


for _kind in FIGURE_HELP:
    plot_app.command(_kind)(_figure_command(_kind))


telemetry_app = typer.Typer(
    no_args_is_help=True, help="Recorded device outputs (tegrastats logs, perf stat, vcgencmd, trtexec)."
)
app.add_typer(telemetry_app, name="telemetry")


@telemetry_app.command("parse")
def telemetry_parse(
    file: Path = typer.Argument(..., help="A recorded output, e.g. a tegrastats --logfile."),
    kind: str = typer.Option(..., "--kind", help="tegrastats, perf-stat, vcgencmd or trtexec."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or json."),
):
    """One record per sample (trtexec: its version, throughput and summary statistics, in ms);
    lines that cannot be read are listed on stderr with their number."""
    from .telemetry_files import error_lines, parse_file, render

    options.check_choice(fmt, ("csv", "json"), "--format")
    parsed = parse_file(kind, file)
    sys.stdout.write(render(parsed, fmt))
    problems = error_lines(file, parsed)
    for line in problems:
        _say(line)
    if problems:
        raise typer.Exit(1)


models_app = typer.Typer(no_args_is_help=True, help="The paper's model pipeline and the model cards.")
app.add_typer(models_app, name="models")


@models_app.command("build")
def models_build(
    recipe: str = typer.Option(
        "demo",
        "--recipe",
        help="demo (minutes on a laptop), paper (Table 1 settings) or early-exit (a student with two "
        "early exits as separate ONNX pieces and a manifest, in OUT/DATASET_early_exit/).",
    ),
    dataset: str = typer.Option("digits", "--dataset", help="digits (bundled), cifar10 or tinyimagenet."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder (cifar10, tinyimagenet)."),
    out_dir: Path = typer.Option(
        Path("models"), "--out", help="Folder for the ONNX files, cards and eval sets."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same models."),
):
    """Teacher, distilled student, pruned student and two int8 variants, each with a card and an eval set
    (--recipe early-exit: a student with exit heads, exported as pieces with a manifest)."""
    options.check_choice(recipe, ("demo", "paper", "early-exit"), "--recipe")
    options.check_choice(dataset, ("digits", "cifar10", "tinyimagenet"), "--dataset")
    if dataset != "digits" and data is None:
        raise UserError("--dataset %s needs --data PATH (the dataset's folder)" % dataset)
    try:
        from edgebench.pipeline.build import build_models
    except ImportError as exc:
        raise UserError(
            "the model pipeline needs the train extra (%s): pip install torch==2.13.0 && "
            "pip install -e '.[train]'" % exc
        ) from None
    from edgebench.pipeline.datasets import DatasetError

    try:
        written = build_models(recipe=recipe, dataset=dataset, data=data, out=out_dir, seed=seed)
    except DatasetError as exc:
        raise UserError(str(exc)) from None
    for path in written:
        out.print("wrote %s" % path, highlight=False)


@models_app.command("list")
def models_list(folder: Path = typer.Argument(Path("models"), help="Folder of .onnx models.")):
    """The model cards in FOLDER: parameters, size, precision, dataset, host accuracy, eval set."""
    table = Table(title="models in %s" % folder)
    for column in (
        "model",
        "params (M)",
        "size (MB)",
        "precision",
        "opset",
        "dataset",
        "host accuracy (%)",
        "eval set",
    ):
        table.add_column(column)
    for info in find_models(folder):
        meta = info.metadata
        accuracy = meta.get("edgebench.host_accuracy")
        table.add_row(
            info.name,
            "%.3f" % (info.params / 1e6),
            "%.2f" % (info.size_bytes / 2**20),
            info.precision,
            str(info.opset),
            meta.get("edgebench.dataset", "–"),
            "%.1f" % (float(accuracy) * 100) if accuracy else "–",
            info.eval_set.name if info.eval_set else "–",
        )
    out.print(table)


testfleet_app = typer.Typer(
    no_args_is_help=True, help="Simulated devices for trying the fleet features: real sshd on this host."
)
app.add_typer(testfleet_app, name="testfleet")
FleetDirOpt = typer.Option(
    Path("testfleet"), "--dir", help="Folder holding the fleet's keys, inventory and state."
)


@testfleet_app.command("start")
def testfleet_start(
    count: int = typer.Argument(3, help="Number of devices."),
    directory: Path = FleetDirOpt,
    netns: bool = typer.Option(
        False, "--netns", help="One network namespace per device (root): links can be cut."
    ),
    board: List[str] = typer.Option(
        [], "--board", help="Simulated board for the next device: jetson-nano or rpi4 (repeatable)."
    ),
    emulate: List[str] = typer.Option(
        [],
        "--emulate",
        help="Emulate the next device after the boards: rpi4, an aarch64 python under qemu-user running "
        "tvm and null; its latencies say nothing about a Pi (repeatable; the first builds an aarch64 "
        "sysroot: ~130 MB to fetch).",
    ),
):
    """Start COUNT simulated devices and write an inventory for them."""
    from . import testfleet

    devices_ = testfleet.start(
        directory, options.check_positive(count, "COUNT"), netns=netns, boards=board, emulate=emulate
    )
    for d in devices_:
        kind = (
            ", simulated %s" % d.board
            if d.board
            else ", emulated %s (aarch64 under qemu-user)" % d.emulated
            if d.emulated
            else ""
        )
        out.print(
            "%s: sshd pid %d on %s:%d%s" % (d.name, d.pid, d.host, d.port, kind),
            highlight=False,
            soft_wrap=True,
        )
    root = directory.resolve()
    out.print(
        "use it with:\n  export EDGEBENCH_INVENTORY=%s/inventory.yaml EDGEBENCH_KNOWN_HOSTS=%s/known_hosts\n"
        "  edgebench sweep models/ --group fleet --quick\nstop it with: edgebench testfleet stop --dir %s"
        % (root, root, directory),
        highlight=False,
        soft_wrap=True,
    )
    emulated = [d.name for d in devices_ if d.emulated]
    if emulated:
        out.print(
            "emulated devices run tvm and null, e.g.:\n  edgebench sweep models/examples/dws_cnn.onnx --device %s "
            "--backend tvm --quick" % emulated[0],
            highlight=False,
            soft_wrap=True,
        )


@testfleet_app.command("stop")
def testfleet_stop(directory: Path = FleetDirOpt):
    """Stop the simulated devices started in DIR (exactly those, by PID)."""
    from . import testfleet

    out.print("stopped %d device(s)" % testfleet.stop(directory))


@testfleet_app.command("link")
def testfleet_link(
    device: str = typer.Argument(..., help="Simulated device name, e.g. sim01."),
    state: str = typer.Argument(..., help="up or down."),
    directory: Path = FleetDirOpt,
):
    """Cut (down) or restore (up) a namespaced simulated device's network link."""
    from . import testfleet

    options.check_choice(state, ("up", "down"), "STATE")
    by_name = {d.name: d for d in testfleet.load(directory)}
    if device not in by_name:
        raise UserError("no simulated device %r in %s (have: %s)" % (device, directory, ", ".join(by_name)))
    testfleet.set_link(by_name[device], state == "up")


# Paragraphs one string each: rich keeps a docstring's line breaks in --help.
COMPARE_HELP = "\n\n".join(
    [
        "Which cells got slower or faster from A to B; exit status 1 when any got slower.",
        "Per cell: B/A of the median latency (the median of the runs' medians) with a 95% bootstrap "
        "interval that resamples the runs, then the samples within each. Slower: the interval lies "
        "above 1 and B/A is at least 1 + threshold; faster: below 1 and at most 1 - threshold.",
        "Two sweeps: edgebench compare previous latest, or two sweep ids. Two devices or backends in "
        "one sweep: edgebench compare device=pi1 device=pi2 --sweep ID, or backend=onnxruntime "
        "backend=tvm. Cells match on model, precision, batch and scenario, and on device and backend "
        "unless those are compared (backends: not on precision either).",
        "A cell with one run on either side is listed, not judged; runs that kept no raw samples "
        "(the null backend) are compared on their medians.",
    ]
)


@app.command(help=COMPARE_HELP)
def compare(
    a: str = typer.Argument(
        ..., metavar="A", help="The baseline: a sweep id, latest or previous; or device=NAME or backend=NAME."
    ),
    b: str = typer.Argument(..., metavar="B", help="Compared with A, named the same way."),
    sweep_id: Optional[str] = typer.Option(
        None, "--sweep", help="With device=/backend= sides: the sweep they are in (default: latest)."
    ),
    threshold: float = typer.Option(
        5.0, "--threshold", help="Percent: smaller changes are 'same' even when significant."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table, markdown, csv or json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (same store, same seed: same output)."),
    resamples: int = typer.Option(2000, "--resamples", help="Bootstrap resamples per cell."),
    db: Optional[str] = DbOpt,
):
    from .report import compare as comparing
    from .store import Store

    options.check_choice(fmt, comparing.FORMATS, "--format")
    comparing.check_options(threshold, resamples)
    options.check_seed(seed)
    store = Store(db, create=False)
    frame = comparing.compare_cells(
        store, a, b, threshold / 100.0, sweep=sweep_id, resamples=resamples, seed=seed
    )
    if fmt == "table":
        _print_comparison_table(frame)
    elif fmt == "markdown":
        sys.stdout.write(comparing.render_markdown(frame))
    elif fmt == "csv":
        sys.stdout.write(comparing.render_csv(frame))
        _say(comparing.summary(frame))  # stdout stays a CSV file
    else:
        sys.stdout.write(comparing.render_json(frame))
    if (frame["verdict"] == comparing.SLOWER).any():
        raise typer.Exit(1)


def _print_comparison_table(frame) -> None:
    from rich.markup import escape

    from .report import compare as comparing

    headers, rows = comparing.display_rows(frame)
    table = Table(title=comparing.heading(frame), title_justify="left")
    for header in headers:
        table.add_column(header, justify="right" if header in comparing.NUMERIC_HEADERS else "left")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    out.print(comparing.summary(frame), markup=False, highlight=False)


# `edgebench db`: the store's schema revision (orchestrator/store/migrations).
db_app = typer.Typer(no_args_is_help=True, help="The results store's schema: its revision, and upgrading it.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(db: Optional[str] = DbOpt):
    """Upgrade the store's schema in place to this edgebench's revision (every row kept)."""
    from .store import db as store_db

    where = store_db.store_where(db)
    change = store_db.upgrade_store(db)
    head = store_db.migrations.HEAD
    if change.created:
        _print_plain("%s: made the store's tables at schema revision %s" % (where, head))
    elif change.before.current and change.before.recorded:
        _print_plain("%s: schema revision %s, the newest this edgebench knows: nothing to do" % (where, head))
    else:
        done = "" if change.applied else ": recorded it"
        _print_plain("%s: schema revision %s -> %s%s" % (where, change.before.describe(), head, done))
        for revision, what in change.applied:
            _print_plain("  %s  %s" % (revision, what))


@db_app.command("status")
def db_status(db: Optional[str] = DbOpt):
    """Show the store's schema revision beside this edgebench's, and what an upgrade would change."""
    from .store import db as store_db

    where = store_db.store_where(db)
    state = store_db.read_schema_state(db)
    head = store_db.migrations.HEAD
    _print_plain("%s: schema revision %s; this edgebench: %s" % (where, state.describe(), head))
    if state.newer:
        _print_plain("newer than this edgebench knows: use a newer edgebench with it")
    elif state.older:
        from .store.migrations.apply import changes, config

        for revision, what in changes(config(), state.revision):
            _print_plain("  %s  %s" % (revision, what))
        _print_plain("to upgrade it: edgebench db upgrade --db %s" % store_db.db_option(where))


def _print_plain(line: str) -> None:
    out.print(line, markup=False, highlight=False, soft_wrap=True)


def _log_path() -> Path:
    from .agent_build import cache_dir

    return cache_dir() / "edgebench.log"


def _report_unexpected(exc: Exception) -> None:
    """Unexpected errors: a short hint on screen, the traceback in a log."""
    log = _log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(traceback.format_exc() + "\n")
    # A database error's text holds the SQL statement and its parameters: those go to the log.
    shown = getattr(exc, "orig", None) or exc
    reason = (str(shown).strip().splitlines() or [""])[0]
    _say("edgebench: unexpected error: %s: %s (traceback in %s)" % (type(shown).__name__, reason, log))


def _say(line: str) -> None:
    err.print(line, markup=False, highlight=False, soft_wrap=True)


def guarded(command):
    """User mistakes become one line on stderr and exit status 2; device failures exit 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            _say("edgebench: error: %s" % exc)
            raise typer.Exit(exc.exit_code)
        except DeviceError as exc:
            _say("edgebench: device error: %s" % exc)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            _say("edgebench: interrupted; a sweep goes on where it stopped with: edgebench sweep --resume")
            raise typer.Exit(130)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            _report_unexpected(exc)
            raise typer.Exit(1)

    return wrapper


for _command in (
    app.registered_commands
    + testfleet_app.registered_commands
    + plot_app.registered_commands
    + telemetry_app.registered_commands
    + models_app.registered_commands
    + db_app.registered_commands
):
    _command.callback = guarded(_command.callback)


def main() -> None:
    """Every user mistake is one line on stderr and exit status 2: typer's usage errors too
    (a value of the wrong type, an unknown option), which typer shows as a usage box."""
    try:
        status = app(prog_name="edgebench", standalone_mode=False)
    except usage.UsageError as exc:
        if usage.wants_help(exc):
            exc.show()
        else:
            _say("edgebench: error: %s" % usage.usage_line(exc))
        sys.exit(2)
    except typer.Abort:  # end of input at a prompt
        _say("edgebench: aborted")
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
