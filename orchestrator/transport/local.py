"""Local transport: the device is this machine; commands run as subprocesses."""
import collections
import os
import queue
import shutil
import subprocess
import threading
from typing import Iterator, Optional, Sequence

from ..errors import DeviceError
from .base import Channel, Connection, Result


def _cannot_start(argv: Sequence[str], exc: OSError) -> DeviceError:
    return DeviceError("cannot start %s: %s" % (argv[0], exc.strerror or exc))


class LocalChannel(Channel):
    def __init__(self, argv: Sequence[str]):
        try:
            self._proc = subprocess.Popen(
                list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, bufsize=1)
        except OSError as exc:
            raise _cannot_start(argv, exc) from None
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stderr = collections.deque(maxlen=50)
        # Reader threads: a blocking readline cannot take a timeout, a queue can.
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _pump_stdout(self):
        for line in self._proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _pump_stderr(self):
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    def send_line(self, line: str) -> None:
        self._proc.stdin.write(line if line.endswith("\n") else line + "\n")
        self._proc.stdin.flush()

    def read_line(self, timeout: float) -> Optional[str]:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no output from the agent for %.0f s" % timeout) from None

    def stderr_tail(self, lines: int = 5) -> str:
        return " | ".join(list(self._stderr)[-lines:])

    def close(self, timeout: float = 5.0) -> Optional[int]:
        try:
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()  # our own child, by PID
            return self._proc.wait()


class LocalConnection(Connection):
    def __init__(self, name: str = "local"):
        self.name = name

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Result:
        try:
            proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=timeout)
        except OSError as exc:
            raise _cannot_start(argv, exc) from None
        except subprocess.TimeoutExpired:
            raise DeviceError("%s: command timed out after %.0f s: %s" % (self.name, timeout, " ".join(argv))) from None
        return Result(list(argv), proc.returncode, proc.stdout, proc.stderr)

    def put(self, local: str, remote: str) -> None:
        os.makedirs(os.path.dirname(remote), exist_ok=True)
        tmp = "%s.tmp-%d" % (remote, os.getpid())
        try:
            shutil.copyfile(local, tmp)
            os.replace(tmp, remote)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get(self, remote: str, local: str) -> None:
        shutil.copyfile(remote, local)

    def stream(self, argv: Sequence[str], timeout: float = 60.0) -> Iterator[str]:
        channel = LocalChannel(argv)
        try:
            while True:
                line = channel.read_line(timeout)
                if line is None:
                    return
                yield line
        finally:
            channel.close()

    def open_channel(self, argv: Sequence[str]) -> LocalChannel:
        return LocalChannel(argv)
