import os
import shutil
import tempfile
import unittest

from agent import cpuload
from agent.trial import run_trial

from .helpers import Collector, null_job, write_file

# Real formats, captured on a Linux machine (kernel 6.x, 2 CPUs): the aggregate line and the
# per-CPU lines of /proc/stat, /proc/loadavg, and `cat`'s own /proc/PID/stat.
PROC_STAT = (
    "cpu  897642 207662 125276 550654 6743 0 1878 1821 0 0\n"
    "cpu0 448821 103831 62638 275327 3371 0 939 910 0 0\n"
    "cpu1 448821 103831 62638 275327 3372 0 939 911 0 0\n"
    "intr 123456789 0 9 0 0\n"
    "ctxt 987654321\n"
    "btime 1700000000\n"
    "processes 854\n"
    "procs_running 1\n"
    "procs_blocked 0\n"
    "softirq 1000 0 1 2 3 4 0 5 6 0 7\n"
)
STAT_BUSY = 897642 + 207662 + 125276 + 0 + 1878 + 1821  # user nice system irq softirq steal
STAT_TOTAL = STAT_BUSY + 550654 + 6743  # + idle iowait
LOADAVG = "0.11 1.01 1.67 1/80 854\n"
PID_STAT = (
    "855 (cat) R 848 848 32756 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 898169 3133440 385 "
    "18446744073709551615 93896778821632 93896778841513 140724448790976 0 0 0 0 0 0 0 0 0 17 1 0 0 "
    "0 0 0 93896778857520 93896778859136 93897474871296 140724448799448 140724448799468 "
    "140724448799468 140724448800747 0\n"
)
OTHER_SID = 32756 if os.getsid(0) != 32756 else 32757


def pid_stat(pid, comm="cat", sid=None, utime=0, stime=0, cutime=0, cstime=0, start=898169):
    """The real line above with its fields replaced (numbering as in proc(5))."""
    head, rest = PID_STAT.split(") ", 1)
    fields = rest.split()  # fields[0] is field 3
    values = {6: os.getsid(0) if sid is None else sid, 14: utime, 15: stime, 16: cutime, 17: cstime}
    values[22] = start
    for number, value in values.items():
        fields[number - 3] = str(value)
    return "%d (%s) %s\n" % (pid, comm, " ".join(fields))


def stat_text(busy_extra=0):
    """PROC_STAT with `busy_extra` ticks added to user time."""
    first, rest = PROC_STAT.split("\n", 1)
    fields = first.split()
    fields[1] = str(int(fields[1]) + busy_extra)
    return "cpu  " + " ".join(fields[1:]) + "\n" + rest


def ticks_snapshot(busy, own, at, loadavg=1.0):
    """A snapshot as `snapshot()` makes it, with chosen values."""
    return {"busy_ticks": busy, "total_ticks": None, "loadavg_1m": loadavg, "monotonic": at, "own_ticks": own}


