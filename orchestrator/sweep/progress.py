"""What a sweep tells its display: a cell started, a cell's outcome, a note about a device."""

from dataclasses import dataclass
from typing import Optional

from .plan import Cell


@dataclass
class Outcome:
    cell: Cell
    trial_id: Optional[str]
    status: str  # ok | failed | lost | skipped
    error: Optional[str] = None
    # A resume found the run finished in the device's spool: not measured again.
    recovered: bool = False


class Progress:
    """What a display needs to know; the default shows nothing."""

    def started(self, cell: Cell) -> None: ...
    def finished(self, outcome: Outcome) -> None: ...
    def note(self, device: str, message: str) -> None: ...
