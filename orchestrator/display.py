"""Live progress on the terminal (stderr): one bar per device and one for the sweep."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .sweep.plan import Cell
from .sweep.progress import Outcome
from .sweep.progress import Progress as SweepProgress


class LiveProgress(SweepProgress):
    def __init__(self, cells, console: Console):
        self._bars = Progress(
            TextColumn("{task.fields[device]:<12}"),
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks, self._failed = {}, {}
        for cell in cells:
            name = cell.device.name
            if name not in self._tasks:
                self._tasks[name] = self._bars.add_task("waiting", total=0, device=name)
                self._failed[name] = 0
            self._bars.update(self._tasks[name], total=self._bars.tasks[self._tasks[name]].total + 1)

    def __enter__(self):
        self._bars.__enter__()
        return self

    def __exit__(self, *exc):
        return self._bars.__exit__(*exc)

    def started(self, cell: Cell) -> None:
        self._bars.update(self._tasks[cell.device.name], description=cell.label)

    def finished(self, outcome: Outcome) -> None:
        name = outcome.cell.device.name
        if outcome.status != "ok":
            self._failed[name] += 1
        failed = " [red]%d failed[/red]" % self._failed[name] if self._failed[name] else ""
        self._bars.update(
            self._tasks[name], advance=1, description="%s %s%s" % (outcome.cell.label, outcome.status, failed)
        )

    def note(self, device: str, message: str) -> None:
        self._bars.console.print("%s: %s" % (device, message), markup=False, highlight=False)
