"""Ansible inventories (INI or YAML) read as edgebench inventories, without ansible-core.

What is read: hosts, groups (`[group]`, `[group:vars]`, `[group:children]` in INI; `hosts`,
`vars`, `children` in YAML), host ranges (`node[01:64]`, `[a:f]`, with a stride), `host:port`,
and the variables that say how to reach a host: `ansible_host`, `ansible_port`, `ansible_user`,
`ansible_ssh_private_key_file`, `ansible_python_interpreter`, `ansible_connection` (ssh or
local), plus `edgebench_<field>` for what Ansible cannot say (platform, backends, workdir,
target, telemetry). Variables merge as Ansible merges them: `all`, then groups by depth (a
child after its parents), `ansible_group_priority`, then name, then the host's own.

The result goes through the edgebench inventory's own checks: every value becomes a YAML node
marked with the line it came from, so a mistake is reported as `FILE:LINE: ...` as in
inventory.yaml. Passwords (`ansible_password`, `ansible_ssh_pass`, `ansible_become_pass`...)
are refused wherever they appear.
"""

from __future__ import annotations

import ast
import re
import shlex
import string
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, NoReturn, Optional, Tuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import inventory as eb
from .errors import InventoryError

INI_SUFFIXES = (".ini", ".cfg")
YAML_SUFFIXES = (".yaml", ".yml", ".json")
# An indented `hosts:` / `children:` / `vars:` key: the shape of an Ansible YAML inventory.
_ANSIBLE_YAML_KEY = re.compile(r"^\s+(hosts|children|vars)\s*:", re.M)
# The first meaningful line of a YAML file: `---`, or `name:` ending the line or before a space.
_YAML_FIRST_LINE = re.compile(r"^(---|[^\s=\[#;][^=]*:(\s|$))")

# Device field -> the Ansible variables that give it, the first found winning.
FIELD_VARS = (
    ("host", ("ansible_host", "ansible_ssh_host")),
    ("port", ("ansible_port", "ansible_ssh_port")),
    ("user", ("ansible_user", "ansible_ssh_user")),
    ("identity_file", ("ansible_ssh_private_key_file", "ansible_private_key_file")),
    ("python", ("ansible_python_interpreter",)),
)
# What Ansible cannot say: edgebench_<field> variables give it.
EDGEBENCH_FIELDS = ("platform", "backends", "workdir", "target", "telemetry")
EDGEBENCH_DEFAULTS = {
    "platform": eb.DEFAULT_PLATFORM,
    "backends": ", ".join(eb.DEFAULT_BACKENDS),
    "workdir": eb.DEFAULT_WORKDIR,
    "target": "the platform's",
    "telemetry": "power auto",
}
SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh")
# Ansible finds the interpreter itself with these: edgebench's default (python3) stands in.
AUTO_INTERPRETERS = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
IMPLICIT_GROUPS = ("all", "ungrouped")
MAX_RANGE_HOSTS = 100_000

_STR, _INT, _FLOAT, _BOOL, _NULL = (
    "tag:yaml.org,2002:" + kind for kind in ("str", "int", "float", "bool", "null")
)

# key -> (key node, value node): a variable and where it was written.
_Vars = Dict[str, Tuple[Node, Node]]


@dataclass
class _Group:
    name: str
    node: Node  # where it is first named
    vars: _Vars = field(default_factory=dict)
    hosts: List[str] = field(default_factory=list)
    parents: List[str] = field(default_factory=list)


@dataclass
class _Host:
    name: str
    node: Node  # its first line
    vars: _Vars = field(default_factory=dict)
    groups: List[str] = field(default_factory=list)  # those that list it


