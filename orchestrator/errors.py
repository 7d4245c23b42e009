"""One exception family for the user's mistakes (docs/DESIGN.md, "Errors").

The CLI catches `UserError` once, prints its one-line message and exits with status 2.
Messages name what is wrong and where (file, line, field, device, model) and what to do.
"""


class UserError(Exception):
    """A mistake the user can fix: bad inventory, unknown device, bad model path, bad option."""

    exit_code = 2


class InventoryError(UserError):
    """inventory.yaml is missing, malformed or invalid."""


class UnknownDeviceError(UserError):
    """A device or group name that the inventory does not define."""


class ModelError(UserError):
    """A model path that does not exist or is not an ONNX model."""


class DeviceError(Exception):
    """A device failed during a trial (agent crashed, bad record). Fails that trial only."""


class LinkLost(DeviceError):
    """The connection to the device died, not the command: the device may still be working,
    and its spool holds what it measured."""


class AgentSilent(DeviceError):
    """The agent sent nothing for longer than a trial may take: it may still be measuring."""


class RuntimeMissing(DeviceError):
    """The device lacks the runtime a backend needs: every cell of that backend fails at once,
    before anything is compiled or pushed for it, and retrying cannot help."""
