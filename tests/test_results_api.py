"""`edgebench.results`, the notebook entry point: `frame` (the columns of `edgebench results
--format csv`) and `samples` (one row per timed call), read from a store that is never created
or written. The tests taking `db_url` run on SQLite and on PostgreSQL (tests/conftest.py)."""

import hashlib
import io
import re

import numpy as np
import pandas as pd
import pytest

import edgebench.results as results
from edgebench.agent.protocol import make_record
from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.store import Store, results_frame
from edgebench.orchestrator.store.db import StoreError, store_where
from edgebench.orchestrator.store.samples import SAMPLE_COLUMNS, samples_frame
from edgebench.orchestrator.sweep import Cell

from .conftest import MODELS


def stored_sweep(store, device, model, values) -> tuple:
    """A sweep of one ok trial of `model` on `device` whose agent sent `values` as samples."""
    sweep_id = store.create_sweep({"quick": True})
    trial_id = store.create_trial(sweep_id, Cell(device, model, "onnxruntime", 1), {})
    metrics = {"iterations": len(values), "latency_p50_ms": float(np.median(values)), "accuracy": None}
    for record in (
        make_record("trial_start", trial_id=trial_id, agent_version="test"),
        make_record("result", trial_id=trial_id, metrics=metrics, env={}, samples_ms=values),
        make_record("trial_end", trial_id=trial_id, status="ok", agent_s=1.0),
    ):
        store.ingest(record)
    return sweep_id, trial_id


def store_two_sweeps(url: str) -> list:
    """Two sweeps of dws_cnn on `local` stored at `url`: [(sweep id, trial id)]."""
    store = Store(url)
    device, model = Device(name="local", connection="local"), inspect_model(MODELS / "dws_cnn.onnx")
    store.upsert_device(device)
    store.upsert_model(model)
    sweeps = [
        stored_sweep(store, device, model, [0.5, 0.7, 0.6]),
        stored_sweep(store, device, model, [0.9, 1.1]),
    ]
    store.close()
    return sweeps


@pytest.fixture
def two_sweeps(tmp_path):
    """A store file with two sweeps of dws_cnn on `local`; (path, [(sweep id, trial id)])."""
    path = tmp_path / "runs" / "bench.db"
    return path, store_two_sweeps("sqlite:///%s" % path)


@pytest.fixture
def two_sweeps_at(db_url):
    """The same two sweeps in an SQLite file, then in a PostgreSQL database; (url, sweeps)."""
    return db_url, store_two_sweeps(db_url)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_frame_is_the_results_commands_frame(two_sweeps):
    path, _ = two_sweeps
    store = Store("sqlite:///%s" % path, create=False)
    expected = results_frame(store)
    store.close()
    for db in (path, str(path), "sqlite:///%s" % path):
        pd.testing.assert_frame_equal(results.frame(db), expected)


def test_frame_is_the_results_commands_frame_in_any_store(two_sweeps_at):
    url, sweeps = two_sweeps_at
    store = Store(url, create=False)
    expected = results_frame(store)
    store.close()
    pd.testing.assert_frame_equal(results.frame(url), expected)
    assert expected["trial_id"].tolist() == [trial for _, trial in sweeps]
    assert expected["created_at"].dt.tz is None  # naive UTC from either database, as SQLite gives


def test_frame_and_samples_of_one_sweep(two_sweeps_at):
    path, [(first_sweep, first_trial), (second_sweep, second_trial)] = two_sweeps_at
    frame = results.frame(path, sweep=second_sweep)
    assert frame["trial_id"].tolist() == [second_trial] and frame["iterations"].tolist() == [2]
    raw = results.samples(path, sweep=first_sweep)
    assert list(raw.columns) == list(SAMPLE_COLUMNS)
    assert raw["latency_ms"].tolist() == [0.5, 0.7, 0.6] and set(raw["trial_id"]) == {first_trial}
    assert (raw["model"].iloc[0], raw["backend"].iloc[0], raw["batch"].iloc[0]) == (
        "dws_cnn",
        "onnxruntime",
        1,
    )
    assert len(results.samples(path)) == 5


def test_the_default_store_is_the_commands(two_sweeps_at, tmp_path, monkeypatch):
    url, _ = two_sweeps_at
    monkeypatch.setenv("EDGEBENCH_DB", url)
    assert len(results.frame()) == 2
    monkeypatch.delenv("EDGEBENCH_DB")
    monkeypatch.chdir(tmp_path)  # sqlite:///results/edgebench.db, from here: none
    with pytest.raises(
        StoreError, match="no results database at %s" % (tmp_path / "results" / "edgebench.db")
    ):
        results.frame()


def test_reading_writes_nothing(two_sweeps):
    path, _ = two_sweeps
    before = digest(path)
    results.frame(path)
    results.samples(path)
    assert digest(path) == before


def test_a_missing_store_is_an_error_and_is_not_created(tmp_path):
    missing = tmp_path / "nowhere" / "edgebench.db"
    for read in (results.frame, results.samples):
        with pytest.raises(StoreError, match="no results database at %s: run a sweep first" % missing):
            read(missing)
    assert not missing.parent.exists()


def test_an_unknown_sweep_is_named(two_sweeps_at):
    url, _ = two_sweeps_at
    with pytest.raises(UserError, match="no sweep 'nope' in %s" % re.escape(store_where(url))):
        results.samples(url, sweep="nope")


@pytest.mark.integration
def test_a_real_run_reads_back_as_the_command_prints_it(workspace):
    """`edgebench run --quick` on this machine, then the frames against `edgebench results`."""
    workspace.edgebench("run", "--device", "local", "--quick", "--model", MODELS / "dws_cnn.onnx", check=True)
    frame = results.frame()  # EDGEBENCH_DB, as the command
    text = workspace.edgebench("results", "--format", "csv", check=True).stdout
    # Ids are hex: one like 952e804441024162 would otherwise be read as a float (inf).
    printed = pd.read_csv(io.StringIO(text), dtype={"trial_id": str, "sweep_id": str, "model_sha256": str})
    assert list(frame.columns) == list(printed.columns)
    assert frame["trial_id"].tolist() == printed["trial_id"].tolist()
    [trial] = frame.to_dict("records")
    raw = results.samples(workspace.db_file)
    assert len(raw) == trial["iterations"] > 0  # every timed call, as the agent counted them
    assert raw["iteration"].tolist() == list(range(trial["iterations"]))
    assert np.percentile(raw["latency_ms"], 50) == pytest.approx(trial["latency_p50_ms"], rel=1e-9)
    store = Store(workspace.db_url, create=False)
    pd.testing.assert_frame_equal(raw, samples_frame(store))
    store.close()
