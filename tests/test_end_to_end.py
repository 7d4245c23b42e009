"""The spine as a user runs it: sweep the shipped models on `local`, read results and tables."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgebench.orchestrator.store import RESULT_COLUMNS

from .conftest import MODELS, trial_started, wait_for


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_sweep_stores_one_trial_per_cell_and_prints_model_table(workspace):
    proc = workspace.edgebench("sweep", MODELS, "--batch", "1,2", "--threads", "1", "--quick", check=True)
    # The table printed at the end: one row per model, measured latencies.
    table_rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "_cnn" in line]
    assert sorted(row.split("|")[1].strip() for row in table_rows) == ["baseline_cnn"] * 2 + ["dws_cnn"] * 2

    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert len(rows) == 4
    assert list(rows[0].keys())[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
    for row in rows:
        assert row["status"] == "ok"
        assert row["device"] == "local" and row["backend"] == "onnxruntime" and row["precision"] == "fp32"
        assert float(row["latency_p50_ms"]) > 0
        assert float(row["latency_p50_ms"]) <= float(row["latency_p99_ms"])
        assert int(row["iterations"]) >= 20
        assert float(row["peak_rss_mb"]) > 10
        assert float(row["model_size_mb"]) > 0.5
        # No sensor here: unknown, never zero.
        assert row["power_mw"] == "" and row["energy_mj"] == "" and row["accuracy"] == ""
        # The seeded input's outputs, checked against ONNX Runtime fp32 on the host.
        assert row["outputs_match"] == "True" and float(row["output_max_abs_error"]) < 1e-4
    by_model = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(float(row["latency_p50_ms"]))
    assert min(by_model["baseline_cnn"]) > max(by_model["dws_cnn"])  # 7x the MACs


def test_results_json_and_report_formats(workspace):
    workspace.edgebench("sweep", MODELS / "dws_cnn.onnx", "--quick", check=True)
    records = json.loads(workspace.edgebench("results", "--format", "json", check=True).stdout)
    assert len(records) == 1 and records[0]["model"] == "dws_cnn" and records[0]["power_mw"] is None

    device_md = workspace.edgebench("report", "--table", "device", check=True).stdout
    assert "Latency (ms)" in device_md and "Power (mW)" in device_md and "| local" in device_md
    assert "–" in device_md  # power not measured

    latex = workspace.edgebench("report", "--table", "model", "--format", "latex", check=True).stdout
    assert "\\toprule" in latex and "dws\\_cnn" in latex

    out = workspace.path / "table3.csv"
    workspace.edgebench("report", "--table", "model", "--format", "csv", "--out", out, check=True)
    assert out.read_text().splitlines()[0].startswith("Model,")


def test_run_null_backend_measures_harness_overhead(workspace):
    workspace.edgebench("run", "--backend", "null", "--quick", check=True)
    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert len(rows) == 1 and rows[0]["backend"] == "null" and rows[0]["model"] == "(none)"
    # A clock pair and an empty call: well under 50 microseconds even on a slow board.
    assert 0 < float(rows[0]["latency_p50_ms"]) < 0.05


def test_failed_trial_is_stored_with_its_reason_and_sweep_goes_on(workspace):
    # The device refuses the provider: each trial fails there, with the device's reason.
    proc = workspace.edgebench("sweep", MODELS, "--providers", "NoSuchProvider", "--quick")
    assert proc.returncode == 1
    assert "failed" in proc.stderr and "NoSuchProvider" in proc.stderr
    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert [r["status"] for r in rows] == ["failed", "failed"]  # both models attempted
    assert all("NoSuchProvider" in r["error"] for r in rows)


def test_results_for_unknown_sweep_is_a_user_error(workspace):
    workspace.edgebench("run", "--backend", "null", "--quick", check=True)
    proc = workspace.edgebench("results", "--sweep", "nope")
    assert proc.returncode == 2 and "no sweep 'nope'" in proc.stderr


def test_results_without_database_is_a_user_error(workspace):
    proc = workspace.edgebench("results")
    assert proc.returncode == 2 and "no results database" in proc.stderr
    assert not workspace.db_file.exists()


def test_devices_lists_the_inventory(workspace):
    proc = workspace.edgebench("devices", check=True)
    assert "local" in proc.stdout and "onnxruntime" in proc.stdout


def test_probe_reports_facts_and_absent_runtimes_as_not_found(workspace):
    facts = json.loads(workspace.edgebench("probe", "--json", check=True).stdout)
    assert facts["cpus"] >= 1 and facts["python"] and facts["arch"]
    assert facts["runtimes"]["onnxruntime"]["version"]
    assert facts["runtimes"]["tensorrt"] is None  # absent: null, not a made-up version
    table = workspace.edgebench("probe", check=True).stdout
    assert "tensorrt: – (not found)" in " ".join(table.replace("│", " ").split())


def test_threads_and_providers_are_recorded_and_an_unknown_provider_fails_the_trial(workspace):
    from edgebench.orchestrator.store import Store
    from edgebench.orchestrator.store.schema import Trial

    workspace.edgebench(
        "run",
        "--model",
        MODELS / "dws_cnn.onnx",
        "--threads",
        "1",
        "--providers",
        "CPUExecutionProvider",
        "--quick",
        check=True,
    )
    proc = workspace.edgebench(
        "run", "--model", MODELS / "dws_cnn.onnx", "--providers", "NoSuchProvider", "--quick"
    )
    assert proc.returncode == 1 and "NoSuchProvider" in proc.stderr
    store = Store(workspace.db_url)
    with store.Session() as s:
        ok, failed = s.query(Trial).order_by(Trial.created_at).all()
    assert ok.env["providers"] == ["CPUExecutionProvider"] and ok.env["intra_op_threads"] == 1
    assert ok.settings["device_facts"]["cpus"] >= 1  # provenance stored with the trial
    assert failed.status == "failed" and "NoSuchProvider" in failed.error


def test_provider_options_are_strings_sent_to_the_runtime_and_read_back(workspace):
    from edgebench.orchestrator.store import Store
    from edgebench.orchestrator.store.schema import Trial

    asked = "CPUExecutionProvider.arena_extend_strategy=kSameAsRequested"
    workspace.edgebench(
        "run", "--model", MODELS / "dws_cnn.onnx", "--provider-options", asked, "--quick", check=True
    )
    # An option for a provider that is not used would be ignored in silence: the trial says so.
    stray = workspace.edgebench(
        "run",
        "--model",
        MODELS / "dws_cnn.onnx",
        "--provider-options",
        "CUDAExecutionProvider.device_id=0",
        "--quick",
    )
    assert stray.returncode == 1 and "CUDAExecutionProvider, which is not among the providers" in stray.stderr
    malformed = workspace.edgebench(
        "run", "--model", MODELS / "dws_cnn.onnx", "--provider-options", "device_id=0"
    )
    assert malformed.returncode == 2
    assert "--provider-options: 'device_id=0' is not PROVIDER.KEY=VALUE" in malformed.stderr
    store = Store(workspace.db_url)
    with store.Session() as s:
        ok = s.query(Trial).order_by(Trial.created_at).first()
    assert ok.settings["provider_options"] == {
        "CPUExecutionProvider": {"arena_extend_strategy": "kSameAsRequested"}
    }
    # What the session reports it uses (the CPU provider reports no options of its own).
    assert ok.env["provider_options"] == {"CPUExecutionProvider": {}}


def _descendants(pid):
    """PIDs under `pid` (this test's own controller), from /proc."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def start_run_with_one_retry(workspace):
    """`edgebench run` of a 3 s trial with one retry, in the background, for a test to disturb."""
    argv = [
        "run",
        "--model",
        str(MODELS / "dws_cnn.onnx"),
        "--min-seconds",
        "3",
        "--repeats",
        "1",
        "--warmup",
        "3",
        "--retries",
        "1",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *argv],
        cwd=workspace.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_trial_whose_process_dies_is_retried(workspace):
    controller = start_run_with_one_retry(workspace)
    deadline = time.monotonic() + 60
    victim = None
    while (
        victim is None and time.monotonic() < deadline
    ):  # the trial process: `... run -` under our controller
        for pid in _descendants(controller.pid):
            try:
                if Path("/proc/%d/cmdline" % pid).read_bytes().endswith(b"\0run\0-\0"):
                    victim = pid
            except OSError:
                pass
        time.sleep(0.05)
    assert victim is not None, "no trial process appeared"
    # Killed mid-trial, not before it has read its job.
    wait_for(lambda: trial_started(workspace.path / "device"), what="the trial to start measuring")
    os.kill(victim, signal.SIGKILL)
    out, err = controller.communicate(timeout=300)  # a guard against a hang, not a time limit
    assert controller.returncode == 0, err
    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert sorted(r["status"] for r in rows) == ["failed", "ok"]
    failed = next(r for r in rows if r["status"] == "failed")
    assert "died" in failed["error"] and "-9" in failed["error"]


def test_fail_fast_stops_at_the_first_failure(workspace):
    proc = workspace.edgebench("sweep", MODELS, "--providers", "NoSuchProvider", "--fail-fast", "--quick")
    assert proc.returncode == 1
    assert "1 failed, 1 not run" in proc.stderr
    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert len(rows) == 1  # the cell after the failure was never started


def test_deploy_to_local_sends_once(workspace):
    first = workspace.edgebench("deploy", "--device", "local", "--model", MODELS / "dws_cnn.onnx", check=True)
    assert "sent models/" in first.stdout and "sent agents/" in first.stdout
    again = workspace.edgebench("deploy", "--device", "local", "--model", MODELS / "dws_cnn.onnx", check=True)
    assert "local: 0 bytes sent, 2 file(s) already there" in again.stdout


def test_probe_local_says_plainly_that_no_power_sensor_was_found_and_tables_show_dashes(workspace):
    probe = workspace.edgebench("probe", check=True)
    assert "local: no power sensor found" in probe.stdout
    workspace.edgebench("run", "--model", MODELS / "dws_cnn.onnx", "--quick", check=True)
    table = workspace.edgebench("report", "--table", "device", check=True).stdout
    row = next(line for line in table.splitlines() if line.startswith("| local"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "–" and cells[4] == "–"  # Power (mW), Energy (mJ/inf): not measured, not 0


def test_telemetry_parse_reports_unreadable_lines_with_their_number(workspace):
    log = workspace.path / "tegra.log"
    log.write_text(
        "RAM 534/3964MB (lfb 98x4MB) SWAP 5/1982MB (cached 1MB) CPU [16%@204,9%@204,0%@204,0%@204] "
        "EMC_FREQ 0%@204 GR3D_FREQ 0%@76 PLL@34C CPU@36.5C POM_5V_IN 1022/1022 POM_5V_GPU 0/0\n"
        "this is not tegrastats\n"
    )
    proc = workspace.edgebench("telemetry", "parse", "--kind", "tegrastats", log, "--format", "json")
    assert proc.returncode == 1 and "tegra.log:2:" in proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1 and rows[0]["power_total_mw"] == 1022 and rows[0]["total_rail"] == "POM_5V_IN"


def test_accuracy_is_computed_on_the_device_from_the_eval_set_sent_with_the_model(workspace):
    import numpy as np
    import onnxruntime as ort
    import shutil as sh

    folder = workspace.path / "with-eval"
    folder.mkdir()
    sh.copy(MODELS / "dws_cnn.onnx", folder)
    rng = np.random.RandomState(1)
    x = rng.standard_normal((60, 3, 32, 32)).astype("float32")
    session = ort.InferenceSession(str(folder / "dws_cnn.onnx"), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {"input": x})[0].argmax(axis=1)
    y = predicted.copy()
    y[:15] = (y[:15] + 1) % 10  # 45 of 60 right: 75 %
    np.savez(folder / "dws_cnn.eval.npz", x=x, y=y.astype("int64"))
    workspace.edgebench("sweep", folder, "--batch", "1,4", "--quick", check=True)
    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert [float(r["accuracy"]) for r in rows] == [0.75, 0.75]
    table = workspace.edgebench("report", "--table", "model", check=True).stdout
    assert "75.0" in table
    workspace.edgebench("run", "--model", folder / "dws_cnn.onnx", "--quick", "--no-accuracy", check=True)
    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert rows[-1]["accuracy"] == ""


def test_agent_killed_mid_trial_its_trial_is_still_ingested_from_the_spool_not_measured_twice(workspace):
    controller = start_run_with_one_retry(workspace)
    deadline = time.monotonic() + 60
    serve = trial = None
    while trial is None and time.monotonic() < deadline:  # our controller's agent and its trial process
        for pid in _descendants(controller.pid):
            try:
                cmdline = Path("/proc/%d/cmdline" % pid).read_bytes()
            except OSError:
                continue
            if cmdline.endswith(b"\0serve\0"):
                serve = pid
            elif cmdline.endswith(b"\0run\0-\0"):
                trial = pid
        time.sleep(0.05)
    assert serve is not None and trial is not None
    # The trial has its job: from now on it measures without the agent.
    wait_for(lambda: trial_started(workspace.path / "device"), what="the trial to start measuring")
    os.kill(serve, signal.SIGKILL)  # the agent dies; the trial process measures on and spools
    out, err = controller.communicate(timeout=300)  # a guard against a hang, not a time limit
    assert controller.returncode == 0, err
    assert "asking the device" in err
    rows = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert [r["status"] for r in rows] == ["ok"]  # one trial: recovered, not re-measured
    assert float(rows[0]["latency_p50_ms"]) > 0


def test_a_stream_prints_its_miss_rate_and_sustained_fps_and_results_carry_them(workspace):
    done = workspace.edgebench(
        "run",
        "--device",
        "local",
        "--model",
        MODELS / "dws_cnn.onnx",
        "--scenario",
        "stream",
        "--fps",
        "15",
        "--quick",
    )
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if line.startswith("| Device"))
    assert "Miss rate (%)" in header and "Sustained fps" in header
    row = next(line for line in done.stdout.splitlines() if "| stream" in line)
    assert "15 fps, drop on overrun" in row
    (trial,) = read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    assert trial["scenario"] == "stream" and trial["status"] == "ok"
    assert 0.0 <= float(trial["deadline_miss_rate"]) <= 1.0
    assert 0 < float(trial["sustained_fps"]) <= 15.0 * 1.05  # frames are released at 15 per second
    assert trial["outputs_match"] == "True"


def test_server_and_offline_store_their_own_figures(workspace):
    model = MODELS / "dws_cnn.onnx"
    server = ["--scenario", "server", "--qps", "50", "--latency-target-ms", "50", "--batching", "timeout"]
    workspace.edgebench("run", "--model", model, *server, "--max-batch", "4", "--quick", check=True)
    workspace.edgebench(
        "run", "--model", model, "--scenario", "offline", "--max-batch", "8", "--quick", check=True
    )
    rows = {
        r["scenario"]: r
        for r in read_csv(workspace.edgebench("results", "--format", "csv", check=True).stdout)
    }
    assert set(rows) == {"server", "offline"}
    assert rows["server"]["policy"] == "timeout" and float(rows["server"]["qps_scheduled"]) > 0
    assert float(rows["server"]["goodput_qps"]) <= float(rows["server"]["qps_completed"])
    assert rows["offline"]["offline_batch"] == "8"  # a dws_cnn batch of 8 fits in memory
    assert rows["server"]["deadline_miss_rate"] == ""  # a stream's figure: null, never 0
