"""Ansible inventories (INI and YAML) used as edgebench inventories: `--inventory hosts.ini`
directly, or `edgebench devices --from-ansible FILE` to print the equivalent inventory.yaml."""

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from edgebench.orchestrator import ansible_inventory
from edgebench.orchestrator.errors import InventoryError
from edgebench.orchestrator.inventory import load_inventory, parse_inventory

FIXTURES = Path(__file__).parent / "fixtures" / "ansible"
LAB_INI = FIXTURES / "lab.ini"
LAB_YAML = FIXTURES / "lab.yaml"


def comparable(inventory) -> dict:
    """The devices as edgebench uses them: everything but where they were written."""
    found = {}
    for name, device in inventory.devices.items():
        fields = asdict(device)
        fields.pop("source")
        fields["groups"] = sorted(fields["groups"])
        found[name] = fields
    return found


def write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return str(caught.value)


@pytest.mark.parametrize("path", [LAB_INI, LAB_YAML], ids=["ini", "yaml"])
def test_hosts_groups_and_variables(path):
    inventory = load_inventory(path)
    devices = inventory.devices
    assert list(devices) == ["bastion", "nano01", "nano02", "rpi01", "rpi02", "rpi03", "rpi04", "localhost"]
    nano02 = devices["nano02"]
    assert (nano02.connection, nano02.host, nano02.port) == ("ssh", "192.0.2.11", 2200)
    assert nano02.identity_file == "~/.ssh/lab_ed25519"  # from all:vars
    assert (nano02.platform, nano02.target, nano02.workdir) == (
        "jetson-nano",
        "jetson-nano",
        "/opt/edgebench",
    )
    # Groups with their children's hosts; `all` and `ungrouped` are not edgebench groups.
    assert inventory.groups["edge"] == ["nano01", "nano02", "rpi01", "rpi02", "rpi03", "rpi04"]
    assert set(inventory.groups) == {"jetsons", "pis", "edge", "controller"}
    assert devices["bastion"].groups == ()
    # A range, with the host variables of its line; a port from `name:port`.
    assert [devices[n].python for n in ("rpi01", "rpi02", "rpi03")] == ["/usr/bin/python3.11"] * 3
    assert (devices["rpi04"].host, devices["rpi04"].port, devices["rpi04"].python) == (
        "192.0.2.24",
        2222,
        "python3",
    )
    # A host without ansible_host is reached by its name.
    assert devices["rpi01"].host == "rpi01"
    local = devices["localhost"]
    assert (local.connection, local.host, local.user, local.groups) == ("local", None, None, ("controller",))


@pytest.mark.parametrize("path", [LAB_INI, LAB_YAML], ids=["ini", "yaml"])
def test_variables_host_over_child_group_over_parent_group_over_all(path):
    users = {name: device.user for name, device in load_inventory(path).devices.items() if device.user}
    assert users == {
        "bastion": "admin",  # all
        "nano01": "ubuntu",  # jetsons, a child of edge
        "nano02": "jetson",  # the host's own
        "rpi01": "edge",  # edge (pis sets none)
        "rpi02": "edge",
        "rpi03": "edge",
        "rpi04": "edge",
    }


def test_ini_and_yaml_of_one_lab_are_the_same_inventory():
    assert comparable(load_inventory(LAB_INI)) == comparable(load_inventory(LAB_YAML))


def test_sibling_groups_at_one_depth_merge_by_name(tmp_path):
    path = write(
        tmp_path,
        "hosts.ini",
        "[b]\nh1\n[a]\nh1\n[a:vars]\nansible_user=from_a\n[b:vars]\nansible_user=from_b\n",
    )
    assert load_inventory(path).devices["h1"].user == "from_b"  # b sorts after a: it wins


def test_group_priority_wins_over_name(tmp_path):
    path = write(
        tmp_path,
        "hosts.ini",
        "[b]\nh1\n[a]\nh1\n[a:vars]\nansible_user=from_a\nansible_group_priority=10\n"
        "[b:vars]\nansible_user=from_b\n",
    )
    assert load_inventory(path).devices["h1"].user == "from_a"


