"""The local Connection and the agent zipapp as a device runs it (including Python 3.6)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.orchestrator.agent_build import agent_filename, build_agent
from edgebench.orchestrator.transport.local import LocalConnection

PY36 = Path(os.path.expanduser("~/.pyenv/versions/3.6.15/bin/python"))


def test_run_returns_exit_status_and_output():
    conn = LocalConnection()
    result = conn.run(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"]
    )
    assert (result.exit_code, result.stdout, result.stderr.strip()) == (3, "out\n", "err")
    assert not result.ok and result.tail() == "err"


def test_argv_is_not_interpreted_by_a_shell(tmp_path):
    result = LocalConnection().run(["echo", "$HOME; rm -rf /"])
    assert result.stdout == "$HOME; rm -rf /\n"


def test_put_creates_folders_and_replaces_atomically(tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 1000)
    dest = tmp_path / "dev" / "models" / "a.bin"
    LocalConnection().put(str(src), str(dest))
    assert dest.read_bytes() == b"x" * 1000
    assert sorted(os.listdir(dest.parent)) == ["a.bin"]  # no temporary left behind


def test_channel_answers_lines_and_times_out():
    channel = LocalConnection().open_channel(
        [sys.executable, "-u", "-c", "import sys\nfor line in sys.stdin: print(line.strip().upper())"]
    )
    channel.send_line("ping")
    assert channel.read_line(timeout=120) == "PING"
    with pytest.raises(TimeoutError):
        channel.read_line(timeout=0.2)
    assert channel.close() == 0


def test_stream_yields_lines_as_they_come():
    lines = list(LocalConnection().stream([sys.executable, "-c", "print(1); print(2)"]))
    assert lines == ["1", "2"]


def test_agent_zipapp_is_named_by_content_and_rebuilt_only_when_missing(tmp_path):
    first = build_agent(tmp_path)
    assert first.name == agent_filename() and first.name.startswith("edgebench-agent-")
    mtime = first.stat().st_mtime_ns
    assert build_agent(tmp_path).stat().st_mtime_ns == mtime


def test_the_agents_name_follows_its_sources_when_they_change_in_one_process(tmp_path, monkeypatch):
    import shutil
    import types

    from edgebench import agent
    from edgebench.orchestrator import agent_build

    copy = tmp_path / "agent"
    shutil.copytree(Path(agent.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(
        agent_build, "agent_package", types.SimpleNamespace(__file__=str(copy / "__init__.py"))
    )
    before = agent_filename()
    assert agent_filename() == before  # nothing changed: the same name (from the stamps)
    probe = copy / "probe.py"
    probe.write_text(probe.read_text().replace("Device facts", "Device-facts"))  # same size
    assert agent_filename() != before


@pytest.mark.parametrize("python", [sys.executable, str(PY36)])
def test_agent_zipapp_probes_under_each_python(tmp_path, python):
    if not Path(python).exists():
        pytest.skip("no %s here" % python)
    pyz = build_agent(tmp_path)
    proc = subprocess.run(
        [python, str(pyz), "--workdir", str(tmp_path), "probe"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=600,  # a guard against a hang, not a speed limit: a busy machine is slow
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["type"] == "facts"
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        stdout=subprocess.PIPE,
        universal_newlines=True,
    ).stdout.strip()
    assert record["facts"]["python"] == version


def test_agent_zipapp_runs_a_null_trial_under_python36(tmp_path):
    if not PY36.exists():
        pytest.skip("no Python 3.6.15 here")
    pyz = build_agent(tmp_path)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"trial_id": "t36", "backend": "null", "quick": True, "keep_samples": False}))
    proc = subprocess.run(
        [str(PY36), str(pyz), "--workdir", str(tmp_path), "run", str(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=600,  # as above
    )
    assert proc.returncode == 0, proc.stderr
    types = [json.loads(line)["type"] for line in proc.stdout.splitlines()]
    assert types == ["trial_start", "result", "trial_end"]
    assert (tmp_path / "spool" / "t36.jsonl").read_text() == proc.stdout
