"""Power during a trial, on fake boards with the real layouts: the sampler, tegrastats owned by
PID, the idle baseline, energy per inference, throttle flags, the simulated tag."""

import os
import shutil
import stat
import sys
import tempfile
import unittest

from agent.telemetry import energy, power, thermal, throttle
from agent.telemetry.sampler import Slots
from agent.trial import run_trial

TEGRA_LINE = (
    "RAM 1923/3964MB (lfb 2x2MB) SWAP 191/1982MB (cached 6MB) CPU [5%@1224,4%@1224,3%@1224,6%@1224] "
    "EMC_FREQ 0%@1600 GR3D_FREQ 0%@76 PLL@37C CPU@40C PMIC@50C GPU@40C AO@45C thermal@40C "
    "POM_5V_IN 1750/1628 POM_5V_GPU 0/0 POM_5V_CPU 366/406"
)


def write(path, text, executable=False):
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    with open(path, "w") as f:
        f.write(text)
    if executable:
        os.chmod(path, stat.S_IRWXU)


def ina219_tree(root, power_uw=3123648):
    hwmon = os.path.join(root, "sys/class/hwmon/hwmon0")
    for name, value in (
        ("name", "ina219"),
        ("in1_input", "5104"),
        ("curr1_input", "612"),
        ("power1_input", str(power_uw)),
    ):
        write(os.path.join(hwmon, name), value + "\n")


def tegrastats_program(root, line=TEGRA_LINE):
    path = os.path.join(root, "usr/bin/tegrastats")
    write(
        path,
        "#!%s\nimport sys, time\ninterval = int(sys.argv[sys.argv.index('--interval') + 1]) / 1000.0\n"
        "while True:\n    print(%r, flush=True)\n    time.sleep(interval)\n" % (sys.executable, line),
        executable=True,
    )
    return path


class FakeBoardTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)


class PowerSourceTest(FakeBoardTest):
    def test_nothing_found_means_no_source_and_a_reason_for_each(self):
        source, missing = power.survey(self.root, {})
        self.assertIsNone(source)
        self.assertEqual(sorted(missing), sorted(power.AUTO_ORDER))

    def test_ina2xx_needs_the_board_input_rail_named(self):
        ina219_tree(self.root)
        source, missing = power.survey(self.root, {})
        self.assertIsNone(source)
        self.assertIn("total", missing["ina2xx_hwmon"])
        source, _ = power.survey(self.root, {"power": "ina2xx_hwmon", "total_rail": "ina219-hwmon0"})
        self.assertEqual(source.sample()[0], 3123.648)  # µW in the file, mW out

    def test_inventory_can_turn_power_off(self):
        ina219_tree(self.root)
        source, missing = power.survey(self.root, {"power": "none"})
        self.assertIsNone(source)
        self.assertIn("turned off", missing["all"])


class TrialCase(FakeBoardTest):
    def run_null_trial(self, telemetry, min_s=0.2, backend="null", **job):
        os.environ["EDGEBENCH_SYSROOT"] = self.root
        self.addCleanup(os.environ.pop, "EDGEBENCH_SYSROOT", None)
        records = []
        job.update(
            {
                "trial_id": "p1",
                "backend": backend,
                "quick": True,
                "min_s": min_s,
                "max_iters": 10**9,
                "telemetry": telemetry,
            }
        )
        self.assertEqual(run_trial(job, records.append), "ok", records)
        return records[1]