class _Parsed:
    """Groups and hosts as Ansible sees them: every host is in `all`."""

    def __init__(self, where: str):
        self.where = where
        self.groups: Dict[str, _Group] = {}
        self.hosts: Dict[str, _Host] = {}

    def fail(self, node: Node, message: str) -> NoReturn:
        raise InventoryError("%s:%d: %s" % (self.where, _line(node), message))

    def group(self, name: str, node: Node) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name, node)
        return self.groups[name]

    def add_host(self, name: str, node: Node, group: str) -> _Host:
        host = self.hosts.setdefault(name, _Host(name, node))
        if group not in host.groups:
            host.groups.append(group)
            self.group(group, node).hosts.append(name)
        return host

    def add_child(self, parent: str, child: str, node: Node) -> None:
        parents = self.group(child, node).parents
        self.group(parent, node)
        if parent not in parents:
            parents.append(parent)

    def set_var(self, target: _Vars, key_node: Node, value_node: Node, context: str) -> None:
        key = key_node.value
        if _looks_like_password(key):
            self.fail(key_node, "%s: %s: %s" % (context, key, eb.PASSWORD_MESSAGE))
        self._refuse_nested_passwords(value_node, "%s: %s" % (context, key))
        target[key] = (key_node, value_node)

    def _refuse_nested_passwords(self, node: Node, path: str) -> None:
        """A password under a variable's value (`edgebench_telemetry: {ina219: {password: x}}`)
        is refused as one at the top."""
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                where = "%s.%s" % (path, key_node.value)
                if isinstance(key_node, ScalarNode) and _looks_like_password(str(key_node.value)):
                    self.fail(key_node, "%s: %s" % (where, eb.PASSWORD_MESSAGE))
                self._refuse_nested_passwords(value_node, where)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self._refuse_nested_passwords(item, "%s[%d]" % (path, index))


# ---------------------------------------------------------------------------------------------
# Which files are Ansible inventories


def ansible_kind(path: Path, text: str) -> Optional[str]:
    """The format of an Ansible inventory, "ini" or "yaml"; None for an edgebench one. An .ini/.cfg file
    is INI; a YAML file with a top-level `version:` is edgebench's, and so is one with `devices:`
    or `defaults:` unless it has groups of `hosts:`/`children:`/`vars:` (then Ansible's); a file without a YAML suffix
    (Ansible's `hosts`) is INI unless its first line reads as YAML."""
    suffix = path.suffix.lower()
    if suffix in INI_SUFFIXES:
        return "ini"
    if eb.reads_as_edgebench(text):
        return None
    if suffix in YAML_SUFFIXES or _YAML_FIRST_LINE.match(_first_meaningful_line(text)):
        return "yaml" if _ANSIBLE_YAML_KEY.search(text) else None
    return "ini" if text.strip() else None


def _first_meaningful_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            return line
    return ""


# ---------------------------------------------------------------------------------------------
# Loading


def load_ansible(text: str, path: Path, kind: str) -> eb.Inventory:
    """The edgebench inventory of an Ansible inventory's text."""
    return _converted(text, path, kind)[0]


def convert(path: Path) -> Tuple[str, str]:
    """`edgebench devices --from-ansible FILE`: the equivalent inventory.yaml text, and one
    line saying what it could not infer."""
    chosen = Path(path).expanduser()
    if not chosen.is_file():
        raise InventoryError("--from-ansible: no such file: %s" % chosen)
    text = eb._read_text(chosen)
    kind = ansible_kind(chosen, text)
    if kind is None:
        raise InventoryError(
            "%s: not an Ansible inventory (it has edgebench's 'version:' or 'devices:', or no "
            "groups of hosts); give an INI file or a YAML one of groups with hosts, vars, children" % chosen
        )
    inventory, given = _converted(text, chosen, kind)
    missing = _not_inferred(given)
    return _render(inventory, given, missing), _note(inventory, missing)


def _converted(text: str, path: Path, kind: str) -> Tuple[eb.Inventory, Dict[str, Dict[str, Node]]]:
    where = str(path)
    parsed = _parse_ini(text, where) if kind == "ini" else _parse_yaml(text, where)
    if not parsed.hosts:
        raise InventoryError("%s: the Ansible inventory lists no hosts" % where)
    depth = _group_depths(parsed)
    fields = {name: _device_fields(parsed, host, depth) for name, host in parsed.hosts.items()}
    root = _mapping_node([("devices", _mapping_node(_device_nodes(parsed, fields), _position(where, 1)))])
    with eb._collector_paused():
        return eb._InventoryParser(where).parse(root, path), fields


# ---------------------------------------------------------------------------------------------
# INI


_SECTION = re.compile(r"^\[([^\]:]+)(?::(\w+))?\]\s*(?:[#;].*)?$")


def _parse_ini(text: str, where: str) -> _Parsed:
    """Ansible's INI format: host lines `NAME [key=value ...]`, `[group]`, `[group:vars]`
    (`key=value` lines), `[group:children]` (group names); `#` and `;` start comments.
    Values are read as Python literals where they are one (22, ['a', 'b']), else as text."""
    parsed = _Parsed(where)
    group, section = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        here = _position(where, number)
        if line.startswith("["):
            group, section = _section(parsed, line, here)
        elif section == "hosts":
            _ini_host_line(parsed, line, group, here)
        elif section == "vars":
            key, value = _key_value(parsed, line, here)
            parsed.set_var(parsed.group(group, here).vars, key, value, "group '%s' vars" % group)
        else:  # children
            parsed.add_child(group, _one_name(parsed, line, here, "a group name"), here)
    return parsed


