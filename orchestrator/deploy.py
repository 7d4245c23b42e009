"""Content-addressed push of the agent and of model artifacts into a device's workdir.

Layout on the device:  WORKDIR/agents/edgebench-agent-HASH.pyz
                       WORKDIR/agents/edgebench-agent-HASH/   (it unpacked: the agent runs from it)
                       WORKDIR/models/HASH.SUFFIX   (a backend's artifact, see backends.py)
                       WORKDIR/spool/TRIAL.jsonl        (written by the agent)
Names come from content hashes, never from user input, so nothing can escape the workdir.
One command on the device resolves the workdir and reports which files it already has (a
regular file, not a link, of the right size under its hash name): those are skipped. What is
sent goes to a temporary name, is renamed, and its sha256 is checked on the device.
(Each command over SSH costs a session on the device, ~80 ms with a heavy shell rc: few of them.)
"""

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Tuple

from . import backends
from .agent_build import build_agent
from .compile import cache
from .errors import DeviceError
from .modelinfo import sha256_of
from .transport import Connection

# Small programs run by the device's own Python (3.6+, standard library).
# UNPACK: the agent's zipapp `a` unpacked once beside it into the folder `d` (into a temporary
# folder, then renamed: a folder there is whole). The agent runs from the folder, where Python
# caches what it compiles; from the zip it compiles every module in every process (the serve,
# each trial, its sampler), tens of milliseconds each here and several times that on a Nano.
UNPACK = (
    "if not os.path.isdir(d):\n"
    " import shutil,zipfile; t='%s.tmp-%d' % (d, os.getpid())\n"
    " try: zipfile.ZipFile(a).extractall(t); os.rename(t, d)\n"
    " except Exception:\n"
    "  shutil.rmtree(t, True)\n"
    "  if not os.path.isdir(d): raise\n"  # else another process unpacked it first
)
# OPEN: resolve the workdir, report which files are there, and, when the agent is (argv[3] is
# its size), become `agent serve` from its unpacked folder in the same process: a session
# costs one command, not two. An emulated device's python is a wrapper that names itself in
# EDGEBENCH_PYTHON: exec that, as the emulated interpreter cannot exec another aarch64 binary
# (agent/child.py).
OPEN = (
    "import json,os,sys\n"
    "w=os.path.abspath(os.path.expanduser(sys.argv[1])); os.makedirs(w, exist_ok=True)\n"
    "s=lambda p: (os.path.isfile(p) and not os.path.islink(p)) and os.path.getsize(p)\n"
    "f={r: s(os.path.join(w, r)) for r in sys.argv[2:3] + sys.argv[4:]}\n"
    "print(json.dumps({'workdir': w, 'files': f})); sys.stdout.flush()\n"
    "if f[sys.argv[2]] != int(sys.argv[3]): sys.exit(0)\n"
    "a=os.path.join(w, sys.argv[2]); d=a[:-4]\n"
    + UNPACK
    + "x=os.environ.get('EDGEBENCH_PYTHON') or sys.executable\n"
    "os.execv(x, [x, d, '--workdir', w, 'serve'])\n"
)
SHA256 = (
    "import hashlib,sys\nh=hashlib.sha256()\nwith open(sys.argv[1],'rb') as f:\n"
    " for b in iter(lambda: f.read(1<<20), b''): h.update(b)\nprint(h.hexdigest())"
)


@dataclass
class DeployReport:
    sent: list = field(default_factory=list)  # (remote path, bytes)
    skipped: list = field(default_factory=list)  # remote paths already present
    refused: list = field(default_factory=list)  # why a backend's artifacts were not sent (one line each)

    @property
    def bytes_sent(self) -> int:
        return sum(size for _, size in self.sent)


def agent_relpath(local: Path) -> str:
    return posixpath.join("agents", local.name)


def model_relpath(
    model, backend: str = "onnxruntime", target: Optional[str] = None, options: Optional[dict] = None
) -> str:
    """Where `backend`'s artifact of `model` lives in the workdir (its declaration names it: a
    compiled one by its compile key, which holds the device's target and the options)."""
    declared = backends.get(backend)
    return declared.artifact.relpath(model, target, declared.own_options(options))


def artifacts_for(models, backend_names) -> list:
    """(model, backend) for each model and each of the backends that deploy an artifact."""
    deployed = [b for b in backend_names if b in backends.BACKENDS and backends.get(b).needs_model]
    return [(model, backend) for model in models for backend in deployed]


def eval_set_relpath(model) -> str:
    return posixpath.join("evalsets", model.eval_set_sha256 + ".npz")


def _python_output(conn: Connection, python: str, program: str, *args: str) -> str:
    result = conn.run([python, "-c", program, *args], timeout=120)
    if not result.ok:
        raise DeviceError("%s: %s failed: %s" % (conn.name, python, result.tail()))
    return result.stdout.strip()


