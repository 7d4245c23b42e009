import io
import os
import shutil
import tempfile
import unittest

from agent.protocol import make_record
from agent.spool import Tee, spool_path
from agent.trial import run_trial

from .helpers import null_job, parse_lines


class SpoolPathTest(unittest.TestCase):
    def test_safe_id(self):
        self.assertEqual(spool_path("wd", "a1b2-c_3.d"), os.path.join("wd", "spool", "a1b2-c_3.d.jsonl"))

    def test_expands_home(self):
        self.assertTrue(spool_path("~/.edgebench", "t").startswith(os.path.expanduser("~")))

    def test_unsafe_ids_refused(self):
        for bad in ("../x", "/abs", "", ".", "..", "a/b", "a\\b", "x\n", "a b", "x" * 129, None, 7):
            with self.assertRaises(ValueError, msg=repr(bad)):
                spool_path("wd", bad)


class TeeTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="edgebench-wd-")
        self.addCleanup(shutil.rmtree, self.workdir)
        self.out = io.StringIO()
        self.tee = Tee(self.out, self.workdir)
        self.addCleanup(self.tee.close)

    def spooled(self, trial_id):
        with open(spool_path(self.workdir, trial_id)) as f:
            return f.read()

    def test_trial_goes_to_stream_and_spool(self):
        self.assertEqual(run_trial(null_job("s1"), self.tee.emit), "ok")
        streamed = self.out.getvalue()
        spooled = self.spooled("s1")
        self.assertEqual(streamed, spooled)
        records = parse_lines(spooled)
        self.assertEqual([r["type"] for r in records], ["trial_start", "result", "trial_end"])
        self.assertEqual(len(spooled.splitlines()), 3)
        self.assertTrue(spooled.endswith("\n"))
        self.assertEqual(records[-1]["status"], "ok")
        self.assertIsNone(self.tee._file)  # closed after trial_end: the file is complete

    def test_each_record_is_flushed_to_the_spool(self):
        self.tee.emit(make_record("trial_start", trial_id="s2", job={}))
        self.assertEqual(len(self.spooled("s2").splitlines()), 1)  # readable before trial_end

    def test_two_trials_two_files(self):
        run_trial(null_job("first"), self.tee.emit)
        run_trial(null_job("second", backend="nope"), self.tee.emit)
        first = parse_lines(self.spooled("first"))
        second = parse_lines(self.spooled("second"))
        self.assertTrue(all(r["trial_id"] == "first" for r in first))
        self.assertEqual([r["type"] for r in second], ["trial_start", "error", "trial_end"])
        self.assertEqual(len(parse_lines(self.out.getvalue())), 6)

    def test_records_without_trial_go_only_to_the_stream(self):
        run_trial({"backend": "null"}, self.tee.emit)  # no trial_id
        self.assertEqual([r["type"] for r in parse_lines(self.out.getvalue())], ["error", "trial_end"])
        self.assertFalse(os.path.exists(os.path.join(self.workdir, "spool")))


if __name__ == "__main__":
    unittest.main()
