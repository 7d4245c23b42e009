"""Transports behind the Connection seam, chosen by the inventory's `connection` field."""
from ..errors import UserError
from .base import Channel, Connection, Result


def connect(device) -> Connection:
    if device.connection == "local":
        from .local import LocalConnection
        return LocalConnection(device.name)
    raise UserError("device '%s' (%s): connection '%s' is not supported yet; only 'local' is"
                    % (device.name, device.source, device.connection))


__all__ = ["Channel", "Connection", "Result", "connect"]