def _section(parsed: _Parsed, line: str, here: Node) -> Tuple[str, str]:
    match = _SECTION.match(line)
    if not match or (match.group(2) or "hosts") not in ("hosts", "vars", "children"):
        parsed.fail(here, "expected a section [group], [group:vars] or [group:children], got %s" % line)
    name = match.group(1).strip()
    parsed.group(name, here)
    return name, match.group(2) or "hosts"


def _ini_host_line(parsed: _Parsed, line: str, group: str, here: Node) -> None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:  # an unclosed quote
        parsed.fail(here, "cannot read the host line: %s" % exc)
    if not words:
        return
    pattern, assignments = words[0], words[1:]
    names, port = _host_pattern(parsed, pattern, here)
    values = [_assignment(parsed, word, here) for word in assignments]
    for name in names:
        host = parsed.add_host(name, here, group)
        if port is not None:
            host.vars["ansible_port"] = (_scalar("ansible_port", here), _scalar(port, here))
        for key, value in values:
            parsed.set_var(host.vars, key, value, "host '%s'" % name)


def _assignment(parsed: _Parsed, word: str, here: Node) -> Tuple[Node, Node]:
    if "=" not in word:
        parsed.fail(here, "expected key=value after the host name, got %r" % word)
    key, value = word.split("=", 1)
    return _scalar(key, here), _ini_value(value, here)


def _key_value(parsed: _Parsed, line: str, here: Node) -> Tuple[Node, Node]:
    if "=" not in line:
        parsed.fail(here, "expected key=value in a [group:vars] section, got %r" % line)
    key, value = (part.strip() for part in line.split("=", 1))
    return _scalar(key, here), _ini_value(value, here)


def _one_name(parsed: _Parsed, line: str, here: Node, what: str) -> str:
    words = line.split()
    if len(words) != 1:
        parsed.fail(here, "expected %s, got %r" % (what, line))
    return words[0]


def _ini_value(text: str, here: Node) -> Node:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    return _node(value, here)


# ---------------------------------------------------------------------------------------------
# YAML


def _parse_yaml(text: str, where: str) -> _Parsed:
    """Groups at the top (`all` among them), each a mapping of `hosts` (name: variables),
    `vars` and `children` (groups, nested the same way)."""
    parsed = _Parsed(where)
    root = eb._compose_yaml(text, where)
    if root is None:
        raise InventoryError("%s:1: the Ansible inventory is empty" % where)
    for key_node, value_node in _pairs(parsed, root, "the inventory"):
        _yaml_group(parsed, key_node, value_node, parent=None)
    return parsed


def _yaml_group(parsed: _Parsed, key_node: Node, node: Node, parent: Optional[str]) -> None:
    name = _name(parsed, key_node)
    parsed.group(name, key_node)
    if parent is not None:
        parsed.add_child(parent, name, key_node)
    context = "group '%s'" % name
    for part_key, part in _pairs(parsed, node, context):
        kind = part_key.value
        if kind == "hosts":
            for host_key, host_vars in _pairs(parsed, part, "%s hosts" % context):
                _yaml_hosts(parsed, host_key, host_vars, name)
        elif kind == "vars":
            for var_key, value in _pairs(parsed, part, "%s vars" % context):
                parsed.set_var(parsed.groups[name].vars, var_key, value, "%s vars" % context)
        elif kind == "children":
            for child_key, child in _pairs(parsed, part, "%s children" % context):
                _yaml_group(parsed, child_key, child, parent=name)
        else:
            parsed.fail(
                part_key, "%s: unexpected key '%s' (a group has hosts, vars and children)" % (context, kind)
            )


def _yaml_hosts(parsed: _Parsed, key_node: Node, node: Node, group: str) -> None:
    names, port = _host_pattern(parsed, _name(parsed, key_node), key_node)
    variables = _pairs(parsed, node, "host '%s'" % key_node.value)
    for name in names:
        host = parsed.add_host(name, key_node, group)
        if port is not None:
            host.vars["ansible_port"] = (key_node, _scalar(port, key_node))
        for var_key, value in variables:
            parsed.set_var(host.vars, var_key, value, "host '%s'" % name)