class TrialPowerTest(TrialCase):
    def test_constant_power_gives_exact_average_and_energy_per_inference(self):
        """The sampler runs in its own process: a timing loop that holds the GIL (the null
        backend is pure Python) neither starves it (a sampler thread got 4-6 readings in this
        window) nor makes it bunch its reads. How regular the readings are depends on the
        machine's load, so the test checks that the largest gap is measured and judged right,
        not a number of milliseconds."""
        ina219_tree(self.root)
        result = self.run_null_trial(
            {"power": "ina2xx_hwmon", "total_rail": "ina219-hwmon0", "interval_ms": 20, "idle_s": 0.2},
            min_s=0.6,
        )
        m = result["metrics"]
        self.assertAlmostEqual(m["power_mw"], 3123.648, places=3)
        self.assertAlmostEqual(m["idle_power_mw"], 3123.648, places=3)
        self.assertAlmostEqual(m["power_above_idle_mw"], 0.0, places=6)
        window = result["telemetry"]["window"]
        inferences = m["iterations"]
        self.assertAlmostEqual(m["energy_mj"], 3123.648 * (window[1] - window[0]) / inferences, places=9)
        self.assertGreaterEqual(m["power_samples"], 10)
        self.assertTrue(m["simulated"])
        self.assertEqual(m["power_sensor"], "ina2xx_hwmon")
        times = [t for t, _ in result["telemetry"]["power"]]
        self.assertEqual(times, sorted(times))
        # One reading per 20 ms slot at most: a late sampler leaves a gap, it does not catch up.
        self.assertLessEqual(m["power_samples"], int((window[1] - window[0]) / 0.02) + 1)
        # The largest gap is the longest stretch of the window without a reading, edges included...
        inside = [t for t in times if window[0] <= t <= window[1]]
        edges = [window[0]] + inside + [window[1]]
        largest = max(b - a for a, b in zip(edges, edges[1:])) * 1000.0
        self.assertAlmostEqual(m["power_max_gap_ms"], largest, delta=0.01)
        self.assertGreater(m["power_max_gap_ms"], 0.0)
        # ... and energy is reliable exactly when it is at most twice the interval.
        self.assertEqual(m["energy_reliable"], m["power_max_gap_ms"] <= 2 * 20.0)
        self.assertGreater(m["power_coverage"], 0.5)

    def test_slow_sensor_lengthens_the_timed_window(self):
        ina219_tree(self.root)
        result = self.run_null_trial(
            {"power": "ina2xx_hwmon", "total_rail": "ina219-hwmon0", "interval_ms": 50, "idle_s": 0}
        )
        window = result["telemetry"]["window"]
        self.assertTrue(result["metrics"]["min_s_lengthened_for_power"])
        self.assertGreaterEqual(window[1] - window[0], 10 * 0.05)

    def test_without_a_sensor_power_is_null_not_zero(self):
        result = self.run_null_trial({})
        m = result["metrics"]
        self.assertIsNone(m["power_mw"])
        self.assertIsNone(m["energy_mj"])
        self.assertIsNone(m["energy_reliable"])
        self.assertIsNone(m["power_samples"])  # not measured: null, not 0

    def test_tegrastats_is_read_by_the_sampler_and_stopped_by_pid(self):
        tegrastats_program(self.root)
        result = self.run_null_trial({"interval_ms": 20, "idle_s": 0.3})
        m = result["metrics"]
        self.assertEqual(m["power_sensor"], "tegrastats")
        self.assertEqual(m["power_total_rule"], "POM_5V_IN")
        self.assertGreaterEqual(m["power_samples"], 3)
        self.assertEqual(set(mw for _, mw in result["telemetry"]["power"]), {1750})  # POM_5V_IN alone
        pid = m["sampler_children"][0]
        with self.assertRaises(OSError):  # the tegrastats we started is gone (and reaped)
            os.kill(pid, 0)

    def test_a_sensor_that_cannot_keep_up_makes_energy_unreliable(self):
        result = energy.energy_per_inference([(0.0, 1000.0), (0.5, 1000.0), (1.0, 1000.0)], 0.0, 1.0, 10)
        gap = energy.largest_gap_s([(0.0, 1000.0), (0.5, 1000.0), (1.0, 1000.0)], 0.0, 1.0)
        self.assertEqual(gap, 0.5)
        self.assertFalse(energy.reliable(result, 0.02, 3, gap))
        self.assertTrue(energy.reliable(result, 0.25, 3, gap))
        self.assertEqual(energy.largest_gap_s([], 2.0, 3.0), 1.0)


