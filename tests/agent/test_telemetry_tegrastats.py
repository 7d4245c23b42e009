"""tegrastats parser: every real captured line, and synthetic lines for the documented
JetPack 5/6/7 variants (docs/TELEMETRY.md)."""

import unittest
from pathlib import Path

from agent.telemetry import tegrastats
from agent.telemetry.tegrastats import parse_line, parse_log

# Outputs recorded on real devices, kept with the tests: they never skip for want of them.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telemetry"


def fixture_lines(name):
    """(line_number, line) for every non-comment line of a fixture file."""
    path = FIXTURES / name
    with path.open(encoding="utf-8") as f:
        lines = f.read().splitlines()
    return [(n, line) for n, line in enumerate(lines, 1) if not line.startswith("#")]


class RealCapturesTest(unittest.TestCase):
    def check_all(self, name, count):
        lines = fixture_lines(name)
        self.assertEqual(len(lines), count)
        for number, line in lines:
            with self.subTest(file=name, line=number):
                record = parse_line(line)
                self.assertEqual(record["unparsed"], [], line)
                self.assertIsNotNone(record["ram_used_mb"])
                self.assertTrue(record["cpu_load_pct"])
                self.assertIsNotNone(record["power_total_mw"])
                self.assertNotIn("PMIC", record["temps_c"])
                self.assertEqual(set(record), set(tegrastats.RECORD_KEYS))
        records, errors = parse_log("\n".join(line for _, line in lines) + "\n")
        self.assertEqual((len(records), errors), (count, []))
        return [parse_line(line) for _, line in lines]

    def test_nano_jp4_every_line(self):
        nano = self.check_all("tegrastats_nano_jp4.txt", 7)
        first = nano[0]
        self.assertEqual((first["ram_used_mb"], first["ram_total_mb"]), (1923, 3964))
        self.assertEqual((first["ram_lfb_blocks"], first["ram_lfb_block_mb"]), (2, 2))
        self.assertEqual(
            (first["swap_used_mb"], first["swap_total_mb"], first["swap_cached_mb"]), (191, 1982, 6)
        )
        self.assertEqual((first["iram_used_kb"], first["iram_total_kb"], first["iram_lfb_kb"]), (0, 252, 252))
        self.assertEqual(first["cpu_load_pct"], [5, 4, 3, 6])
        self.assertEqual(first["cpu_freq_mhz"], [1224] * 4)
        self.assertEqual((first["emc_load_pct"], first["emc_freq_mhz"]), (0, 1600))
        self.assertEqual((first["gpu_load_pct"], first["gpu_freq_mhz"]), (0, 76))
        self.assertEqual(first["engines"]["APE"]["freq_mhz"], 25)
        self.assertEqual(
            first["temps_c"], {"PLL": 37.0, "CPU": 40.0, "GPU": 40.0, "AO": 45.0, "thermal": 40.0}
        )
        self.assertEqual(first["rails_mw"], {"POM_5V_IN": 1750, "POM_5V_GPU": 0, "POM_5V_CPU": 366})
        self.assertEqual(first["rails_avg_mw"], {"POM_5V_IN": 1628, "POM_5V_GPU": 0, "POM_5V_CPU": 406})
        # The Nano's total is POM_5V_IN alone: never 1750 + 0 + 366.
        self.assertEqual((first["power_total_mw"], first["total_rail"]), (1750, "POM_5V_IN"))
        self.assertEqual(first["power_total_avg_mw"], 1628)
        self.assertIsNone(first["timestamp"])

        self.assertEqual(nano[1]["temps_c"]["thermal"], 36.25)
        self.assertEqual(nano[1]["ram_lfb_block_mb"], 4)
        # Non-root: no IRAM, no APE, EMC/GR3D without clocks.
        self.assertIsNone(nano[2]["iram_total_kb"])
        self.assertNotIn("APE", nano[2]["engines"])
        self.assertEqual((nano[2]["emc_load_pct"], nano[2]["emc_freq_mhz"]), (0, None))
        self.assertEqual((nano[2]["gpu_load_pct"], nano[2]["gpu_freq_mhz"]), (0, None))
        self.assertEqual(nano[2]["power_total_mw"], 900)
        # 5 W mode: two cores off.
        self.assertEqual(nano[3]["cpu_load_pct"], [22, 67, None, None])
        self.assertEqual(nano[3]["cpu_freq_mhz"], [518, 518, None, None])
        self.assertEqual(nano[3]["power_total_mw"], 2003)
        self.assertEqual(nano[4]["cpu_load_pct"], [8, 5, 99, 10])
        self.assertEqual((nano[4]["swap_used_mb"], nano[4]["ram_total_mb"]), (1904, 3956))
        # Instant below average: total is the instant value.
        self.assertEqual((nano[5]["power_total_mw"], nano[5]["power_total_avg_mw"]), (1003, 919))
        self.assertEqual(nano[6]["swap_total_mb"], 2048)
        self.assertEqual(nano[6]["power_total_mw"], 2545)

    def test_xavier_jp4_every_line(self):
        xavier = self.check_all("tegrastats_xavier_jp4.txt", 6)
        agx = xavier[0]
        self.assertEqual(agx["cpu_load_pct"], [2, 0, 0, 0, None, None, None, None])
        self.assertEqual((agx["mts_fg_pct"], agx["mts_bg_pct"]), (0, 0))
        self.assertEqual((agx["gpu_freq_mhz"], agx["emc_freq_mhz"]), (318, 665))
        self.assertEqual(agx["temps_c"]["Tdiode"], 40.0)
        self.assertEqual(agx["temps_c"]["thermal"], 36.9)
        # The AGX Xavier has CPU and GPU *rails* as well as CPU/GPU fields and temperatures.
        self.assertEqual(
            agx["rails_mw"], {"GPU": 0, "CPU": 311, "SOC": 932, "CV": 0, "VDDRQ": 621, "SYS5V": 1482}
        )
        self.assertEqual(agx["power_total_mw"], 0 + 311 + 932 + 0 + 621 + 1482)
        self.assertEqual(agx["total_rail"], "sum(GPU,CPU,SOC,CV,VDDRQ,SYS5V)")
        self.assertEqual(xavier[1]["power_total_mw"], 0 + 310 + 931 + 0 + 466 + 1522)
        self.assertEqual(xavier[1]["power_total_avg_mw"], 16 + 432 + 953 + 0 + 488 + 1559)
        self.assertIsNone(xavier[2]["swap_total_mb"])  # this capture has no SWAP field
        self.assertEqual(xavier[2]["power_total_mw"], 0 + 216 + 864 + 0 + 144 + 1889)
        self.assertEqual((xavier[3]["ram_lfb_blocks"], xavier[3]["ram_lfb_block_mb"]), (3, 2))
        self.assertEqual(xavier[3]["power_total_mw"], 463 + 618 + 2936 + 0 + 309 + 3306)
        nx = xavier[4]
        self.assertEqual(nx["cpu_freq_mhz"], [1190] * 5 + [1267])
        self.assertEqual((nx["gpu_load_pct"], nx["gpu_freq_mhz"]), (62, 306))
        self.assertEqual((nx["power_total_mw"], nx["total_rail"]), (4067, "VDD_IN"))
        self.assertEqual(nx["rails_mw"]["VDD_CPU_GPU_CV"], 738)
        self.assertEqual((xavier[5]["power_total_mw"], xavier[5]["power_total_avg_mw"]), (6140, 5510))
        self.assertEqual((xavier[5]["mts_fg_pct"], xavier[5]["mts_bg_pct"]), (1, 9))


