"""sysfs power readers over fake trees with the real layouts and units."""

import os
import shutil
import tempfile
import unittest

from agent.telemetry import sysfs_power
from agent.telemetry.sysfs_power import (
    find_power_sources,
    rapl_average_power_mw,
    rapl_energy_delta_uj,
    read_ina2xx_hwmon,
    read_ina3221_hwmon,
    read_ina3221x_iio,
    read_rapl,
)

from .helpers import write_file

NANO_IIO = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
RAPL_MAX = 262143328850


def write_tree(root, files):
    for relpath, text in files.items():
        write_file(root, relpath, "%s\n" % text)


def nano_jp4(root):
    """Jetson Nano, JetPack 4: NVIDIA's iio driver; in_power is mW."""
    write_tree(
        root,
        {
            NANO_IIO + "/name": "ina3221x",
            NANO_IIO + "/rail_name_0": "POM_5V_IN",
            NANO_IIO + "/in_voltage0_input": 5080,
            NANO_IIO + "/in_current0_input": 344,
            NANO_IIO + "/in_power0_input": 1750,
            NANO_IIO + "/rail_name_1": "POM_5V_GPU",
            NANO_IIO + "/in_voltage1_input": 5064,
            NANO_IIO + "/in_current1_input": 0,
            NANO_IIO + "/in_power1_input": 0,
            NANO_IIO + "/rail_name_2": "POM_5V_CPU",
            NANO_IIO + "/in_voltage2_input": 5056,
            NANO_IIO + "/in_current2_input": 72,
            NANO_IIO + "/in_power2_input": 366,
            NANO_IIO + "/crit_current_limit_0": 4000,
        },
    )


def agx_xavier_jp4(root):
    """AGX Xavier, JetPack 4: two ina3221x chips, no total rail."""
    rails = {"1-0040": ("GPU", "CPU", "SOC"), "1-0041": ("CV", "VDDRQ", "SYS5V")}
    powers = {"GPU": 0, "CPU": 311, "SOC": 932, "CV": 0, "VDDRQ": 621, "SYS5V": 1482}
    for address, names in rails.items():
        base = "sys/bus/i2c/drivers/ina3221x/%s/iio:device%s" % (address, address[-1])
        for n, name in enumerate(names):
            write_tree(
                root,
                {
                    "%s/rail_name_%d" % (base, n): name,
                    "%s/in_voltage%d_input" % (base, n): 5000,
                    "%s/in_current%d_input" % (base, n): powers[name] // 5,
                    "%s/in_power%d_input" % (base, n): powers[name],
                },
            )


def hwmon_ina3221(root, hwmon, channels, extra=None):
    """JetPack 5/6 (mainline ina3221 hwmon): mV, mA, no power file. channels: {n: (label, mV, mA)}."""
    files = {hwmon + "/name": "ina3221"}
    for n, (label, mv, ma) in channels.items():
        files.update(
            {
                "%s/in%d_label" % (hwmon, n): label,
                "%s/in%d_input" % (hwmon, n): mv,
                "%s/curr%d_input" % (hwmon, n): ma,
                "%s/shunt%d_resistor" % (hwmon, n): 5000,
                "%s/in%d_input" % (hwmon, n + 3): 2760,
            }
        )  # shunt voltage, uV
    files.update({hwmon + "/in7_input": 20000, hwmon + "/curr7_input": 900})  # sum channel
    files.update(extra or {})
    write_tree(root, files)


def agx_orin_jp5(root):
    write_tree(
        root, {"sys/class/hwmon/hwmon0/name": "soc_thermal", "sys/class/hwmon/hwmon0/temp1_input": 45000}
    )
    hwmon_ina3221(
        root,
        "sys/class/hwmon/hwmon1",
        {1: ("VDD_GPU_SOC", 5000, 320), 2: ("VDD_CPU_CV", 5000, 80), 3: ("VIN_SYS_5V0", 5000, 400)},
    )
    hwmon_ina3221(
        root, "sys/class/hwmon/hwmon2", {1: ("NC", 0, 0), 2: ("VDDQ_VDD2_1V8AO", 5000, 100), 3: ("NC", 0, 0)}
    )


def pi_ina219(root, hwmon="sys/class/hwmon/hwmon2"):
    write_tree(
        root,
        {
            hwmon + "/name": "ina219",
            hwmon + "/in0_input": 5,
            hwmon + "/in1_input": 5120,
            hwmon + "/curr1_input": -350,
            hwmon + "/power1_input": 1792000,
            hwmon + "/shunt_resistor": 100000,
        },
    )


