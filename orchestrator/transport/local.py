"""Local transport: the device is this machine; commands run as subprocesses."""

import os
import shutil
import subprocess
from typing import Optional, Sequence

from ..errors import DeviceError
from .base import Connection, PumpedChannel, Result


def _cannot_start(argv: Sequence[str], exc: OSError) -> DeviceError:
    return DeviceError("cannot start %s: %s" % (argv[0], exc.strerror or exc))


class LocalChannel(PumpedChannel):
    def __init__(self, argv: Sequence[str]):
        try:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise _cannot_start(argv, exc) from None
        self._start_pumps(self._proc.stdout, self._proc.stderr)

    def send_line(self, line: str) -> None:
        self._proc.stdin.write(line if line.endswith("\n") else line + "\n")
        self._proc.stdin.flush()

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
            proc = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                timeout=timeout,
            )
        except OSError as exc:
            raise _cannot_start(argv, exc) from None
        except subprocess.TimeoutExpired:
            raise DeviceError(
                "%s: command timed out after %.0f s: %s" % (self.name, timeout, " ".join(argv))
            ) from None
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

    def open_channel(self, argv: Sequence[str]) -> LocalChannel:
        return LocalChannel(argv)
