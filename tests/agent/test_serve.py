import io
import json
import os
import shutil
import tempfile
import unittest

from agent import AGENT_VERSION
from agent.serve import serve
from agent.spool import spool_path

from .helpers import null_job, parse_lines, string_io


class ServeTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="edgebench-serve-")
        self.addCleanup(shutil.rmtree, self.workdir)

    def serve_lines(self, lines):
        out = io.StringIO()
        status = serve(string_io(lines), out, self.workdir)
        self.assertEqual(status, 0)
        return parse_lines(out.getvalue())

    def test_session(self):
        records = self.serve_lines(
            [
                json.dumps({"op": "ping"}),
                json.dumps(
                    {
                        "op": "run",
                        "job": {"trial_id": "sv1", "backend": "null", "quick": True, "max_iters": 500},
                    }
                ),
                "this is not json",
                json.dumps({"op": "dance"}),
                "",
                "[1, 2]",
                json.dumps({"op": "ping"}),
                json.dumps({"op": "exit"}),
                json.dumps({"op": "ping"}),  # after exit: not read
            ]
        )
        types = [r["type"] for r in records]
        self.assertEqual(
            types,
            ["hello", "pong", "trial_start", "result", "trial_end", "error", "error", "error", "pong", "bye"],
        )
        self.assertEqual(records[0]["agent_version"], AGENT_VERSION)
        self.assertEqual(records[4]["status"], "ok")
        self.assertTrue(all(r["trial_id"] == "sv1" for r in records[2:5]))
        bad_json, bad_op, not_object = records[5:8]
        self.assertEqual(bad_op["kind"], "bad_request")
        self.assertIn("dance", bad_op["error"])
        for name in ("run", "probe", "ping", "exit"):
            self.assertIn(name, bad_op["error"])
        for record in (bad_json, not_object):
            self.assertIsNone(record["trial_id"])
            self.assertEqual(record["kind"], "bad_request")
        # the trial was spooled too
        with open(spool_path(self.workdir, "sv1")) as f:
            self.assertEqual(len(f.read().splitlines()), 3)

    def test_failed_trials_do_not_stop_serve(self):
        records = self.serve_lines(
            [
                json.dumps({"op": "run", "job": null_job("bad", batch=0)}),
                json.dumps({"op": "run", "job": null_job("../escape")}),
                json.dumps({"op": "run", "job": null_job(12)}),
                json.dumps({"op": "run"}),
                json.dumps({"op": "run", "job": null_job("good")}),
                json.dumps({"op": "exit"}),
            ]
        )
        types = [r["type"] for r in records]
        self.assertEqual(
            types, ["hello"] + ["error", "trial_end"] * 4 + ["trial_start", "result", "trial_end", "bye"]
        )
        ends = [r for r in records if r["type"] == "trial_end"]
        self.assertEqual([e["status"] for e in ends], ["failed"] * 4 + ["ok"])
        self.assertEqual(sorted(os.listdir(self.workdir)), ["spool", "trial.lock"])  # nothing escaped
        self.assertEqual(sorted(os.listdir(os.path.join(self.workdir, "spool"))), ["bad.jsonl", "good.jsonl"])

    def test_probe(self):
        records = self.serve_lines([json.dumps({"op": "probe"}), json.dumps({"op": "exit"})])
        self.assertEqual([r["type"] for r in records], ["hello", "facts", "bye"])
        self.assertEqual(records[1]["facts"]["agent_version"], AGENT_VERSION)

    def test_end_of_input_stops_serve(self):
        records = self.serve_lines([json.dumps({"op": "ping"})])
        self.assertEqual([r["type"] for r in records], ["hello", "pong"])


if __name__ == "__main__":
    unittest.main()