def rapl(root, energies):
    names = {
        "intel-rapl:0": "package-0",
        "intel-rapl:0:0": "core",
        "intel-rapl:0:1": "uncore",
        "intel-rapl:1": "psys",
    }
    for zone, energy in energies.items():
        base = "sys/class/powercap/" + zone
        write_tree(
            root,
            {
                base + "/name": names[zone],
                base + "/energy_uj": energy,
                base + "/max_energy_range_uj": RAPL_MAX,
            },
        )


class FakeTreeTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="edgebench-sysfs-")
        self.addCleanup(shutil.rmtree, self.root)


class Ina3221IioTest(FakeTreeTest):
    def test_nano_jp4(self):
        nano_jp4(self.root)
        reading = read_ina3221x_iio(self.root)
        self.assertEqual(reading["source"], "ina3221x_iio")
        self.assertEqual(reading["rails_mw"], {"POM_5V_IN": 1750, "POM_5V_GPU": 0, "POM_5V_CPU": 366})
        self.assertEqual(
            reading["rails"]["POM_5V_IN"],
            {"voltage_mv": 5080, "current_ma": 344, "power_mw": 1750, "device": "6-0040", "channel": 0},
        )
        # The Nano's total is POM_5V_IN alone.
        self.assertEqual((reading["total_mw"], reading["total_rail"]), (1750, "POM_5V_IN"))

    def test_agx_xavier_sums_its_six_rails(self):
        agx_xavier_jp4(self.root)
        reading = read_ina3221x_iio(self.root)
        self.assertEqual(len(reading["rails"]), 6)
        self.assertEqual(reading["total_mw"], 0 + 311 + 932 + 0 + 621 + 1482)
        self.assertEqual(reading["total_rail"], "sum(GPU,CPU,SOC,CV,VDDRQ,SYS5V)")

    def test_power_from_v_and_i_when_no_power_file(self):
        nano_jp4(self.root)
        os.remove(os.path.join(self.root, NANO_IIO, "in_power2_input"))
        reading = read_ina3221x_iio(self.root)
        self.assertAlmostEqual(reading["rails_mw"]["POM_5V_CPU"], 5056 * 72 / 1000.0)

    def test_absent(self):
        self.assertIsNone(read_ina3221x_iio(self.root))
        os.makedirs(os.path.join(self.root, NANO_IIO))  # the device, no rails
        self.assertIsNone(read_ina3221x_iio(self.root))


class Ina3221HwmonTest(FakeTreeTest):
    def test_agx_orin_jp5(self):
        agx_orin_jp5(self.root)
        reading = read_ina3221_hwmon(self.root)
        self.assertEqual(
            sorted(reading["rails"]), ["VDDQ_VDD2_1V8AO", "VDD_CPU_CV", "VDD_GPU_SOC", "VIN_SYS_5V0"]
        )
        self.assertEqual(reading["rails_mw"]["VDD_GPU_SOC"], 1600.0)  # 5000 mV x 320 mA
        self.assertEqual(reading["rails"]["VDD_GPU_SOC"]["voltage_mv"], 5000)
        self.assertEqual(reading["total_mw"], 1600.0 + 400.0 + 2000.0)
        self.assertEqual(reading["total_rail"], "sum(VDD_GPU_SOC,VDD_CPU_CV,VIN_SYS_5V0)")

    def test_orin_nano_total_rail_and_symlinked_hwmon(self):
        device = "sys/devices/platform/bus@0/c240000.i2c/i2c-1/1-0040/hwmon/hwmon3"
        hwmon_ina3221(
            self.root,
            device,
            {1: ("VDD_IN", 5016, 552), 2: ("VDD_CPU_GPU_CV", 5008, 80), 3: ("VDD_SOC", 5008, 208)},
        )
        os.makedirs(os.path.join(self.root, "sys/class/hwmon"))
        os.symlink(os.path.join(self.root, device), os.path.join(self.root, "sys/class/hwmon/hwmon3"))
        reading = read_ina3221_hwmon(self.root)
        self.assertAlmostEqual(reading["total_mw"], 5016 * 552 / 1000.0)
        self.assertEqual(reading["total_rail"], "VDD_IN")
        self.assertEqual(len(reading["rails"]), 3)

    def test_unreadable_channel_is_none_not_zero(self):
        hwmon_ina3221(self.root, "sys/class/hwmon/hwmon1", {1: ("VDD_IN", 5016, 552)})
        os.remove(os.path.join(self.root, "sys/class/hwmon/hwmon1/curr1_input"))
        reading = read_ina3221_hwmon(self.root)
        self.assertIsNone(reading["rails_mw"]["VDD_IN"])
        self.assertIsNone(reading["total_mw"])
        self.assertIn("unreadable", reading["total_reason"])

    def test_absent_or_other_hwmon(self):
        self.assertIsNone(read_ina3221_hwmon(self.root))
        pi_ina219(self.root)
        self.assertIsNone(read_ina3221_hwmon(self.root))