class FakeProcTest(unittest.TestCase):
    def setUp(self):
        self.proc = tempfile.mkdtemp(prefix="edgebench-proc-")
        self.addCleanup(shutil.rmtree, self.proc)
        self.me = os.getpid()

    def write(self, relpath, text):
        write_file(self.proc, relpath, text)

    def write_pid(self, pid, **fields):
        self.write("%d/stat" % pid, pid_stat(pid, **fields))

    def test_stat_line(self):
        self.write("stat", PROC_STAT)
        self.assertEqual(cpuload.read_stat(self.proc), (STAT_BUSY, STAT_TOTAL))

    def test_stat_line_of_an_old_kernel(self):
        self.write("stat", "cpu  100 2 30 400\ncpu0 100 2 30 400\n")  # before 2.6.11: 4 fields
        self.assertEqual(cpuload.read_stat(self.proc), (132, 532))

    def test_stat_missing_or_garbled(self):
        self.assertIsNone(cpuload.read_stat(self.proc))
        for text in ("", "cpu  1 2 x 4 5\n", "cpu  1 2\n", "intr 1 2 3\n", "\x00\x01garbage"):
            self.write("stat", text)
            self.assertIsNone(cpuload.read_stat(self.proc), msg=repr(text))

    def test_loadavg(self):
        self.write("loadavg", LOADAVG)
        self.assertEqual(cpuload.read_loadavg(self.proc), 0.11)
        for text in ("", "busy 1.0\n", "nan 1 2 1/80 854\n", "inf 1 2 1/80 854\n"):
            self.write("loadavg", text)
            self.assertIsNone(cpuload.read_loadavg(self.proc), msg=repr(text))
        os.remove(os.path.join(self.proc, "loadavg"))
        self.assertIsNone(cpuload.read_loadavg(self.proc))

    def test_pid_stat_of_a_real_line(self):
        self.assertEqual(cpuload.parse_pid_stat(PID_STAT), (32756, 898169, 0))

    def test_comm_with_spaces_and_parens(self):
        line = pid_stat(42, comm="my ) odd (proc) 7", sid=9, utime=10, stime=2, cutime=3, cstime=1, start=5)
        self.assertEqual(cpuload.parse_pid_stat(line), (9, 5, 16))

    def test_garbled_pid_stat(self):
        for text in (None, "", "42 (cat", PID_STAT[:40], "42 (cat) R x y z"):
            self.assertIsNone(cpuload.parse_pid_stat(text), msg=repr(text))

    def test_session_scan(self):
        self.write_pid(self.me, comm="python3", utime=100, stime=10)
        self.write_pid(7, comm="edgebench sample (x)", utime=50, stime=5, cutime=4, cstime=1, start=11)
        self.write_pid(8, sid=OTHER_SID, utime=1000)  # another session: not ours
        os.makedirs(os.path.join(self.proc, "9"))  # listed, then gone: no stat file
        self.write("10/stat", "10 (half")  # garbled
        self.write("self/stat", pid_stat(self.me, utime=999))  # not a PID directory
        latin1 = pid_stat(14, comm="caf\u00e9 ) x", utime=1, start=3).encode("latin-1")  # not UTF-8
        write_file(self.proc, "14/stat", latin1, mode="wb")
        own = cpuload.session_ticks(self.proc)
        self.assertEqual(own, {(self.me, 898169): 110, (7, 11): 60, (14, 3): 1})

    def test_session_scan_without_this_process_is_unknown(self):
        self.write_pid(7, utime=50)  # our session, but not this process: the scan cannot be trusted
        self.assertIsNone(cpuload.session_ticks(self.proc))
        self.assertIsNone(cpuload.session_ticks(os.path.join(self.proc, "nowhere")))

    def test_snapshot_of_a_fake_tree(self):
        self.write("stat", PROC_STAT)
        self.write("loadavg", LOADAVG)
        self.write_pid(self.me, utime=3, stime=4)
        for end in (False, True):
            snap = cpuload.snapshot(self.proc, end=end)
            self.assertEqual(snap["busy_ticks"], STAT_BUSY)
            self.assertEqual(snap["total_ticks"], STAT_TOTAL)
            self.assertEqual(snap["loadavg_1m"], 0.11)
            self.assertEqual(snap["own_ticks"], {(self.me, 898169): 7})
            self.assertIsInstance(snap["monotonic"], float)

    def test_snapshot_of_an_empty_tree(self):
        snap = cpuload.snapshot(self.proc)
        for key in ("busy_ticks", "total_ticks", "loadavg_1m", "own_ticks"):
            self.assertIsNone(snap[key], msg=key)

    def test_other_sessions_count_ours_do_not(self):
        self.write("loadavg", "1.50 1.20 1.00 2/80 900\n")
        self.write("stat", stat_text(0))
        self.write_pid(self.me, utime=100, stime=10)
        self.write_pid(7, comm="edgebench sample", utime=50, stime=5, start=11)
        self.write_pid(8, sid=OTHER_SID, utime=1000)
        self.write_pid(12, comm="vcgencmd", utime=1, start=20)  # ours, exits during the window
        before = cpuload.snapshot(self.proc)
        self.write("loadavg", "2.25 1.40 1.10 3/80 950\n")
        self.write("stat", stat_text(300))  # 300 ticks busier, all processes together
        self.write_pid(self.me, utime=230, stime=30)  # +150
        self.write_pid(7, comm="edgebench sample", utime=60, stime=5, cutime=3, start=11)  # +13, reaped 12
        self.write_pid(8, sid=OTHER_SID, utime=1130)  # +130, not subtracted
        self.write_pid(13, comm="tegrastats", utime=7, start=30)  # ours, started in the window: +7
        shutil.rmtree(os.path.join(self.proc, "12"))
        after = cpuload.snapshot(self.proc, end=True)
        before["monotonic"], after["monotonic"] = 100.0, 102.0
        m = cpuload.busy_metrics(before, after, clock_ticks=100)
        self.assertEqual(
            sorted(m), ["busy", "busy_reason", "loadavg_after", "loadavg_before", "other_cpu_cores"]
        )
        self.assertEqual(m["other_cpu_cores"], round((300 - 150 - 13 - 7) / 100.0 / 2.0, 3))  # 0.65
        self.assertEqual(m["loadavg_before"], 1.5)
        self.assertEqual(m["loadavg_after"], 2.25)
        self.assertIs(m["busy"], True)
        self.assertEqual(
            m["busy_reason"],
            "other processes (or the hypervisor) used 0.65 CPU cores during the timed window (load average 1.50 -> 2.25)",
        )

    def test_missing_files_give_none(self):
        self.write_pid(self.me, utime=1)
        before = cpuload.snapshot(self.proc)  # no /proc/stat, no /proc/loadavg
        self.write("stat", PROC_STAT)
        after = cpuload.snapshot(self.proc, end=True)
        m = cpuload.busy_metrics(before, after)
        self.assertEqual(
            m,
            {
                "other_cpu_cores": None,
                "loadavg_before": None,
                "loadavg_after": None,
                "busy": None,
                "busy_reason": None,
            },
        )


