"""The agent's command line, run as a user (or the host over SSH) runs it: a subprocess."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from agent import AGENT_VERSION

from .helpers import REPO, null_job, parse_lines


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="edgebench-cli-")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.workdir = os.path.join(self.tmp, "wd")

    def agent(self, *args, **kw):
        env = dict(os.environ)
        env.pop("EDGEBENCH_WORKDIR", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "--workdir", self.workdir] + list(args),
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        out, err = proc.communicate(kw.get("stdin"), timeout=120)
        return proc.returncode, out, err

    def write_job(self, job, name="job.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(job, f)
        return path

    def test_run_then_fetch(self):
        rc, out, err = self.agent("run", self.write_job(null_job("cli1")))
        self.assertEqual(rc, 0, err)
        records = parse_lines(out)
        self.assertEqual(len(out.splitlines()), 3)
        self.assertEqual([r["type"] for r in records], ["trial_start", "result", "trial_end"])
        self.assertEqual(records[-1]["status"], "ok")
        self.assertTrue(os.path.isfile(os.path.join(self.workdir, "spool", "cli1.jsonl")))

        rc, fetched, err = self.agent("fetch", "cli1")
        self.assertEqual(rc, 0, err)
        self.assertEqual(fetched, out)

    def test_run_from_stdin(self):
        rc, out, err = self.agent("run", "-", stdin=json.dumps(null_job("cli_stdin")))
        self.assertEqual(rc, 0, err)
        self.assertEqual([r["type"] for r in parse_lines(out)], ["trial_start", "result", "trial_end"])

    def test_failed_trial_exits_1(self):
        rc, out, err = self.agent("run", self.write_job(null_job("cli_bad", backend="nope")))
        self.assertEqual(rc, 1)
        records = parse_lines(out)
        self.assertEqual([r["type"] for r in records], ["trial_start", "error", "trial_end"])
        self.assertEqual(records[-1]["status"], "failed")

    def test_unreadable_job_exits_2(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        for path in (bad, os.path.join(self.tmp, "missing.json")):
            rc, out, err = self.agent("run", path)
            self.assertEqual(rc, 2, err)
            self.assertEqual(out, "")
            self.assertIn(os.path.basename(path), err)
            self.assertEqual(len(err.strip().splitlines()), 1)  # one line, no traceback

    def test_fetch_unknown_or_unsafe_trial(self):
        for trial_id in ("never-ran", "../etc"):
            rc, out, err = self.agent("fetch", trial_id)
            self.assertEqual(rc, 1)
            self.assertEqual(out, "")
            self.assertIn(trial_id, err)

    def test_probe(self):
        rc, out, err = self.agent("probe")
        self.assertEqual(rc, 0, err)
        records = parse_lines(out)
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["type"], "facts")
        facts = records[0]["facts"]
        self.assertEqual(facts["agent_version"], AGENT_VERSION)
        self.assertEqual(facts["python"], "%d.%d.%d" % sys.version_info[:3])

    def test_serve_over_pipes(self):
        requests = (
            "\n".join(
                json.dumps(r)
                for r in ({"op": "ping"}, {"op": "run", "job": null_job("cli_sv")}, {"op": "exit"})
            )
            + "\n"
        )
        rc, out, err = self.agent("serve", stdin=requests)
        self.assertEqual(rc, 0, err)
        self.assertEqual(
            [r["type"] for r in parse_lines(out)],
            ["hello", "pong", "trial_start", "result", "trial_end", "bye"],
        )

    def test_no_command_exits_2(self):
        rc, out, err = self.agent()
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")

    def test_agent_imports_no_third_party_module(self):
        code = (
            "import sys, agent.__main__, agent.serve, agent.trial, agent.probe, agent.backends.onnxrt\n"
            "bad = [m for m in ('numpy', 'onnxruntime', 'tensorrt', 'tvm', 'jtop') if m in sys.modules]\n"
            "assert not bad, bad\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)


if __name__ == "__main__":
    unittest.main()
