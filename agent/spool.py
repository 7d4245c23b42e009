"""Spool: each trial's records also go to WORKDIR/spool/TRIAL.jsonl, flushed per record, so
a host that lost the link can fetch them later and nothing is measured twice."""

import os
import re

from .protocol import encode

# \Z, not $: "$" also matches before a trailing newline ("x\n" would pass).
SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}\Z")


def is_safe_id(trial_id):
    """A trial id that can name a spool file: a plain name, not a path, not "." or ".."."""
    return isinstance(trial_id, str) and SAFE_ID.match(trial_id) is not None and trial_id not in (".", "..")


def spool_path(workdir, trial_id):
    if not is_safe_id(trial_id):
        raise ValueError("unsafe trial id %r" % (trial_id,))
    return os.path.join(os.path.expanduser(workdir), "spool", trial_id + ".jsonl")


class Tee(object):
    """Writes each record to the output stream and to the trial's spool file."""

    def __init__(self, out, workdir):
        self.out = out
        self.workdir = workdir
        self._file = None
        self._trial = None

    def _spool_for(self, trial_id):
        if trial_id == self._trial:
            return self._file
        self.close()
        path = spool_path(self.workdir, trial_id)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        self._file = open(path, "a")
        self._trial = trial_id
        return self._file

    def emit(self, record):
        line = encode(record)
        trial_id = record.get("trial_id")
        if is_safe_id(trial_id):  # an unsafe id is refused by run_trial; never crash here
            spool = self._spool_for(trial_id)
            spool.write(line)
            spool.flush()
        self.relay(line)
        if record.get("type") == "trial_end":
            self.close()

    def relay(self, line):
        """The host may be gone (link cut, controller killed): the trial goes on and its
        records stay in the spool, to be fetched later."""
        if self.out is None:
            return
        try:
            self.out.write(line)
            self.out.flush()
        except (IOError, OSError, ValueError):
            self.out = None

    def close(self):
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self._file = None
        self._trial = None
