"""Inventory loading, validation messages (file, line, field, suggestion) and device selection."""

import re
import sys
from pathlib import Path

import pytest

from edgebench.orchestrator.errors import InventoryError, UnknownDeviceError
from edgebench.orchestrator.inventory import (
    ENV_VAR,
    PASSWORD_MESSAGE,
    POWER_SOURCES,
    TELEMETRY_KEYS,
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
    telemetry: {power: ina2xx_hwmon, total_rail: ina219-1-0040}
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
    assert local.backends == ("onnxruntime", "tvm", "null")
    assert local.target == "native"  # tvm compiles for this host's CPU
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
    assert (inventory.device("nano01").target, inventory.device("rpi01").target) == ("jetson-nano", "rpi4")
    assert inventory.device("rpi01").telemetry == {"power": "ina2xx_hwmon", "total_rail": "ina219-1-0040"}
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
    assert rpi01.telemetry == {"power": "ina2xx_hwmon", "total_rail": "ina219-1-0040"}
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
    assert "inv.yaml:2: 'devices' must define at least one device" in error_for(
        tmp_path, "version: 1\ndevices: {}\n"
    )


def test_groups_must_be_a_list(tmp_path):
    message = error_for(tmp_path, device_yaml("connection: local", "groups: dev"))
    assert "inv.yaml:6: device 'x': field 'groups' must be a list of group names" in message


def test_group_referencing_unknown_device(tmp_path):
    text = FLEET.replace("jetsons: [nano01, nano02]", "jetsons: [nano01,\n    nano03]")
    message = error_for(tmp_path, text)
    assert "inv.yaml:27: group 'jetsons': unknown device 'nano03' (did you mean: " in message
    assert "nano01" in message and "nano02" in message


def test_null_backend_is_a_name_not_yaml_null(tmp_path):
    inventory = load_inventory(
        write(tmp_path, device_yaml("connection: local", "backends: [null, onnxruntime]"))
    )
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
    with pytest.raises(AttributeError):  # dataclasses.FrozenInstanceError
        device.host = "elsewhere"  # type: ignore[misc]
    assert len({device, fleet.device("nano01")}) == 1
    with pytest.raises(ValueError):
        device.local_workdir()


# -- telemetry settings ---------------------------------------------------------------------------

AGENT_TELEMETRY = Path(__file__).resolve().parents[1] / "agent" / "telemetry"


def telemetry_yaml(*lines: str) -> str:
    """An inventory whose device 'x' (local) has `lines` as its telemetry, from line 6 on."""
    body = "".join(f"      {line}\n" for line in lines)
    return f"version: 1\ndevices:\n  x:\n    connection: local\n    telemetry:\n{body}"


def test_power_sources_are_the_agents():
    from edgebench.agent.telemetry import power

    assert set(power.AUTO_ORDER) < set(POWER_SOURCES)
    assert POWER_SOURCES[0] == "auto" and POWER_SOURCES[-1] == "none"
    for name in POWER_SOURCES[1:-1]:  # each is a source the agent can make (it raises otherwise)
        power.make_source(name, "/nonexistent", {})


def test_telemetry_keys_are_those_the_agent_reads():
    read = set()
    for module in AGENT_TELEMETRY.glob("*.py"):
        read |= set(re.findall(r"settings\.get\(\s*[\"'](\w+)[\"']", module.read_text()))
    # `off` is the telemetry overhead benchmark's switch, set in a job, never in the inventory.
    assert read - {"off"} == set(TELEMETRY_KEYS)


def test_telemetry_valid_settings_are_converted(tmp_path):
    path = write(
        tmp_path,
        telemetry_yaml(
            "power: ina219_i2c",
            "interval_ms: 20",
            "state_interval_ms: 250",
            "idle_s: 0",
            "shunt_ohms: 0.1",
            "max_expected_amps: 2",
            "address: 0x41",
            "busnum: 1",
            "total_rail: VDD_IN",
        ),
    )
    assert load_inventory(path).device("x").telemetry == {
        "power": "ina219_i2c",
        "interval_ms": 20,
        "state_interval_ms": 250,
        "idle_s": 0,
        "shunt_ohms": 0.1,
        "max_expected_amps": 2,
        "address": 0x41,
        "busnum": 1,
        "total_rail": "VDD_IN",
    }


@pytest.mark.parametrize(
    "telemetry",
    [
        "{}",
        "",
        "{power: none}",
        "{power: tegrastats, tegrastats: /usr/bin/tegrastats}",
        "{tegrastats: /opt/tegrastats}",
        "{power: none, shunt_ohms: 0.1}",
    ],
)
def test_telemetry_accepted(tmp_path, telemetry):
    text = f"version: 1\ndevices:\n  x:\n    connection: local\n    telemetry: {telemetry}\n"
    load_inventory(write(tmp_path, text))


@pytest.mark.parametrize("source", POWER_SOURCES)
def test_every_power_source_is_accepted(tmp_path, source):
    inventory = load_inventory(write(tmp_path, telemetry_yaml(f"power: {source}")))
    assert inventory.device("x").telemetry == {"power": source}


def test_telemetry_power_typo_lists_the_sources(tmp_path):
    message = error_for(tmp_path, telemetry_yaml("interval_ms: 50", "power: ina219i2c"))
    assert "inv.yaml:7: device 'x': field 'telemetry.power' must be one of " in message
    assert f"one of {', '.join(POWER_SOURCES)}, got 'ina219i2c' (did you mean: ina219_i2c?)" in message
    assert "ina3221x_iio" in message and "rapl" in message and "none" in message


def test_telemetry_unknown_key_lists_the_valid_keys(tmp_path):
    message = error_for(tmp_path, telemetry_yaml("power: auto", "intervall_ms: 50"))
    assert message.endswith(
        "inv.yaml:7: device 'x': unknown key 'intervall_ms' in field 'telemetry' (did you mean 'interval_ms'?); "
        f"valid keys: {', '.join(TELEMETRY_KEYS)}"
    )


def test_telemetry_unknown_key_without_close_match(tmp_path):
    message = error_for(tmp_path, telemetry_yaml("sensor: ina219"))
    assert "inv.yaml:6: device 'x': unknown key 'sensor' in field 'telemetry'; valid keys: power, " in message


@pytest.mark.parametrize(
    "line, expected",
    [
        ("interval_ms: 0", "field 'telemetry.interval_ms' must be an integer > 0, got '0'"),
        ("interval_ms: -5", "field 'telemetry.interval_ms' must be an integer > 0, got '-5'"),
        ("interval_ms: 2.5", "field 'telemetry.interval_ms' must be an integer > 0, got '2.5'"),
        ("interval_ms: true", "field 'telemetry.interval_ms' must be an integer > 0, got 'true'"),
        (
            "interval_ms: '50'",
            "field 'telemetry.interval_ms' must be an integer > 0, got the quoted string '50'",
        ),
        ("interval_ms:", "field 'telemetry.interval_ms' must be an integer > 0, got nothing"),
        ("state_interval_ms: 0", "field 'telemetry.state_interval_ms' must be an integer > 0"),
        (
            "state_interval_ms: [100]",
            "field 'telemetry.state_interval_ms' must be an integer > 0, got a list",
        ),
        ("idle_s: -0.5", "field 'telemetry.idle_s' must be a finite number >= 0, got '-0.5'"),
        ("idle_s: .nan", "field 'telemetry.idle_s' must be a finite number >= 0, got '.nan'"),
        ("idle_s: .inf", "field 'telemetry.idle_s' must be a finite number >= 0, got '.inf'"),
        ("idle_s: -.inf", "field 'telemetry.idle_s' must be a finite number >= 0"),
        ("idle_s: 1.0e+999", "field 'telemetry.idle_s' must be a finite number >= 0"),
        ("total_rail: ''", "field 'telemetry.total_rail' must not be empty"),
        ("total_rail: {a: b}", "field 'telemetry.total_rail' must be a string, got a mapping"),
        ("tegrastats: [a]", "field 'telemetry.tegrastats' must be a string, got a list"),
        ("power: [auto]", "field 'telemetry.power' must be one of auto, "),
        ("power:", "field 'telemetry.power' must be one of auto, "),
    ],
)
def test_telemetry_bad_values(tmp_path, line, expected):
    message = error_for(tmp_path, telemetry_yaml(line))
    assert f"inv.yaml:6: device 'x': {expected}" in message


@pytest.mark.parametrize(
    "line, expected",
    [
        ("shunt_ohms: 0", "field 'telemetry.shunt_ohms' must be a finite number > 0, got '0'"),
        ("shunt_ohms: .nan", "field 'telemetry.shunt_ohms' must be a finite number > 0, got '.nan'"),
        ("max_expected_amps: -1", "field 'telemetry.max_expected_amps' must be a finite number > 0"),
        ("max_expected_amps: .inf", "field 'telemetry.max_expected_amps' must be a finite number > 0"),
        ("address: 0x80", "field 'telemetry.address' must be an integer 0-0x7f, got '0x80'"),
        ("address: -1", "field 'telemetry.address' must be an integer 0-0x7f"),
        (
            "address: '0x40'",
            "field 'telemetry.address' must be an integer 0-0x7f, got the quoted string '0x40'",
        ),
        ("busnum: -1", "field 'telemetry.busnum' must be an integer >= 0, got '-1'"),
        ("busnum: " + "9" * 5000, "field 'telemetry.busnum' must be an integer >= 0"),  # too long for int()
    ],
)
def test_telemetry_bad_i2c_values(tmp_path, line, expected):
    message = error_for(tmp_path, telemetry_yaml("power: ina219_i2c", line))
    assert f"inv.yaml:7: device 'x': {expected}" in message


@pytest.mark.parametrize(
    "lines, expected",
    [
        (
            ("shunt_ohms: 0.1",),
            "field 'telemetry.shunt_ohms' only applies to 'power: ina219_i2c' (power here: auto)",
        ),
        (
            ("power: ina2xx_hwmon", "address: 0x40"),
            "field 'telemetry.address' only applies to 'power: ina219_i2c'",
        ),
        (
            ("power: jtop", "tegrastats: /usr/bin/tegrastats"),
            "field 'telemetry.tegrastats' only applies to 'power: auto' or 'power: tegrastats' (power here: jtop)",
        ),
    ],
)
def test_telemetry_setting_for_another_source(tmp_path, lines, expected):
    message = error_for(tmp_path, telemetry_yaml(*lines))
    assert f"inv.yaml:{5 + len(lines)}: device 'x': {expected}" in message


def test_telemetry_must_be_a_mapping(tmp_path):
    message = error_for(
        tmp_path, "version: 1\ndevices:\n  x:\n    connection: local\n    telemetry: [power, auto]\n"
    )
    assert "inv.yaml:5: device 'x': field 'telemetry' must be a mapping (name: value), got a list" in message


def test_telemetry_duplicate_key(tmp_path):
    message = error_for(tmp_path, telemetry_yaml("power: auto", "power: rapl"))
    assert "inv.yaml:7: device 'x': duplicate telemetry key 'power' (first at line 6)" in message


def test_telemetry_in_defaults_is_checked_and_inherited(tmp_path):
    text = "version: 1\ndefaults:\n  telemetry: {power: rapl, interval_ms: 100}\ndevices:\n  x: {connection: local}\n"
    assert load_inventory(write(tmp_path, text)).device("x").telemetry == {
        "power": "rapl",
        "interval_ms": 100,
    }
    message = error_for(tmp_path, text.replace("rapl", "rpal"))
    assert "inv.yaml:3: defaults: field 'telemetry.power' must be one of " in message
    assert "(did you mean: rapl?)" in message


def test_telemetry_anchor_shared_between_devices(tmp_path):
    text = (
        "version: 1\ndevices:\n  a:\n    connection: local\n    telemetry: &t {power: rapl, idle_s: 0.5}\n"
        "  b:\n    connection: local\n    telemetry: *t\n"
    )
    inventory = load_inventory(write(tmp_path, text))
    assert inventory.device("b").telemetry == {"power": "rapl", "idle_s": 0.5}


LAUGHS = """\
version: 1
devices:
  x:
    connection: local
    telemetry:
      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
      i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.parametrize(
    "text, expected",
    [
        # A few hundred bytes that expand to 9**9 strings: refused at load, before anything reads
        # the values, at the first anchor whose alias stands for more than 1000 values.
        (LAUGHS, "inv.yaml:9: an alias of the YAML anchor here stands for more than 1000 values"),
        (
            LAUGHS.replace("      a: &a", "      total_rail: &a").replace("      i: &i", "      idle_s: &i"),
            "inv.yaml:9: an alias of the YAML anchor here stands for more than 1000 values",
        ),
        (
            "version: 1\ndefaults:\n  groups: &a [[a, a, a], [a, a, a]]\n  telemetry:\n    total_rail: *a\n"
            "devices:\n  x: {connection: local}\n",
            "inv.yaml:3: defaults: field 'groups' entries must be a string",
        ),
        (
            "version: 1\ndevices:\n  x:\n    connection: local\n    telemetry: {power: auto, total_rail: &r [*r]}\n",
            "inv.yaml:5: the YAML anchor here is used inside itself",
        ),  # a recursive alias
    ],
)
def test_telemetry_aliases_cannot_expand(tmp_path, text, expected):
    assert expected in error_for(tmp_path, text)


def test_up_to_a_hundred_aliases_are_fine_one_more_is_refused(tmp_path):
    def fleet(aliases: int) -> str:
        return "devices:\n  d0: {connection: local, backends: &b [null]}\n" + "".join(
            "  d%d: {connection: local, backends: *b}\n" % i for i in range(1, aliases + 1)
        )

    assert load_inventory(write(tmp_path, fleet(100))).device("d100").backends == ("null",)
    assert "inv.yaml:2: more than 100 YAML aliases" in error_for(tmp_path, fleet(101))


def test_the_c_yaml_loader_is_used_where_pyyaml_has_it():
    import yaml

    from edgebench.orchestrator import inventory

    assert inventory.YAML_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_groups_of_a_large_fleet_keep_inventory_order(tmp_path):
    """Groups merged in one pass (not one per group): members in inventory order, a device's
    groups in the order they are declared."""
    devices = "".join("  d%d: {connection: local, groups: [g%d, all]}\n" % (i, i % 3) for i in range(9))
    text = "devices:\n" + devices + "groups:\n  g2: [d8, d2]\n  odd: [d7, d1]\n"
    inventory = load_inventory(write(tmp_path, text))
    assert inventory.groups["g2"] == ["d2", "d5", "d8"] and inventory.groups["odd"] == ["d1", "d7"]
    assert list(inventory.groups) == ["g2", "odd", "g0", "all", "g1"]
    assert inventory.device("d7").groups == ("odd", "all", "g1")


def test_cli_refuses_a_telemetry_typo(workspace):
    """The issue's acceptance check: exit 2 and one line naming inventory.yaml, the line and the
    field, listing the valid sources."""
    inventory = workspace.path / "inventory.yaml"
    inventory.write_text(
        "version: 1\ndevices:\n  local:\n    connection: local\n"
        "    workdir: %s\n    telemetry: {power: ina219i2c}\n" % (workspace.path / "device")
    )
    for command in (("devices",), ("probe",)):
        proc = workspace.edgebench(*command)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("edgebench: error: ")
        assert (
            f"inventory.yaml:6: device 'local': field 'telemetry.power' must be one of {', '.join(POWER_SOURCES)}"
            in lines[0]
        )
        assert "got 'ina219i2c' (did you mean: ina219_i2c?)" in lines[0]
    assert not (workspace.path / "device").exists()  # refused before the agent was started