class BusyMetricsTest(unittest.TestCase):
    OWN = {(1, 5): 0}

    def metrics(self, other_ticks, wall=1.0, ours=0, **replaced):
        """Metrics for `other_ticks` of others' CPU and `ours` of ours over `wall` seconds; the
        after-snapshot's keys in `replaced` are replaced."""
        before = ticks_snapshot(1000, self.OWN, 50.0)
        values = ticks_snapshot(1000 + other_ticks + ours, {(1, 5): ours}, 50.0 + wall)
        values.update(replaced)
        return cpuload.busy_metrics(before, values, clock_ticks=100)

    def test_threshold(self):
        self.assertEqual(cpuload.BUSY_CORES, 0.25)
        at = self.metrics(25)
        self.assertEqual(at["other_cpu_cores"], 0.25)
        self.assertIs(at["busy"], False)  # not above
        self.assertIsNone(at["busy_reason"])
        self.assertIs(self.metrics(24)["busy"], False)
        above = self.metrics(26)
        self.assertEqual(above["other_cpu_cores"], 0.26)
        self.assertIs(above["busy"], True)
        self.assertIn("0.26 CPU cores", above["busy_reason"])

    def test_units_are_cores(self):
        m = self.metrics(400, wall=2.0, ours=200)  # 4 s of others' CPU in 2 s, ours apart
        self.assertEqual(m["other_cpu_cores"], 2.0)
        self.assertEqual(self.metrics(1, wall=3.0)["other_cpu_cores"], 0.003)  # rounded to 3 places

    def test_clamped_at_zero(self):
        # ours counted more ticks than the whole machine (tick accounting differs): 0, not negative
        m = cpuload.busy_metrics(
            ticks_snapshot(1000, {(1, 5): 0}, 1.0), ticks_snapshot(1010, {(1, 5): 30}, 2.0), clock_ticks=100
        )
        self.assertEqual(m["other_cpu_cores"], 0.0)
        self.assertIs(m["busy"], False)

    def test_no_wall_time_or_no_reading_gives_none(self):
        for m in (
            self.metrics(50, wall=0.0),
            self.metrics(50, wall=-1.0),
            self.metrics(50, busy_ticks=None),
            self.metrics(50, own_ticks=None),
            self.metrics(50, monotonic=None),
            cpuload.busy_metrics(None, None),
            cpuload.busy_metrics({}, {}),
        ):
            self.assertIsNone(m["other_cpu_cores"])
            self.assertIsNone(m["busy"])
            self.assertIsNone(m["busy_reason"])

    def test_a_window_too_short_for_the_tick_resolution_leaves_busy_unknown(self):
        # 4 CPUs at 100 ticks/s: up to 8 ticks of rounding over the window's edges. Over 0.3 s
        # that is 0.27 cores, above half the threshold: not enough to call the device busy.
        self.assertTrue(cpuload._too_coarse(0.3, 100, cpus=4))
        self.assertFalse(cpuload._too_coarse(2.0, 100, cpus=4))
        self.assertFalse(cpuload._too_coarse(0.3, 100, cpus=1))

    def test_unknown_load_average_in_the_reason(self):
        m = self.metrics(100, loadavg_1m=None)
        self.assertIs(m["busy"], True)
        self.assertIsNone(m["loadavg_after"])
        self.assertEqual(m["loadavg_before"], 1.0)
        self.assertEqual(
            m["busy_reason"],
            "other processes (or the hypervisor) used 1.00 CPU cores during the timed window (load average 1.00 -> ?)",
        )


