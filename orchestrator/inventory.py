"""The device inventory: which devices exist, how to reach them, and how they are grouped.

The inventory is a small YAML file (see the commented `inventory.yaml` at the repository root).
It is parsed with `yaml.compose` rather than `yaml.safe_load` so that every value keeps its
line number: each mistake is reported as one line, `PATH:LINE: what is wrong (what to do)`.

Paths with `~` (workdir, identity_file) are kept as written: remote ones are expanded by the
device's shell, not by this host. Only `Device.local_workdir()` expands, for the local device.
"""

from __future__ import annotations

import difflib
import gc
import math
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, NoReturn, Optional, Tuple, Union

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from edgebench.agent.telemetry import power as agent_power

from .compile import targets as compile_targets
from .errors import InventoryError, UnknownDeviceError

ENV_VAR = "EDGEBENCH_INVENTORY"
INVENTORY_FILENAME = "inventory.yaml"
BUILTIN_SOURCE = "<built-in inventory>"

SUPPORTED_VERSION = 1
CONNECTIONS = ("local", "ssh")
PLATFORMS = ("jetson-nano", "rpi4", "generic")
DEFAULT_PLATFORM = "generic"
DEFAULT_BACKENDS = ("onnxruntime", "null")
DEFAULT_WORKDIR = "~/.edgebench"
DEFAULT_REMOTE_PYTHON = "python3"
DEFAULT_SSH_PORT = 22
LOCAL_DEVICE = "local"

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# A top-level key only edgebench's inventory has: without one, the file may be Ansible's.
_EDGEBENCH_TOP_KEY = re.compile(r"^(version|devices|defaults)\s*:", re.M)
_VERSION_TOP_KEY = re.compile(r"^version\s*:", re.M)
# Keys of an Ansible YAML group (`devices:` is a natural group name in an edge lab too).
_ANSIBLE_GROUP_KEY = re.compile(r"^\s+(hosts|children|vars)\s*:", re.M)


def reads_as_edgebench(text: str) -> bool:
    """An edgebench inventory: a top-level `version:`, or `devices:`/`defaults:` whose entries
    are not Ansible groups (`hosts:`, `children:`, `vars:`)."""
    if _VERSION_TOP_KEY.search(text):
        return True
    return bool(_EDGEBENCH_TOP_KEY.search(text)) and not _ANSIBLE_GROUP_KEY.search(text)


TOP_LEVEL_KEYS = ("version", "defaults", "devices", "groups")
DEVICE_FIELDS = (
    "connection",
    "host",
    "port",
    "user",
    "identity_file",
    "ssh_alias",
    "python",
    "workdir",
    "platform",
    "groups",
    "backends",
    "target",
    "telemetry",
)
SSH_ONLY_FIELDS = ("host", "port", "user", "identity_file", "ssh_alias")
# These name one machine, so a shared value in `defaults` can only be a mistake.
DEVICE_ONLY_FIELDS = ("host", "ssh_alias")
PASSWORD_MESSAGE = (
    "passwords are not allowed in the inventory; use identity_file, ssh-agent or an ssh_config alias"
)
MAX_LISTED_NAMES = 10

# The C loader (libyaml) where PyYAML was built with it: the pure-Python one is many times
# slower on a large fleet. Both compose the same nodes, with the same line marks.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# YAML aliases: a few to share a value are fine; more, or a large one, is refused at load.
MAX_ALIASES = 100
MAX_ALIAS_NODES = 1000

_YAML_STR_TAG = "tag:yaml.org,2002:str"
_YAML_NULL_TAG = "tag:yaml.org,2002:null"
_YAML_INT_TAG = "tag:yaml.org,2002:int"
_YAML_FLOAT_TAG = "tag:yaml.org,2002:float"
_YAML_MERGE_TAG = "tag:yaml.org,2002:merge"

# The first characters that may start a typed plain scalar (null, bool, int, float, ...), from
# the resolver's own table; "" is the empty scalar (null).
_TYPED_FIRST = frozenset(YAML_LOADER.yaml_implicit_resolvers)
_ANY_FIRST = None in _TYPED_FIRST  # a resolver for any first character: no shortcut then