class RaplTest(unittest.TestCase):
    def test_package_energy_counts_the_package_not_its_subzones_again(self):
        def reading(package, core, uncore):
            zones = {
                "package-0": package,
                "package-0/core": core,
                "package-0/uncore": uncore,
                "psys": package,
            }
            return {
                "zones": dict(
                    (name, {"energy_uj": uj, "max_energy_range_uj": 2**32}) for name, uj in zones.items()
                )
            }

        # 10 J in the package (of which 6 J in the cores, 1 J uncore) between the two reads.
        self.assertEqual(
            power.rapl_package_energy_mj(reading(0, 0, 0), reading(10**7, 6 * 10**6, 10**6)), 10000.0
        )


class SlotsTest(unittest.TestCase):
    def test_a_late_sampler_skips_the_slots_it_missed(self):
        slots = Slots(0.02, 0.0)
        slots.advance(0.001)
        self.assertAlmostEqual(slots.next, 0.02)
        slots.advance(0.101)  # woke 80 ms late: the slots at 0.04 .. 0.10 are gaps, not reads
        self.assertAlmostEqual(slots.next, 0.12)
        self.assertEqual(slots.missed, 4)


class ThrottleTest(FakeBoardTest):
    def vcgencmd(self, answer):
        write(
            os.path.join(self.root, "usr/bin/vcgencmd"),
            '#!/bin/sh\ncase "$1" in get_throttled) echo \'%s\';; measure_temp) echo "temp=48.8\'C";; esac\n'
            % answer,
            executable=True,
        )

    def test_now_bits_and_new_sticky_bits_mark_throttling(self):
        self.vcgencmd("throttled=0x0")
        before = thermal.snapshot(self.root)
        self.vcgencmd("throttled=0x50005")
        after = thermal.snapshot(self.root)
        self.assertEqual(after["pi_firmware"]["temp_c"], 48.8)
        self.assertEqual(
            thermal.throttle_flags(before, after),
            ["throttled_now", "throttled_occurred", "under_voltage_now", "under_voltage_occurred"],
        )

    def test_old_sticky_bits_alone_do_not(self):
        self.vcgencmd("throttled=0x50000")
        snap = thermal.snapshot(self.root)
        self.assertEqual(thermal.throttle_flags(snap, snap), [])

    def test_thermal_zones_in_degrees(self):
        write(os.path.join(self.root, "sys/class/thermal/thermal_zone0/type"), "CPU-therm\n")
        write(os.path.join(self.root, "sys/class/thermal/thermal_zone0/temp"), "41500\n")
        write(os.path.join(self.root, "sys/class/thermal/thermal_zone1/type"), "offline\n")
        write(os.path.join(self.root, "sys/class/thermal/thermal_zone1/temp"), "-256000\n")
        self.assertEqual(thermal.thermal_zones(self.root), {"CPU-therm": 41.5})


@unittest.skipUnless(os.path.exists("/usr/bin/perf"), "perf is not installed")
class PerfTest(unittest.TestCase):
    def test_perf_counts_software_events_and_keeps_unsupported_ones_null(self):
        records = []
        run_trial({"trial_id": "perf1", "backend": "null", "quick": True, "perf": True}, records.append)
        metrics = records[1]["metrics"]
        self.assertIsNone(metrics["perf_error"])
        self.assertGreater(metrics["perf"]["task-clock"], 0)
        self.assertIn("cycles", metrics["perf"])  # a number where counted, None where not supported
        self.assertNotEqual(metrics["perf"]["cycles"], 0)


