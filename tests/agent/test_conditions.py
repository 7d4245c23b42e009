"""Controlled conditions on simulated boards: --cooldown-c waits for the hottest zone,
--pin-clocks sets fixed clocks and restores what was there on every exit path."""

import json
import os
import subprocess
import sys
import shutil
import stat
import tempfile
import unittest

from agent import conditions
from agent.trial import run_trial
from tests.agent.helpers import null_job, write_file


def read(path):
    with open(path) as f:
        return f.read()


def changes(log):
    """The logged calls that change a Jetson's clocks or mode (not -q / --show, which read)."""
    calls = [line.split() for line in read(log).splitlines()]
    return [call for call in calls if call[1:] not in (["-q"], ["--show"])]


def governors(root):
    return [
        read(os.path.join(root, "sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor" % n)).strip()
        for n in range(2)
    ]


class BoardCase(unittest.TestCase):
    def setUp(self):
        self.root, self.workdir = tempfile.mkdtemp(), tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        self.addCleanup(shutil.rmtree, self.workdir)
        for n in range(2):
            write_file(self.root, "sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor" % n, "ondemand\n")
        os.environ["EDGEBENCH_SYSROOT"] = self.root
        self.addCleanup(os.environ.pop, "EDGEBENCH_SYSROOT", None)

    def trial(self, **extra):
        records = []
        status = run_trial(null_job(**extra), records.append, self.workdir)
        return status, records