def _pairs(parsed: _Parsed, node: Node, context: str) -> List[Tuple[Node, Node]]:
    """A mapping's (key, value) nodes; nothing for an empty value (`name:`)."""
    if isinstance(node, ScalarNode) and node.tag == _NULL:
        return []
    if not isinstance(node, MappingNode):
        parsed.fail(node, "%s must be a mapping (name: value), got %s" % (context, eb._describe(node)))
    seen: Dict[str, Node] = {}
    for key_node, _value in node.value:
        key = _name(parsed, key_node)
        if key in seen:
            parsed.fail(
                key_node, "%s: duplicate key '%s' (first at line %d)" % (context, key, _line(seen[key]))
            )
        seen[key] = key_node
    return list(node.value)


def _name(parsed: _Parsed, node: Node) -> str:
    if not isinstance(node, ScalarNode) or node.tag == _NULL or not node.value.strip():
        parsed.fail(node, "expected a name as key, got %s" % eb._describe(node))
    return node.value


# ---------------------------------------------------------------------------------------------
# Host patterns: ranges and ports


def _host_pattern(parsed: _Parsed, pattern: str, here: Node) -> Tuple[List[str], Optional[int]]:
    """`web[01:03].lab:2222` -> the three names and the port."""
    name, port = _split_port(pattern)
    try:
        names = _expand(name)
    except ValueError as exc:
        parsed.fail(here, "host range %s: %s" % (pattern, exc))
    return names, port


def _split_port(pattern: str) -> Tuple[str, Optional[int]]:
    outside = re.sub(r"\[[^\]]*\]", lambda m: "_" * len(m.group(0)), pattern)  # colons of ranges hidden
    head, colon, tail = outside.rpartition(":")
    if colon and tail.isdigit() and ":" not in head:  # several colons: an IPv6 address, no port
        return pattern[: len(head)], int(tail)
    return pattern, None


