"""An emulated device (the test fleet's aarch64 Pi under qemu-user) runs the agent through a
wrapper that names itself in EDGEBENCH_PYTHON: an emulated program cannot exec an aarch64
binary, so every child must start through that wrapper. Here a wrapper runs this machine's
Python and logs each start, which is all the agent can tell apart from qemu."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

from agent import child, probe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR = "fake-qemu -cpu cortex-a72"
WRAPPER = """#!/bin/sh
echo "$*" >> {log}
EDGEBENCH_PYTHON={wrapper}
EDGEBENCH_EMULATOR="{emulator}"
export EDGEBENCH_PYTHON EDGEBENCH_EMULATOR
exec {python} "$@"
"""


class Environ(object):
    """Sets variables for a block, then puts back what was there."""

    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.saved = dict((k, os.environ.get(k)) for k in self.values)
        for key, value in self.values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ChildCommandTest(unittest.TestCase):
    def test_children_start_through_the_wrapper_when_one_is_named(self):
        with Environ(EDGEBENCH_PYTHON="/opt/pi/python"):
            self.assertEqual(child.agent_command(["probe"])[0], "/opt/pi/python")
        with Environ(EDGEBENCH_PYTHON=None):
            self.assertEqual(child.agent_command(["probe"])[0], sys.executable)

    def test_probe_says_which_emulator_or_null(self):
        root = tempfile.mkdtemp(prefix="edgebench-emu-")
        self.addCleanup(shutil.rmtree, root)
        with Environ(EDGEBENCH_EMULATOR=EMULATOR):
            self.assertEqual(probe.collect_facts(root)["emulated"], EMULATOR)
        with Environ(EDGEBENCH_EMULATOR=None):
            self.assertIsNone(probe.collect_facts(root)["emulated"])


class TrialThroughWrapperTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="edgebench-emu-")
        self.addCleanup(shutil.rmtree, self.folder)
        self.log = os.path.join(self.folder, "starts.log")
        self.wrapper = os.path.join(self.folder, "python")
        with open(self.wrapper, "w") as f:
            f.write(
                WRAPPER.format(log=self.log, wrapper=self.wrapper, emulator=EMULATOR, python=sys.executable)
            )
        os.chmod(self.wrapper, os.stat(self.wrapper).st_mode | stat.S_IXUSR)

    def serve(self, requests):
        boot = "import sys; sys.path.insert(0, %r); from agent.__main__ import main; sys.exit(main())" % REPO
        argv = [self.wrapper, "-c", boot, "--workdir", os.path.join(self.folder, "work"), "serve"]
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith("EDGEBENCH_"))
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True, env=env
        )
        out, _ = proc.communicate("".join(json.dumps(r) + "\n" for r in requests), timeout=300)
        self.assertEqual(proc.returncode, 0)
        return [json.loads(line) for line in out.splitlines()]

    def test_a_trial_starts_through_the_wrapper_and_is_tagged_emulated(self):
        job = {"trial_id": "emu1", "backend": "null", "quick": True, "max_iters": 200}
        records = self.serve([{"op": "run", "job": job}, {"op": "exit"}])
        result = [r for r in records if r["type"] == "result"][0]
        self.assertEqual(result["metrics"]["emulated"], EMULATOR)
        self.assertEqual([r["status"] for r in records if r["type"] == "trial_end"], ["ok"])
        with open(self.log) as f:
            starts = f.read().splitlines()
        self.assertTrue(starts[0].endswith(" serve"), starts)
        self.assertTrue(any(line.endswith(" run -") for line in starts[1:]), starts)


if __name__ == "__main__":
    unittest.main()
