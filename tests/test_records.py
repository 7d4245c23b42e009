"""What a device sends back is checked before it is stored; a bad record is reported, not fatal."""

import json

import pytest

from edgebench.orchestrator.errors import DeviceError, LinkLost
from edgebench.orchestrator.records import MalformedRecord, validate
from edgebench.orchestrator.session import AgentSession, parse_record
from edgebench.orchestrator.transport.base import Channel


def line(**fields):
    return json.dumps(dict({"v": 1}, **fields))


@pytest.mark.parametrize(
    "bad, reason",
    [
        ('{"v": 2, "type": "result"}', "protocol version"),
        ("not json", "not JSON"),
        (line(type="result", trial_id="t", metrics="fast"), "metrics object"),
        (line(type="result", trial_id="t", metrics={"latency_p50_ms": "1.2"}), "not a number"),
        (line(type="result", trial_id="t", metrics={}, samples_ms=[1.0, "x"]), "non-number"),
        (line(type="trial_end", trial_id="t", status="great"), "status"),
        (line(type="result", metrics={}), "without a trial_id"),
    ],
)
def test_malformed_records_are_refused_with_the_reason(bad, reason):
    with pytest.raises(MalformedRecord, match=reason):
        parse_record(bad)


def test_long_error_texts_are_cut():
    record = validate({"v": 1, "type": "error", "trial_id": "t", "error": "x" * 10000})
    assert len(record["error"]) == 4000


class ScriptedChannel(Channel):
    """A test double of the agent's channel: replays lines, records what is sent."""

    def __init__(self, lines, link_alive=True):
        self.lines, self.sent, self._alive = list(lines), [], link_alive

    def send_line(self, text):
        self.sent.append(json.loads(text))

    def read_line(self, timeout):
        return self.lines.pop(0) if self.lines else None

    def stderr_tail(self, lines=5):
        return "Segmentation fault"

    def link_alive(self):
        return self._alive

    def close(self, timeout=5.0):
        return 0


def test_session_skips_malformed_records_and_reports_them():
    channel = ScriptedChannel(
        [
            line(type="hello"),
            line(type="trial_start", trial_id="t1"),
            "garbage{",
            line(type="result", trial_id="t1", metrics={"latency_p50_ms": None}),
            line(type="trial_end", trial_id="t1", status="ok", agent_s=1.0),
        ]
    )
    session = AgentSession(channel)
    seen = []
    status, host_s = session.run_trial({"trial_id": "t1"}, seen.append, timeout=5)
    assert status == "ok" and [r["type"] for r in seen] == ["trial_start", "result", "trial_end"]
    assert len(session.warnings) == 1 and "garbage" in session.warnings[0]
    assert channel.sent == [{"op": "run", "job": {"trial_id": "t1"}}]


def test_agent_exit_and_lost_link_are_told_apart():
    died = AgentSession(ScriptedChannel([line(type="hello")], link_alive=True))
    with pytest.raises(DeviceError, match="agent exited: Segmentation fault") as exc:
        died.run_trial({"trial_id": "t"}, lambda r: None, timeout=5)
    assert not isinstance(exc.value, LinkLost)
    cut = AgentSession(ScriptedChannel([line(type="hello")], link_alive=False))
    with pytest.raises(LinkLost):
        cut.run_trial({"trial_id": "t"}, lambda r: None, timeout=5)