# Synthetic lines, each built from a documented variant.
JP5_ORIN_NX = (
    "03-15-2024 10:24:19 RAM 2451/7620MB (lfb 6356x4MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [1%@729,0%@729,2%@729,0%@729,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305] "
    "VIC_FREQ 729 APE 174 CPU@43.968C Tboard@31C SOC2@40.593C Tdiode@32C "
    "SOC0@41.062C CV1@-256C GPU@-256C tj@44.312C VDD_IN 2763mW/2846mW "
    "VDD_CPU_GPU_CV 398mW/412mW VDD_SOC 1049mW/1051mW"
)
JP6_ORIN_NANO = (
    "01-08-2025 01:49:37 RAM 1806/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [1%@729,2%@729,0%@729,0%@729,0%@729,0%@729] GR3D_FREQ 0% cpu@46.843C "
    "soc2@45.406C soc0@45.906C gpu@46.343C tj@46.843C soc1@45.531C "
    "VDD_IN 4380mW/4380mW VDD_CPU_GPU_CV 473mW/473mW VDD_SOC 1300mW/1300mW"
)
AGX_ORIN_JP5 = (
    "08-29-2023 10:24:19 RAM 2451/30536MB (lfb 6356x4MB) SWAP 0/15268MB (cached 0MB) "
    "CPU [0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729] EMC_FREQ 0%@2133 "
    "GR3D_FREQ 0%@[0,0] GR3D2_FREQ 0%@[0,0] VIC_FREQ 729 APE 174 CV0@-256C "
    "CPU@43.968C Tboard@31C tj@44.312C VDD_GPU_SOC 1592mW/1592mW "
    "VDD_CPU_CV 398mW/398mW VIN_SYS_5V0 2017mW/2017mW NC 0mW/0mW "
    "VDDQ_VDD2_1V8AO 503mW/503mW NC 0mW/0mW"
)
JP7_AGX_ORIN = (
    "09-15-2026 12:19:33 RAM 999/62841MB CPU [0%@729,off] GR3D_FREQ 0% "
    "cpu@43.093C/43.093C soc2@39.625C/39.687C tj@42.906C/42.968C "
    "VDD_GPU_SOC 2792mW/2792mW/2792mW VDD_CPU_CV 0mW/0mW/0mW "
    "VIN_SYS_5V0 3918mW/3952mW/4019mW"
)


