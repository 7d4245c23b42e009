import os
import shutil
import sys
import tempfile
import unittest

from agent import AGENT_VERSION, probe
from agent.protocol import decode_record, encode, make_record

from .helpers import write_file

NANO_RELEASE = (
    "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, "
    "DATE: Sat Feb 19 17:05:08 UTC 2022\n"
)
# /etc/nv_tegra_release of JetPack 6 (L4T R36.4.3): more lines after the first
JP6_RELEASE = (
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
    "DATE: Wed Jan  8 01:49:37 UTC 2025\n"
    "# KERNEL_VARIANT: oot\n"
    "TARGET_USERSPACE_LIB_DIR=nvidia\n"
    "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n"
)
UBUNTU_OS_RELEASE = (
    'NAME="Ubuntu"\nVERSION="18.04.6 LTS (Bionic Beaver)"\nID=ubuntu\n'
    'ID_LIKE=debian\nPRETTY_NAME="Ubuntu 18.04.6 LTS"\nVERSION_ID="18.04"\n'
)
# Outputs recorded on real devices, kept with the tests: they never skip for want of them.
FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures",
    "telemetry",
    "jetson_nv_tegra_release.txt",
)


class FakeRootTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="edgebench-probe-")
        self.addCleanup(shutil.rmtree, self.root)

    def write(self, relpath, text, mode="w"):
        return write_file(self.root, relpath, text, mode)


class BoardTest(FakeRootTest):
    def test_jetson_nano_model_without_nul(self):
        self.write("proc/device-tree/model", b"NVIDIA Jetson Nano Developer Kit\x00", "wb")
        self.assertEqual(probe.board_model(self.root), "NVIDIA Jetson Nano Developer Kit")

    def test_raspberry_pi_model(self):
        self.write("proc/device-tree/model", b"Raspberry Pi 4 Model B Rev 1.4\x00", "wb")
        self.assertEqual(probe.board_model(self.root), "Raspberry Pi 4 Model B Rev 1.4")

    def test_sysfs_fallback(self):
        self.write("sys/firmware/devicetree/base/model", b"Raspberry Pi 5 Model B Rev 1.0\x00", "wb")
        self.assertEqual(probe.board_model(self.root), "Raspberry Pi 5 Model B Rev 1.0")

    def test_absent_or_empty_is_none(self):
        self.assertIsNone(probe.board_model(self.root))
        self.write("proc/device-tree/model", b"\x00", "wb")
        self.assertIsNone(probe.board_model(self.root))


class L4TTest(FakeRootTest):
    def test_r32_nano(self):
        self.write("etc/nv_tegra_release", NANO_RELEASE)
        self.assertEqual(probe.l4t_release(self.root), "32.7.1")

    def test_r36_jetpack6_multiline(self):
        self.write("etc/nv_tegra_release", JP6_RELEASE)
        self.assertEqual(probe.l4t_release(self.root), "36.4.3")

    def test_absent_is_none(self):
        self.assertIsNone(probe.l4t_release(self.root))

    def test_unrecognised_is_none(self):
        self.write("etc/nv_tegra_release", "something else entirely\n")
        self.assertIsNone(probe.l4t_release(self.root))

    def test_every_real_capture(self):
        with open(FIXTURE) as f:
            lines = [line for line in f if line.startswith("# R")]
        self.assertGreater(len(lines), 5)
        for line in lines:
            major = line.split()[1][1:]
            revision = line.split("REVISION:")[1].split(",")[0].strip()
            self.write("etc/nv_tegra_release", line)
            self.assertEqual(probe.l4t_release(self.root), "%s.%s" % (major, revision), msg=line)


class OsNameTest(FakeRootTest):
    def test_pretty_name_quoted(self):
        self.write("etc/os-release", UBUNTU_OS_RELEASE)
        self.assertEqual(probe.os_name(self.root), "Ubuntu 18.04.6 LTS")

    def test_pretty_name_unquoted_and_single_quoted(self):
        self.write("etc/os-release", "NAME=Foo\nPRETTY_NAME=Debian\n")
        self.assertEqual(probe.os_name(self.root), "Debian")
        self.write("etc/os-release", "PRETTY_NAME='Raspbian GNU/Linux 11 (bullseye)'\n")
        self.assertEqual(probe.os_name(self.root), "Raspbian GNU/Linux 11 (bullseye)")

    def test_absent_is_none(self):
        self.assertIsNone(probe.os_name(self.root))
        self.write("etc/os-release", 'NAME="Ubuntu"\n')
        self.assertIsNone(probe.os_name(self.root))


class CpuModelTest(FakeRootTest):
    def test_model_name(self):
        self.write(
            "proc/cpuinfo", "processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\nBogoMIPS\t: 38.40\n"
        )
        self.assertEqual(probe.cpu_model(self.root), "ARMv8 Processor rev 1 (v8l)")

    def test_absent_is_none(self):
        self.assertIsNone(probe.cpu_model(self.root))


