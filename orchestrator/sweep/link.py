"""One device's connection, its long-lived agent session and its workdir, as the sweep keeps
them: opened through the injected `connect`, reopened with backoff when the link drops."""

from typing import Callable, Optional

from ..deploy import DeviceFiles, prepare
from ..errors import DeviceError
from ..session import AgentSession, device_busy, fetch_spool, start_session
from ..transport import Connection
from .backoff import Backoff
from .seams import Seams


class DeviceLink:
    def __init__(
        self,
        device,
        seams: Seams,
        note: Callable[[str], None],
        accept_new: bool = False,
        artifacts=(),
        backend_options: Optional[dict] = None,
    ):
        self.device, self.seams, self.note, self.accept_new = device, seams, note, accept_new
        self.artifacts = list(artifacts)  # (model, backend) pairs looked up when the session opens
        self.backend_options = backend_options  # with the device's target, they name compiled artifacts
        self.conn: Connection = self._connect()
        self.session: Optional[AgentSession] = None
        self.files: Optional[DeviceFiles] = None
        self.facts: Optional[dict] = None

    def _connect(self) -> Connection:
        return self.seams.connect(self.device, accept_new=self.accept_new)

    def ensure_files(self) -> DeviceFiles:
        """The workdir and the agent on it, without starting a session (to fetch spools)."""
        if self.files is None:
            self.files = prepare(
                self.conn,
                self.device.python,
                self.device.workdir,
                self.artifacts,
                self.device.target,
                self.backend_options,
            )
            self.files.ensure_agent()
        return self.files

    def ensure_session(self) -> AgentSession:
        """The agent session, started (and the device's facts read) when there is none."""
        if self.session is None:
            self.files, self.session = start_session(
                self.conn,
                self.device.python,
                self.device.workdir,
                self.artifacts,
                self.device.target,
                self.backend_options,
            )
            if self.facts is None:
                self.facts = self.session.probe(self.device.telemetry)
        return self.session

    def drop_session(self) -> None:
        """Ends the agent session (the agent is asked to exit)."""
        if self.session is not None:
            try:
                self.session.close()
            except DeviceError:
                pass
            self.session = None

    def forget_session(self) -> None:
        """The link under the session is gone: there is nothing left to close."""
        self.session = None

    def reconnect(self, deadline: float) -> None:
        """A new connection, with backoff, until `deadline` (on the injected clock)."""
        self.drop_session()
        self.conn.close()
        backoff, failure = Backoff(self.seams, deadline), None
        for _ in backoff.attempts():
            try:
                self.conn = self._connect()
                self.files = None  # prepared again on the new connection
                return
            except DeviceError as exc:
                failure = exc
                if backoff.can_wait():
                    self.note("reconnecting in %.1f s (%s)" % (backoff.delay, exc))
        raise DeviceError("device unreachable: %s" % failure) from None

    def spool(self, trial_id: str) -> tuple:
        """(records, problems): what the device spooled for this trial, and only that trial."""
        files = self.ensure_files()
        records, problems = fetch_spool(
            self.conn, self.device.python, files.agent_path(), files.workdir, trial_id
        )
        return [r for r in records if r.get("trial_id") == trial_id], problems

    def busy(self) -> bool:
        files = self.ensure_files()
        return device_busy(self.conn, self.device.python, files.agent_path(), files.workdir)

    def close(self) -> None:
        try:
            self.drop_session()
        finally:
            self.conn.close()
