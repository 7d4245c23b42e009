"""The compile seam without compiling: named targets, the compile key that names an artifact,
the host's cache, the inventory's `target:` and the refusals. No TVM needed (the TVM compile
itself: test_compile_tvm.py)."""

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.orchestrator import backends, testfleet
from edgebench.orchestrator.compile import cache, targets, tvm_build
from edgebench.orchestrator.deploy import model_relpath
from edgebench.orchestrator.errors import InventoryError, UserError
from edgebench.orchestrator.fleet import deploy_devices
from edgebench.orchestrator.inventory import Device, load_inventory
from edgebench.orchestrator.modelinfo import ModelInfo, sha256_of
from edgebench.orchestrator.sweep import plan


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
        precision="fp32",
        inputs=(("input", ("batch", 3, 32, 32)),),
        opset=17,
    )


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_a_tvm_library_is_named_by_a_compile_key_that_holds_the_target(model):
    native, rpi4 = (model_relpath(model, "tvm", t) for t in ("native", "rpi4"))
    assert re.fullmatch(r"models/[0-9a-f]{64}\.so", native) and re.fullmatch(r"models/[0-9a-f]{64}\.so", rpi4)
    assert native != rpi4
    assert model_relpath(model, "tvm", "rpi4") == rpi4  # the same inputs, the same name
    # ONNX Runtime's artifact is the model file itself, named by its sha256 as before.
    assert model_relpath(model, "onnxruntime", "rpi4") == "models/%s.onnx" % model.sha256


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "0" * 64},
        {"precision": "fp16"},
        {"inputs": (("input", ("batch", 3, 64, 64)),)},
        {"inputs": (("image", ("batch", 3, 32, 32)),)},
    ],
)
def test_the_key_changes_with_what_the_model_brings(model, change):
    from dataclasses import replace

    artifact = backends.get("tvm").artifact
    assert artifact.key(replace(model, **change), "rpi4") != artifact.key(model, "rpi4")


def test_the_key_changes_with_the_compiler_version(model, monkeypatch):
    artifact = backends.get("tvm").artifact
    before = artifact.key(model, "rpi4")
    monkeypatch.setattr(tvm_build, "package_version", lambda name: "0.99.0")
    assert artifact.key(model, "rpi4") != before
    assert artifact.fields(model, "rpi4")["compiler"] == {"name": "apache-tvm", "version": "0.99.0"}


def test_the_key_is_a_hash_of_canonical_json():
    assert cache.compile_key({"a": 1, "b": [1, 2]}) == cache.compile_key({"b": [1, 2], "a": 1})
    assert cache.compile_key({"a": 1}) != cache.compile_key({"a": 2})