class SyntheticVariantsTest(unittest.TestCase):
    def test_jetpack5_timestamp_mw_suffix_and_offline_sensors(self):
        r = parse_line(JP5_ORIN_NX)
        self.assertEqual(r["unparsed"], [])
        self.assertEqual(r["timestamp"], "03-15-2024 10:24:19")
        self.assertEqual(r["rails_mw"]["VDD_IN"], 2763)
        self.assertEqual(r["rails_avg_mw"]["VDD_IN"], 2846)
        self.assertEqual((r["power_total_mw"], r["total_rail"]), (2763, "VDD_IN"))
        self.assertEqual(r["cpu_load_pct"], [1, 0, 2, 0, None, None])
        self.assertEqual(r["gpu_freq_mhz"], 305)
        self.assertEqual(r["engines"]["VIC_FREQ"]["freq_mhz"], 729)
        self.assertEqual(r["temps_c"]["CPU"], 43.968)
        self.assertEqual(r["temps_c"]["Tboard"], 31.0)
        self.assertEqual(sorted(r["temps_offline"]), ["CV1", "GPU"])  # -256 = offline
        self.assertNotIn("GPU", r["temps_c"])

    def test_jetpack6_without_emc_freq(self):
        r = parse_line(JP6_ORIN_NANO)
        self.assertEqual(r["unparsed"], [])
        self.assertIsNone(r["emc_load_pct"])
        self.assertIsNone(r["emc_freq_mhz"])
        self.assertEqual((r["gpu_load_pct"], r["gpu_freq_mhz"]), (0, None))
        self.assertEqual(r["temps_c"]["gpu"], 46.343)
        self.assertEqual((r["power_total_mw"], r["total_rail"]), (4380, "VDD_IN"))

    def test_agx_orin_total_is_sum_of_three_rails(self):
        r = parse_line(AGX_ORIN_JP5)
        self.assertEqual(r["unparsed"], [])
        self.assertNotIn("NC", r["rails_mw"])
        self.assertEqual(r["rails_mw"]["VDDQ_VDD2_1V8AO"], 503)  # kept, not in the total
        self.assertEqual(r["power_total_mw"], 1592 + 398 + 2017)
        self.assertEqual(r["total_rail"], "sum(VDD_GPU_SOC,VDD_CPU_CV,VIN_SYS_5V0)")
        self.assertEqual(r["engines"]["GR3D2_FREQ"]["freq_mhz"], [0, 0])
        self.assertEqual(r["temps_offline"], ["CV0"])

    def test_jetpack7_three_values_and_double_temperatures(self):
        r = parse_line(JP7_AGX_ORIN)
        self.assertEqual(r["unparsed"], [])
        self.assertEqual(r["temps_c"]["cpu"], 43.093)
        self.assertEqual(r["temps_c"]["soc2"], 39.625)
        self.assertEqual(r["rails_mw"]["VIN_SYS_5V0"], 3918)  # first value = instantaneous
        self.assertEqual(r["rails_values_mw"]["VIN_SYS_5V0"], [3918, 3952, 4019])
        self.assertEqual(r["rails_avg_mw"], {})  # the other two are undocumented
        self.assertEqual(r["power_total_mw"], 2792 + 0 + 3918)
        self.assertIsNone(r["ram_lfb_blocks"])
        self.assertEqual(r["cpu_load_pct"], [0, None])

    def test_jetpack7_spaced_units(self):
        r = parse_line("RAM 999/62841MB CPU [1%@972] VDD_IN 24561 mW/24000 mW/25000 mW")
        self.assertEqual(r["rails_values_mw"]["VDD_IN"], [24561, 24000, 25000])
        self.assertEqual(r["power_total_mw"], 24561)

    def test_jetpack7_temperature_keeps_the_first_value(self):
        r = parse_line("RAM 1/2MB cpu@52.968C/52.968C")
        self.assertEqual(r["temps_c"], {"cpu": 52.968})

    def test_negative_and_offline_temperatures(self):
        r = parse_line("RAM 100/3964MB CPU [1%@102] AO@-5.5C GPU@-256C PMIC@100C CPU@-0.25C")
        self.assertEqual(r["temps_c"], {"AO": -5.5, "CPU": -0.25})
        self.assertEqual(r["temps_offline"], ["GPU"])

    def test_pmic_constant_is_ignored_both_forms(self):
        for value in ("100", "50"):
            r = parse_line("RAM 1/2MB PMIC@%sC CPU@40C" % value)
            self.assertEqual(r["temps_c"], {"CPU": 40.0})

    def test_no_rails_means_unknown_power(self):
        r = parse_line(
            "RAM 1245/3964MB (lfb 147x4MB) SWAP 4/1982MB (cached 0MB) "
            "CPU [0%@204,2%@204,0%@204,1%@204] EMC_FREQ 0%@204 GR3D_FREQ 0%@76 "
            "PLL@25.5C CPU@29C PMIC@50C GPU@27.5C"
        )
        self.assertEqual(r["rails_mw"], {})
        self.assertIsNone(r["power_total_mw"])  # unknown, never 0
        self.assertIsNone(r["total_rail"])
        self.assertEqual(r["total_reason"], "no power rails")

    def test_unknown_rail_set_gives_no_total(self):
        r = parse_line("RAM 1/2MB VDD_GPU 0mW/0mW VDD_CPU_SOC_MSS 4165mW/4165mW")
        self.assertIsNone(r["power_total_mw"])
        self.assertIn("no known board-total rule", r["total_reason"])
        self.assertEqual(r["rails_mw"], {"VDD_GPU": 0, "VDD_CPU_SOC_MSS": 4165})

    def test_agx_xavier_with_a_rail_missing_gives_no_total(self):
        r = parse_line("RAM 1/2MB GPU 0/0 CPU 311/311 SOC 932/932 CV 0/0 VDDRQ 621/621")
        self.assertIsNone(r["power_total_mw"])

    def test_iram_and_lfb_in_kb(self):
        r = parse_line("RAM 3468/3983MB (lfb 1x512kB) IRAM 0/252kB(lfb 252kB) CPU [1%@102]")
        self.assertEqual(r["ram_lfb_blocks"], 1)
        self.assertEqual(r["ram_lfb_block_mb"], 0.5)
        self.assertEqual((r["iram_used_kb"], r["iram_total_kb"], r["iram_lfb_kb"]), (0, 252, 252))
        self.assertEqual(r["unparsed"], [])

    def test_gr3d_forms(self):
        cases = (
            ("GR3D_FREQ 0%", 0, None),
            ("GR3D_FREQ 12%@76", 12, 76),
            ("GR3D_FREQ 5%@[305,611]", 5, 611),
            ("GR3D_FREQ @[0,0,0]", None, 0),
            ("GR3D_FREQ off", None, None),
        )
        for text, load, freq in cases:
            with self.subTest(text=text):
                r = parse_line("RAM 1/2MB " + text)
                self.assertEqual((r["gpu_load_pct"], r["gpu_freq_mhz"]), (load, freq))
                self.assertEqual(r["unparsed"], [])
        r = parse_line("RAM 1/2MB GR3D_FREQ @[0,0,0] NVENC0_FREQ @0 VIC off NVENC off")
        self.assertEqual(r["engines"]["GR3D_FREQ"]["freq_mhz"], [0, 0, 0])
        self.assertTrue(r["engines"]["NVENC"]["off"])
        self.assertEqual(r["engines"]["NVENC0_FREQ"]["freq_mhz"], 0)

    def test_old_cpu_form_and_old_engine_names(self):
        r = parse_line(
            "RAM 3468/3983MB (lfb 48x4MB) SWAP 873/8192MB (cached 295MB) "
            "cpu [17%,13%,29%,5%]@408 EMC 1%@408 APE 25 GR3D 3%@76"
        )
        self.assertEqual(r["cpu_load_pct"], [17, 13, 29, 5])
        self.assertEqual(r["cpu_freq_mhz"], [408] * 4)
        self.assertEqual((r["emc_load_pct"], r["emc_freq_mhz"]), (1, 408))
        self.assertEqual((r["gpu_load_pct"], r["gpu_freq_mhz"]), (3, 76))
        self.assertEqual(r["unparsed"], [])

    def test_runs_of_spaces_and_trailing_spaces(self):
        r = parse_line("RAM  1923/3964MB   (lfb 2x2MB)  CPU [5%@1224]   POM_5V_IN 1750/1628   \r\n")
        self.assertEqual((r["ram_used_mb"], r["ram_lfb_blocks"]), (1923, 2))
        self.assertEqual(r["power_total_mw"], 1750)
        self.assertEqual(r["unparsed"], [])

    def test_unknown_token_is_kept_visible(self):
        r = parse_line("RAM 1/2MB FOO? POM_5V_IN 1/1")
        self.assertEqual(r["unparsed"], ["FOO?"])
        self.assertEqual(r["power_total_mw"], 1)

    def test_garbage_raises(self):
        for line in (
            "",
            "tegrastats: command not found",
            "NVPM WARN: no such mode",
            "ERROR 1",
            "Killed 9",
            "APE 25",
        ):
            with self.subTest(line=line):
                with self.assertRaises(ValueError):
                    parse_line(line)


class LogTest(unittest.TestCase):
    def test_errors_carry_line_numbers(self):
        text = (
            "\n".join(
                [
                    JP6_ORIN_NANO,
                    "Segmentation fault (core dumped)",
                    "",
                    JP5_ORIN_NX,
                ]
            )
            + "\n"
        )
        records, errors = parse_log(text)
        self.assertEqual(len(records), 2)
        self.assertEqual([n for n, _ in errors], [2, 3])
        self.assertIn("no tegrastats field", errors[0][1])
        self.assertEqual(errors[1][1], "blank line")
        self.assertEqual(records[1]["timestamp"], "03-15-2024 10:24:19")

    def test_empty_log(self):
        self.assertEqual(parse_log(""), ([], []))


if __name__ == "__main__":
    unittest.main()
