"""What keeps a trial alive when the host goes away: the spool, and one trial at a time."""

import json
import os
import shutil
import tempfile
import threading
import time
import unittest

from agent.lock import DeviceLock
from agent.spool import Tee
from agent.trial import run_trial


class BrokenStream(object):
    """A stdout whose reader is gone (link cut, controller killed)."""

    def __init__(self):
        self.writes = 0

    def write(self, text):
        self.writes += 1
        raise BrokenPipeError("the host is gone")

    def flush(self):
        pass


class LinkLossTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.workdir)

    def test_trial_completes_into_the_spool_when_stdout_is_gone(self):
        out = BrokenStream()
        tee = Tee(out, self.workdir)
        job = {"trial_id": "cut", "backend": "null", "quick": True, "keep_samples": False}
        self.assertEqual(run_trial(job, tee.emit), "ok")
        with open(os.path.join(self.workdir, "spool", "cut.jsonl")) as f:
            types = [json.loads(line)["type"] for line in f]
        self.assertEqual(types, ["trial_start", "result", "trial_end"])
        self.assertEqual(out.writes, 1)  # tried once, then stopped writing to a dead stream

    def test_trial_end_reports_the_agents_own_time(self):
        records = []
        started = time.monotonic()
        run_trial({"trial_id": "t", "backend": "null", "quick": True, "keep_samples": False}, records.append)
        outside = time.monotonic() - started
        end = records[-1]
        self.assertEqual(end["type"], "trial_end")
        # The agent's own time lies within the call that ran it: no wall-clock limit here.
        self.assertGreater(end["agent_s"], 0.0)
        self.assertLessEqual(end["agent_s"], outside)

    def test_a_second_agent_waits_for_the_trial_in_progress(self):
        from agent import lock as lock_module

        order = []
        holding = threading.Event()
        second_waiting = threading.Event()

        class WatchedTime(object):
            """agent.lock's clock, telling the test when the second agent sleeps between tries."""

            monotonic = staticmethod(time.monotonic)

            @staticmethod
            def sleep(seconds):
                second_waiting.set()
                time.sleep(seconds)

        self.addCleanup(setattr, lock_module, "time", lock_module.time)
        lock_module.time = WatchedTime

        def first():
            with DeviceLock(self.workdir):
                holding.set()
                # The trial in progress ends only once the second agent has found the device busy.
                second_waiting.wait(60)
                order.append("first done")

        thread = threading.Thread(target=first)
        thread.start()
        self.assertTrue(holding.wait(60))
        with DeviceLock(self.workdir) as lock:
            order.append("second starts")
        thread.join()
        self.assertTrue(second_waiting.is_set())
        self.assertEqual(order, ["first done", "second starts"])
        self.assertGreater(lock.waited_s, lock_module.LOCK_POLL_S / 2)  # it slept at least one poll


if __name__ == "__main__":
    unittest.main()


class ChildCrashTest(unittest.TestCase):
    def test_a_trial_process_that_dies_fails_its_trial_and_serve_goes_on(self):
        import io
        import sys
        from agent import serve as serve_module

        workdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, workdir)
        original = serve_module.child_command
        serve_module.child_command = lambda w: [sys.executable, "-c", "import sys; sys.exit(3)"]
        self.addCleanup(setattr, serve_module, "child_command", original)
        job = {"trial_id": "dies", "backend": "null", "quick": True}
        out = io.StringIO()
        serve_module.serve(
            io.StringIO(json.dumps({"op": "run", "job": job}) + "\n" + '{"op": "ping"}\n'), out, workdir
        )
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual([r["type"] for r in records], ["hello", "error", "trial_end", "pong"])
        self.assertIn("status 3", records[1]["error"])
        self.assertEqual(records[2]["status"], "failed")
        with open(os.path.join(workdir, "spool", "dies.jsonl")) as f:  # the host can fetch the verdict
            self.assertEqual([json.loads(line)["type"] for line in f], ["error", "trial_end"])


class WatchdogTest(unittest.TestCase):
    def test_a_trial_that_hangs_is_killed_and_releases_the_device(self):
        import io
        import sys
        from agent import serve as serve_module
        from agent.lock import device_busy

        workdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, workdir)
        finished = os.path.join(workdir, "hung-trial-finished")
        # The sleep is the scenario: a trial process that hangs. Killed, it never writes `finished`.
        hang = "import time; time.sleep(60); open(%r, 'w').close()" % finished
        for name, value in (
            ("child_command", lambda w: [sys.executable, "-c", hang]),
            ("trial_deadline_s", lambda job: 0.5),
        ):
            self.addCleanup(setattr, serve_module, name, getattr(serve_module, name))
            setattr(serve_module, name, value)
        out = io.StringIO()
        serve_module.serve(
            io.StringIO(json.dumps({"op": "run", "job": {"trial_id": "hang"}}) + "\n"), out, workdir
        )
        self.assertFalse(os.path.exists(finished))  # killed by the watchdog, not waited for
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual([r["type"] for r in records], ["hello", "error", "trial_end"])
        self.assertEqual(records[1]["kind"], "timeout")
        self.assertFalse(device_busy(workdir))