def test_the_key_is_computed_without_importing_tvm(tmp_path):
    """TVM takes seconds to import: naming an artifact must not."""
    program = (
        "import sys; from pathlib import Path; from edgebench.orchestrator.deploy import model_relpath; "
        "from edgebench.orchestrator.modelinfo import inspect_model; "
        "m = inspect_model(Path(sys.argv[1])); print(model_relpath(m, 'tvm', 'rpi4')); "
        "assert 'tvm' not in sys.modules, 'tvm was imported'"
    )
    model = Path(__file__).resolve().parent.parent / "models" / "examples" / "dws_cnn.onnx"
    done = subprocess.run([sys.executable, "-c", program, str(model)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(".so")


def test_targets_declare_their_machine():
    assert targets.get("rpi4").spec == {
        "kind": "llvm",
        "mtriple": "aarch64-linux-gnu",
        "mcpu": "cortex-a72",
        "mattr": ["+neon"],
        "num-cores": 4,
    }
    assert targets.get("rpi4").e_machine == targets.get("jetson-nano").e_machine == 183
    assert targets.get("x86_64").e_machine == 62
    assert targets.get("rpi4").linker("x86_64") == "aarch64-linux-gnu-g++"
    assert targets.get("rpi4").linker("aarch64") is None  # on an Arm host: its own g++
    with pytest.raises(UserError, match="unknown compile target 'pi4'.*rpi4"):
        targets.get("pi4")


def test_elf_machine_reads_the_header(tmp_path):
    elf = tmp_path / "lib.so"
    elf.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 11 + (183).to_bytes(2, "little") + b"\0" * 40)
    assert targets.elf_machine(elf) == 183
    (tmp_path / "text").write_text("not an ELF file at all")
    assert targets.elf_machine(tmp_path / "text") is None


# -- the cache ----------------------------------------------------------------------------------


def counting_backend(calls: list, fail: bool = False) -> backends.Backend:
    def key_fields(info, target, options):
        return {"model_sha256": info.sha256, "target": target, "options": {}}

    def compile_step(info, options, target, out: Path) -> None:
        calls.append(target)
        out.write_bytes(b"compiled %s for %s" % (info.sha256.encode(), target.encode()))
        if fail:
            raise UserError("the compiler gave up")

    return backends.Backend(
        name="counted",
        summary="a compiled backend that counts its compiles",
        artifact=backends.Artifact("a library", ".so", key_fields=key_fields),
        precisions=("fp32",),
        precision=lambda info: "fp32",
        compile=compile_step,
    )


def test_a_cache_hit_compiles_nothing_and_a_new_target_compiles_again(model):
    calls = []
    declared = counting_backend(calls)
    first = cache.compiled(declared, model, None, "rpi4")
    again = cache.compiled(declared, model, None, "rpi4")
    assert (first.cached, again.cached, calls) == (False, True, ["rpi4"])
    assert first.path == again.path and first.key == again.key and first.seconds is not None
    assert again.seconds is None  # nothing was compiled this time: no duration to give
    sidecar = json.loads(Path(first.path).with_suffix(".json").read_text())
    assert sidecar["fields"] == {"model_sha256": model.sha256, "target": "rpi4", "options": {}}
    assert sidecar["key"] == first.key == cache.compile_key(sidecar["fields"])
    other = cache.compiled(declared, model, None, "native")
    assert (other.cached, other.key != first.key, calls) == (False, True, ["rpi4", "native"])


def test_a_failed_compile_leaves_nothing_under_the_key(model):
    calls = []
    with pytest.raises(UserError, match="gave up"):
        cache.compiled(counting_backend(calls, fail=True), model, None, "rpi4")
    folder = cache.backend_folder("counted")
    assert [p.name for p in folder.iterdir() if p.name != ".lock"] == []  # no library, no part file
    assert cache.compiled(counting_backend(calls), model, None, "rpi4").cached is False


def test_compiles_are_announced(model):
    heard = []
    cache.compiled(counting_backend([]), model, None, "rpi4", note=heard.append)
    cache.compiled(counting_backend([]), model, None, "rpi4", note=heard.append)
    assert len(heard) == 1 and "compiling m" in heard[0]


# -- the inventory's target and the refusals -----------------------------------------------------


def load(tmp_path, devices: str):
    path = tmp_path / "inventory.yaml"
    path.write_text("version: 1\ndevices:\n" + devices)
    return load_inventory(path)


def test_a_devices_target_defaults_from_its_platform_or_connection(tmp_path):
    inventory = load(
        tmp_path,
        "  here: {connection: local}\n"
        "  pi: {connection: ssh, host: pi.lan, platform: rpi4}\n"
        "  nano: {connection: ssh, host: nano.lan, platform: jetson-nano}\n"
        "  box: {connection: ssh, host: box.lan}\n"
        "  arm: {connection: ssh, host: arm.lan, target: aarch64}\n",
    )
    found = {name: device.target for name, device in inventory.devices.items()}
    assert found == {"here": "native", "pi": "rpi4", "nano": "jetson-nano", "box": None, "arm": "aarch64"}


def test_an_unknown_target_names_the_line_and_the_choices(tmp_path):
    with pytest.raises(
        InventoryError, match=r"inventory.yaml:5: device 'pi': field 'target' must be one of .*rpi4"
    ):
        load(tmp_path, "  pi:\n    connection: ssh\n    target: pi4\n    host: pi.lan\n")


def test_a_tvm_cell_on_a_device_without_a_target_is_refused_naming_where_to_set_it(tmp_path, model):
    box = load(tmp_path, "  box:\n    connection: ssh\n    host: box.lan\n    backends: [tvm]\n").device(
        "box"
    )
    with pytest.raises(UserError) as refused:
        plan([box], [model], ["tvm"], [1])
    message = str(refused.value)
    assert "device 'box'" in message and "inventory.yaml:3" in message and "`target:`" in message
    assert "\n" not in message


def test_deploy_refuses_before_connecting(tmp_path, model):
    box = Device(name="box", connection="ssh", host="box.lan", backends=("tvm",), source="inv.yaml:7")

    def connect(device, accept_new=False):
        raise AssertionError("deploy connected to %s before refusing" % device.name)

    with pytest.raises(UserError, match=r"device 'box'.*`target:`.*inv.yaml:7"):
        deploy_devices([box], [model], connect=connect)


def test_test_fleet_devices_compile_for_this_host(tmp_path):
    device = testfleet.SimDevice("sim01", "127.0.0.1", 2222, 1, str(tmp_path / "sim01"), board="rpi4")
    entry = testfleet._inventory_text(tmp_path, [device], sys.executable).split("  sim01:\n")[1]
    assert "    target: native\n" in entry  # a simulated Pi board still runs on this CPU


# -- what the compile step needs on the host ----------------------------------------------------


def test_without_tvm_the_compile_step_says_how_to_install_it(model, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tvm", None)  # `import tvm` raises ImportError
    with pytest.raises(UserError, match=r"needs TVM on this host.*pip install -e '\.\[tvm\]'"):
        tvm_build.compile_model(model, {}, "native", tmp_path / "out.so")


@pytest.mark.skipif(
    targets.normalized_arch(platform.machine()) == "aarch64", reason="rpi4 needs no cross compiler here"
)
def test_without_the_cross_compiler_the_compile_step_names_the_package(model, monkeypatch, tmp_path):
    monkeypatch.setattr(tvm_build.shutil, "which", lambda program: None)
    with pytest.raises(UserError, match=r"aarch64-linux-gnu-g\+\+.*apt-get install g\+\+-aarch64-linux-gnu"):
        tvm_build.compile_model(model, {}, "rpi4", tmp_path / "o.so")
