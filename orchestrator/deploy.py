"""Content-addressed push of the agent and of model artifacts into a device's workdir.

Layout on the device:  WORKDIR/agents/edgebench-agent-HASH.pyz
                       WORKDIR/models/SHA256.onnx
                       WORKDIR/spool/TRIAL.jsonl        (written by the agent)
Names come from content hashes, never from user input, so nothing can escape the workdir.
What the device already has (a regular file, not a link, of the right size under its hash
name) is skipped; what is sent goes to a temporary name, is renamed, and its sha256 is checked
on the device.
"""
import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from .agent_build import build_agent
from .errors import DeviceError
from .transport import Connection

# Small programs run by the device's own Python (3.6+, standard library).
EXPAND_WORKDIR = ("import os,sys; p=os.path.abspath(os.path.expanduser(sys.argv[1])); "
                  "os.makedirs(p, exist_ok=True); print(p)")
FILE_STATE = ("import json,os,sys; print(json.dumps({p: (os.path.isfile(p) and not os.path.islink(p)) "
              "and os.path.getsize(p) for p in sys.argv[1:]}))")
SHA256 = ("import hashlib,sys\nh=hashlib.sha256()\nwith open(sys.argv[1],'rb') as f:\n"
          " for b in iter(lambda: f.read(1<<20), b''): h.update(b)\nprint(h.hexdigest())")


@dataclass
class DeployReport:
    sent: list = field(default_factory=list)      # (remote path, bytes)
    skipped: list = field(default_factory=list)   # remote paths already present

    @property
    def bytes_sent(self) -> int:
        return sum(size for _, size in self.sent)


def _python_output(conn: Connection, python: str, program: str, *args: str) -> str:
    result = conn.run([python, "-c", program, *args], timeout=120)
    if not result.ok:
        raise DeviceError("%s: %s failed: %s" % (conn.name, python, result.tail()))
    return result.stdout.strip()


def resolve_workdir(conn: Connection, python: str, workdir: str) -> str:
    return _python_output(conn, python, EXPAND_WORKDIR, workdir)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def push(conn: Connection, python: str, local: Path, remote: str, report: DeployReport, sha256: str = None) -> str:
    size = local.stat().st_size
    present = json.loads(_python_output(conn, python, FILE_STATE, remote)).get(remote)
    if present == size:
        report.skipped.append(remote)
        return remote
    conn.put(str(local), remote)
    expected = sha256 or sha256_file(local)
    found = _python_output(conn, python, SHA256, remote)
    if found != expected:
        conn.run(["rm", "-f", remote], timeout=30)
        raise DeviceError("%s: %s arrived corrupted (sha256 %s, expected %s); removed" % (conn.name, remote, found[:12], expected[:12]))
    report.sent.append((remote, size))
    return remote


def deploy_agent(conn: Connection, python: str, workdir: str, report: DeployReport) -> str:
    local = build_agent()
    return push(conn, python, local, posixpath.join(workdir, "agents", local.name), report)


def deploy_model(conn: Connection, python: str, workdir: str, model, report: DeployReport) -> str:
    """`model` is a ModelInfo; the device copy is named by its sha256."""
    remote = posixpath.join(workdir, "models", model.sha256 + ".onnx")
    return push(conn, python, model.path, remote, report, sha256=model.sha256)
