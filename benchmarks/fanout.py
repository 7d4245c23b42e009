"""Fleet fan-out over 64 sshd devices: `edgebench probe --all` beside fabric and Ansible.

Starts 64 simulated devices (`orchestrator/testfleet.py`: one real sshd each on 127.0.0.1,
the login shell made light with `SetEnv SHLVL=1` so that root's ~/.bashrc, which runs pyenv,
is not read for every command), puts the agent on them, then prints, in one run, each figure
the best of a few runs of the whole command, as a user types it:
  1. `edgebench probe --all` (the facts of every device, stored);
  2. a fabric `ThreadingGroup` running a small `python3 -c` probe (hostname, OS, arch, CPUs,
     memory, Python: what a hand-written fan-out would ask) with the same interpreter;
  3. Ansible `ansible all -m setup` and `ansible all -m command -a "uname -a"` (forks 64,
     otherwise Ansible's defaults);
  4. (no target) a whole sweep of one `--quick` trial of the `null` backend on every device
     (`--parallel 32`): connection, workdir lookup, `agent serve`, trial, sampler and store for
     each, about 0.35 s of it the trial's own timed loop.
Targets: edgebench within 1.3x of the fabric probe and at least 8x faster than `-m setup`.
Before the timed runs: edgebench's sources are compiled to bytecode (as `pip install` does for
an installed package; an editable checkout under PYTHONDONTWRITEBYTECODE=1 would compile them
again in every command), and one untimed `probe --all` lets each device learn its runtimes'
versions once (it imports onnxruntime, TVM and numpy; later probes read them from its cache),
as any probe after a fleet's first finds them.
fabric and ansible-core live in a benchmark-only virtualenv this script creates
(~/.cache/edgebench/bench-venv; pip from PyPI), never in the project's dependencies. Every sshd
started here is stopped by PID. Nothing is asserted.

  .venv/bin/python benchmarks/fanout.py [--devices 64] [--runs 3]
"""

import argparse
import compileall
import getpass
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgebench.orchestrator import testfleet

BENCH_VENV = Path(os.path.expanduser("~/.cache/edgebench/bench-venv"))
BENCH_PACKAGES = ("fabric", "ansible-core")
EDGEBENCH = Path(sys.executable).with_name("edgebench")
EXAMPLES = Path(__file__).resolve().parents[1] / "models" / "examples"  # the null backend runs no model
SWEEP = (
    "sweep",
    str(EXAMPLES),
    "--all",
    "--backend",
    "null",
    "--quick",
    "--repeats",
    "1",
    "--parallel",
    "32",
)
FABRIC_TARGET = 1.3  # edgebench / fabric at most this
ANSIBLE_TARGET = 8.0  # ansible -m setup / edgebench at least this

# The fabric side's probe: about what `edgebench probe` reports, in one `python3 -c`.
PROBE = (
    "import json,os,platform; m=open('/proc/meminfo').readline().split()[1]; "
    "print(json.dumps({'hostname': platform.node(), 'os': platform.platform(), "
    "'arch': platform.machine(), 'cpus': os.cpu_count(), 'memory_kb': int(m), "
    "'python': platform.python_version()}))"
)
FABRIC_SCRIPT = """
import shlex, sys
from fabric import Connection, ThreadingGroup
key, python, probe = sys.argv[1:4]
hosts = [h.split(':') for h in sys.argv[4:]]
group = ThreadingGroup.from_connections(
    [Connection(h, user=u, port=int(p), connect_kwargs={'key_filename': [key]}) for u, h, p in hosts]
)
results = group.run(python + ' -c ' + shlex.quote(probe), hide=True, warn=True)
bad = [c.host for c, r in results.items() if not getattr(r, 'ok', False)]
sys.exit('fabric: %d failed' % len(bad) if bad else 0)
"""


def bench_python() -> Path:
    """The benchmark virtualenv's python, creating the virtualenv on first use."""
    python = BENCH_VENV / "bin" / "python"
    if not (BENCH_VENV / "bin" / "ansible").exists() or not python.exists():
        print("creating %s with %s (once)" % (BENCH_VENV, ", ".join(BENCH_PACKAGES)), flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *BENCH_PACKAGES], check=True)
    return python


