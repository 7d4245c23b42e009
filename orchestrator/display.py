"""Live progress on the terminal (stderr). A sweep: one bar per device and its current cell, or,
past MANY_DEVICES devices, one bar for the whole sweep with a summary line. Probe and deploy
across devices: one summary line ("probed 41/64, 2 unreachable"). Off a terminal (a log), the
last state is printed once, at the end."""

import re
import threading
from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:  # the sweep package is not imported for probe and deploy
    from .sweep.plan import Cell
    from .sweep.progress import Outcome

MANY_DEVICES = 8  # more than this: a summary line, not a bar per device
UNREACHABLE = "device unreachable"  # how the sweep engine words an unreachable device's cells


def fleet_summary(verb: str, finished: int, total: int, failed: int, failure: str = "unreachable") -> str:
    """One line for a fleet-wide command: 'probed 41/64, 2 unreachable'."""
    return "%s %d/%d%s" % (verb, finished, total, ", %d %s" % (failed, failure) if failed else "")


def compact_names(names) -> str:
    """Device names in a short form, in their order: a run of numbered names with nothing
    missing between them as its ends ('nano01 – nano64', spaced so that a narrow column wraps
    it), the rest listed ('pi4, sim02')."""
    parts, run = [], []  # run: [(prefix, digits)] numbered alike and consecutive

    def close_run():
        if len(run) > 2:
            parts.append("%s%s – %s%s" % (run[0] + run[-1]))
        else:
            parts.extend(prefix + digits for prefix, digits in run)
        run.clear()

    for name in names:
        match = re.fullmatch(r"(.*?)(\d+)", name)
        numbered = (match.group(1), match.group(2)) if match else None
        if numbered and run and _follows(run[-1], numbered):
            run.append(numbered)
            continue
        close_run()
        if numbered:
            run.append(numbered)
        else:
            parts.append(name)
    close_run()
    return ", ".join(parts)


def _follows(last, this) -> bool:
    """`this` is the name after `last`: same prefix, same width, one more."""
    return this[0] == last[0] and len(this[1]) == len(last[1]) and int(this[1]) == int(last[1]) + 1


def sweep_summary(devices: int, done: int, working: int, unreachable: int, failed: int) -> str:
    """The sweep's line beside its bar of trials: devices done and working, what went wrong."""
    parts = ["%d/%d devices done" % (done, devices), "%d working" % working]
    parts += ["%d unreachable" % unreachable] if unreachable else []
    parts += ["%d trial(s) failed" % failed] if failed else []
    return ", ".join(parts)


class FleetLine:
    """The live line of `probe`/`deploy` across devices; `done(result)` is fleet.py's hook
    (called from its worker threads) for each device as it finishes. Off a terminal: the last
    state, once, at the end."""

    def __init__(self, verb: str, total: int, console: Console, failure: str = "unreachable"):
        self.verb, self.total, self.failure = verb, total, failure
        self.finished = self.failed = 0
        self._lock = threading.Lock()
        self._console = console
        self._live = (
            Live(Text(self.line), console=console, refresh_per_second=8, transient=False)
            if console.is_terminal
            else None
        )

    @property
    def line(self) -> str:
        return fleet_summary(self.verb, self.finished, self.total, self.failed, self.failure)

    def __enter__(self):
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            return self._live.__exit__(*exc)
        self._console.print(self.line, markup=False, highlight=False)
        return False

    def done(self, result) -> None:
        with self._lock:
            self.finished += 1
            self.failed += 0 if result.ok else 1
            if self._live is not None:
                self._live.update(Text(self.line))


class LiveProgress:
    """The sweep's display (what sweep/progress.py's Progress is told)."""

    def __init__(self, cells, console: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        cells = list(cells)
        self._left = Counter(cell.device.name for cell in cells)  # cells still to finish, per device
        self._many = len(self._left) > MANY_DEVICES
        self._failed, self._working, self._unreachable = Counter(), set(), set()
        self._lock = threading.Lock()  # devices' worker threads report at once
        lead = TextColumn("{task.fields[device]:<12}") if not self._many else TextColumn("sweep")
        self._bars = Progress(
            lead,
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks = {}
        if self._many:
            self._sweep = self._bars.add_task(self._summary(), total=len(cells), device="")
        else:
            for name, count in self._left.items():
                self._tasks[name] = self._bars.add_task("waiting", total=count, device=name)

    def __enter__(self):
        self._bars.__enter__()
        return self

    def __exit__(self, *exc):
        return self._bars.__exit__(*exc)

    def _summary(self) -> str:
        done = sum(1 for left in self._left.values() if left == 0)
        failed = sum(count for name, count in self._failed.items() if name not in self._unreachable)
        return sweep_summary(len(self._left), done, len(self._working), len(self._unreachable), failed)

    def started(self, cell: "Cell") -> None:
        if not self._many:
            self._bars.update(self._tasks[cell.device.name], description=cell.label)
            return
        with self._lock:
            self._working.add(cell.device.name)
            self._bars.update(self._sweep, description=self._summary())

    def finished(self, outcome: "Outcome") -> None:
        name = outcome.cell.device.name
        with self._lock:
            self._left[name] -= 1
            if outcome.status not in ("ok", "skipped"):  # skipped: --on-busy skip, not a failure
                self._failed[name] += 1
            if (outcome.error or "").startswith(UNREACHABLE):
                self._unreachable.add(name)
            if self._left[name] == 0:
                self._working.discard(name)
            if self._many:
                self._bars.update(self._sweep, advance=1, description=self._summary())
                return
        failed = " [red]%d failed[/red]" % self._failed[name] if self._failed[name] else ""
        self._bars.update(
            self._tasks[name], advance=1, description="%s %s%s" % (outcome.cell.label, outcome.status, failed)
        )

    def note(self, device: str, message: str) -> None:
        self._bars.console.print("%s: %s" % (device, message), markup=False, highlight=False)


class _NoLine:
    """One device: its own output says it all."""

    done = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def fleet_line(verb: str, total: int, console: Console, failure: str = "unreachable"):
    """The live summary line of a command across `total` devices; none for a single device."""
    return FleetLine(verb, total, console, failure) if total > 1 else _NoLine()
