"""What the sweep engine takes from the world, injected so that tests can fake it: how to
connect to a device, the clock and sleep (transport/fake.py has a scripted device and a
fake clock to match)."""

import time
from dataclasses import dataclass
from typing import Callable

from .. import transport


def _connect(device, accept_new: bool = False):
    return transport.connect(device, accept_new=accept_new)


@dataclass(frozen=True)
class Seams:
    connect: Callable = _connect  # (device, accept_new=) -> Connection
    clock: Callable[[], float] = time.monotonic  # seconds, monotonic
    sleep: Callable[[float], None] = time.sleep