def timed(argv, env=None, what=None) -> float:
    """Wall time of one whole command; exits with its error when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-800:]
        sys.exit("%s failed (exit %d): %s" % (what or argv[0], proc.returncode, tail))
    return elapsed


def best(runs: int, argv, env=None, what=None) -> float:
    return min(timed(argv, env, what) for _ in range(runs))


def edgebench_env(root: Path, tmp: Path) -> dict:
    return dict(
        os.environ,
        EDGEBENCH_INVENTORY=str(root / "inventory.yaml"),
        EDGEBENCH_KNOWN_HOSTS=str(root / "known_hosts"),
        EDGEBENCH_DB="sqlite:///%s" % (tmp / "fanout.db"),
        XDG_CACHE_HOME=str(tmp / "cache"),
    )


def ansible_env(root: Path, devices, tmp: Path) -> dict:
    """An inventory and an ansible.cfg of our own: the user's ~/.ansible.cfg plays no part."""
    inventory = tmp / "hosts.ini"
    inventory.write_text(
        "".join(
            "%s ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s "
            "ansible_python_interpreter=%s\n"
            % (d.name, d.host, d.port, getpass.getuser(), root / "id_ed25519", sys.executable)
            for d in devices
        )
    )
    config = tmp / "ansible.cfg"
    config.write_text(
        "[defaults]\ninventory = %s\nforks = %d\nhost_key_checking = True\n"
        "local_tmp = %s\ninterpreter_python = %s\n"
        "[ssh_connection]\ncontrol_path_dir = %s\n"
        "ssh_args = -o ControlMaster=auto -o ControlPersist=2s -o UserKnownHostsFile=%s\n"
        % (inventory, len(devices), tmp / "ansible-tmp", sys.executable, tmp / "cp", root / "known_hosts")
    )
    return dict(os.environ, ANSIBLE_CONFIG=str(config))


def ratio_line(name: str, value: float, target: str, met: bool) -> str:
    return "   %s %.2f (target %s): %s" % (name, value, target, "met" if met else "MISSED")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3, help="runs of each command; the best is shown")
    parser.add_argument("--no-ansible", action="store_true", help="edgebench and fabric only (quicker)")
    args = parser.parse_args()
    python = bench_python()
    compile_sources()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        root = tmp / "fleet"
        started = time.perf_counter()
        devices = testfleet.start(root, args.devices, light_shell=True)
        try:
            print("%d sshd devices started in %.1f s" % (len(devices), time.perf_counter() - started))
            figures(args, python, root, devices, tmp)
        finally:
            testfleet.stop(root)


def compile_sources() -> None:
    """Bytecode for edgebench's own sources, where a user's installed copy has it."""
    import edgebench.agent

    for package in (testfleet.__file__, edgebench.agent.__file__):  # the controller, the agent
        compileall.compile_dir(str(Path(package).parent), quiet=1)


def figures(args, python: Path, root: Path, devices, tmp: Path) -> None:
    env = edgebench_env(root, tmp)
    deploy = timed([str(EDGEBENCH), "deploy", "--all"], env, "edgebench deploy --all")
    print("edgebench deploy --all (the agent sent to every device): %.2f s" % deploy)
    first = timed([str(EDGEBENCH), "probe", "--all"], env, "edgebench probe --all")
    print("edgebench probe --all, first (each device caches its runtimes' versions): %.2f s" % first)
    ours = best(args.runs, [str(EDGEBENCH), "probe", "--all"], env, "edgebench probe --all")
    hosts = ["%s:%s:%d" % (getpass.getuser(), d.host, d.port) for d in devices]
    key = str(root / "id_ed25519")
    fabric = best(
        args.runs, [str(python), "-c", FABRIC_SCRIPT, key, sys.executable, PROBE, *hosts], what="fabric"
    )
    sweep = best(args.runs, [str(EDGEBENCH), *SWEEP], env, "edgebench sweep")
    print()
    print("%d devices, best of %d runs of each whole command:" % (len(devices), args.runs))
    print("   edgebench probe --all                   %6.2f s" % ours)
    print("   fabric ThreadingGroup, python3 -c probe %6.2f s" % fabric)
    print("   edgebench sweep, a quick null trial each %6.2f s" % sweep)
    if not args.no_ansible:
        setup = ansible_figures(args, python, root, devices, tmp)
    met = ours <= FABRIC_TARGET * fabric
    print(ratio_line("edgebench / fabric", ours / fabric, "<= %.1f" % FABRIC_TARGET, met))
    if not args.no_ansible:
        met = setup >= ANSIBLE_TARGET * ours
        print(ratio_line("ansible -m setup / edgebench", setup / ours, ">= %.0f" % ANSIBLE_TARGET, met))


def ansible_figures(args, python: Path, root: Path, devices, tmp: Path) -> float:
    """Prints Ansible's two figures; returns the time of `-m setup`."""
    ansible = str(python.with_name("ansible"))
    env = ansible_env(root, devices, tmp)
    setup = best(args.runs, [ansible, "all", "-m", "setup"], env, "ansible -m setup")
    uname = best(args.runs, [ansible, "all", "-m", "command", "-a", "uname -a"], env, "ansible -m command")
    print("   ansible all -m setup                    %6.2f s" % setup)
    print('   ansible all -m command -a "uname -a"    %6.2f s' % uname)
    return setup


if __name__ == "__main__":
    main()