def test_ranges_with_letters_and_stride(tmp_path):
    path = write(tmp_path, "hosts", "[fleet]\nnode[01:07:3] \npi-[a:c]\n")  # no suffix: Ansible's `hosts`
    assert list(load_inventory(path).devices) == ["node01", "node04", "node07", "pi-a", "pi-b", "pi-c"]


def test_sixty_four_nodes_from_one_line(tmp_path):
    path = write(tmp_path, "fleet.ini", "[fleet]\nnode[01:64] ansible_host=127.0.0.1\n")
    inventory = load_inventory(path)
    assert len(inventory.group_members("fleet")) == 64
    assert inventory.devices["node64"].source == "%s:2" % path


def test_a_huge_range_is_refused_before_its_names_are_made(tmp_path):
    # Thirty billion names would take this process's memory and hours; the count is known at once.
    for huge in ("30000000000", "9" * 30):  # the second is past any range's length
        path = write(tmp_path, "fleet.ini", "[fleet]\nnode[1:%s]\n" % huge)
        assert error_of(path).startswith("%s:2: " % path) and "more than 100000 hosts" in error_of(path)


@pytest.mark.parametrize(
    "key", ["ansible_password", "ansible_ssh_pass", "ansible_become_pass", "ansible_become_password"]
)
def test_passwords_refused_on_a_host_line_naming_file_line_and_key(tmp_path, key):
    path = write(tmp_path, "hosts.ini", "[web]\nweb1 ansible_host=10.0.0.1\nweb2 %s=secret\n" % key)
    message = error_of(path)
    assert message.startswith("%s:3: host 'web2': %s: passwords are not allowed" % (path, key))
    assert "secret" not in message


def test_password_refused_in_group_vars_ini(tmp_path):
    path = write(tmp_path, "hosts.ini", "[web]\nweb1\n\n[web:vars]\nansible_user=a\nansible_ssh_pass=x\n")
    assert error_of(path).startswith("%s:6: group 'web' vars: ansible_ssh_pass: passwords" % path)


def test_password_refused_in_yaml_with_its_line(tmp_path):
    text = "all:\n  children:\n    web:\n      hosts:\n        web1:\n          ansible_become_pass: x\n"
    path = write(tmp_path, "hosts.yml", text)
    assert error_of(path).startswith("%s:6: host 'web1': ansible_become_pass: passwords" % path)


def test_a_password_nested_in_a_variable_is_refused_with_its_line(tmp_path):
    text = (
        "all:\n  hosts:\n    nano1:\n      edgebench_telemetry:\n        power: ina219_i2c\n"
        "        secrets:\n          - {ssh_password: x}\n"
    )
    path = write(tmp_path, "hosts.yaml", text)
    assert error_of(path).startswith(
        "%s:7: host 'nano1': edgebench_telemetry.secrets[0].ssh_password: passwords are not allowed" % path
    )


def test_password_refused_even_in_a_group_without_hosts(tmp_path):
    path = write(tmp_path, "hosts.ini", "[web]\nweb1\n[db:vars]\nansible_password=x\n")
    assert error_of(path).startswith("%s:4: group 'db' vars: ansible_password" % path)


@pytest.mark.parametrize(
    "text, line, expected",
    [
        (
            "[web]\nweb1 ansible_port=abc\n",
            2,
            "host 'web1': ansible_port must be an integer 1-65535, got 'abc'",
        ),
        ("[web]\nweb1 ansible_connection=winrm\n", 2, "ansible_connection 'winrm'"),
        ("[web]\nweb[05:01]\n", 2, "host range web[05:01]: the start is after the end"),
        ("[web]\nweb1 ansible_user\n", 2, "expected key=value"),
        ("[web:nope]\n", 1, "expected a section"),
        ("[a:children]\nb\n[b:children]\na\n[a]\nh\n", 1, "group 'a' is its own child"),
        ("[web]\nweb1 ansible_host='{{ lookup() }}'\n", 2, "a Jinja template"),
        ("[web]\nweb1\n[web:vars]\nedgebench_platform=nano\n", 4, "field 'platform' must be one of"),
        ("[web]\nweb_1!\n", 2, "invalid device name 'web_1!'"),
    ],
)
def test_mistakes_name_the_file_and_line(tmp_path, text, line, expected):
    path = write(tmp_path, "hosts.ini", text)
    message = error_of(path)
    assert message.startswith("%s:%d: " % (path, line)), message
    assert expected in message