@unittest.skipUnless(os.path.isfile("/proc/stat"), "no Linux /proc here")
class RealProcTest(unittest.TestCase):
    def test_snapshot_around_a_busy_loop(self):
        before = cpuload.snapshot()
        total = 0
        for i in range(300000):  # a fixed amount of work in this process, not a time
            total += i * i
        after = cpuload.snapshot(end=True)
        self.assertGreater(total, 0)
        me = [key for key in after["own_ticks"] if key[0] == os.getpid()]
        self.assertEqual(len(me), 1)
        self.assertGreaterEqual(after["own_ticks"][me[0]], before["own_ticks"][me[0]])
        self.assertGreaterEqual(after["busy_ticks"], before["busy_ticks"])
        self.assertIsInstance(after["loadavg_1m"], float)
        m = cpuload.busy_metrics(before, after)
        self.assertIsInstance(m["other_cpu_cores"], float)
        self.assertGreaterEqual(m["other_cpu_cores"], 0.0)  # never assert small: the machine may be busy
        if m["busy"] is not None:  # None: the loop was too short for the tick resolution
            self.assertIs(m["busy"], m["other_cpu_cores"] > cpuload.BUSY_CORES)
        self.assertEqual(m["busy_reason"] is not None, bool(m["busy"]))


class TrialMetricsTest(unittest.TestCase):
    def test_null_trial_reports_other_processes_load(self):
        emit = Collector()
        self.assertEqual(run_trial(null_job("cpuload1"), emit), "ok")
        metrics = emit.of_type("result")[0]["metrics"]
        for key in ("other_cpu_cores", "loadavg_before", "loadavg_after", "busy", "busy_reason"):
            self.assertIn(key, metrics)
        if os.path.isfile("/proc/stat"):
            self.assertIsInstance(metrics["other_cpu_cores"], float)
            self.assertGreaterEqual(metrics["other_cpu_cores"], 0.0)
            self.assertIn(metrics["busy"], (True, False, None))  # None: a --quick window is too short
            self.assertEqual(metrics["busy_reason"] is not None, bool(metrics["busy"]))


if __name__ == "__main__":
    unittest.main()
