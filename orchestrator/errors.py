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


class CellRefused(DeviceError):
    """A cell that cannot run on its device as asked: it fails at once with this one line, and
    retrying cannot help; the device's other cells go on."""


class RuntimeMissing(CellRefused):
    """The device lacks the runtime a backend needs: refused before anything is compiled or
    pushed for it."""


class CompileFailed(CellRefused):
    """The host could not compile the cell's artifact (an operator the compiler lacks, no
    cross compiler): nothing is pushed."""
