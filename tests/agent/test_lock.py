"""The device lock says who holds it, and a second controller waits for it or skips."""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

from agent import lock as lock_module
from agent.lock import DeviceLock, LockTimeout, describe_holder, read_holder
from agent.serve import serve
from agent.spool import spool_path

from .helpers import null_job, parse_lines

ALICE = {"host": "lab-pc", "user": "alice", "pid": 4242, "sweep": "3f2a9c"}
GENEROUS_S = 600.0  # a deadline for waits that end in milliseconds: only a hang reaches it


def wait_until(condition, what):
    deadline = time.monotonic() + GENEROUS_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting for %s" % what)
        time.sleep(0.01)


class LineStream(object):
    """serve's stdout, read by the test while serve runs in a thread."""

    def __init__(self):
        self.lines = []
        self._guard = threading.Lock()

    def write(self, text):
        with self._guard:
            self.lines.extend(json.loads(line) for line in text.splitlines() if line.strip())

    def flush(self):
        pass

    def records(self, record_type=None):
        with self._guard:
            return [r for r in self.lines if record_type is None or r["type"] == record_type]


class HolderTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="edgebench-lock-")
        self.addCleanup(shutil.rmtree, self.workdir)

    def test_the_holder_writes_who_it_is_into_the_lock(self):
        before = time.time()
        with DeviceLock(self.workdir, holder=dict(ALICE, trial="t1", deadline_s=420.0)):
            holder = read_holder(self.workdir)
        for key, value in ALICE.items():
            self.assertEqual(holder[key], value)
        self.assertEqual(holder["trial"], "t1")
        self.assertEqual(holder["agent_pid"], os.getpid())
        self.assertGreaterEqual(holder["since_unix"], before - 1)
        self.assertEqual(sorted(os.listdir(self.workdir)), ["trial.lock"])  # nothing beside the lock

    def test_what_an_ended_holder_wrote_is_not_taken_for_the_current_one(self):
        ended = subprocess.Popen([sys.executable, "-c", "pass"])
        ended.wait()  # reaped: its pid names no process now
        with open(os.path.join(self.workdir, "trial.lock"), "w") as f:
            json.dump(dict(ALICE, agent_pid=ended.pid, since_unix=time.time()), f)
        self.assertIsNone(read_holder(self.workdir))

    def test_unreadable_holder_is_unknown(self):
        with open(os.path.join(self.workdir, "trial.lock"), "w") as f:
            f.write('{"host": "lab')  # being written
        self.assertIsNone(read_holder(self.workdir))
        self.assertIsNone(read_holder(os.path.join(self.workdir, "absent")))

    def test_the_holder_in_words(self):
        moment = time.mktime((2024, 5, 1, 14, 2, 11, 0, 0, -1))
        words = describe_holder(dict(ALICE, since_unix=moment), time.localtime, "")
        self.assertEqual(words, "sweep 3f2a9c from alice@lab-pc (pid 4242) since 2024-05-01 14:02:11")
        today = describe_holder(dict(ALICE, since_unix=time.time()), time.gmtime)
        self.assertRegex(today, r"since \d\d:\d\d:\d\d UTC$")  # today: the time alone
        self.assertIn("did not say", describe_holder(None))
        self.assertEqual(describe_holder({"trial": "t9", "agent_pid": 77}), "trial t9")


class BusyCommandTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="edgebench-lock-")
        self.addCleanup(shutil.rmtree, self.workdir)

    def busy(self):
        from agent.__main__ import main

        out = io.StringIO()
        with mock.patch("sys.stdout", out):
            self.assertEqual(main(["--workdir", self.workdir, "busy"]), 0)
        return out.getvalue().splitlines()

    def test_busy_prints_the_holder_on_a_second_line(self):
        self.assertEqual(self.busy(), ["idle"])
        with DeviceLock(self.workdir, holder=ALICE):
            state, holder = self.busy()
        self.assertEqual(state, "busy")
        self.assertEqual(json.loads(holder)["user"], "alice")
        self.assertEqual(self.busy(), ["idle"])


class WaitTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="edgebench-lock-")
        self.addCleanup(shutil.rmtree, self.workdir)
        self.addCleanup(setattr, lock_module, "REPORT_EVERY_S", lock_module.REPORT_EVERY_S)
        lock_module.REPORT_EVERY_S = 0.05  # reports come fast, so the test sees the wait go on

    def waiting_thread(self, lock, reports):
        outcome = {}

        def take():
            try:
                lock.acquire(lambda holder, waited: reports.append((holder, waited)))
                outcome["taken"] = True
            except LockTimeout as exc:
                outcome["timeout"] = str(exc)
            finally:
                lock.__exit__()

        thread = threading.Thread(target=take)
        thread.start()
        return thread, outcome

    def test_a_holder_within_its_deadline_is_waited_for_past_our_own_timeout(self):
        reports = []
        holding = DeviceLock(self.workdir, holder=dict(ALICE, deadline_s=3600.0)).acquire()
        thread, outcome = self.waiting_thread(DeviceLock(self.workdir, timeout_s=0.05), reports)
        wait_until(lambda: reports and reports[-1][1] > 0.5, "the wait to outlast our own timeout")
        self.assertEqual(reports[0][0]["user"], "alice")  # told who holds it, at once
        holding.__exit__()
        thread.join()
        self.assertEqual(outcome, {"taken": True})

    def test_a_holder_past_its_deadline_is_given_up_on_and_named(self):
        holding = DeviceLock(self.workdir, holder=dict(ALICE, since_unix=time.time() - 7200, deadline_s=60.0))
        holding.acquire()
        self.addCleanup(holding.__exit__)
        thread, outcome = self.waiting_thread(DeviceLock(self.workdir, timeout_s=0.05), [])
        thread.join()
        self.assertIn("sweep 3f2a9c from alice@lab-pc (pid 4242)", outcome["timeout"])
        self.assertIn("past its deadline", outcome["timeout"])

    def test_a_holder_that_did_not_say_when_it_ends_is_waited_for_timeout_s(self):
        with open(os.path.join(self.workdir, "trial.lock"), "a") as held:
            import fcntl

            fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # an older agent: holds it, names no one
            thread, outcome = self.waiting_thread(DeviceLock(self.workdir, timeout_s=0.2), [])
            thread.join()
        self.assertIn("another trial has held the device", outcome["timeout"])

    def test_a_given_up_wait_leaves_the_lock_free_once_the_holder_ends(self):
        holding = DeviceLock(self.workdir, holder=ALICE).acquire()

        def give_up(holder, waited):
            raise lock_module.DeviceBusy(holder)

        with self.assertRaises(lock_module.DeviceBusy):
            DeviceLock(self.workdir).acquire(give_up)
        holding.__exit__()
        # The abandoned waiter may take the lock for a moment; it lets it go at once.
        wait_until(lambda: not lock_module.device_busy(self.workdir), "the abandoned waiter to let go")


