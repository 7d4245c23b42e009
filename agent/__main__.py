"""Command line of the agent:

  python3 edgebench-agent.pyz probe                  device facts as one JSON record
  python3 edgebench-agent.pyz run JOB.json|-         one trial; records on stdout and spooled
  python3 edgebench-agent.pyz serve                  trial requests as JSON lines on stdin
  python3 edgebench-agent.pyz fetch TRIAL            print a trial's spooled records
  python3 edgebench-agent.pyz busy                   "busy" while a trial is being measured (and, on a
                                                     second line, its holder as JSON when known), else "idle"
  python3 edgebench-agent.pyz sample CONFIG_JSON     the sampler helper of a trial (started by the trial)

Records go to stdout; diagnostics to stderr. Exit status 0 when the command (or the trial) did
what was asked, 1 for a failed trial, 2 for a bad command line or job file.
"""

import argparse
import json
import os
import sys

from . import sysroot
from .errorlog import log_exception, one_line
from .lock import DeviceLock, device_busy, read_holder
from .probe import collect_facts, runtime_cache
from .protocol import make_record, encode
from .serve import serve
from .spool import Tee, spool_path
from .trial import run_trial

DEFAULT_WORKDIR = "~/.edgebench"


def _parser():
    parser = argparse.ArgumentParser(prog="edgebench-agent", description="edgebench device agent")
    parser.add_argument(
        "--workdir",
        default=os.environ.get("EDGEBENCH_WORKDIR", DEFAULT_WORKDIR),
        help="folder for spool files (default %(default)s)",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("probe", help="print device facts")
    run = commands.add_parser("run", help="run one trial from a JSON job file (- for stdin)")
    run.add_argument("job")
    commands.add_parser("serve", help="take trial requests as JSON lines on stdin")
    fetch = commands.add_parser("fetch", help="print a trial's spooled records")
    fetch.add_argument("trial_id")
    commands.add_parser("busy", help="print busy while a trial is being measured, else idle")
    sample = commands.add_parser("sample", help="the sampler helper process of a trial (internal)")
    sample.add_argument("config", help="JSON: root, telemetry settings, path of the readings file")
    return parser


def _read_job(path):
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path) as f:
                text = f.read()
        return json.loads(text)
    except (IOError, OSError, ValueError) as exc:
        # exit status 2 (bad job file), as documented above; SystemExit("msg") would give 1
        sys.stderr.write("edgebench-agent: cannot read job %s: %s\n" % (path, exc))
        raise SystemExit(2)


def _fetch(workdir, trial_id):
    try:
        path = spool_path(workdir, trial_id)
        with open(path) as f:
            sys.stdout.write(f.read())
    except (ValueError, IOError, OSError) as exc:
        sys.stderr.write("edgebench-agent: no spool for trial %s: %s\n" % (trial_id, exc))
        return 1
    return 0


def _busy(workdir):
    if not device_busy(workdir):
        sys.stdout.write("idle\n")
        return 0
    holder = read_holder(workdir)
    sys.stdout.write("busy\n" + ("" if holder is None else json.dumps(holder, sort_keys=True) + "\n"))
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return _command(args)
    except Exception as exc:  # one line for the host (its messages, stored errors); frames in the log
        sys.stderr.write("edgebench-agent: %s\n" % one_line(exc, log_exception(args.workdir)))
        return 1


def _command(args):
    if args.command == "probe":
        sys.stdout.write(
            encode(make_record("facts", facts=collect_facts(sysroot.root(), runtime_cache(args.workdir))))
        )
        return 0
    if args.command == "run":
        tee = Tee(sys.stdout, args.workdir)
        job = _read_job(args.job)
        trial_id = job.get("trial_id") if isinstance(job, dict) else None
        with DeviceLock(args.workdir, holder={"trial": trial_id} if isinstance(trial_id, str) else None):
            status = run_trial(job, tee.emit, tee.workdir)
        return 0 if status == "ok" else 1
    if args.command == "serve":
        return serve(sys.stdin, sys.stdout, args.workdir)
    if args.command == "fetch":
        return _fetch(args.workdir, args.trial_id)
    if args.command == "sample":
        from .telemetry.sampler import main as sampler_main

        return sampler_main(args.config)
    if args.command == "busy":
        return _busy(args.workdir)
    _parser().print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
