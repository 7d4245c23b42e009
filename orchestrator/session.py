"""One long-lived agent per device per sweep: trials are requests on an open channel, so a
trial costs a message, not a new process or SSH session (DESIGN.md)."""
import json
from typing import Callable, Optional

from edgebench.agent.protocol import PROTOCOL_VERSION, ProtocolError, decode_record

from .errors import DeviceError
from .transport import Channel, Connection

HELLO_TIMEOUT_S = 60.0


class AgentSession:
    def __init__(self, conn: Connection, python: str, agent_path: str, workdir: str):
        self.argv = [python, agent_path, "--workdir", workdir, "serve"]
        self.channel: Channel = conn.open_channel(self.argv)
        self.hello = self._expect("hello", HELLO_TIMEOUT_S)

    def _next_record(self, timeout: float) -> dict:
        try:
            line = self.channel.read_line(timeout)
        except TimeoutError as exc:
            raise DeviceError("agent silent: %s" % exc) from None
        if line is None:
            raise DeviceError("agent exited: %s" % (self.channel.stderr_tail() or "no message"))
        try:
            return decode_record(line)
        except ProtocolError as exc:
            raise DeviceError("malformed record from agent (%s): %.200s" % (exc, line)) from None

    def _expect(self, record_type: str, timeout: float) -> dict:
        record = self._next_record(timeout)
        if record["type"] != record_type:
            raise DeviceError("expected %s from agent, got %s: %s" % (record_type, record["type"], record.get("error", "")))
        return record

    def _send(self, request: dict) -> None:
        try:
            self.channel.send_line(json.dumps(request))
        except (BrokenPipeError, OSError) as exc:
            raise DeviceError("agent closed its input: %s %s" % (exc, self.channel.stderr_tail())) from None

    def probe(self, timeout: float = 60.0) -> dict:
        self._send({"op": "probe"})
        return self._expect("facts", timeout)["facts"]

    def run_trial(self, job: dict, on_record: Callable[[dict], None], timeout: float) -> str:
        """Sends one job; hands each record of that trial to `on_record` as it arrives.
        Returns the trial's final status. `timeout` bounds the silence between records."""
        self._send({"op": "run", "job": job})
        while True:
            record = self._next_record(timeout)
            if record.get("trial_id") != job["trial_id"]:
                raise DeviceError("record for another trial (%r) while running %s" % (record.get("trial_id"), job["trial_id"]))
            on_record(record)
            if record["type"] == "trial_end":
                return record["status"]

    def close(self) -> Optional[int]:
        try:
            self._send({"op": "exit"})
        except DeviceError:
            pass
        return self.channel.close()


__all__ = ["AgentSession", "PROTOCOL_VERSION"]