class PinClocksTest(BoardCase):
    def test_governors_are_pinned_for_the_trial_and_restored_after(self):
        seen = []
        from tests.agent import event_backend

        event_backend.install(0.0, lambda: seen.append(governors(self.root)))
        self.addCleanup(event_backend.uninstall)
        status, records = self.trial(backend="event", pin_clocks=True)
        self.assertEqual(status, "ok")
        self.assertEqual(seen, [["performance", "performance"]])
        self.assertEqual(governors(self.root), ["ondemand", "ondemand"])
        clocks = records[1]["metrics"]["conditions"]["clocks"]
        self.assertTrue(clocks["pinned"])
        self.assertTrue(clocks["restored"])
        self.assertFalse(os.path.exists(os.path.join(self.workdir, conditions.PENDING_FILE)))

    def test_a_trial_killed_while_pinned_is_restored_by_the_next_agent(self):
        pin = conditions.ClockPin(self.root, self.workdir)
        self.assertTrue(pin.apply()["pinned"])
        self.assertEqual(governors(self.root), ["performance", "performance"])
        # While the trial that pinned them runs, a second agent leaves the clocks alone...
        self.assertIsNone(conditions.restore_pending(self.workdir))
        self.assertEqual(governors(self.root), ["performance", "performance"])
        # ... and once that process is gone (killed), the next agent puts them back.
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        self.set_owner([gone.pid, 1])
        self.assertEqual(conditions.restore_pending(self.workdir), [])
        self.assertEqual(governors(self.root), ["ondemand", "ondemand"])
        self.assertIsNone(conditions.restore_pending(self.workdir))  # nothing left to restore

    def set_owner(self, owner):
        path = os.path.join(self.workdir, conditions.PENDING_FILE)
        with open(path) as f:
            state = json.load(f)
        state["owner"] = owner
        with open(path, "w") as f:
            json.dump(state, f)

    def test_a_governor_that_cannot_be_written_says_why_and_leaves_nothing_changed(self):
        path = os.path.join(self.root, "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor")
        os.remove(path)
        os.mkdir(path)  # unwritable, even for root
        status, records = self.trial(pin_clocks=True)
        self.assertEqual(status, "ok")
        clocks = records[1]["metrics"]["conditions"]["clocks"]
        self.assertFalse(clocks["pinned"])
        self.assertIn("scaling_governor", clocks["reason"])
        self.assertEqual(
            read(os.path.join(self.root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")),
            "ondemand\n",
        )

    def test_on_a_jetson_jetson_clocks_stores_pins_and_restores_and_nvpmodel_mode_goes_back(self):
        log = os.path.join(self.root, "calls.log")
        for name, extra in (
            ("jetson_clocks", ""),
            (
                "nvpmodel",
                "[ \"$1\" = -q ] && printf 'NVPM WARN: patching config\\nNV Power Mode: 5W\\n1\\n'\nexit 0\n",
            ),
        ):
            path = write_file(
                self.root, "usr/bin/" + name, '#!/bin/sh\necho %s "$@" >> %s\n%s' % (name, log, extra)
            )
            os.chmod(path, stat.S_IRWXU)
        status, records = self.trial(pin_clocks=True, nvpmodel_mode=0)
        self.assertEqual(status, "ok")
        clocks = records[1]["metrics"]["conditions"]["clocks"]
        self.assertTrue(clocks["pinned"], clocks)
        store = os.path.join(self.workdir, "jetson_clocks.store")
        self.assertEqual(
            changes(log),
            [
                ["jetson_clocks", "--store", store],
                ["nvpmodel", "-m", "0"],
                ["jetson_clocks"],
                # Undone in reverse: the mode that was there before, then the clocks stored under it.
                ["nvpmodel", "-m", "1"],
                ["jetson_clocks", "--restore", store],
            ],
        )

    def test_an_unknown_current_nvpmodel_mode_refuses_to_pin(self):
        log = os.path.join(self.root, "calls.log")
        for name in ("jetson_clocks", "nvpmodel"):
            path = write_file(self.root, "usr/bin/" + name, '#!/bin/sh\necho %s "$@" >> %s\n' % (name, log))
            os.chmod(path, stat.S_IRWXU)
        status, records = self.trial(pin_clocks=True, nvpmodel_mode=0)
        clocks = records[1]["metrics"]["conditions"]["clocks"]
        self.assertFalse(clocks["pinned"])
        self.assertIn("could not be put back", clocks["reason"])
        self.assertEqual(changes(log), [])  # nothing was changed


class CooldownTest(BoardCase):
    def zone(self, millidegrees):
        write_file(self.root, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n")
        write_file(self.root, "sys/class/thermal/thermal_zone0/temp", "%d\n" % millidegrees)

    def test_waits_until_the_hottest_zone_is_below_the_target(self):
        self.zone(70000)
        clock = {"t": 0.0}

        def sleep(seconds):  # the board cools by 5 C per poll
            clock["t"] += seconds
            self.zone(70000 - 5000 * int(clock["t"]))

        result = conditions.cool_down(self.root, 55.0, 600, clock=lambda: clock["t"], sleep=sleep)
        self.assertEqual((result["reached"], result["start_c"], result["end_c"]), (True, 70.0, 50.0))
        self.assertEqual(result["waited_s"], 4.0)

    def test_gives_up_at_the_deadline_and_says_so(self):
        self.zone(90000)
        clock = {"t": 0.0}
        result = conditions.cool_down(
            self.root,
            50.0,
            3,
            clock=lambda: clock["t"],
            sleep=lambda s: clock.__setitem__("t", clock["t"] + s),
        )
        self.assertFalse(result["reached"])
        self.assertIn("still 90.0 C after 3 s", result["reason"])

    def test_a_cool_board_does_not_wait_and_the_wait_is_recorded(self):
        self.zone(40000)
        status, records = self.trial(cooldown_c=60.0)
        cooldown = records[1]["metrics"]["conditions"]["cooldown"]
        self.assertEqual((cooldown["reached"], cooldown["start_c"], cooldown["end_c"]), (True, 40.0, 40.0))
        self.assertIn("waited_s", cooldown)

    def test_no_thermal_zone_means_no_wait_and_a_reason(self):
        status, records = self.trial(cooldown_c=60.0)
        self.assertIn("no thermal zone", records[1]["metrics"]["conditions"]["cooldown"]["reason"])

    def test_bad_values_fail_the_trial_with_the_field_named(self):
        for bad in (
            {"cooldown_c": -1},
            {"cooldown_c": float("nan")},
            {"pin_clocks": "yes"},
            {"nvpmodel_mode": 1.5},
        ):
            status, records = self.trial(**bad)
            self.assertEqual(status, "failed")
            self.assertIn("job.%s" % sorted(bad)[0], records[-2]["error"])


if __name__ == "__main__":
    unittest.main()
