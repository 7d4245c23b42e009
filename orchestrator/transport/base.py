"""The Connection seam: one interface, a local and (later) an SSH implementation.

Commands are argv lists. Only a transport that goes through a shell (SSH) quotes them, with
shlex.quote; code written against `Connection` runs locally or remotely unchanged.
"""

import abc
import collections
import queue
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence


@dataclass
class Result:
    argv: Sequence[str]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def tail(self, lines: int = 5) -> str:
        """The last lines of stderr (or stdout), for error messages."""
        return " | ".join(without_traceback((self.stderr or self.stdout).strip().splitlines())[-lines:])


TRACEBACK_LINES = (
    "Traceback (most recent call last):",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def without_traceback(lines: Sequence[str]) -> list:
    """A Python traceback's frames are the device code's, not a reason: they never reach a
    message or a stored error. Its last line (the exception) stays."""
    kept, inside = [], False
    for line in lines:
        if line.strip() in TRACEBACK_LINES:
            inside = True
        elif inside and (line.startswith((" ", "\t")) or not line.strip()):
            pass  # a frame ("  File ...") or its source line: indented
        else:
            inside = False  # the exception line ends the traceback
            kept.append(line)
    return kept


class Channel(abc.ABC):
    """A long-lived process on the device that takes lines on stdin and answers on stdout."""

    @abc.abstractmethod
    def send_line(self, line: str) -> None: ...

    @abc.abstractmethod
    def read_line(self, timeout: float) -> Optional[str]:
        """The next stdout line without its newline; None at end of stream.
        Raises TimeoutError when nothing arrives within `timeout` seconds."""

    @abc.abstractmethod
    def stderr_tail(self, lines: int = 5) -> str: ...

    def link_alive(self) -> bool:
        """False once the connection under the channel is gone (never for a local process)."""
        return True

    @abc.abstractmethod
    def close(self, timeout: float = 5.0) -> Optional[int]:
        """Closes stdin, waits for exit (kills after `timeout`), returns the exit status."""


class PumpedChannel(Channel):
    """Reader threads turn the remote process's stdout into a queue (a blocking readline cannot
    take a timeout; a queue can) and keep the last lines of its stderr."""

    STREAM_ERRORS: tuple = (OSError,)

    def _start_pumps(self, stdout: Iterable[str], stderr: Iterable[str]) -> None:
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stderr: collections.deque = collections.deque(maxlen=50)
        threading.Thread(target=self._pump, args=(stdout, self._lines.put, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(stderr, self._stderr.append, False), daemon=True).start()

    def _pump(self, stream: Iterable[str], put, mark_end: bool) -> None:
        try:
            for line in stream:
                put(line.rstrip("\n"))
        except self.STREAM_ERRORS:
            pass  # the stream died with the link or the process: the end says so
        if mark_end:
            self._lines.put(None)

    def read_line(self, timeout: float) -> Optional[str]:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no output from the agent for %.0f s" % timeout) from None

    def stderr_tail(self, lines: int = 5) -> str:
        return " | ".join(without_traceback(list(self._stderr))[-lines:])


class Connection(abc.ABC):
    name: str

    @abc.abstractmethod
    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Result: ...

    @abc.abstractmethod
    def put(self, local: str, remote: str) -> None:
        """Copies a file to the device atomically: temporary name, then rename."""

    @abc.abstractmethod
    def get(self, remote: str, local: str) -> None: ...

    def stream(self, argv: Sequence[str], timeout: float = 60.0) -> Iterator[str]:
        """Lines of a command's stdout as they come."""
        channel = self.open_channel(argv)
        try:
            while True:
                line = channel.read_line(timeout)
                if line is None:
                    return
                yield line
        finally:
            channel.close()

    @abc.abstractmethod
    def open_channel(self, argv: Sequence[str]) -> Channel: ...

    def alive(self) -> bool:
        return True

    def close(self) -> None:  # noqa: B027 - nothing to close by default (local)
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
