"""Versioned JSON-lines records exchanged between the agent and the host.

Every record is one JSON object on one line with `v` (protocol version) and `type`.
Types the agent writes:
  hello        serve started: agent_version, python
  facts        answer to probe: the device facts
  trial_start  a trial began: trial_id, job (the settings as the agent understood them)
  result       the measurement: trial_id, metrics, env, samples_ms
  error        something failed: trial_id (or null), error (one line), kind
  trial_end    the trial is over: trial_id, status ("ok", "failed", or "skipped": not run, the
               device was busy with another sweep and the host asked to skip)
  busy         the device's lock is held by another trial: trial_id (the one waiting), holder
               (what the holder wrote: host, user, pid, sweep, trial, since_unix; null when
               unknown), waited_s, on_busy ("wait" or "skip"); sent at once, then every 10 s
  pong / bye   answers to ping / exit
Requests the host writes to `serve`: {"op": "run", "job": {...}, "controller": {"host", "user",
"pid", "sweep"}, "on_busy": "wait" | "skip"} (the last two optional), {"op": "probe"},
{"op": "ping"}, {"op": "exit"}.
"""

import json

PROTOCOL_VERSION = 1
RECORD_TYPES = ("hello", "facts", "trial_start", "result", "error", "trial_end", "busy", "pong", "bye")


class ProtocolError(ValueError):
    """A line that is not a valid record or request."""


def make_record(record_type, **fields):
    if record_type not in RECORD_TYPES:
        raise ValueError("unknown record type %r" % record_type)
    record = {"v": PROTOCOL_VERSION, "type": record_type}
    record.update(fields)
    return record


def encode(record):
    # allow_nan=False: a NaN would be invalid JSON for the host; callers turn it into null.
    return json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"


def decode(line):
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise ProtocolError("not JSON: %s" % exc)
    if not isinstance(obj, dict):
        raise ProtocolError("not a JSON object")
    return obj


def decode_record(line):
    record = decode(line)
    if record.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("protocol version %r, expected %d" % (record.get("v"), PROTOCOL_VERSION))
    if record.get("type") not in RECORD_TYPES:
        raise ProtocolError("unknown record type %r" % record.get("type"))
    return record
