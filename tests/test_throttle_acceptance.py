"""Issue 8's acceptance, end to end on simulated boards: a Raspberry Pi whose get_throttled
turns from 0x50000 to 0x50005 during a trial, and a Jetson Nano whose CPU clock drops
mid-window (thermal capping lowers its cap). The agent measures (its sampler process sees the change), the host validates and
ingests the records, and the device table marks the row."""

import stat

import pytest

from agent.trial import run_trial
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.records import validate
from edgebench.orchestrator.report import tables
from edgebench.orchestrator.simboards import make_board
from edgebench.orchestrator.store import Store, results_frame
from edgebench.orchestrator.sweep import Cell
from tests.agent import event_backend

from .conftest import MODELS


def pi_firmware_that_turns(root, first, later):
    """vcgencmd answers `first` until run/throttle exists, then `later`; returns the trigger."""
    marker = root / "run" / "throttle"
    program = root / "usr" / "bin" / "vcgencmd"
    program.write_text(
        '#!/bin/sh\ncase "$1" in\n  get_throttled) if [ -e %s ]; then echo throttled=%s; '
        'else echo throttled=%s; fi;;\n  measure_temp) echo "temp=48.8\'C";;\nesac\n' % (marker, later, first)
    )
    program.chmod(stat.S_IRWXU)
    return lambda: (marker.parent.mkdir(exist_ok=True), marker.write_text(""))


def measure_on(root, telemetry, event, monkeypatch):
    """A trial on the simulated board; `event` fires 0.2 s into its 0.6 s timed window."""
    monkeypatch.setenv("EDGEBENCH_SYSROOT", str(root))
    event_backend.install(0.2, event)
    try:
        records = []
        job = {
            "trial_id": "acceptance",
            "backend": "event",
            "quick": True,
            "warmup_iters": 3,
            "warmup_s": 0.0,
            "min_s": 0.6,
            "max_iters": 10**9,
            "keep_samples": False,
            "telemetry": dict(telemetry, state_interval_ms=50, idle_s=0.2),
        }
        assert run_trial(job, records.append) == "ok", records
        return records
    finally:
        event_backend.uninstall()


def ingest(store, device, records):
    dev = Device(name=device, connection="local")
    model = inspect_model(MODELS / "dws_cnn.onnx")  # the row's model; the event backend ran no model
    store.upsert_device(dev)
    store.upsert_model(model)
    trial_id = store.create_trial(store.create_sweep({"quick": True}), Cell(dev, model, "onnxruntime", 1), {})
    for record in records:
        store.ingest(validate(dict(record, trial_id=trial_id)))


@pytest.fixture
def store(tmp_path):
    s = Store("sqlite:///%s" % (tmp_path / "results.db"))
    yield s
    s.close()


def test_a_pi_and_a_jetson_that_throttle_mid_window_are_stored_throttled_and_marked(
    tmp_path, store, monkeypatch
):
    pi = tmp_path / "rpi4"
    pi_settings = make_board("rpi4", pi)
    ingest(
        store,
        "pi01",
        measure_on(pi, pi_settings, pi_firmware_that_turns(pi, "0x50000", "0x50005"), monkeypatch),
    )

    nano = tmp_path / "nano"
    nano_settings = make_board("jetson-nano", nano)
    cpu0 = nano / "sys/devices/system/cpu/cpu0/cpufreq"

    def thermal_capping():  # the kernel lowers cpu0's cap, and its clock follows
        (cpu0 / "scaling_max_freq").write_text("921600\n")
        (cpu0 / "scaling_cur_freq").write_text("921600\n")

    ingest(store, "nano01", measure_on(nano, nano_settings, thermal_capping, monkeypatch))

    calm = tmp_path / "calm"
    ingest(store, "pi02", measure_on(calm, make_board("rpi4", calm), lambda: None, monkeypatch))

    frame = results_frame(store).set_index("device")
    assert frame.loc["pi01", "throttled"] == 1
    assert "under_voltage_now" in frame.loc["pi01", "throttle_reason"]
    assert frame.loc["nano01", "throttled"] == 1
    assert "cpu0 cap 1479 -> 922 MHz" in frame.loc["nano01", "throttle_reason"]
    assert frame.loc["pi02", "throttled"] == 0  # the firmware watched and saw nothing new

    markdown = tables.render(tables.device_table(results_frame(store)), "markdown")
    first_cells = [
        line.strip("|").split("|")[0].strip() for line in markdown.splitlines()[2:] if line.startswith("|")
    ]
    assert sorted(first_cells) == ["nano01 (simulated)§", "pi01 (simulated)§", "pi02 (simulated)"]
    footnote = [line for line in markdown.splitlines() if line.startswith("§")]
    assert footnote and "cpu0 cap 1479 -> 922 MHz" in footnote[0] and "under_voltage_now" in footnote[0]