def _expand(pattern: str) -> List[str]:
    """Ansible's ranges: [01:10] keeps the leading zeros, [a:f] letters, [1:10:2] a stride."""
    match = re.search(r"\[([^\]]*)\]", pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    parts = match.group(1).split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise ValueError("expected [start:end] or [start:end:stride]")
    start, end = parts[0] or "0", parts[1]
    stride = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else 1
    if len(parts) == 3 and (not parts[2].isdigit() or stride < 1):
        raise ValueError("the stride must be a whole number above 0")
    middles = _range_values(start, end, stride)
    tails = _expand(tail)
    if len(middles) * len(tails) > MAX_RANGE_HOSTS:
        raise ValueError("more than %d hosts" % MAX_RANGE_HOSTS)
    return [head + middle + rest for middle in middles for rest in tails]


def _range_values(start: str, end: str, stride: int) -> List[str]:
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        if width and len(end) != width:
            raise ValueError("a zero-padded range needs start and end of the same width")
        if int(start) > int(end):
            raise ValueError("the start is after the end")
        if (int(end) - int(start)) // stride + 1 > MAX_RANGE_HOSTS:  # counted before any name is made
            raise ValueError("more than %d hosts" % MAX_RANGE_HOSTS)
        return [str(i).zfill(width) for i in range(int(start), int(end) + 1, stride)]
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        first, last = letters.index(start), letters.index(end)
        if first > last:
            raise ValueError("the start is after the end")
        return list(letters[first : last + 1 : stride])
    raise ValueError("a range is of numbers ([01:64]) or of single letters ([a:f])")


# ---------------------------------------------------------------------------------------------
# Variables -> device fields


def _group_depths(parsed: _Parsed) -> Dict[str, int]:
    """`all` 0, a top-level group 1, a child one more than its deepest parent. A group that is
    its own ancestor is refused."""
    depth: Dict[str, int] = {}

    def of(name: str, trail: Tuple[str, ...]) -> int:
        if name in trail:
            parsed.fail(
                parsed.groups[name].node, "group '%s' is its own child (via %s)" % (name, " -> ".join(trail))
            )
        if name not in depth:
            parents = [p for p in parsed.groups[name].parents if p != "all"]
            depth[name] = 0 if name == "all" else 1 + max([of(p, trail + (name,)) for p in parents] or [0])
        return depth[name]

    for name in parsed.groups:
        of(name, ())
    return depth


def _ancestors(parsed: _Parsed, names: List[str]) -> List[str]:
    found: List[str] = []
    pending = list(names)
    while pending:
        name = pending.pop()
        if name not in found:
            found.append(name)
            pending.extend(parsed.groups[name].parents)
    return found


def _merged_vars(parsed: _Parsed, host: _Host, groups: List[str], depth: Dict[str, int]) -> _Vars:
    """Ansible's order: `all`, groups by depth, priority and name, then the host's own."""
    ordered = sorted(
        (g for g in groups if g != "all"),
        key=lambda g: (depth[g], _priority(parsed.groups[g]), g),
    )
    merged: _Vars = {}
    for name in (["all"] if "all" in parsed.groups else []) + ordered:
        merged.update(parsed.groups[name].vars)
    merged.update(host.vars)
    return merged


def _priority(group: _Group) -> int:
    found = group.vars.get("ansible_group_priority")
    if found is None:
        return 1
    value = _plain(found[1])
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _device_fields(parsed: _Parsed, host: _Host, depth: Dict[str, int]) -> Dict[str, Node]:
    """The device's inventory fields as YAML nodes marked with the lines they came from."""
    groups = _ancestors(parsed, host.groups)
    merged = _merged_vars(parsed, host, groups, depth)
    connection = _connection(parsed, host, merged)
    where_set = merged["ansible_connection"][0] if "ansible_connection" in merged else host.node
    fields: Dict[str, Node] = {"connection": _scalar(connection, where_set)}
    if connection == "ssh":
        fields["host"] = _scalar(host.name, host.node)
    for name, variables in FIELD_VARS:
        found = next((merged[v] for v in variables if v in merged), None)
        if found is not None and (connection == "ssh" or name == "python"):
            value = _usable(parsed, found, host)
            if value is not None:
                fields[name] = _port(parsed, found, host) if name == "port" else value
    for name in EDGEBENCH_FIELDS:
        found = merged.get("edgebench_" + name)
        if found is not None:
            fields[name] = _usable(parsed, found, host)
    shown = [g for g in parsed.groups if g in groups and g not in IMPLICIT_GROUPS]  # in file order
    if shown:
        fields["groups"] = SequenceNode(
            "tag:yaml.org,2002:seq", [_scalar(g, parsed.groups[g].node) for g in shown], host.node, host.node
        )
    return fields


def _connection(parsed: _Parsed, host: _Host, merged: _Vars) -> str:
    found = merged.get("ansible_connection")
    if found is None:
        return "ssh"
    value = _plain(found[1])
    if value == "local":
        return "local"
    if value not in SSH_CONNECTIONS:
        parsed.fail(
            found[0],
            "host '%s': ansible_connection %s: edgebench reaches a device over ssh or runs it here "
            "(local)" % (host.name, eb._describe(found[1])),
        )
    return "ssh"


def _usable(parsed: _Parsed, found: Tuple[Node, Node], host: _Host) -> Optional[Node]:
    """The variable's value node, unless it is one edgebench cannot read (vault, Jinja) or an
    interpreter Ansible would discover (auto): then an error, or None for edgebench's default."""
    key_node, value = found
    what = "host '%s': %s" % (host.name, key_node.value)
    if value.tag == "!vault":
        parsed.fail(value, "%s is encrypted with ansible-vault, which edgebench cannot read" % what)
    if isinstance(value, ScalarNode) and "{{" in value.value:
        parsed.fail(value, "%s is a Jinja template, which edgebench does not evaluate" % what)
    if key_node.value == "ansible_python_interpreter" and _plain(value) in AUTO_INTERPRETERS:
        return None
    return value


def _port(parsed: _Parsed, found: Tuple[Node, Node], host: _Host) -> Node:
    key_node, value = found
    number = _plain(value)
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        parsed.fail(
            value,
            "host '%s': %s must be an integer 1-65535, got %s"
            % (host.name, key_node.value, eb._describe(value)),
        )
    return _scalar(number, value)


def _device_nodes(parsed: _Parsed, fields: Dict[str, Dict[str, Node]]) -> List[Tuple[object, Node]]:
    pairs = []
    for name, values in fields.items():
        key = _scalar(name, parsed.hosts[name].node)
        pairs.append((key, _mapping_node(list(values.items()), parsed.hosts[name].node)))
    return pairs


# ---------------------------------------------------------------------------------------------
# Printing


def _not_inferred(given: Dict[str, Dict[str, Node]]) -> Dict[str, List[str]]:
    """Field -> the devices whose Ansible variables do not give it (edgebench's default then)."""
    lacking = {
        name: [device for device, fields in given.items() if name not in fields] for name in EDGEBENCH_FIELDS
    }
    return {name: devices for name, devices in lacking.items() if devices}


def _defaults_text(missing: Dict[str, List[str]], count: int) -> str:
    """`platform (default generic) for bastion, localhost; backends (...) for every device`."""
    return "; ".join(
        "%s (default %s) for %s"
        % (
            name,
            EDGEBENCH_DEFAULTS[name],
            "every device" if len(devices) == count else eb._name_list(devices),
        )
        for name, devices in missing.items()
    )


def _note(inventory: eb.Inventory, missing: Dict[str, List[str]]) -> str:
    count = len(inventory.devices)
    text = "%d device%s from %s" % (count, "" if count == 1 else "s", inventory.where)
    if not missing:
        return text
    return (
        "%s; not in it, so edgebench's defaults apply (an Ansible variable edgebench_FIELD sets one): %s"
        % (
            text,
            _defaults_text(missing, count),
        )
    )


class _Dumper(yaml.SafeDumper):
    """Lists in flow style (`groups: [web, lab]`), mappings in block style, as inventory.yaml."""


_Dumper.add_representer(
    list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)
)


