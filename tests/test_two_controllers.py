"""Two controllers sweeping into one PostgreSQL store at the same time, as two people in a lab
would from their own machines: real `edgebench sweep` processes (each with its own cache) on
real `local`-connection devices, first on different devices, then both on the same one while a
third controller's trial holds it (both say who holds it and wait, --on-busy wait, the default;
then its lock takes them in turns). Every run of every cell is stored once,
ok, with its metrics and raw samples: nothing lost, nothing doubled; `results` and `report` read
the shared store back, and the password in its URL is never printed."""

import io
import os
import re
import subprocess
import sys
import threading
from collections import Counter

import pandas as pd
import pytest
from sqlalchemy import select

from edgebench.agent.lock import DeviceLock
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.store.schema import LatencySamples, Metrics, Sweep, Trial

from .conftest import MODELS, THREAD_ENV, wait_for

RUNS = 2
PASSWORD = "lab-secret-0042"
DEVICES = ("bench-a", "bench-b")
SWEEP_DONE = re.compile(r"sweep ([0-9a-f]+): (\d+) run\(s\) ok, 0 failed, 0 not run")
GUARD_S = 600  # a guard against a hang, not a time limit
CAROL = {
    "host": "lab-pc",
    "user": "carol",
    "pid": 4242,
    "sweep": "c4r01",
    "trial": "c1",
    "deadline_s": 3600.0,
}


@pytest.fixture
def lab(tmp_path, pg_url):
    """Two local devices with workdirs of their own, and the shared store's URL (with a
    password, which the server ignores: it trusts 127.0.0.1)."""
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "version: 1\ndevices:\n"
        + "".join(
            "  %s:\n    connection: local\n    workdir: %s\n    backends: [onnxruntime, null]\n"
            % (name, tmp_path / name)
            for name in DEVICES
        )
    )
    return tmp_path, inventory, pg_url.replace("edgebench@", "edgebench:%s@" % PASSWORD)


class Controller:
    """`edgebench ARGS` as one person's controller: its own folder and cache, the shared store;
    what it prints is read as it comes (`said`)."""

    def __init__(self, lab, name: str, *args):
        root, inventory, url = lab
        home = root / name
        home.mkdir(exist_ok=True)
        env = dict(
            os.environ,
            EDGEBENCH_INVENTORY=str(inventory),
            EDGEBENCH_DB=url,
            XDG_CACHE_HOME=str(home / "cache"),
            COLUMNS="200",
            **THREAD_ENV,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out, self.err = [], []
        self._readers = [self._reader(self.proc.stdout, self.out), self._reader(self.proc.stderr, self.err)]

    @staticmethod
    def _reader(stream, lines: list) -> threading.Thread:
        thread = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
        thread.start()
        return thread

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.err))

    def ended(self) -> tuple:
        """(exit status, stdout, stderr) once it has ended."""
        self.proc.wait(timeout=GUARD_S)
        for reader in self._readers:
            reader.join(GUARD_S)
        return self.proc.returncode, "".join(self.out), "".join(self.err)


def sweep_on(lab, name: str, device: str) -> Controller:
    return Controller(lab, name, "sweep", MODELS, "--device", device, "--quick", "--repeats", RUNS)


def finished(controller: Controller) -> str:
    """The sweep's id, once its process ended well having run every run."""
    code, out, err = controller.ended()
    assert code == 0, "controller failed (%d): %s" % (code, err[-3000:])
    assert PASSWORD not in out + err
    done = SWEEP_DONE.search(err)
    assert done, "no summary line in: %s" % err[-3000:]
    return done.group(1)


def stored(url: str, query) -> list:
    store = Store(url, create=False)
    try:
        with store.Session() as s:
            return s.execute(query).all()
    finally:
        store.close()


def stored_runs(url: str, sweep_ids) -> dict:
    """{sweep id: Counter of (device, model, backend, batch, run)} of its ok trials, after
    checking that every sweep finished ok and every trial is ok with its metrics and samples."""
    sweeps = dict(stored(url, select(Sweep.id, Sweep.status)))
    trials = stored(
        url,
        select(Trial.id, Trial.sweep_id, Trial.device, Trial.model_sha256, Trial.backend)
        .add_columns(Trial.batch, Trial.run, Trial.status, Metrics.iterations, LatencySamples.count)
        .outerjoin(Metrics, Metrics.trial_id == Trial.id)
        .outerjoin(LatencySamples, LatencySamples.trial_id == Trial.id),
    )
    assert sweeps == {sweep_id: "ok" for sweep_id in sweep_ids}
    runs = {sweep_id: Counter() for sweep_id in sweep_ids}
    for trial_id, sweep_id, device, model, backend, batch, run, status, iterations, samples in trials:
        assert status == "ok" and iterations and samples == iterations, trial_id
        runs[sweep_id][(device, model, backend, batch, run)] += 1
    return runs


def expected_runs(device: str) -> Counter:
    from edgebench.orchestrator.modelinfo import sha256_of

    models = [sha256_of(path) for path in sorted(MODELS.glob("*.onnx"))]
    return Counter((device, model, "onnxruntime", 1, run) for model in models for run in range(1, RUNS + 1))


def read_back(lab, sweep_ids) -> None:
    """`results` and `report` of the shared store, as a third person would read it."""
    code, out, err = Controller(lab, "carol", "results", "--format", "csv").ended()
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert set(frame["sweep_id"]) == set(sweep_ids) and set(frame["status"]) == {"ok"}
    assert frame["runs"].eq(RUNS).all()
    code, out, err = Controller(lab, "carol", "report", "--table", "device").ended()
    assert code == 0, err
    assert all(device in out for device in DEVICES) and PASSWORD not in out + err


def test_two_controllers_on_different_devices_then_on_the_same_device(lab):
    _, _, url = lab
    # (a) Alice on bench-a, Bob on bench-b, at once: the devices and models they share in the
    # store are added by both.
    alice, bob = sweep_on(lab, "alice", "bench-a"), sweep_on(lab, "bob", "bench-b")
    first = {finished(alice): "bench-a", finished(bob): "bench-b"}
    assert len(first) == 2  # two sweep ids
    runs = stored_runs(url, first)
    for sweep_id, device in first.items():
        assert runs[sweep_id] == expected_runs(device)  # each run of each cell exactly once
    read_back(lab, first)

    # (b) Both on bench-a while Carol's trial holds it: both say so and wait, then the device's
    # lock takes their trials in turns.
    carol = DeviceLock(str(lab[0] / "bench-a"), holder=CAROL).acquire()
    alice = bob = None
    try:
        alice, bob = sweep_on(lab, "alice", "bench-a"), sweep_on(lab, "bob", "bench-a")
        busy = "bench-a: busy with sweep c4r01 from carol@lab-pc (pid 4242)"
        wait_for(lambda: alice.said(busy) and bob.said(busy), what="both controllers to find bench-a busy")
        assert alice.proc.poll() is None and bob.proc.poll() is None  # waiting, not given up
    except BaseException:
        for started in (alice, bob):  # ours, by PID
            if started is not None and started.proc.poll() is None:
                started.proc.kill()
        raise
    finally:
        carol.__exit__()
    second = {finished(alice): "bench-a", finished(bob): "bench-a"}
    assert len(second) == 2 and not set(second) & set(first)
    runs = stored_runs(url, {**first, **second})
    for sweep_id, device in {**first, **second}.items():
        assert runs[sweep_id] == expected_runs(device)