class MoreSourcesTest(unittest.TestCase):
    def test_jetson_clocks_show_parses_both_spellings(self):
        text = (
            "SOC family:tegra210  Machine:NVIDIA Jetson Nano Developer Kit\n"
            "Online CPUs: 0-3\n"
            "cpu0: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1479000 CurrentFreq=1479000 IdleStates: WFI=1 c7=1\n"
            "cpu1: Online=1 Gonvernor=schedutil MinFreq=102000 MaxFreq=1479000 CurrentFreq=921600 IdleStates: WFI=1 c7=1\n"
            "GPU MinFreq=76800000 MaxFreq=921600000 CurrentFreq=76800000\n"
            "EMC MinFreq=204000000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=0\n"
            "NV Power Mode: MAXN\n"
        )
        parsed = thermal.parse_jetson_clocks(text)
        self.assertEqual(parsed["power_mode"], "MAXN")
        self.assertEqual(parsed["cpus"]["cpu1"]["governor"], "schedutil")
        self.assertEqual(parsed["cpus"]["cpu1"]["cur_khz"], 921600)
        self.assertIsNone(thermal.parse_jetson_clocks(""))

    def test_ina219_over_i2c_only_when_configured_and_in_milliwatts(self):
        import types

        fake = types.ModuleType("ina219")

        class INA219(object):  # test double of pi-ina219 (hardware we do not have)
            def __init__(self, shunt_ohms, max_expected_amps=None, busnum=None, address=0x40):
                self.args = (shunt_ohms, address)

            def configure(self):
                pass

            def power(self):
                return 2875.5

        fake.INA219 = INA219
        sys.modules["ina219"] = fake
        self.addCleanup(sys.modules.pop, "ina219", None)
        source, missing = power.survey(
            "/nonexistent", {"power": "ina219_i2c", "shunt_ohms": 0.1, "address": 0x41}
        )
        self.assertEqual(source.sample()[0], 2875.5)
        self.assertEqual(source.describe()["total_rail"], "INA219 at 0x41")


class ThrottleDuringTrialTest(TrialCase):
    """A simulated board changes mid-window (0.2 s into a 0.6 s window, by the event backend);
    the sampler process, polling state every 50 ms, must see it."""

    def run_event_trial(self, event):
        from tests.agent import event_backend

        event_backend.install(0.2, event)
        self.addCleanup(event_backend.uninstall)
        return self.run_null_trial(
            {"state_interval_ms": 50, "power": "none"},
            min_s=0.6,
            backend="event",
            warmup_iters=3,
            warmup_s=0.0,
        )["metrics"]

    def pi_whose_firmware_flags(self, first, later):
        """vcgencmd answers `first` until the file run/throttle exists, then `later`."""
        marker = os.path.join(self.root, "run/throttle")
        write(
            os.path.join(self.root, "usr/bin/vcgencmd"),
            "#!/bin/sh\nif [ -e %s ]; then echo 'throttled=%s'; else echo 'throttled=%s'; fi\n"
            % (marker, later, first),
            executable=True,
        )
        return lambda: write(marker, "")

    def test_pi_firmware_flags_turning_on_mid_window_mark_the_trial_throttled(self):
        m = self.run_event_trial(self.pi_whose_firmware_flags("0x50000", "0x50005"))
        self.assertIs(m["throttled"], True)
        self.assertIn("under_voltage_now", m["throttle_reason"])
        self.assertIn("throttled_now", m["throttle_reason"])

    def test_sticky_bits_set_at_boot_alone_are_not_throttling(self):
        m = self.run_event_trial(self.pi_whose_firmware_flags("0x50000", "0x50000"))
        self.assertIs(m["throttled"], False)
        self.assertIsNone(m["throttle_reason"])

    def jetson_cpus(self, min_khz=102000):
        """A Nano at 1479 MHz under schedutil (min 102 MHz), or pinned (min_khz = 1479000)."""
        write(os.path.join(self.root, "proc/device-tree/model"), "NVIDIA Jetson Nano Developer Kit\x00")
        for n in range(4):
            for name, value in (
                ("scaling_cur_freq", 1479000),
                ("scaling_min_freq", min_khz),
                ("scaling_max_freq", 1479000),
            ):
                self.cpufreq(n, name, value)

    def cpufreq(self, cpu, name, khz):
        write(os.path.join(self.root, "sys/devices/system/cpu/cpu%d/cpufreq/%s" % (cpu, name)), "%d\n" % khz)

    def test_a_clock_cap_lowered_mid_window_is_throttling(self):
        self.jetson_cpus()

        def thermal_capping():
            self.cpufreq(2, "scaling_max_freq", 921600)
            self.cpufreq(2, "scaling_cur_freq", 921600)

        m = self.run_event_trial(thermal_capping)
        self.assertIs(m["throttled"], True)
        self.assertIn("cpu2 cap 1479 -> 922 MHz", m["throttle_reason"])

    def test_a_pinned_clock_that_falls_mid_window_is_throttling(self):
        self.jetson_cpus(min_khz=1479000)  # jetson_clocks: min = max
        m = self.run_event_trial(lambda: self.cpufreq(2, "scaling_cur_freq", 921600))
        self.assertIs(m["throttled"], True)
        self.assertIn("cpu2 clock 1479 -> 922 MHz", m["throttle_reason"])

    def test_a_clock_that_is_not_fixed_may_fall_without_throttling(self):
        self.jetson_cpus()  # schedutil: an idle cluster slows down, its cap stays
        m = self.run_event_trial(lambda: self.cpufreq(2, "scaling_cur_freq", 102000))
        self.assertIs(m["throttled"], False)

    def test_a_jetson_whose_clocks_hold_is_not(self):
        self.jetson_cpus()
        m = self.run_event_trial(lambda: None)
        self.assertIs(m["throttled"], False)

    def test_a_zone_past_its_passive_trip_point_is_throttling_on_any_board(self):
        zone = os.path.join(self.root, "sys/class/thermal/thermal_zone0")
        write(os.path.join(zone, "type"), "cpu-thermal\n")
        write(os.path.join(zone, "temp"), "60000\n")
        write(os.path.join(zone, "trip_point_0_type"), "passive\n")
        write(os.path.join(zone, "trip_point_0_temp"), "85000\n")
        m = self.run_event_trial(lambda: write(os.path.join(zone, "temp"), "86500\n"))
        self.assertIs(m["throttled"], True)
        self.assertIn("cpu-thermal 86.5 C >= passive trip 85.0 C", m["throttle_reason"])

    def test_nothing_to_tell_is_null_with_the_reason(self):
        m = self.run_event_trial(lambda: None)
        self.assertIsNone(m["throttled"])
        self.assertIn("nothing here can tell", m["throttle_reason"])