class _InventoryLoader(YAML_LOADER):
    """The C loader asks this Python method for the tag of every node. A plain scalar whose
    first character starts no YAML type (a name, `ssh`, a path: most of a fleet's values) is
    a string without trying the type patterns, as the resolver would conclude after them."""

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode and implicit[0] and value[:1] not in _TYPED_FIRST and not _ANY_FIRST:
            return _YAML_STR_TAG
        return super().resolve(kind, value, implicit)


# -- telemetry settings ---------------------------------------------------------------------------
# `telemetry:` is handed to the agent as is, which reads it with `settings.get(KEY)` in
# agent/telemetry/ (power.py: the power source; collect.py: idle_s, state_interval_ms).
# TELEMETRY_SETTINGS is the one list of those keys (tests/test_inventory.py checks it against
# the agent's source; README.md, "The inventory", describes it). The agent also reads `off`,
# which only benchmarks/telemetry_overhead.py sets in a job: it is not an inventory setting.

# The power sources the agent knows, from the agent itself so that the two cannot drift:
# `auto` tries AUTO_ORDER in turn; `ina219_i2c` is only used when named; `none` turns power off.
POWER_SOURCES = ("auto",) + tuple(agent_power.AUTO_ORDER) + ("ina219_i2c", "none")
_I2C_ONLY = ("ina219_i2c",)


@dataclass(frozen=True)
class TelemetrySetting:
    """What one telemetry key accepts. `kind`: "source" (one of POWER_SOURCES), "int", "number"
    (int or float; never NaN or infinite) or "text" (a non-empty string)."""

    kind: str
    rule: str  # the accepted values in words, for messages
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    exclusive_minimum: bool = False
    # The power sources it is read by; () for all. `none` always passes (power turned off for
    # now keeps its settings).
    only_with: Tuple[str, ...] = ()

    def accepts(self, value: Union[int, float]) -> bool:
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                return False
        return self.maximum is None or value <= self.maximum


TELEMETRY_SETTINGS: Dict[str, TelemetrySetting] = {
    "power": TelemetrySetting("source", "one of " + ", ".join(POWER_SOURCES)),
    "interval_ms": TelemetrySetting("int", "an integer > 0", minimum=0, exclusive_minimum=True),
    "state_interval_ms": TelemetrySetting("int", "an integer > 0", minimum=0, exclusive_minimum=True),
    "idle_s": TelemetrySetting("number", "a finite number >= 0", minimum=0),
    "total_rail": TelemetrySetting("text", "a rail name"),
    "tegrastats": TelemetrySetting("text", "a path", only_with=("auto", "tegrastats")),
    "shunt_ohms": TelemetrySetting(
        "number", "a finite number > 0", minimum=0, exclusive_minimum=True, only_with=_I2C_ONLY
    ),
    "max_expected_amps": TelemetrySetting(
        "number", "a finite number > 0", minimum=0, exclusive_minimum=True, only_with=_I2C_ONLY
    ),
    "address": TelemetrySetting("int", "an integer 0-0x7f", minimum=0, maximum=0x7F, only_with=_I2C_ONLY),
    "busnum": TelemetrySetting("int", "an integer >= 0", minimum=0, only_with=_I2C_ONLY),
}
TELEMETRY_KEYS = tuple(TELEMETRY_SETTINGS)


@dataclass(frozen=True)
class Device:
    """One benchmark target. `source` is "PATH:LINE" of its entry, for messages."""

    name: str
    connection: str
    host: Optional[str] = None
    port: Optional[int] = None  # None: the ssh_config Port for an alias, else 22
    user: Optional[str] = None
    identity_file: Optional[str] = None
    ssh_alias: Optional[str] = None
    python: str = DEFAULT_REMOTE_PYTHON
    workdir: str = DEFAULT_WORKDIR
    platform: str = DEFAULT_PLATFORM
    # Every group the device belongs to: its own list plus top-level groups that name it.
    groups: Tuple[str, ...] = ()
    backends: Tuple[str, ...] = DEFAULT_BACKENDS
    # What compiled backends (tvm) build for: a name in compile/targets.py. Default: the
    # platform's (rpi4, jetson-nano), `native` for a local device, else None (refused by them).
    target: Optional[str] = None
    # The agent's telemetry settings, checked against TELEMETRY_SETTINGS (values are plain
    # str/int/float). A dict is unhashable, so it stays out of the hash.
    telemetry: Dict[str, Any] = field(default_factory=dict, hash=False)
    source: str = ""

    @property
    def is_local(self) -> bool:
        return self.connection == "local"

    def local_workdir(self) -> Path:
        """The workdir as a path on this host; only meaningful for a local device."""
        if not self.is_local:
            raise ValueError(f"device '{self.name}' is not local; its workdir lives on the device")
        return Path(self.workdir).expanduser()