class ServeOnBusyTest(unittest.TestCase):
    """`serve` with the lock held by another controller's trial, as a second controller sees it."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="edgebench-busy-")
        self.addCleanup(shutil.rmtree, self.workdir)
        self.holding = DeviceLock(self.workdir, holder=dict(ALICE, trial="a1", deadline_s=600.0)).acquire()
        self.addCleanup(self.holding.__exit__)

    def request(self, on_busy, sweep="b7", trial_id="b1"):
        controller = {"host": "other-pc", "user": "bob", "pid": 99, "sweep": sweep}
        run = {"op": "run", "job": null_job(trial_id), "controller": controller, "on_busy": on_busy}
        return io.StringIO(json.dumps(run) + "\n" + json.dumps({"op": "exit"}) + "\n")

    def serve_in_thread(self, requests):
        out = LineStream()
        thread = threading.Thread(target=serve, args=(requests, out, self.workdir))
        thread.start()
        return thread, out

    def test_skip_ends_the_trial_at_once_and_names_the_holder(self):
        out = io.StringIO()
        serve(self.request("skip"), out, self.workdir)
        records = parse_lines(out.getvalue())
        self.assertEqual([r["type"] for r in records], ["hello", "busy", "error", "trial_end", "bye"])
        busy, error, end = records[1:4]
        self.assertEqual(busy["trial_id"], "b1")
        self.assertEqual(busy["on_busy"], "skip")
        self.assertEqual(busy["holder"]["sweep"], "3f2a9c")
        self.assertEqual(busy["holder"]["trial"], "a1")
        self.assertEqual(error["kind"], "busy")
        self.assertIn("sweep 3f2a9c from alice@lab-pc (pid 4242)", error["error"])
        self.assertEqual(end["status"], "skipped")
        with open(spool_path(self.workdir, "b1")) as f:  # the verdict is spooled, the wait is not
            self.assertEqual([json.loads(line)["type"] for line in f], ["error", "trial_end"])
        self.assertEqual(read_holder(self.workdir)["user"], "alice")  # the holder was not disturbed

    def test_wait_reports_the_holder_then_runs_once_it_is_released(self):
        thread, out = self.serve_in_thread(self.request("wait"))
        wait_until(lambda: out.records("busy"), "the busy report")
        self.assertEqual(out.records("trial_start"), [])  # nothing measured alongside alice's trial
        self.holding.__exit__()
        thread.join()
        self.assertEqual(
            [r["type"] for r in out.records()], ["hello", "busy", "trial_start", "result", "trial_end", "bye"]
        )
        self.assertEqual(out.records("busy")[0]["holder"]["user"], "alice")
        self.assertEqual(out.records("trial_end")[0]["status"], "ok")

    def test_our_own_sweeps_trial_is_waited_for_even_under_skip(self):
        thread, out = self.serve_in_thread(self.request("skip", sweep="3f2a9c"))
        wait_until(lambda: out.records("busy"), "the busy report")
        self.assertEqual(out.records("busy")[0]["on_busy"], "wait")  # a trial it left running
        self.holding.__exit__()
        thread.join()
        self.assertEqual(out.records("trial_end")[0]["status"], "ok")

    def test_the_trial_names_its_controller_in_the_lock_while_it_runs(self):
        self.holding.__exit__()
        stream = self.request("wait", trial_id="b2")
        named = {}
        original = lock_module.DeviceLock.name_holder

        def spy(lock, agent_pid):
            original(lock, agent_pid)
            named[agent_pid] = read_holder(self.workdir)

        self.addCleanup(setattr, lock_module.DeviceLock, "name_holder", original)
        lock_module.DeviceLock.name_holder = spy
        serve(stream, io.StringIO(), self.workdir)
        child = [holder for pid, holder in named.items() if pid != os.getpid()]
        self.assertEqual(len(child), 1)  # named again once the trial process holds the lock
        self.assertEqual(child[0]["user"], "bob")
        self.assertEqual(child[0]["sweep"], "b7")
        self.assertEqual(child[0]["trial"], "b2")


if __name__ == "__main__":
    unittest.main()