class ThrottleRulesTest(unittest.TestCase):
    def test_a_clock_counts_only_where_it_is_capped_or_fixed(self):
        def states(cur, low, high, later_cur, later_high):
            return [
                {
                    "t": 0.0,
                    "cpu_khz": {"cpu0": cur},
                    "cpu_min_khz": {"cpu0": low},
                    "cpu_max_khz": {"cpu0": high},
                },
                {
                    "t": 1.0,
                    "cpu_khz": {"cpu0": later_cur},
                    "cpu_min_khz": {"cpu0": low},
                    "cpu_max_khz": {"cpu0": later_high},
                },
            ]

        self.assertEqual(
            throttle.assess(states(3900000, 800000, 3900000, 1200000, 3900000), 0.5, 1.5), (False, None)
        )  # intel_pstate: an idle core slows down
        self.assertEqual(
            throttle.assess(states(1500000, 1500000, 1500000, 600000, 1500000), 0.5, 1.5)[0], True
        )  # fixed clock fell
        self.assertEqual(
            throttle.assess(states(1500000, 600000, 1500000, 1500000, 900000), 0.5, 1.5)[0], True
        )  # cap lowered
        self.assertEqual(
            throttle.assess(states(1500000, 1500000, 1500000, 1400000, 1500000), 0.5, 1.5)[0], False
        )  # within 10%
        self.assertIsNone(throttle.assess([{"t": 0.0, "cpu_khz": {"cpu0": 1}}], 0.5, 1.5)[0])

    def test_a_sticky_bit_that_turns_on_during_the_window_counts(self):
        self.assertEqual(throttle.firmware_events(0x0, [0x0, 0x40000]), ["throttled_occurred"])
        self.assertEqual(throttle.firmware_events(0x40000, [0x40000]), [])

    def test_without_a_first_reading_sticky_bits_from_boot_are_not_new(self):
        self.assertEqual(throttle.firmware_events(None, [0x50000, 0x50000]), [])
        self.assertEqual(throttle.assess([], 0.0, 1.0, first_raw=None, after_raw=0x50000), (False, None))


if __name__ == "__main__":
    unittest.main()
