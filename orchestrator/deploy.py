"""Content-addressed push of the agent and of model artifacts into a device's workdir.

Layout on the device:  WORKDIR/agents/edgebench-agent-HASH.pyz
                       WORKDIR/models/SHA256.onnx
                       WORKDIR/spool/TRIAL.jsonl        (written by the agent)
What the device already has (same name, so same content) is not sent again.
"""
import posixpath
from dataclasses import dataclass, field

from .agent_build import build_agent
from .errors import DeviceError
from .transport import Connection

# Expands "~" with the device's own Python: the host cannot know the device's home folder.
EXPAND_WORKDIR = ("import os,sys; p=os.path.abspath(os.path.expanduser(sys.argv[1])); "
                  "os.makedirs(p, exist_ok=True); print(p)")


@dataclass
class DeployReport:
    sent: list = field(default_factory=list)      # (remote path, bytes)
    skipped: list = field(default_factory=list)   # remote paths already present

    @property
    def bytes_sent(self) -> int:
        return sum(size for _, size in self.sent)


def resolve_workdir(conn: Connection, python: str, workdir: str) -> str:
    result = conn.run([python, "-c", EXPAND_WORKDIR, workdir], timeout=30)
    if not result.ok:
        raise DeviceError("cannot prepare workdir %s with %s: %s" % (workdir, python, result.tail()))
    return result.stdout.strip()


def _exists(conn: Connection, remote: str) -> bool:
    return conn.run(["test", "-f", remote], timeout=30).ok


def push(conn: Connection, local_path, remote: str, report: DeployReport) -> str:
    if _exists(conn, remote):
        report.skipped.append(remote)
    else:
        conn.put(str(local_path), remote)
        report.sent.append((remote, local_path.stat().st_size))
    return remote


def deploy_agent(conn: Connection, workdir: str, report: DeployReport) -> str:
    local = build_agent()
    return push(conn, local, posixpath.join(workdir, "agents", local.name), report)


def deploy_model(conn: Connection, workdir: str, model, report: DeployReport) -> str:
    """`model` is a ModelInfo; the device copy is named by its sha256."""
    return push(conn, model.path, posixpath.join(workdir, "models", model.sha256 + ".onnx"), report)
