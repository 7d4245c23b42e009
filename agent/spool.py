"""Spool: each trial's records also go to WORKDIR/spool/TRIAL.jsonl, flushed per record, so
a host that lost the link can fetch them later and nothing is measured twice."""
import os
import re

from .protocol import encode

SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def spool_path(workdir, trial_id):
    if not SAFE_ID.match(trial_id or "") or trial_id in (".", ".."):
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
        if trial_id and SAFE_ID.match(trial_id):
            spool = self._spool_for(trial_id)
            spool.write(line)
            spool.flush()
        self.out.write(line)
        self.out.flush()
        if record.get("type") == "trial_end":
            self.close()

    def close(self):
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self._file = None
        self._trial = None
