"""Each user mistake: one line on stderr naming what is wrong, exit status 2, no row written."""

import pytest

from .conftest import MODELS

DWS = MODELS / "dws_cnn.onnx"


def assert_user_error(proc, *needles):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edgebench: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def ws(workspace):
    yield workspace
    # Every case below fails before the store is opened: nothing is written.
    assert not workspace.db_file.exists()


def test_missing_inventory_file(ws):
    proc = ws.edgebench("sweep", MODELS, "--quick", "--inventory", ws.path / "nope.yaml")
    assert_user_error(proc, "nope.yaml", "not found")


def test_malformed_yaml(ws):
    bad = ws.path / "bad.yaml"
    bad.write_text("devices:\n  local:\n    connection: local\n    groups: [a, b\n")
    proc = ws.edgebench("run", "--model", DWS, "--quick", "--inventory", bad)
    assert_user_error(proc, "bad.yaml:", "malformed YAML")


def test_unknown_field(ws):
    bad = ws.path / "typo.yaml"
    bad.write_text("devices:\n  local:\n    connection: local\n    workdri: /tmp/x\n")
    proc = ws.edgebench("sweep", MODELS, "--quick", "--inventory", bad)
    assert_user_error(proc, "typo.yaml:4", "workdri", "workdir")


def test_unknown_device_suggests_close_name(ws):
    proc = ws.edgebench("run", "--device", "locl", "--model", DWS, "--quick")
    assert_user_error(proc, "unknown device 'locl'", "local")


def test_model_path_does_not_exist(ws):
    proc = ws.edgebench("run", "--model", ws.path / "missing.onnx", "--quick")
    assert_user_error(proc, "model not found", "missing.onnx")


def test_model_folder_does_not_exist(ws):
    proc = ws.edgebench("sweep", ws.path / "no-models", "--quick")
    assert_user_error(proc, "no-models")


def test_file_that_is_not_onnx(ws):
    fake = ws.path / "fake.onnx"
    fake.write_text("this is not a model\n")
    proc = ws.edgebench("run", "--model", fake, "--quick")
    assert_user_error(proc, "fake.onnx", "not a valid ONNX model")


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--model", DWS, "--batch", "0"),
        ("sweep", MODELS, "--batch", "1,0"),
    ],
)
def test_batch_zero(ws, args):
    proc = ws.edgebench(*args, "--quick")
    assert_user_error(proc, "--batch", "0")


def test_backend_the_device_does_not_list(ws):
    proc = ws.edgebench("sweep", MODELS, "--backend", "tensorrt", "--quick")
    assert_user_error(proc, "tensorrt", "local")


def test_bad_shape_option(ws):
    proc = ws.edgebench("run", "--model", DWS, "--shape", "input=1x3xAx32", "--quick")
    assert_user_error(proc, "--shape")


@pytest.mark.parametrize(
    "shape, needle",
    [
        ("input=1x3x32", "4 dimensions"),
        ("input=2x3x32x32", "batch"),
        ("image=1x3x32x32", "inputs are: input"),
    ],
)
def test_shapes_the_model_cannot_take(ws, shape, needle):
    proc = ws.edgebench("sweep", MODELS, "--shape", shape, "--quick")
    assert_user_error(proc, "--shape" if "batch" in needle or "inputs" in needle else "dimensions", needle)


def test_python_that_does_not_exist_on_the_device(workspace):
    bad = workspace.path / "nopython.yaml"
    bad.write_text(
        "devices:\n  local:\n    connection: local\n    python: /nonexistent/python3\n"
        "    workdir: %s\n" % (workspace.path / "dev")
    )
    proc = workspace.edgebench("sweep", MODELS, "--quick", "--inventory", bad)
    # Not a usage mistake but an unusable device: its cells fail with the reason, and are stored.
    assert proc.returncode == 1 and "/nonexistent/python3" in proc.stderr
    csv_text = workspace.edgebench("results", "--format", "csv", check=True).stdout
    assert csv_text.count(",failed,") == 2 and "device unreachable" in csv_text


def test_models_build_with_a_wrong_dataset_path(ws):
    pytest.importorskip("torch")
    proc = ws.edgebench(
        "models", "build", "--dataset", "cifar10", "--data", ws.path / "no-cifar", "--out", ws.path / "m"
    )
    assert_user_error(proc, "no-cifar")
    assert not (ws.path / "m").exists()


@pytest.mark.parametrize("command", [("run", "--backend", "null"), ("sweep", MODELS)])
@pytest.mark.parametrize(
    "bad, needle",
    [
        (("--cooldown-c", "nan"), "--cooldown-c"),
        (("--cooldown-c", "inf"), "--cooldown-c"),
        (("--cooldown-c", "-5"), "--cooldown-c"),
        (("--cooldown-c", "0"), "--cooldown-c"),
        (("--cooldown-c", "60", "--cooldown-timeout", "-1"), "--cooldown-timeout"),
        (("--cooldown-c", "60", "--cooldown-timeout", "nan"), "--cooldown-timeout"),
        (("--cooldown-timeout", "30"), "only with --cooldown-c"),
        (("--nvpmodel", "0"), "only with --pin-clocks"),
        (("--pin-clocks", "--nvpmodel", "-1"), "--nvpmodel"),
    ],
)
def test_bad_controlled_conditions(ws, command, bad, needle):
    proc = ws.edgebench(*command, *bad, "--quick")
    assert_user_error(proc, needle)


def test_resume_refuses_new_conditions(ws):
    proc = ws.edgebench("sweep", "--resume", "--pin-clocks")
    assert_user_error(proc, "--resume", "conditions")


def test_telemetry_power_typo(ws):
    bad = ws.path / "inventory.yaml"
    bad.write_text("devices:\n  local:\n    connection: local\n    telemetry: {power: ina219i2c}\n")
    proc = ws.edgebench("sweep", MODELS, "--quick", "--inventory", bad)
    assert_user_error(
        proc, "inventory.yaml:4", "telemetry.power", "ina219i2c", "ina219_i2c", "ina3221x_iio, ", "none"
    )