@dataclass
class Inventory:
    devices: Dict[str, Device]
    groups: Dict[str, List[str]]
    path: Optional[Path] = None  # None for the built-in inventory

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else BUILTIN_SOURCE

    def device(self, name: str) -> Device:
        if name in self.devices:
            return self.devices[name]
        raise UnknownDeviceError(
            f"unknown device '{name}' in {self.where}{_did_you_mean(name, self.devices)}; "
            f"known devices: {_name_list(self.devices)}"
        )

    def group_members(self, group: str) -> List[Device]:
        if group not in self.groups:
            known = _name_list(self.groups) if self.groups else "(none)"
            raise UnknownDeviceError(
                f"unknown group '{group}' in {self.where}{_did_you_mean(group, self.groups)}; "
                f"known groups: {known}"
            )
        if not self.groups[group]:
            raise UnknownDeviceError(f"group '{group}' in {self.where} has no devices")
        return [self.devices[name] for name in self.groups[group]]

    def select(
        self,
        names: Optional[List[str]] = None,
        group: Optional[str] = None,
        all_: bool = False,
    ) -> List[Device]:
        """Devices named and/or in `group` (in that order, without repeats); all of them with
        `all_`; just `local` when nothing is asked for."""
        if all_:
            return list(self.devices.values())
        if not names and group is None:
            return [self._default_device()]
        chosen = [self.device(name) for name in names or ()]
        if group is not None:
            chosen += self.group_members(group)
        return _without_repeats(chosen)

    def _default_device(self) -> Device:
        if LOCAL_DEVICE in self.devices:
            return self.devices[LOCAL_DEVICE]
        raise UnknownDeviceError(
            f"no device given and {self.where} has no '{LOCAL_DEVICE}' device; "
            f"name one (known devices: {_name_list(self.devices)}) or a group"
        )


# ---------------------------------------------------------------------------------------------
# Finding and reading the file


def load_inventory(path: Union[str, "os.PathLike[str]", None] = None) -> Inventory:
    """Load the inventory from `path`, else $EDGEBENCH_INVENTORY, else ./inventory.yaml,
    else the one shipped with edgebench, else a built-in one holding only `local`."""
    chosen = resolve_inventory_path(path)
    if chosen is None:
        return builtin_inventory()
    text = _read_text(chosen)
    if not reads_as_edgebench(text):  # may be an Ansible inventory (INI or YAML)
        from .ansible_inventory import ansible_kind, load_ansible

        kind = ansible_kind(chosen, text)
        if kind is not None:
            return load_ansible(text, chosen, kind)
    return parse_inventory(text, chosen)


def resolve_inventory_path(path: Union[str, "os.PathLike[str]", None] = None) -> Optional[Path]:
    """The file to load, or None for the built-in inventory. A path the user asked for
    (argument or environment) must exist; the fallbacks are only used if they do."""
    requested = path if path is not None else os.environ.get(ENV_VAR) or None
    if requested is not None:
        return _existing_requested_file(Path(requested).expanduser())
    for candidate in (Path.cwd() / INVENTORY_FILENAME, shipped_inventory_path()):
        if candidate.is_file():
            return candidate
    return None


def shipped_inventory_path() -> Path:
    # Exists in a checkout / editable install; a wheel does not ship it.
    return Path(__file__).resolve().parent.parent / INVENTORY_FILENAME


def builtin_inventory() -> Inventory:
    local = Device(
        name=LOCAL_DEVICE,
        connection="local",
        python=sys.executable,
        workdir=f"{DEFAULT_WORKDIR}/{LOCAL_DEVICE}",
        groups=(LOCAL_DEVICE,),
        target=compile_targets.NATIVE,
        source=BUILTIN_SOURCE,
    )
    return Inventory(devices={LOCAL_DEVICE: local}, groups={LOCAL_DEVICE: [LOCAL_DEVICE]}, path=None)


