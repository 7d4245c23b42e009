"""One declaration per backend (orchestrator/backends.py): deploy, job building, ingest and the
command line read from it, and a new backend needs nothing else on the host."""

import hashlib
from pathlib import Path

import pytest

from edgebench.orchestrator.errors import UserError
import typer

from edgebench.agent.backends import REGISTRY
from edgebench.orchestrator import backends, cli
from edgebench.orchestrator.deploy import artifacts_for, model_relpath
from edgebench.orchestrator.fleet import deploy_devices
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import ModelInfo, sha256_of
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.store.schema import Trial
from edgebench.orchestrator.sweep import Cell, Settings, make_job, plan
from edgebench.orchestrator.transport.fake import FakeFleet


@pytest.fixture
def model(tmp_path) -> ModelInfo:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"a model")
    return ModelInfo(
        path=path,
        name="m",
        sha256=sha256_of(path),
        size_bytes=7,
        params=1,
        precision="int8",
        inputs=(("input", ("N", 4)),),
        opset=17,
    )


def device(*names) -> Device:
    return Device(name="dev", connection="ssh", host="fake", python="python3", workdir="/w", backends=names)


def test_every_agent_backend_is_declared_on_the_host():
    assert set(backends.BACKENDS) == set(REGISTRY)


def test_the_job_carries_each_backends_own_options_only(model):
    settings = Settings(backend_options=backends.parse_options({"threads": 3, "providers": "A,B"}))
    ort = make_job("t", Cell(device("onnxruntime"), model, "onnxruntime", 1), "/w/m.onnx", settings)
    null = make_job("t", Cell(device("null"), None, "null", 1), None, settings)
    assert ort["backend_options"] == {"intra_op_threads": 3, "providers": ["A", "B"], "provider_options": {}}
    assert null["backend_options"] == {}


def test_tensorrts_precision_is_the_option_the_device_builds_with(model, tmp_path):
    assert backends.precision_of("tensorrt", model) == "fp32"  # the default build, not the file's int8
    chosen = backends.parse_options({"trt_precision": "fp16"})
    assert backends.precision_of("tensorrt", model, chosen) == "fp16"
    settings = Settings(backend_options=chosen)
    job = make_job("t", Cell(device("tensorrt"), model, "tensorrt", 1), "/w/m.onnx", settings)
    assert job["backend_options"] == {"precision": "fp16", "workspace_mib": 256, "builder": "api"}
    store = Store("sqlite:///%s" % (tmp_path / "r.db"))
    store.upsert_device(device("tensorrt"))
    store.upsert_model(model)
    store.create_trial(
        store.create_sweep({}), Cell(device("tensorrt"), model, "tensorrt", 1), settings.as_dict()
    )
    with store.Session() as s:
        assert [t.precision for t in s.query(Trial)] == ["fp16"]
    store.close()
    with pytest.raises(UserError, match="--trt-precision: 'int4' is not one of fp32, fp16, int8"):
        backends.parse_options({"trt_precision": "int4"})


def test_precision_comes_from_the_declaration(model, tmp_path):
    assert backends.precision_of("onnxruntime", model) == "int8"  # the ONNX file's own
    assert backends.precision_of("null", None) is None
    store = Store("sqlite:///%s" % (tmp_path / "r.db"))
    sweep_id = store.create_sweep({})
    store.upsert_device(device("onnxruntime", "null"))
    store.upsert_model(model)
    for cell in (Cell(device("onnxruntime"), model, "onnxruntime", 1), Cell(device("null"), None, "null", 1)):
        store.create_trial(sweep_id, cell, {})
    with store.Session() as s:
        stored = sorted((t.backend, t.precision or "-") for t in s.query(Trial))
    assert stored == [("null", "-"), ("onnxruntime", "int8")]
    store.close()


def test_stored_settings_keep_their_shape_and_resume_restores_them():
    settings = Settings(backend_options=backends.parse_options({"threads": 2, "providers": ""}))
    stored = settings.as_dict()
    assert stored["threads"] == 2 and stored["providers"] == [] and "backend_options" not in stored
    assert Settings.from_dict(stored) == settings
    assert Settings.from_dict({"quick": True}).backend_options == backends.option_defaults()  # an older sweep


def test_unknown_backend_is_a_user_error_naming_the_known_ones():
    from edgebench.orchestrator.errors import UserError

    with pytest.raises(UserError, match="knows: null, onnxruntime, tensorrt, tvm"):
        plan([device("openvino")], [], ["openvino"], [1])


def _flags(command) -> list:
    click_command = typer.main.get_command(cli.app).commands[command]
    return [opt for p in click_command.params if p.param_type_name == "option" for opt in p.opts]


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_run_and_sweep_list_every_shared_option_once(command):
    flags = _flags(command)
    shared = [o.flag for o in backends.all_options()] + [
        "--shape",
        "--quick",
        "--perf",
        "--no-accuracy",
        "--repeats",
        "--seed",
        "--min-iters",
        "--min-seconds",
        "--warmup",
        "--cooldown-c",
        "--cooldown-timeout",
        "--pin-clocks",
        "--nvpmodel",
    ]
    assert all(flags.count(flag) == 1 for flag in shared), flags
    assert len(flags) == len(set(flags))


def test_a_new_backend_is_one_declaration(monkeypatch, model, tmp_path):
    """A backend with an option, an artifact of its own and a compile step: planning, the job
    and deploy pick it up from its declaration alone."""
    compiled = []

    def compile_step(info, options, target, out: Path) -> None:
        out.write_bytes(b"engine for %s at %d MB" % (info.sha256.encode(), options["workspace_mb"]))
        compiled.append(options)

    def digest(info):
        return hashlib.sha256(("%s/fp16" % info.sha256).encode()).hexdigest()

    workspace = backends.Option(
        "workspace_mb", "--workspace-mb", int, 256, "Builder workspace.", "workspace", parse=int
    )
    engine = backends.Backend(
        name="engine",
        summary="a compiled runtime",
        artifact=backends.Artifact("a compiled engine", ".plan", digest),
        precisions=("fp16",),
        precision=lambda info: "fp16",
        options=(workspace,),
        compile=compile_step,
    )
    monkeypatch.setitem(backends.BACKENDS, "engine", engine)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dev = device("engine", "onnxruntime")
    cells = plan([dev], [model], ["engine"], [1])
    settings = Settings(backend_options=backends.parse_options({"workspace_mb": 512}))
    job = make_job("t", cells[0], "/w/x.plan", settings)
    assert job["backend_options"] == {"workspace": 512}
    assert backends.precision_of("engine", model) == "fp16"
    assert model_relpath(model, "engine") == "models/%s.plan" % digest(model)
    assert artifacts_for([model], dev.backends) == [(model, "engine"), (model, "onnxruntime")]
    fleet = FakeFleet()
    fleet.add("dev")
    (result,) = deploy_devices([dev], [model], connect=fleet.connect)
    assert result.ok, result.error
    sent = [path for path, _ in result.value.sent]
    assert model_relpath(model, "engine") in sent and model_relpath(model) in sent
    assert compiled == [{"workspace_mb": 256}]  # the declared default: deploy has no options
    (again,) = deploy_devices([dev], [model], connect=fleet.connect)
    assert again.value.sent == [] and len(compiled) == 1  # compiled once, sent once
