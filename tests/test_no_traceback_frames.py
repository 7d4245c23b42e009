"""No agent traceback frames reach the screen or a stored error: the agent answers a failed
request with a one-line reason (the frames go to WORKDIR/agent.log and it goes on serving),
and the host drops the frames of whatever traceback still reaches a device's stderr."""

import io
import json
import math

from edgebench.agent import __main__ as agent_main
from edgebench.agent import serve as agent_serve
from edgebench.orchestrator.transport.base import Result, without_traceback

TRACEBACK = """\
Traceback (most recent call last):
  File "/home/nano/.edgebench/agent/serve.py", line 170, in serve
    keep_going = _answer(decode(line), tee, out)
OverflowError: timeout value is too large""".splitlines()


def records(text: str) -> list:
    return [json.loads(line) for line in text.splitlines()]


def test_the_host_keeps_only_the_exception_line_of_a_traceback():
    assert without_traceback(["starting"] + TRACEBACK) == [
        "starting",
        "OverflowError: timeout value is too large",
    ]
    result = Result(["python3"], 1, "", "\n".join(TRACEBACK) + "\n")
    assert result.tail() == "OverflowError: timeout value is too large"
    assert without_traceback(["  indented but no traceback"]) == ["  indented but no traceback"]


def test_a_request_that_fails_in_the_agent_is_one_line_and_the_agent_goes_on(tmp_path, monkeypatch):
    def broken(*_args):
        raise ValueError("bad sensor settings\nsecond line")

    monkeypatch.setattr(agent_serve, "collect_facts", broken)
    monkeypatch.setattr(agent_serve, "run_in_child", broken)
    requests = [{"op": "probe"}, {"op": "run", "job": {"trial_id": "t1"}}, {"op": "ping"}, {"op": "exit"}]
    out = io.StringIO()
    agent_serve.serve(io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), out, str(tmp_path))
    sent = records(out.getvalue())
    assert [r["type"] for r in sent] == ["hello", "error", "error", "trial_end", "pong", "bye"]
    for error in (sent[1], sent[2]):
        assert error["error"].startswith("agent error: ValueError: bad sensor settings (traceback in ")
        assert "\n" not in error["error"] and "File " not in error["error"]
    assert sent[2]["trial_id"] == sent[3]["trial_id"] == "t1" and sent[3]["status"] == "failed"
    assert "Traceback (most recent call last)" in (tmp_path / "agent.log").read_text()


def test_a_job_with_non_finite_times_gets_a_finite_deadline():
    for value in (math.nan, math.inf, -1.0, "x", None, 1e300):
        deadline = agent_serve.trial_deadline_s({"max_s": value, "warmup_s": value, "cooldown_c": 40.0})
        assert (
            math.isfinite(deadline)
            and 0 < deadline <= 3 * agent_serve.MAX_WAIT_S + agent_serve.LOAD_ALLOWANCE_S
        )


def test_an_agent_command_that_fails_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    def broken(*_args):
        raise RuntimeError("no /proc here")

    monkeypatch.setattr(agent_main, "collect_facts", broken)
    assert agent_main.main(["--workdir", str(tmp_path), "probe"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "edgebench-agent: RuntimeError: no /proc here (traceback in "
    )
