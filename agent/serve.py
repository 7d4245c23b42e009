"""`serve`: one agent process for a whole sweep. Requests arrive as JSON lines on stdin and
each is answered with records on stdout, so a trial costs no new process or SSH session."""
import platform

from . import AGENT_VERSION
from .probe import collect_facts
from .protocol import ProtocolError, decode, encode, make_record
from .spool import Tee
from .trial import run_trial


def _answer(request, tee, out):
    """Handles one request; returns False when the host asked to stop."""
    op = request.get("op")
    if op == "run":
        run_trial(request.get("job"), tee.emit)
    elif op == "probe":
        out.write(encode(make_record("facts", facts=collect_facts())))
    elif op == "ping":
        out.write(encode(make_record("pong")))
    elif op == "exit":
        out.write(encode(make_record("bye")))
        return False
    else:
        out.write(encode(make_record("error", trial_id=None, kind="bad_request",
                                     error="unknown op %r; valid: run, probe, ping, exit" % (op,))))
    return True


def serve(inp, out, workdir):
    tee = Tee(out, workdir)
    out.write(encode(make_record("hello", agent_version=AGENT_VERSION, python=platform.python_version())))
    out.flush()
    keep_going = True
    while keep_going:
        line = inp.readline()
        if not line:
            break  # the host closed stdin: the sweep is over
        if not line.strip():
            continue
        try:
            keep_going = _answer(decode(line), tee, out)
        except ProtocolError as exc:
            out.write(encode(make_record("error", trial_id=None, kind="bad_request", error=str(exc))))
        out.flush()
    tee.close()
    return 0