class RuntimeInfoTest(unittest.TestCase):
    def test_absent_module_is_none(self):
        self.assertIsNone(probe.runtime_info("a_module_that_does_not_exist"))

    def test_present_module_has_version(self):
        info = probe.runtime_info("json")  # stdlib json has __version__
        self.assertIsInstance(info, dict)
        self.assertEqual(info["version"], __import__("json").__version__)

    def test_broken_module_is_reported_not_hidden(self):
        tmp = tempfile.mkdtemp(prefix="edgebench-mod-")
        self.addCleanup(shutil.rmtree, tmp)
        write_file(tmp, "edgebench_broken_rt.py", "raise RuntimeError('driver mismatch')\n")
        write_file(tmp, "edgebench_needs_dep.py", "import a_dependency_that_does_not_exist\n")
        sys.path.insert(0, tmp)
        self.addCleanup(sys.path.remove, tmp)
        for name in ("edgebench_broken_rt", "edgebench_needs_dep"):
            self.addCleanup(sys.modules.pop, name, None)
        broken = probe.runtime_info("edgebench_broken_rt")
        self.assertIsNone(broken["version"])
        self.assertIn("RuntimeError", broken["error"])
        self.assertIn("driver mismatch", broken["error"])
        needs_dep = probe.runtime_info("edgebench_needs_dep")
        self.assertIsNotNone(needs_dep)  # present but unusable: not the same as absent
        self.assertIn("a_dependency_that_does_not_exist", needs_dep["error"])


class CollectFactsTest(FakeRootTest):
    def test_fake_jetson_tree(self):
        self.write("proc/device-tree/model", b"NVIDIA Jetson Nano Developer Kit\x00", "wb")
        self.write("etc/nv_tegra_release", NANO_RELEASE)
        self.write("etc/os-release", UBUNTU_OS_RELEASE)
        self.write(
            "proc/meminfo", "MemTotal:        4059412 kB\nMemFree:  1000 kB\nMemAvailable:    2048000 kB\n"
        )
        self.write("proc/cpuinfo", "model name\t: ARMv8 Processor rev 1 (v8l)\n")
        facts = probe.collect_facts(self.root)
        self.assertEqual(facts["board"], "NVIDIA Jetson Nano Developer Kit")
        self.assertEqual(facts["l4t"], "32.7.1")
        self.assertEqual(facts["os"], "Ubuntu 18.04.6 LTS")
        self.assertEqual(facts["cpu_model"], "ARMv8 Processor rev 1 (v8l)")
        self.assertAlmostEqual(facts["memory_total_mb"], 4059412 / 1024.0)
        self.assertEqual(facts["agent_version"], AGENT_VERSION)
        self.assertEqual(set(facts["runtimes"]), {"onnxruntime", "tensorrt", "tvm", "numpy"})
        # a facts record is valid protocol JSON
        self.assertEqual(decode_record(encode(make_record("facts", facts=facts)))["facts"], facts)

    def test_empty_tree_gives_none_not_guesses(self):
        facts = probe.collect_facts(self.root)
        for key in ("board", "l4t", "os", "cpu_model", "memory_total_mb"):
            self.assertIsNone(facts[key], msg=key)
        self.assertTrue(facts["python"])


if __name__ == "__main__":
    unittest.main()


class RuntimeCacheTest(unittest.TestCase):
    def setUp(self):
        import tempfile
        import shutil

        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_cached_answers_equal_fresh_ones_and_follow_the_runtimes_files(self):
        import json as json_module
        import sys
        from agent import probe as probe_module

        module_dir = os.path.join(self.tmp, "mods")
        os.makedirs(module_dir)
        source = os.path.join(module_dir, "fake_runtime_xyz.py")
        with open(source, "w") as f:
            f.write("__version__ = '1.0'\n")
        sys.path.insert(0, module_dir)
        self.addCleanup(sys.path.remove, module_dir)
        original = probe_module.RUNTIME_MODULES
        probe_module.RUNTIME_MODULES = (("fake", "fake_runtime_xyz"), ("absent", "no_such_runtime_xyz"))
        self.addCleanup(setattr, probe_module, "RUNTIME_MODULES", original)
        cache = os.path.join(self.tmp, "cache.json")
        first = probe_module.cached_runtime_info(cache)
        self.assertEqual(first, {"fake": {"version": "1.0"}, "absent": None})
        with open(cache) as f:
            self.assertEqual(list(json_module.load(f).values()), [{"version": "1.0"}])
        # A reinstall (new file, new mtime) is seen: the cache is keyed on the file's mtime.
        with open(source, "w") as f:
            f.write("__version__ = '2.0'\n")
        os.utime(source, (1, 1))
        sys.modules.pop("fake_runtime_xyz", None)
        self.assertEqual(probe_module.cached_runtime_info(cache)["fake"], {"version": "2.0"})