def _existing_requested_file(path: Path) -> Path:
    if not path.exists():
        raise InventoryError(f"inventory file not found: {path} (set --inventory or {ENV_VAR})")
    if not path.is_file():
        raise InventoryError(f"inventory path is not a file: {path} (set --inventory or {ENV_VAR})")
    return path


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: inventory is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------------------------------------
# Parsing and validating


def parse_inventory(text: str, path: Path) -> Inventory:
    """Validate inventory YAML `text`; `path` is only used in messages and `Inventory.path`."""
    where = str(path)
    with _collector_paused():
        root = _compose_yaml(text, where)
        if root is None:
            raise InventoryError(
                f"{where}:1: inventory is empty; expected 'version: 1' and a 'devices' mapping"
            )
        return _InventoryParser(where).parse(root, path)


@contextmanager
def _collector_paused():
    """Composing a large inventory allocates about ten objects per line (nodes, marks) and
    frees none, so each pass of Python's cycle collector walks all of them: load time grew
    with the square of the fleet (60k devices: minutes). Nothing here makes reference cycles
    worth collecting; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compose_yaml(text: str, where: str) -> Optional[Node]:
    try:
        root = yaml.compose(text, Loader=_InventoryLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise InventoryError(
            f"{where}:{line}: malformed YAML: {_one_line(problem)}{_yaml_context(exc)}"
        ) from exc
    except yaml.YAMLError as exc:  # e.g. a control character: no line/column mark
        raise InventoryError(f"{where}: malformed YAML: {_one_line(str(exc))}") from exc
    # An alias needs an anchor (&name): without an '&' anywhere there is nothing to count.
    if root is not None and "&" in text:
        _check_aliases(root, where)
    return root


def _check_aliases(root: Node, where: str) -> None:
    """Refuses more than MAX_ALIASES alias uses, and any alias standing for more than
    MAX_ALIAS_NODES nodes (a recursive one stands for infinitely many). Composing never expands
    an alias (it is the anchored node object met again), but whatever expands the tree later
    (a "billion laughs": a few hundred bytes of nested aliases) would take minutes and all
    memory."""
    repeated = _repeated_nodes(root) if not isinstance(root, ScalarNode) else []
    if len(repeated) > MAX_ALIASES:
        raise InventoryError(
            f"{where}:{_line(repeated[MAX_ALIASES])}: more than {MAX_ALIASES} YAML aliases; "
            "write the values out, or put shared settings in 'defaults'"
        )
    for node in {id(node): node for node in repeated}.values():
        size = _expanded_size(node, MAX_ALIAS_NODES)
        if size == math.inf:
            raise InventoryError(f"{where}:{_line(node)}: the YAML anchor here is used inside itself")
        if size > MAX_ALIAS_NODES:
            raise InventoryError(
                f"{where}:{_line(node)}: an alias of the YAML anchor here stands for more than "
                f"{MAX_ALIAS_NODES} values; write the values out, or put shared settings in 'defaults'"
            )


def _repeated_nodes(root: Node) -> List[Node]:
    """Every list or mapping met a second time, once per meeting: the alias uses that can
    expand (an alias of a single value cannot; skipping values keeps this fast on a large
    fleet). Each node is descended into once, so this is linear in the file, loops included."""
    seen = set()
    repeated = []
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            repeated.append(node)
            continue
        seen.add(id(node))
        items = (
            [item for pair in node.value for item in pair] if node.__class__ is MappingNode else node.value
        )
        pending.extend(item for item in items if item.__class__ is not ScalarNode)
    return repeated


def _expanded_size(node: Node, limit: int) -> float:
    """How many nodes `node` stands for with its aliases expanded; counting stops past `limit`.
    Infinite when `node` is inside itself (a recursive alias)."""
    count = 0
    pending = [node]
    while pending and count <= limit:
        current = pending.pop()
        if current is node and count:
            return math.inf
        count += 1
        if isinstance(current, MappingNode):
            pending.extend(item for pair in current.value for item in pair)
        elif isinstance(current, SequenceNode):
            pending.extend(current.value)
    return count


def _yaml_context(exc: yaml.MarkedYAMLError) -> str:
    # An unclosed bracket or quote is found lines later; say where it was opened.
    mark, context = exc.context_mark, exc.context
    if not (mark and context and exc.problem_mark) or mark.line == exc.problem_mark.line:
        return ""
    return f" ({_one_line(context)} started at line {mark.line + 1})"


# Field name -> (value, node the value came from, for line numbers).
_Fields = Dict[str, Tuple[Any, Node]]
# A device's checked fields as Device's keyword arguments, before its groups are merged.
_DeviceValues = Dict[str, Any]


class _InventoryParser:
    """Walks the composed YAML nodes; every check fails with `PATH:LINE: context: message`."""

    def __init__(self, where: str):
        self.where = where

    def parse(self, root: Node, path: Path) -> Inventory:
        top = self.mapping(root, "", "inventory", "key")
        self.reject_unknown_keys(top, TOP_LEVEL_KEYS, "", "top-level key")
        self.check_version(top)
        defaults = self.parse_defaults(top)
        # Each Device is made once, when its groups are known (a dataclasses.replace per device
        # took a quarter of the load time of a large fleet).
        found = self.parse_devices(top, root, defaults)
        declared_groups = self.parse_groups(top, found)
        groups = _merged_groups(found, declared_groups)
        by_device = _groups_by_device(groups)
        devices = {
            name: Device(**{**values, "groups": by_device.get(name, ())}) for name, values in found.items()
        }
        return Inventory(devices=devices, groups=groups, path=path)

    # -- errors ------------------------------------------------------------------------------

    def fail(self, node: Node, message: str, context: str = "") -> NoReturn:
        prefix = f"{context}: " if context else ""
        raise InventoryError(f"{self.where}:{_line(node)}: {prefix}{message}")

    def source_of(self, node: Node) -> str:
        return f"{self.where}:{_line(node)}"

    # -- top level ---------------------------------------------------------------------------

    def check_version(self, top: Dict[str, Tuple[Node, Node]]) -> None:
        if "version" not in top:
            return  # optional: a file without it is read as version 1
        node = top["version"][1]
        if _number(node, integer=True) != SUPPORTED_VERSION:
            self.fail(node, f"'version' must be {SUPPORTED_VERSION}, got {_describe(node)}")

    def parse_defaults(self, top: Dict[str, Tuple[Node, Node]]) -> _Fields:
        if "defaults" not in top:
            return {}
        node = top["defaults"][1]
        return self.device_fields(node, "defaults", allowed=_defaultable_fields())

    def parse_devices(
        self, top: Dict[str, Tuple[Node, Node]], root: Node, defaults: _Fields
    ) -> Dict[str, _DeviceValues]:
        if "devices" not in top:
            self.fail(root, "missing required key 'devices' (a mapping of device name -> settings)")
        node = top["devices"][1]
        entries = self.mapping(node, "", "'devices'", "device")
        if not entries:
            self.fail(node, "'devices' must define at least one device")
        return {
            name: self.parse_device(name, key_node, value_node, defaults)
            for name, (key_node, value_node) in entries.items()
        }

    def parse_groups(
        self, top: Dict[str, Tuple[Node, Node]], devices: Dict[str, _DeviceValues]
    ) -> Dict[str, List[str]]:
        if "groups" not in top:
            return {}
        entries = self.mapping(top["groups"][1], "", "'groups'", "group")
        return {
            name: self.group_members(name, key_node, value_node, devices)
            for name, (key_node, value_node) in entries.items()
        }

    def group_members(
        self, name: str, key_node: Node, value_node: Node, devices: Dict[str, _DeviceValues]
    ) -> List[str]:
        context = f"group '{name}'"
        self.check_name(key_node, "group", "")
        members = []
        for item in self.sequence(value_node, context, "the group", "a list of device names"):
            member = self.string(item, context, "members")
            if member not in devices:
                self.fail(item, f"unknown device '{member}'{_did_you_mean(member, devices)}", context)
            members.append(member)
        return members

    # -- devices -----------------------------------------------------------------------------

    def parse_device(self, name: str, key_node: Node, value_node: Node, defaults: _Fields) -> _DeviceValues:
        context = f"device '{name}'"
        self.check_name(key_node, "device", "")
        own = self.device_fields(value_node, context, allowed=DEVICE_FIELDS)
        connection = self.connection_of(own, defaults, key_node, context)
        if connection == "local":
            self.reject_ssh_fields(own, context)
            fields = {**_without_ssh_fields(defaults), **own}
        else:
            fields = {**defaults, **own}
            self.check_ssh_target(fields, key_node, context)
        return self.device_values(name, connection, fields, key_node)

    def connection_of(self, own: _Fields, defaults: _Fields, key_node: Node, context: str) -> str:
        fields = {**defaults, **own}
        if "connection" not in fields:
            self.fail(
                key_node, f"missing required field 'connection' (one of {', '.join(CONNECTIONS)})", context
            )
        return fields["connection"][0]

    def reject_ssh_fields(self, own: _Fields, context: str) -> None:
        for name in SSH_ONLY_FIELDS:
            if name in own:
                self.fail(own[name][1], f"field '{name}' only applies to 'connection: ssh'", context)

    def check_ssh_target(self, fields: _Fields, key_node: Node, context: str) -> None:
        if "host" in fields and "ssh_alias" in fields:
            self.fail(fields["ssh_alias"][1], "give either 'host' or 'ssh_alias', not both", context)
        if "host" not in fields and "ssh_alias" not in fields:
            self.fail(
                key_node,
                "'connection: ssh' needs 'host' (address or name) or 'ssh_alias' (a Host in ~/.ssh/config)",
                context,
            )

    def device_values(self, name: str, connection: str, fields: _Fields, key_node: Node) -> _DeviceValues:
        values = {field_name: value for field_name, (value, _node) in fields.items()}
        values["connection"] = connection
        if connection == "local":
            # The local device runs the agent with this very interpreter unless told otherwise,
            # so that it finds the packages edgebench was installed with.
            values.setdefault("python", sys.executable)
        if "target" not in values:
            values["target"] = compile_targets.default_target(connection, values.get("platform"))
        return dict(values, name=name, source=self.source_of(key_node))

    def device_fields(self, node: Node, context: str, allowed: Iterable[str]) -> _Fields:
        """Check every field of a device (or of `defaults`) and convert its value."""
        allowed = tuple(allowed)
        entries = self.mapping(node, context, "settings", "field")
        for key, (key_node, _value) in entries.items():
            self.check_field_name(key, key_node, allowed, context)
        return {key: (self.field_value(key, value, context), value) for key, (_k, value) in entries.items()}

    def check_field_name(self, key: str, key_node: Node, allowed: Tuple[str, ...], context: str) -> None:
        if key in allowed:  # no allowed field looks like a password
            return
        if _looks_like_password(key):
            self.fail(key_node, PASSWORD_MESSAGE, context)
        if key in DEVICE_ONLY_FIELDS:
            self.fail(
                key_node, f"field '{key}' names one machine; set it on each device, not in defaults", context
            )
        self.fail_unknown_key(key, key_node, allowed, context, "field")

    def field_value(self, key: str, node: Node, context: str) -> Any:
        if key == "connection":
            return self.choice(node, context, key, CONNECTIONS)
        if key == "platform":
            return self.choice(node, context, key, PLATFORMS)
        if key == "target":
            return self.choice(node, context, key, compile_targets.NAMES)
        if key == "port":
            return self.port(node, context)
        if key == "groups":
            return tuple(self.names(node, context, key, "group"))
        if key == "backends":
            return tuple(self.backends(node, context))
        if key == "telemetry":
            return self.telemetry(node, context)
        return self.string(node, context, f"field '{key}'")

    # -- values ------------------------------------------------------------------------------

    def mapping(self, node: Node, context: str, what: str, kind: str) -> Dict[str, Tuple[Node, Node]]:
        """Key -> (key node, value node). An empty value (`key:`) is an empty mapping."""
        if _is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} must be a mapping (name: value), got {_describe(node)}", context)
        entries: Dict[str, Tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, context)
            if key in entries:
                first = _line(entries[key][0])
                self.fail(key_node, f"duplicate {kind} '{key}' (first at line {first})", context)
            entries[key] = (key_node, value_node)
        return entries

    def key(self, node: Node, context: str) -> str:
        if node.tag == _YAML_STR_TAG and isinstance(node, ScalarNode):
            return node.value  # a name: what nearly every key is
        if node.tag == _YAML_MERGE_TAG:
            self.fail(
                node, "YAML merge keys ('<<') are not supported; use 'defaults' for shared settings", context
            )
        if not isinstance(node, ScalarNode) or _is_null(node):
            self.fail(node, f"expected a name as key, got {_describe(node)}", context)
        return node.value

    def reject_unknown_keys(
        self, entries: Dict[str, Tuple[Node, Node]], allowed: Tuple[str, ...], context: str, kind: str
    ) -> None:
        for key, (key_node, _value) in entries.items():
            if key not in allowed:
                self.fail_unknown_key(key, key_node, allowed, context, kind)

    def fail_unknown_key(
        self, key: str, key_node: Node, allowed: Tuple[str, ...], context: str, kind: str
    ) -> NoReturn:
        suggestion = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean '{suggestion[0]}'?)" if suggestion else f" (allowed: {', '.join(allowed)})"
        self.fail(key_node, f"unknown {kind} '{key}'{hint}", context)

    def check_name(self, node: Node, kind: str, context: str) -> None:
        if not NAME_PATTERN.fullmatch(node.value):
            self.fail(
                node,
                f"invalid {kind} name '{node.value}' (use letters, digits, '_', '.', '-'; start with a letter or digit)",
                context,
            )

    def string(self, node: Node, context: str, what: str) -> str:
        # The raw text is used, so `user: 1000` or `host: no` stay strings instead of YAML ints/bools.
        if not isinstance(node, ScalarNode):
            self.fail(node, f"{what} must be a string, got {_describe(node)}", context)
        if _is_null(node) or not node.value.strip():
            self.fail(node, f"{what} must not be empty", context)
        return node.value

    def choice(self, node: Node, context: str, key: str, choices: Tuple[str, ...]) -> str:
        value = node.value if isinstance(node, ScalarNode) and not _is_null(node) else None
        if value not in choices:
            hint = _did_you_mean(value, choices) if value else ""
            allowed = ", ".join(choices)
            self.fail(node, f"field '{key}' must be one of {allowed}, got {_describe(node)}{hint}", context)
        return value

    def port(self, node: Node, context: str) -> int:
        value = _number(node, integer=True)
        if value is None or not 1 <= value <= 65535:
            self.fail(node, f"field 'port' must be an integer 1-65535, got {_describe(node)}", context)
        return value

    def sequence(self, node: Node, context: str, what: str, expected: str) -> List[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be {expected}, e.g. [a, b], got {_describe(node)}", context)
        return list(node.value)

    def names(self, node: Node, context: str, key: str, kind: str) -> List[str]:
        names = []
        for item in self.sequence(node, context, f"field '{key}'", f"a list of {kind} names"):
            self.string(item, context, f"field '{key}' entries")
            self.check_name(item, kind, context)
            names.append(item.value)
        return names

    def backends(self, node: Node, context: str) -> List[str]:
        # Plain `null` here is the name of the null backend, not YAML's null, so the raw text is kept.
        items = self.sequence(node, context, "field 'backends'", "a list of backend names")
        if not items:
            self.fail(node, "field 'backends' must name at least one backend", context)
        backends = []
        for item in items:
            if not isinstance(item, ScalarNode) or item.value.strip() in ("", "~"):
                self.fail(
                    item, f"field 'backends' entries must be backend names, got {_describe(item)}", context
                )
            backends.append(item.value)
        return backends

    def telemetry(self, node: Node, context: str) -> Dict[str, Any]:
        """The settings handed to the agent. Only keys of TELEMETRY_SETTINGS with scalar values
        are accepted, so YAML aliases cannot expand into a large structure here."""
        entries = self.mapping(node, context, "field 'telemetry'", "telemetry key")
        settings: Dict[str, Any] = {}
        for key, (key_node, value_node) in entries.items():
            if key not in TELEMETRY_SETTINGS:
                suggestion = difflib.get_close_matches(key, TELEMETRY_KEYS, n=1)
                hint = f" (did you mean '{suggestion[0]}'?)" if suggestion else ""
                valid = ", ".join(TELEMETRY_KEYS)
                self.fail(
                    key_node, f"unknown key '{key}' in field 'telemetry'{hint}; valid keys: {valid}", context
                )
            settings[key] = self.telemetry_value(key, value_node, context)
        self.check_telemetry_sources(settings, entries, context)
        return settings

    def telemetry_value(self, key: str, node: Node, context: str) -> Any:
        setting = TELEMETRY_SETTINGS[key]
        name = f"telemetry.{key}"
        if setting.kind == "source":
            return self.choice(node, context, name, POWER_SOURCES)
        if setting.kind == "text":
            return self.string(node, context, f"field '{name}'")
        value = _number(node, integer=setting.kind == "int")
        if value is None or not setting.accepts(value):
            self.fail(node, f"field '{name}' must be {setting.rule}, got {_describe_value(node)}", context)
        return value

    def check_telemetry_sources(
        self, settings: Dict[str, Any], entries: Dict[str, Tuple[Node, Node]], context: str
    ) -> None:
        """A setting read only by some power sources is a mistake with any other source."""
        source = settings.get("power", "auto")
        for key in settings:
            only_with = TELEMETRY_SETTINGS[key].only_with
            if only_with and source not in only_with + ("none",):
                wanted = " or ".join(f"'power: {name}'" for name in only_with)
                message = f"field 'telemetry.{key}' only applies to {wanted} (power here: {source})"
                self.fail(entries[key][0], message, context)


# ---------------------------------------------------------------------------------------------
# Small helpers


def _defaultable_fields() -> Tuple[str, ...]:
    return tuple(name for name in DEVICE_FIELDS if name not in DEVICE_ONLY_FIELDS)


def _without_ssh_fields(fields: _Fields) -> _Fields:
    # A shared `user:` or `port:` in defaults is meant for the ssh devices, not for `local`.
    return {name: value for name, value in fields.items() if name not in SSH_ONLY_FIELDS}


def _merged_groups(devices: Dict[str, _DeviceValues], declared: Dict[str, List[str]]) -> Dict[str, List[str]]:
    """Top-level groups united with each device's own `groups`, members in inventory order.
    One pass over the devices (not one per group): a fleet of 60k devices in thousands of
    groups loads in seconds."""
    members: Dict[str, set] = {group: set(names) for group, names in declared.items()}
    for name, values in devices.items():
        for group in values.get("groups", ()):
            members.setdefault(group, set()).add(name)
    order = {name: index for index, name in enumerate(devices)}
    return {group: sorted(names, key=order.__getitem__) for group, names in members.items()}


def _groups_by_device(groups: Dict[str, List[str]]) -> Dict[str, Tuple[str, ...]]:
    """Device name -> every group it is in, in the order of `groups`."""
    found: Dict[str, List[str]] = {}
    for group, members in groups.items():
        for name in members:
            found.setdefault(name, []).append(group)
    return {name: tuple(names) for name, names in found.items()}


def _without_repeats(devices: List[Device]) -> List[Device]:
    return list({device.name: device for device in devices}.values())  # dicts keep first-seen order


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def _name_list(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:MAX_LISTED_NAMES])
    more = len(names) - MAX_LISTED_NAMES
    return f"{shown} (and {more} more)" if more > 0 else shown


def _looks_like_password(key: str) -> bool:
    lowered = key.lower()
    return "password" in lowered or lowered in ("passwd", "pass")


def _line(node: Node) -> int:
    return node.start_mark.line + 1  # marks are 0-based


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _YAML_NULL_TAG


def _construct(node: Node) -> Any:
    return SafeConstructor().construct_object(node, deep=True)


def _number(node: Node, integer: bool) -> Union[int, float, None]:
    """The value of a YAML int (or, unless `integer`, float) scalar; None for anything else,
    NaN, the infinities and integers too long for Python to read."""
    tags = (_YAML_INT_TAG,) if integer else (_YAML_INT_TAG, _YAML_FLOAT_TAG)
    if not isinstance(node, ScalarNode) or node.tag not in tags:
        return None
    try:
        value = _construct(node)
    except ValueError:  # e.g. more than sys.get_int_max_str_digits() digits
        return None
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _describe_value(node: Node) -> str:
    # `"100"` reads as the string 100: say so, or "got '100'" would puzzle.
    if isinstance(node, ScalarNode) and node.style in ("'", '"'):
        return f"the quoted string {_describe(node)}"
    return _describe(node)


def _describe(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    if _is_null(node):
        return "nothing"
    text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    return f"'{_one_line(text)}'"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