def _render(inventory: eb.Inventory, given: Dict[str, Dict[str, Node]], missing: Dict[str, List[str]]) -> str:
    devices = {}
    for name, device in inventory.devices.items():
        devices[name] = {
            key: _printable(getattr(device, key)) for key in eb.DEVICE_FIELDS if key in given[name]
        }
    header = [
        "# edgebench inventory converted from the Ansible inventory %s" % inventory.where,
        "# (edgebench devices --from-ansible). The fields are described in the shipped inventory.yaml.",
    ]
    if missing:
        sentence = "Not in the Ansible inventory, so edgebench's defaults apply: %s." % _defaults_text(
            missing, len(inventory.devices)
        )
        header += ["# " + line for line in textwrap.wrap(sentence, 96, break_on_hyphens=False)]
    body = yaml.dump(
        {"version": eb.SUPPORTED_VERSION, "devices": devices},
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=110,
        allow_unicode=True,
    )
    return "\n".join(header) + "\n" + body


def _printable(value):
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, dict) else value


# ---------------------------------------------------------------------------------------------
# Small helpers


def _looks_like_password(key: str) -> bool:
    lowered = key.lower()
    return (
        any(word in lowered for word in ("password", "passwd", "passphrase"))
        or lowered.endswith("_pass")
        or lowered == "pass"
    )


def _position(where: str, line: int) -> Node:
    """A node that only carries a position: line `line` of `where`."""
    mark = yaml.Mark(where, 0, line - 1, 0, None, None)
    return ScalarNode(_NULL, "", mark, mark)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _scalar(value, at: Node) -> ScalarNode:
    if isinstance(value, bool):
        tag, text = _BOOL, "true" if value else "false"
    elif value is None:
        tag, text = _NULL, ""
    elif isinstance(value, int):
        tag, text = _INT, str(value)
    elif isinstance(value, float):
        tag, text = _FLOAT, repr(value)
    else:
        tag, text = _STR, str(value)
    return ScalarNode(tag, text, at.start_mark, at.end_mark)


def _node(value, at: Node) -> Node:
    """A Python value (from an INI literal) as the YAML node that would have written it."""
    if isinstance(value, (list, tuple, set)):
        return SequenceNode(
            "tag:yaml.org,2002:seq", [_node(v, at) for v in value], at.start_mark, at.end_mark
        )
    if isinstance(value, dict):
        return _mapping_node([(_scalar(k, at), _node(v, at)) for k, v in value.items()], at)
    return _scalar(value, at)


def _mapping_node(pairs, at: Optional[Node] = None) -> MappingNode:
    pairs = [(_scalar(k, at or v) if isinstance(k, str) else k, v) for k, v in pairs]
    anchor = at if at is not None else (pairs[0][0] if pairs else _position("", 1))
    return MappingNode("tag:yaml.org,2002:map", pairs, anchor.start_mark, anchor.end_mark)


def _plain(node: Node):
    """A scalar node's value as YAML reads it (int, bool, str...); None for collections."""
    if not isinstance(node, ScalarNode):
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError):
        return node.value