def test_yaml_group_with_an_unknown_key(tmp_path):
    path = write(tmp_path, "hosts.yaml", "web:\n  hosts:\n    web1:\n  host_vars:\n    x: 1\n")
    message = error_of(path)
    assert message.startswith("%s:4: group 'web': unexpected key 'host_vars'" % path)


def test_edgebench_fields_from_edgebench_variables(tmp_path):
    text = (
        "pis:\n  vars:\n    edgebench_backends: [tvm, null]\n    edgebench_telemetry: {power: none}\n"
        "  hosts:\n    pi1:\n      ansible_host: 10.0.0.5\n      edgebench_platform: rpi4\n"
    )
    pi1 = load_inventory(write(tmp_path, "pis.yaml", text)).devices["pi1"]
    assert (pi1.platform, pi1.target, pi1.backends, pi1.telemetry) == (
        "rpi4",
        "rpi4",
        ("tvm", "null"),
        {"power": "none"},
    )


def test_edgebench_inventories_are_still_read_as_before(tmp_path):
    path = write(tmp_path, "inventory.yaml", "version: 1\ndevices:\n  local: {connection: local}\n")
    assert ansible_inventory.ansible_kind(path, path.read_text()) is None
    assert list(load_inventory(path).devices) == ["local"]


def test_printed_inventory_loads_with_edgebenchs_loader_as_the_same_devices(tmp_path):
    text, note = ansible_inventory.convert(LAB_INI)
    printed = write(tmp_path, "inventory.yaml", text)
    assert comparable(parse_inventory(text, printed)) == comparable(load_inventory(LAB_INI))
    assert text.startswith("# edgebench inventory converted from the Ansible inventory %s" % LAB_INI)
    # What Ansible could not say is named, with the devices it concerns, in the header.
    header = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert "platform (default generic) for bastion, localhost;" in header
    assert "8 devices from %s" % LAB_INI in note
    assert "target (default the platform's) for every device" in note


def test_from_ansible_refuses_an_edgebench_inventory(tmp_path):
    path = write(tmp_path, "inventory.yaml", "version: 1\ndevices:\n  local: {connection: local}\n")
    with pytest.raises(InventoryError, match="not an Ansible inventory"):
        ansible_inventory.convert(path)


def edgebench(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        cwd=cwd,
        env=dict(os.environ, COLUMNS="250"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_devices_reads_an_ini_inventory_and_prints_one(tmp_path):
    listed = edgebench("devices", "--inventory", LAB_INI, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "ubuntu@192.0.2.10:None" in listed.stdout and "edge,pis" in listed.stdout
    printed = edgebench("devices", "--from-ansible", LAB_YAML, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "nano02:\n    connection: ssh\n    host: 192.0.2.11\n    port: 2200\n" in printed.stdout
    assert "edgebench's defaults apply" in printed.stderr
    bad = write(tmp_path, "bad.ini", "[web]\nweb1 ansible_ssh_pass=x\n")
    refused = edgebench("devices", "--inventory", bad, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "edgebench: error: %s:2: host 'web1': ansible_ssh_pass: passwords are not allowed in the "
        "inventory; use identity_file, ssh-agent or an ssh_config alias" % bad
    )


def test_an_ansible_group_named_devices_is_read_as_ansible_and_edgebench_files_stay_edgebench(tmp_path):
    ansible = tmp_path / "lab.yaml"
    ansible.write_text("devices:\n  hosts:\n    pi1:\n      ansible_host: 10.0.0.5\n      ansible_user: pi\n")
    device = load_inventory(ansible).devices["pi1"]
    assert (device.host, device.user, device.groups) == ("10.0.0.5", "pi", ("devices",))
    edgebench = tmp_path / "inventory.yaml"
    edgebench.write_text("devices:\n  pi1:\n    connection: ssh\n    host: 10.0.0.5\n")
    assert load_inventory(edgebench).devices["pi1"].host == "10.0.0.5"
