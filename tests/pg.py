"""A PostgreSQL server of the tests' own: `initdb` into a temporary folder, the postmaster on a
free port on 127.0.0.1, waited for by polling, one fresh database per test, stopped by its PID.

Debian's `postgresql` package puts initdb and postgres in /usr/lib/postgresql/NN/bin, off PATH.
The server refuses to run as root: as root, the folder is given to the `postgres` user the
package creates and the server runs as that user. Nothing here touches the system's cluster.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional

SUPERUSER = "edgebench"  # the cluster's superuser, trusted on 127.0.0.1 (no password)
SYSTEM_USER = "postgres"  # runs the server when the tests run as root
READY_DEADLINE_S = 600.0  # a generous guard: a loaded CI machine starts postgres slowly
STOP_DEADLINE_S = 60.0
PORT_TRIES = 3  # a free port can be taken between choosing it and the server binding it
# A throwaway cluster: durability is not wanted, speed is (every test creates a database).
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says what is missing."""


def binaries() -> Optional[Path]:
    """The folder holding initdb and postgres: on PATH, else Debian's newest version."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_of)
    return Path(found[-1]).parent if found else None


def _version_of(initdb: str) -> tuple:
    version = Path(initdb).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def why_unavailable() -> str:
    """Why a server cannot be started here ("" when it can)."""
    if binaries() is None:
        return "PostgreSQL server not installed (Debian: apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed: pip install 'psycopg[binary]' (the postgres extra)"
    if os.geteuid() == 0 and _system_user() is None:
        return "running as root and there is no %r user to run the server as" % SYSTEM_USER
    return ""


def _system_user():
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A running server; `start()` makes one, `stop()` ends it and removes its folder."""

    def __init__(self, root: Path, port: int, process: subprocess.Popen, version: str):
        self.root, self.port, self.process, self.version = root, port, process, version

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(cls) -> "PgServer":
        problem = why_unavailable()
        if problem:
            raise PgUnavailable(problem)
        # As root the server runs as another user, who must reach the folder: /tmp, whatever
        # TMPDIR says (root's own temporary folders are often closed to others).
        root = Path(tempfile.mkdtemp(prefix="edgebench-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        try:
            _give_to_server_user(root)
            _initdb(root)
            for _ in range(PORT_TRIES):
                port = _free_port()
                process = _postmaster(root, port)
                if _wait_ready(process, port, root):
                    return cls(root, port, process, _server_version(port))
            raise PgUnavailable("postgres could not bind a free port in %d tries" % PORT_TRIES)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    def url(self, database: str, password: str = None) -> str:
        """The SQLAlchemy URL (psycopg 3) of one database; a `password` is sent and ignored
        (trust): for checking that messages never show it."""
        login = SUPERUSER if password is None else "%s:%s" % (SUPERUSER, password)
        return "postgresql+psycopg://%s@127.0.0.1:%d/%s" % (login, self.port, database)

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.execute("CREATE DATABASE %s" % name)
        return name

    def drop_database(self, name: str) -> None:
        """Dropped even while a test's store still holds connections to it."""
        self.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)

    def execute(self, sql: str) -> None:
        """One statement outside a transaction, on the `postgres` database."""
        with _connect(self.port) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions ended, no waiting for clients) of exactly the
        postmaster started here, then its folder goes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGQUIT)  # immediate shutdown
                self.process.wait(timeout=STOP_DEADLINE_S)
        shutil.rmtree(self.root, ignore_errors=True)


def _as_server_user() -> dict:
    """Popen arguments that run a command as the server's user (only needed as root)."""
    if os.geteuid() != 0:
        return {}
    user = _system_user()
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _give_to_server_user(root: Path) -> None:
    if os.geteuid() == 0:
        user = _system_user()
        os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o700)


def _initdb(root: Path) -> None:
    argv = [
        str(binaries() / "initdb"),
        "--pgdata=%s" % (root / "data"),
        "--username=%s" % SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-sync",
        "--no-instructions",
    ]
    proc = subprocess.run(
        argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **_as_server_user()
    )
    if proc.returncode != 0:
        raise PgUnavailable("initdb failed (%d): %s" % (proc.returncode, proc.stdout.strip()[-2000:]))


def _postmaster(root: Path, port: int) -> subprocess.Popen:
    argv = [str(binaries() / "postgres"), "-D", str(root / "data"), "-k", str(root), "-p", str(port)]
    for name, value in SETTINGS.items():
        argv += ["-c", "%s=%s" % (name, value)]
    log = open(root / "server.log", "ab")
    try:
        return subprocess.Popen(argv, cwd=root, stdout=log, stderr=subprocess.STDOUT, **_as_server_user())
    finally:
        log.close()  # the server keeps its own copy of the descriptor


def _wait_ready(process: subprocess.Popen, port: int, root: Path) -> bool:
    """True once the server takes connections; False when it exits because its port was
    taken; PgUnavailable for any other exit or after the deadline."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while True:
        if process.poll() is not None:
            log = (root / "server.log").read_text(errors="replace")
            if "could not bind" in log or "Address already in use" in log:
                return False
            raise PgUnavailable("postgres exited (%d): %s" % (process.returncode, log.strip()[-2000:]))
        try:
            with _connect(port):
                return True
        except Exception:  # psycopg.OperationalError: not listening yet, or still starting up
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise PgUnavailable("postgres did not accept connections within %.0f s" % READY_DEADLINE_S)
            time.sleep(0.05)


def _connect(port: int):
    import psycopg

    return psycopg.connect(
        host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True, connect_timeout=5
    )


def _server_version(port: int) -> str:
    with _connect(port) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]
