"""Transports behind the Connection seam, chosen by the inventory's `connection` field."""

from ..errors import UserError
from .base import Channel, Connection, Result


def connect(device, accept_new: bool = False) -> Connection:
    if device.connection == "local":
        from .local import LocalConnection

        return LocalConnection(device.name)
    if device.connection == "ssh":
        from .ssh import SSHConnection  # paramiko is imported only for SSH devices

        return SSHConnection(device, accept_new=accept_new)
    raise UserError(
        "device '%s' (%s): unknown connection '%s'; use local or ssh"
        % (device.name, device.source, device.connection)
    )


__all__ = ["Channel", "Connection", "Result", "connect"]
