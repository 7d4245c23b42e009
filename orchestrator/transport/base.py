"""The Connection seam: one interface, a local and (later) an SSH implementation.

Commands are argv lists. Only a transport that goes through a shell (SSH) quotes them, with
shlex.quote; code written against `Connection` runs locally or remotely unchanged.
"""
import abc
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence


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
        text = (self.stderr or self.stdout).strip().splitlines()
        return " | ".join(text[-lines:])


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


class Connection(abc.ABC):
    name: str

    @abc.abstractmethod
    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Result: ...

    @abc.abstractmethod
    def put(self, local: str, remote: str) -> None:
        """Copies a file to the device atomically: temporary name, then rename."""

    @abc.abstractmethod
    def get(self, remote: str, local: str) -> None: ...

    @abc.abstractmethod
    def stream(self, argv: Sequence[str], timeout: float = 60.0) -> Iterator[str]:
        """Lines of a command's stdout as they come."""

    @abc.abstractmethod
    def open_channel(self, argv: Sequence[str]) -> Channel: ...

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
