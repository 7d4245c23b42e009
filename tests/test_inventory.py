"""Inventory loading, validation messages (file, line, field, suggestion) and device selection."""

import re
import sys
from pathlib import Path

import pytest

from edgebench.orchestrator.errors import InventoryError, UnknownDeviceError
from edgebench.orchestrator.inventory import (
    ENV_VAR,
    PASSWORD_MESSAGE,
    Device,
    load_inventory,
    shipped_inventory_path,
)

FLEET = """\
version: 1
defaults:
  workdir: ~/.edgebench
  user: ubuntu
devices:
  local:
    connection: local
    groups: [dev]
  nano01:
    connection: ssh
    host: 192.0.2.10
    identity_file: ~/.ssh/id_ed25519
    platform: jetson-nano
  nano02:
    connection: ssh
    ssh_alias: nano02
    port: 2222
    platform: jetson-nano
  rpi01:
    connection: ssh
    host: rpi01.lan
    platform: rpi4
    backends: [onnxruntime]
    telemetry: {sensor: ina219}
groups:
  jetsons: [nano01, nano02]
  dev: [rpi01]
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No $EDGEBENCH_INVENTORY and no ./inventory.yaml unless a test sets them."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str, error=InventoryError) -> str:
    path = write(tmp_path, text)
    with pytest.raises(error) as info:
        load_inventory(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def device_yaml(*lines: str) -> str:
    """An inventory whose device 'x' (line 4) has `lines` as fields, from line 5 on."""
    body = "".join(f"    {line}\n" for line in lines)
    return f"version: 1\ndevices:\n  local: {{connection: local}}\n  x:\n{body}"


# -- finding the file -----------------------------------------------------------------------------


def test_shipped_inventory_loads_and_has_local():
    inventory = load_inventory()  # nothing in cwd, no env: the shipped file
    assert inventory.path == shipped_inventory_path()
    local = inventory.device("local")
    assert local.connection == "local"
    assert local.platform == "generic"
    assert local.workdir == "~/.edgebench/local"
    assert local.backends == ("onnxruntime", "null")
    assert local.python == sys.executable
    assert local.local_workdir() == Path.home() / ".edgebench" / "local"
    assert inventory.select(None, None) == [local]
    assert re.search(r"inventory\.yaml:\d+$", local.source)


def test_shipped_examples_are_valid_once_uncommented(tmp_path):
    commented_setting = re.compile(r"^(\s*)# ?(\s*[a-z0-9_]+:.*)$")
    lines = shipped_inventory_path().read_text().splitlines()
    uncommented = "\n".join(commented_setting.sub(r"\1\2", line) for line in lines)
    inventory = load_inventory(write(tmp_path, uncommented))
    assert set(inventory.devices) == {"local", "nano01", "rpi01"}
    assert inventory.device("nano01").platform == "jetson-nano"
    assert inventory.device("rpi01").ssh_alias == "rpi01"
    assert inventory.groups["edge"] == ["nano01", "rpi01"]


def test_falls_back_to_builtin_local_when_no_file(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "edgebench.orchestrator.inventory.shipped_inventory_path", lambda: tmp_path / "absent.yaml"
    )
    inventory = load_inventory()
    assert inventory.path is None
    assert list(inventory.devices) == ["local"]
    assert inventory.device("local").python == sys.executable


def test_inventory_in_current_directory_wins_over_shipped():
    Path("inventory.yaml").write_text(FLEET)
    inventory = load_inventory()
    assert inventory.path == Path.cwd() / "inventory.yaml"
    assert "nano01" in inventory.devices


def test_env_variable_is_honoured(tmp_path, monkeypatch):
    path = write(tmp_path, FLEET, "fleet.yaml")
    Path("inventory.yaml").write_text("version: 1\ndevices:\n  other: {connection: local}\n")
    monkeypatch.setenv(ENV_VAR, str(path))
    inventory = load_inventory()
    assert inventory.path == path
    assert "nano01" in inventory.devices


def test_explicit_path_wins_over_env(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent.yaml"))
    inventory = load_inventory(write(tmp_path, FLEET))
    assert "rpi01" in inventory.devices


def test_missing_explicit_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InventoryError) as info:
        load_inventory(missing)
    assert str(info.value) == f"inventory file not found: {missing} (set --inventory or {ENV_VAR})"


def test_missing_file_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope.yaml"))
    with pytest.raises(InventoryError, match="inventory file not found: .*nope.yaml"):
        load_inventory()


# -- parsing and validation -----------------------------------------------------------------------


def test_full_fleet_parses():
    inventory = load_inventory(write(Path.cwd(), FLEET))
    nano01, nano02, rpi01 = (inventory.device(n) for n in ("nano01", "nano02", "rpi01"))
    assert nano01.host == "192.0.2.10" and nano01.port is None and nano01.user == "ubuntu"
    assert nano01.identity_file == "~/.ssh/id_ed25519"  # kept as written: expanded on the device
    assert nano01.python == "python3"
    assert nano02.ssh_alias == "nano02" and nano02.port == 2222 and nano02.host is None
    assert rpi01.backends == ("onnxruntime",)
    assert rpi01.telemetry == {"sensor": "ina219"}
    assert nano01.source.endswith("inv.yaml:9")
    local = inventory.device("local")
    assert local.user is None  # ssh-only defaults do not apply to the local device
    assert local.workdir == "~/.edgebench"
    assert inventory.groups == {"jetsons": ["nano01", "nano02"], "dev": ["local", "rpi01"]}
    assert rpi01.groups == ("dev",)
    assert nano01.groups == ("jetsons",)


def test_malformed_yaml_reports_line(tmp_path):
    text = "version: 1\ndevices:\n  local:\n    connection: local\n    groups: [dev\n  nano01: {}\n"
    message = error_for(tmp_path, text)
    assert re.match(r".*inv\.yaml:6: malformed YAML: ", message), message


def test_malformed_yaml_bad_indentation(tmp_path):
    text = "version: 1\ndevices:\n  local:\n    connection: local\n   port: 22\n"
    message = error_for(tmp_path, text)
    assert re.match(r".*inv\.yaml:5: malformed YAML: ", message), message


def test_empty_file(tmp_path):
    assert "inv.yaml:1: inventory is empty" in error_for(tmp_path, "# nothing\n")


def test_unknown_field_names_field_line_and_suggestion(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: ssh", "hots: 192.0.2.10"))
    assert message.endswith("inv.yaml:6: device 'x': unknown field 'hots' (did you mean 'host'?)")


def test_unknown_top_level_key(tmp_path):
    message = error_for(tmp_path, "version: 1\ndevics:\n  local: {connection: local}\n")
    assert message.endswith("inv.yaml:2: unknown top-level key 'devics' (did you mean 'devices'?)")


def test_duplicate_field(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: ssh", "host: a", "host: b"))
    assert message.endswith("inv.yaml:7: device 'x': duplicate field 'host' (first at line 6)")


@pytest.mark.parametrize("port", ["abc", "0", "70000", "[22]", "true"])
def test_bad_port(tmp_path, port):
    message = error_for(tmp_path, device_yaml("connection: ssh", "host: h", f"port: {port}"))
    assert "inv.yaml:7: device 'x': field 'port' must be an integer 1-65535, got " in message
    if port == "abc":
        assert message.endswith("got 'abc'")


def test_bad_connection_value(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: sshh", "host: h"))
    assert "inv.yaml:5: device 'x': field 'connection' must be one of local, ssh, got 'sshh'" in message
    assert "did you mean: ssh?" in message


def test_missing_connection(tmp_path):
    message = error_for(tmp_path, device_yaml("host: h"))
    assert "inv.yaml:4: device 'x': missing required field 'connection'" in message


def test_bad_platform(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: local", "platform: jetson"))
    assert "inv.yaml:6: device 'x': field 'platform' must be one of jetson-nano, rpi4, generic" in message


def test_ssh_without_host(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: ssh", "user: ubuntu"))
    assert "inv.yaml:4: device 'x': 'connection: ssh' needs 'host'" in message
    assert "ssh_alias" in message


def test_ssh_field_on_local_device(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: local", "host: h"))
    assert "inv.yaml:6: device 'x': field 'host' only applies to 'connection: ssh'" in message


@pytest.mark.parametrize("key", ["password", "ssh_password", "passwd"])
def test_password_refused(tmp_path, key):
    message = error_for(tmp_path, device_yaml("connection: ssh", "host: h", f"{key}: hunter2"))
    assert message.endswith(f"inv.yaml:7: device 'x': {PASSWORD_MESSAGE}")
    assert "hunter2" not in message


def test_password_refused_in_defaults(tmp_path):
    text = "version: 1\ndefaults:\n  password: x\ndevices:\n  local: {connection: local}\n"
    assert error_for(tmp_path, text).endswith(f"inv.yaml:3: defaults: {PASSWORD_MESSAGE}")


def test_bad_version(tmp_path):
    message = error_for(tmp_path, "version: 2\ndevices:\n  local: {connection: local}\n")
    assert "inv.yaml:1: 'version' must be 1, got '2'" in message


def test_bad_device_name(tmp_path):
    message = error_for(tmp_path, "version: 1\ndevices:\n  -bad: {connection: local}\n")
    assert "inv.yaml:3: invalid device name '-bad'" in message


def test_devices_required_and_non_empty(tmp_path):
    assert "inv.yaml:1: missing required key 'devices'" in error_for(tmp_path, "version: 1\n")
    assert "inv.yaml:2: 'devices' must define at least one device" in error_for(tmp_path, "version: 1\ndevices: {}\n")


def test_groups_must_be_a_list(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: local", "groups: dev"))
    assert "inv.yaml:6: device 'x': field 'groups' must be a list of group names" in message


def test_group_referencing_unknown_device(tmp_path):
    text = FLEET.replace("jetsons: [nano01, nano02]", "jetsons: [nano01,\n    nano03]")
    message = error_for(tmp_path, text)
    assert "inv.yaml:27: group 'jetsons': unknown device 'nano03' (did you mean: " in message
    assert "nano01" in message and "nano02" in message


def test_null_backend_is_a_name_not_yaml_null(tmp_path):
    inventory = load_inventory(write(tmp_path, device_yaml("connection: local", "backends: [null, onnxruntime]")))
    assert inventory.device("x").backends == ("null", "onnxruntime")


# -- looking devices up ---------------------------------------------------------------------------


@pytest.fixture
def fleet(tmp_path):
    return load_inventory(write(tmp_path, FLEET))


def test_unknown_device_suggests_close_name(fleet):
    with pytest.raises(UnknownDeviceError) as info:
        fleet.device("nan01")
    message = str(info.value)
    assert message.startswith(f"unknown device 'nan01' in {fleet.path} (did you mean: nano01")
    assert "known devices: local, nano01, nano02, rpi01" in message


def test_unknown_device_without_close_name_lists_known(fleet):
    with pytest.raises(UnknownDeviceError) as info:
        fleet.select(["zzz"], None)
    assert "did you mean" not in str(info.value)
    assert "known devices: local, nano01, nano02, rpi01" in str(info.value)


def test_unknown_group(fleet):
    with pytest.raises(UnknownDeviceError) as info:
        fleet.select(None, "jetson")
    message = str(info.value)
    assert f"unknown group 'jetson' in {fleet.path}" in message
    assert "did you mean: jetsons" in message
    assert "known groups: jetsons, dev" in message


def test_select(fleet):
    names = lambda devices: [d.name for d in devices]  # noqa: E731
    assert names(fleet.select(None, None)) == ["local"]
    assert names(fleet.select([], None)) == ["local"]
    assert names(fleet.select(["rpi01", "nano01"], None)) == ["rpi01", "nano01"]
    assert names(fleet.select(None, "jetsons")) == ["nano01", "nano02"]
    assert names(fleet.select(["nano02"], "jetsons")) == ["nano02", "nano01"]
    assert names(fleet.select(None, None, all_=True)) == ["local", "nano01", "nano02", "rpi01"]


def test_select_default_without_local(tmp_path):
    inventory = load_inventory(write(tmp_path, "version: 1\ndevices:\n  pi: {connection: ssh, host: h}\n"))
    with pytest.raises(UnknownDeviceError, match="has no 'local' device"):
        inventory.select(None, None)


def test_device_is_frozen_and_hashable(fleet):
    device = fleet.device("nano01")
    assert isinstance(device, Device)
    with pytest.raises(Exception):
        device.host = "elsewhere"  # type: ignore[misc]
    assert len({device, fleet.device("nano01")}) == 1
    with pytest.raises(ValueError):
        device.local_workdir()
