"""TVM for real: `edgebench compile` cross-compiles for a Pi (an aarch64 library, from the
cache the second time), TVM's outputs match ONNX Runtime's for every shipped model, deploy
sends the library named by its compile key, and a sweep on `local` stores ok rows for both
runtimes. Needs the `tvm` extra (and g++-aarch64-linux-gnu for the cross compile); compiles
take seconds, so this module is an integration one (tests/conftest.py)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from edgebench.agent.backends.tvm import Backend as TvmBackend
from edgebench.agent.inputs import make_feed
from edgebench.orchestrator import backends
from edgebench.orchestrator.compile import cache
from edgebench.orchestrator.deploy import model_relpath
from edgebench.orchestrator.fleet import deploy_devices
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import find_models, inspect_model
from edgebench.orchestrator.transport.fake import FakeFleet

from .conftest import MODELS

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None, reason="TVM is not installed")
needs_cross = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-g++") is None, reason="g++-aarch64-linux-gnu is not installed"
)
EM_AARCH64 = 183
DWS_CNN = MODELS / "dws_cnn.onnx"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One compile cache for the module: each model and target is compiled once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cached(shared_cache, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    return shared_cache


def elf_machine(path: Path) -> int:
    header = Path(path).read_bytes()[:20]
    assert header[:4] == b"\x7fELF", "not an ELF file: %s" % path
    return int.from_bytes(header[18:20], "little")


def compile_json(workspace, shared_cache: Path) -> tuple:
    done = workspace.edgebench(
        "compile",
        DWS_CNN,
        "--backend",
        "tvm",
        "--target",
        "rpi4",
        "--json",
        env={"XDG_CACHE_HOME": str(shared_cache)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


@needs_cross
def test_compile_for_a_pi_writes_an_aarch64_library_and_the_second_run_is_a_cache_hit(workspace, tmp_path):
    own_cache = tmp_path / "own-cache"  # empty whatever ran before: the first run must compile
    (first,), said = compile_json(workspace, own_cache)
    assert first["model"] == "dws_cnn" and first["backend"] == "tvm" and first["target"] == "rpi4"
    assert first["cached"] is False and first["seconds"] > 0 and "compiling dws_cnn" in said
    library = Path(first["path"])
    assert library.name == first["key"] + ".so"
    assert elf_machine(library) == EM_AARCH64
    built = library.stat().st_mtime_ns

    (second,), said = compile_json(workspace, own_cache)
    assert second["cached"] is True and second["seconds"] is None and "compiling" not in said
    assert second["path"] == first["path"] and second["key"] == first["key"]
    assert library.stat().st_mtime_ns == built  # not written again: no compile ran


@needs_cross
def test_compile_out_copies_the_library_under_a_readable_name(workspace, shared_cache, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = workspace.edgebench(
        "compile", DWS_CNN, "--target", "rpi4", "--out", out, env={"XDG_CACHE_HOME": str(shared_cache)}
    )
    assert done.returncode == 0, done.stderr
    assert elf_machine(out / "dws_cnn.tvm.rpi4.so") == EM_AARCH64
    assert "dws_cnn: tvm for rpi4" in done.stdout


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.onnx")), ids=lambda p: p.stem)
def test_tvm_outputs_match_onnx_runtime(cached, path):
    """The same seeded input through the native TVM library and through ONNX Runtime (fp32
    tolerance), at two batch sizes: one library serves every batch."""
    import numpy
    import onnxruntime

    info = inspect_model(path)
    library = cache.compiled(backends.get("tvm"), info, None, "native").path
    tvm = TvmBackend()
    tvm.load(library, {})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [name for name, _, _ in tvm.inputs()] == [i.name for i in session.get_inputs()]
    for batch in (1, 3):
        feed = make_feed(tvm.inputs(), batch, {}, seed=7)
        got, expected = tvm.run(feed), session.run(None, feed)
        assert len(got) == len(expected)
        for ours, theirs in zip(got, expected):
            assert ours.shape == theirs.shape
            numpy.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-3)
    assert tvm.info()["runtime"] == "tvm" and tvm.info()["target"] == "native"


@needs_cross
def test_deploy_sends_the_library_named_by_its_key_once(cached):
    (model,) = find_models(DWS_CNN)
    pi = Device(name="pi", connection="ssh", host="fake", backends=("tvm",), target="rpi4")
    fleet = FakeFleet()
    device = fleet.add("pi")
    device.facts = dict(device.facts, runtimes={"tvm": {"version": "0.27.0"}, "numpy": {"version": "2.4"}})
    heard = []
    (result,) = deploy_devices([pi], [model], connect=fleet.connect, note=lambda d, m: heard.append(m))
    assert result.ok, result.error
    relpath = model_relpath(model, "tvm", "rpi4")
    assert relpath in [path for path, _ in result.value.sent]
    (again,) = deploy_devices([pi], [model], connect=fleet.connect, note=lambda d, m: heard.append(m))
    assert again.value.sent == [] and relpath in again.value.skipped
    assert len(heard) <= 1  # compiled at most once (none when an earlier test filled the cache)


def test_a_sweep_on_local_stores_ok_rows_for_onnx_runtime_and_tvm(workspace, shared_cache):
    inventory = workspace.path / "inventory.yaml"
    inventory.write_text(
        "version: 1\ndevices:\n  local:\n    connection: local\n    workdir: %s\n"
        "    backends: [onnxruntime, tvm, null]\n" % (workspace.path / "device")
    )
    env = {"XDG_CACHE_HOME": str(shared_cache)}
    done = workspace.edgebench(
        "sweep", MODELS, "--device", "local", "--backend", "onnxruntime,tvm", "--quick", env=env
    )
    assert done.returncode == 0, done.stderr + done.stdout
    rows = json.loads(workspace.edgebench("results", "--format", "json", check=True).stdout)
    found = sorted((r["model"], r["backend"], r["status"]) for r in rows)
    models = sorted(p.stem for p in MODELS.glob("*.onnx"))
    assert found == sorted((m, b, "ok") for m in models for b in ("onnxruntime", "tvm"))
    assert all(r["latency_p50_ms"] > 0 and r["precision"] == "fp32" for r in rows)