class DeviceFiles:
    """The device's workdir and which of the files we need are already there."""

    def __init__(self, conn: Connection, python: str, answer_line: str):
        self.conn, self.python = conn, python
        try:
            answer = json.loads(answer_line)
            self.workdir: str = answer["workdir"]
            self.present: Dict[str, object] = answer["files"]
        except (ValueError, KeyError, TypeError):
            raise DeviceError(
                "%s: unexpected answer while preparing the workdir: %.200s" % (conn.name, answer_line)
            ) from None
        self.report = DeployReport()

    def remote(self, relpath: str) -> str:
        return posixpath.join(self.workdir, relpath)

    def ensure(self, local: Path, relpath: str, sha256: Optional[str] = None) -> str:
        """The remote path of `local`, sending it only if the device lacks it."""
        remote = self.remote(relpath)
        size = local.stat().st_size
        if self.present.get(relpath) == size:
            self.report.skipped.append(relpath)
            return remote
        # Checked under a temporary name, renamed only when whole: a file under its final name
        # is always complete, so a later deploy may trust its presence.
        part = remote + ".part"
        self.conn.put(str(local), part)
        expected = sha256 or sha256_of(local)
        found = _python_output(self.conn, self.python, SHA256, part)
        if found != expected:
            self.conn.run(["rm", "-f", part], timeout=30)
            raise DeviceError(
                "%s: %s arrived corrupted (sha256 %s, expected %s); removed"
                % (self.conn.name, remote, found[:12], expected[:12])
            )
        moved = self.conn.run(["mv", "-f", part, remote], timeout=30)
        if not moved.ok:
            raise DeviceError("%s: cannot rename %s: %s" % (self.conn.name, part, moved.tail()))
        self.present[relpath] = size
        self.report.sent.append((relpath, size))
        return remote

    def agent_path(self) -> str:
        return self.remote(agent_relpath(build_agent()))

    def ensure_agent(self) -> str:
        local = build_agent()
        return self.ensure(local, agent_relpath(local))

    def ensure_model(
        self,
        model,
        backend: str = "onnxruntime",
        options: Optional[dict] = None,
        target: Optional[str] = None,
        note: Optional[Callable[[str], None]] = None,
    ) -> str:
        """The remote path of `backend`'s artifact of `model` for the device's `target`,
        compiled first (through the host's cache) if the backend has a compile step."""
        declared = backends.get(backend)
        relpath = model_relpath(model, backend, target, options)
        if declared.compile is None:
            return self.ensure(model.path, relpath, sha256=model.sha256)
        return self.ensure(_compiled(declared, model, options, target, note), relpath)

    def ensure_eval_set(self, model) -> Optional[str]:
        if model.eval_set is None:
            return None
        return self.ensure(model.eval_set, eval_set_relpath(model), sha256=model.eval_set_sha256)


def _compiled(declared, model, options: Optional[dict], target: Optional[str], note=None) -> Path:
    """The backend's compile step, run on the host once per compile key (compile/cache.py)."""
    return Path(cache.compiled(declared, model, options, target, note).path)


Artifacts = Iterable[Tuple[object, str]]  # (ModelInfo, backend name) pairs


def _open_argv(
    python: str,
    workdir: str,
    agent: Path,
    artifacts: Artifacts,
    serve: bool,
    target: Optional[str] = None,
    options: Optional[dict] = None,
) -> list:
    """`target`: the device's, and `options`: the backends' (by name), name compiled artifacts."""
    size = agent.stat().st_size if serve else -1
    artifacts = list(artifacts)
    models = list(dict.fromkeys(model for model, _ in artifacts))
    wanted = [model_relpath(m, b, target, options) for m, b in artifacts]
    wanted += [eval_set_relpath(m) for m in models if m.eval_set]
    return [python, "-c", OPEN, workdir, agent_relpath(agent), str(size)] + list(dict.fromkeys(wanted))


def prepare(
    conn: Connection,
    python: str,
    workdir: str,
    artifacts: Artifacts = (),
    target: Optional[str] = None,
    options: Optional[dict] = None,
) -> DeviceFiles:
    """One command: resolve the workdir and look up the agent and `artifacts` on the device."""
    argv = _open_argv(python, workdir, build_agent(), artifacts, False, target, options)
    result = conn.run(argv, timeout=120)
    if not result.ok:
        raise DeviceError("%s: %s failed: %s" % (conn.name, python, result.tail()))
    return DeviceFiles(conn, python, result.stdout.strip())


def open_device(
    conn: Connection,
    python: str,
    workdir: str,
    artifacts: Artifacts = (),
    target: Optional[str] = None,
    options: Optional[dict] = None,
) -> tuple:
    """(DeviceFiles, channel of a running `agent serve` or None when the agent had to be sent
    first). One command on the device when it already has the agent."""
    agent = build_agent()
    channel = conn.open_channel(_open_argv(python, workdir, agent, artifacts, True, target, options))
    try:
        line = channel.read_line(timeout=120)
    except TimeoutError:
        channel.close(timeout=1.0)
        raise DeviceError("%s: no answer from %s while preparing the workdir" % (conn.name, python)) from None
    if line is None:
        status, tail = channel.close(timeout=5.0), channel.stderr_tail()
        raise DeviceError("%s: %s failed (status %s): %s" % (conn.name, python, status, tail or "no message"))
    files = DeviceFiles(conn, python, line)
    if files.present.get(agent_relpath(agent)) == agent.stat().st_size:
        return files, channel
    channel.close(timeout=5.0)
    return files, None
