import os
import shutil
import tempfile
import unittest

from agent import memory

from .helpers import write_file

STATUS = (
    "Name:\tpython3\nVmPeak:\t  200000 kB\nVmSize:\t  190000 kB\n"
    "VmHWM:\t  123456 kB\nVmRSS:\t   10240 kB\nThreads:\t4\n"
)


class ProcTest(unittest.TestCase):
    def setUp(self):
        self.proc = tempfile.mkdtemp(prefix="edgebench-proc-")
        self.addCleanup(shutil.rmtree, self.proc)

    def test_peak_and_current_rss(self):
        write_file(self.proc, "self/status", STATUS)
        self.assertEqual(memory.peak_rss_mb(self.proc), 120.5625)
        self.assertEqual(memory.rss_mb(self.proc), 10.0)

    def test_missing_status(self):
        self.assertIsNone(memory.rss_mb(self.proc))
        peak = memory.peak_rss_mb(self.proc)  # falls back to getrusage where it exists
        try:
            import resource  # noqa: F401
        except ImportError:
            self.assertIsNone(peak)
        else:
            self.assertIsInstance(peak, float)
            self.assertGreater(peak, 0)

    def test_field_absent_from_status(self):
        write_file(self.proc, "self/status", "Name:\tpython3\nThreads:\t4\n")
        self.assertIsNone(memory.rss_mb(self.proc))

    def test_meminfo(self):
        write_file(
            self.proc,
            "meminfo",
            "MemTotal:        4059412 kB\nMemFree:          500000 kB\n"
            "MemAvailable:    2048000 kB\nBuffers:  1 kB\n",
        )
        info = memory.meminfo_mb(self.proc)
        self.assertAlmostEqual(info["total_mb"], 4059412 / 1024.0)
        self.assertEqual(info["available_mb"], 2000.0)

    def test_meminfo_missing_or_partial(self):
        self.assertEqual(memory.meminfo_mb(self.proc), {"total_mb": None, "available_mb": None})
        write_file(self.proc, "meminfo", "MemTotal:        1024 kB\n")  # old kernels: no MemAvailable
        self.assertEqual(memory.meminfo_mb(self.proc), {"total_mb": 1.0, "available_mb": None})

    def test_reset_peak_rss(self):
        self.assertFalse(memory.reset_peak_rss(self.proc))  # no self/ dir
        os.makedirs(os.path.join(self.proc, "self"))
        self.assertTrue(memory.reset_peak_rss(self.proc))
        with open(os.path.join(self.proc, "self", "clear_refs")) as f:
            self.assertEqual(f.read(), "5")

    @unittest.skipUnless(os.path.isfile("/proc/self/status"), "needs Linux /proc")
    def test_real_proc(self):
        peak, rss = memory.peak_rss_mb(), memory.rss_mb()
        self.assertGreater(rss, 0)
        self.assertGreaterEqual(peak, rss * 0.99)
        self.assertGreater(memory.meminfo_mb()["total_mb"], 0)


if __name__ == "__main__":
    unittest.main()