class Ina2xxTest(FakeTreeTest):
    def test_ina219_units(self):
        write_tree(self.root, {"sys/class/hwmon/hwmon0/name": "cpu_thermal"})
        pi_ina219(self.root)
        reading = read_ina2xx_hwmon(self.root)
        rail = reading["rails"]["ina219-hwmon2"]
        self.assertEqual(rail["power_mw"], 1792.0)  # power1_input is uW
        self.assertEqual(rail["current_ma"], -350)  # signed; power is not
        self.assertEqual((rail["voltage_mv"], rail["shunt_mv"], rail["chip"]), (5120, 5, "ina219"))
        self.assertIsNone(reading["total_mw"])  # what it measures depends on the wiring
        self.assertIn("total_rail", reading["total_reason"])
        named = read_ina2xx_hwmon(self.root, total_rail="ina219-hwmon2")
        self.assertEqual((named["total_mw"], named["total_rail"]), (1792.0, "ina219-hwmon2"))

    def test_absent(self):
        self.assertIsNone(read_ina2xx_hwmon(self.root))


class RaplTest(FakeTreeTest):
    def test_zones_by_name(self):
        rapl(
            self.root,
            {"intel-rapl:0": 1000, "intel-rapl:0:0": 400, "intel-rapl:0:1": 50, "intel-rapl:1": 7000},
        )
        reading = read_rapl(self.root)
        self.assertEqual(
            sorted(reading["zones"]), ["package-0", "package-0/core", "package-0/uncore", "psys"]
        )
        self.assertEqual(
            reading["zones"]["package-0"],
            {"energy_uj": 1000, "max_energy_range_uj": RAPL_MAX, "zone": "intel-rapl:0"},
        )

    def test_energy_delta_with_wrap_around(self):
        self.assertEqual(rapl_energy_delta_uj(1000, 5000, RAPL_MAX), 4000)
        self.assertEqual(rapl_energy_delta_uj(RAPL_MAX - 1000, 500, RAPL_MAX), 1500)
        self.assertIsNone(rapl_energy_delta_uj(5000, 1000, None))  # wrapped, range unknown
        self.assertIsNone(rapl_energy_delta_uj(None, 1000, RAPL_MAX))

    def test_average_power_across_a_wrap(self):
        rapl(self.root, {"intel-rapl:0": RAPL_MAX - 1000000})
        before = read_rapl(self.root)
        rapl(self.root, {"intel-rapl:0": 4000000})
        after = read_rapl(self.root)
        # 5 J in 2 s = 2.5 W
        self.assertEqual(rapl_average_power_mw(before, after, 2.0), {"package-0": 2500.0})
        self.assertIsNone(rapl_average_power_mw(before, after, 0))

    def test_unreadable_counter(self):
        # energy_uj is root-only since Linux 5.10; a directory stands in for "cannot read".
        write_tree(self.root, {"sys/class/powercap/intel-rapl:0/name": "package-0"})
        os.makedirs(os.path.join(self.root, "sys/class/powercap/intel-rapl:0/energy_uj"))
        self.assertIsNone(read_rapl(self.root))
        missing = find_power_sources(self.root)["missing"]
        self.assertIn("unreadable", missing["rapl"])

    def test_absent(self):
        self.assertIsNone(read_rapl(self.root))


class FindSourcesTest(FakeTreeTest):
    def test_empty_tree_names_every_reason(self):
        result = find_power_sources(self.root)
        self.assertEqual(result["found"], {})
        self.assertEqual(sorted(result["missing"]), sorted(name for name, _ in sysfs_power.SOURCES))
        self.assertTrue(all(result["missing"].values()))

    def test_nano(self):
        nano_jp4(self.root)
        result = find_power_sources(self.root)
        self.assertEqual(list(result["found"]), ["ina3221x_iio"])
        self.assertEqual(result["found"]["ina3221x_iio"]["total_mw"], 1750)
        self.assertIn("rapl", result["missing"])

    def test_several(self):
        agx_orin_jp5(self.root)
        pi_ina219(self.root, "sys/class/hwmon/hwmon5")
        rapl(self.root, {"intel-rapl:0": 1})
        self.assertEqual(
            sorted(find_power_sources(self.root)["found"]), ["ina2xx_hwmon", "ina3221_hwmon", "rapl"]
        )

    def test_real_root_does_not_raise(self):
        result = find_power_sources()
        self.assertEqual(set(result), {"found", "missing"})


if __name__ == "__main__":
    unittest.main()
