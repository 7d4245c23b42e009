"""vcgencmd parsers: every line of the real captures, firmware errors, Pi 5 PMIC ADC."""

import re
import unittest
from pathlib import Path

from agent.telemetry import vcgencmd

# Outputs recorded on real devices, kept with the tests: they never skip for want of them.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telemetry"

NO_FLAGS = dict((name, False) for _, name in vcgencmd.THROTTLE_BITS)

# Value expected for each non-comment line of rpi_vcgencmd_outputs.txt, in order.
EXPECTED = [
    ("get_throttled", dict(NO_FLAGS, raw=0)),
    (
        "get_throttled",
        dict(
            NO_FLAGS,
            raw=0x60002,
            arm_freq_capped_now=True,
            arm_freq_capped_occurred=True,
            throttled_occurred=True,
        ),
    ),
    (
        "get_throttled",
        dict(
            NO_FLAGS,
            raw=0x50005,
            under_voltage_now=True,
            throttled_now=True,
            under_voltage_occurred=True,
            throttled_occurred=True,
        ),
    ),
    ("measure_temp", 80.6),
    ("measure_temp", 43.8),
    ("measure_clock arm", 1141118000),
    ("measure_clock arm", 2000478464),
    ("measure_clock arm", 700154304),
    ("measure_volts core", 0.8563),
]

# Real Pi 5 `vcgencmd pmic_read_adc` output (leading spaces right-align the names).
PMIC_OUTPUT = """\
 3V7_WL_SW_A current(0)=0.10247270A
   3V3_SYS_A current(1)=0.10832820A
  VDD_CORE_A current(7)=1.42880000A
      HDMI_A current(22)=0.02002440A
 3V7_WL_SW_V volt(8)=3.71091200V
   3V3_SYS_V volt(9)=3.30910500V
  VDD_CORE_V volt(15)=0.90659250V
      HDMI_V volt(23)=5.07860000V
     EXT5V_V volt(24)=5.05716000V
      BATT_V volt(25)=0.00000000V
"""


class RealCapturesTest(unittest.TestCase):
    def test_every_line(self):
        path = FIXTURES / "rpi_vcgencmd_outputs.txt"
        with path.open(encoding="utf-8") as f:
            lines = f.read().splitlines()
        commands = []
        values = []
        for line in lines:
            cmd = re.match(r"^# cmd: vcgencmd (\w+(?: \w+)?)", line)
            if cmd:
                commands.append(cmd.group(1).strip())
            elif not line.startswith("#"):
                values.append(line)
        self.assertEqual(len(values), len(EXPECTED))
        self.assertEqual(commands, [command for command, _ in EXPECTED])
        for line, (command, expected) in zip(values, EXPECTED):
            with self.subTest(line=line):
                self.assertEqual(vcgencmd.parse(command, line), (expected, None))
                self.assertEqual(vcgencmd.parse(command, line + "\n"), (expected, None))


class ParsersTest(unittest.TestCase):
    def test_throttled_bits(self):
        flags = vcgencmd.parse_throttled("throttled=0x50005\n")
        self.assertEqual(flags["raw"], 0x50005)
        self.assertTrue(flags["under_voltage_now"] and flags["throttled_now"])
        self.assertFalse(flags["arm_freq_capped_now"] or flags["soft_temp_limit_now"])
        self.assertTrue(flags["under_voltage_occurred"] and flags["throttled_occurred"])
        self.assertFalse(flags["arm_freq_capped_occurred"] or flags["soft_temp_limit_occurred"])
        every = vcgencmd.parse_throttled("throttled=0xf000f")
        self.assertTrue(all(every[name] for _, name in vcgencmd.THROTTLE_BITS))
        soft = vcgencmd.parse_throttled("throttled=0x80008")
        self.assertEqual(
            [n for _, n in vcgencmd.THROTTLE_BITS if soft[n]],
            ["soft_temp_limit_now", "soft_temp_limit_occurred"],
        )

    def test_single_values(self):
        self.assertEqual(vcgencmd.parse_temp("temp=48.8'C"), 48.8)
        self.assertEqual(vcgencmd.parse_clock("frequency(48)=1500000000"), 1500000000)
        self.assertEqual(vcgencmd.parse_volts("volt=0.8563V"), 0.8563)

    def test_firmware_error_gives_none_with_reason(self):
        error = 'error=1 error_msg="Command not registered"\n'
        for command in (
            "get_throttled",
            "measure_temp",
            "measure_clock arm",
            "measure_volts core",
            "pmic_read_adc",
        ):
            with self.subTest(command=command):
                self.assertEqual(vcgencmd.parse(command, error), (None, "firmware: Command not registered"))
        self.assertIsNone(vcgencmd.parse_throttled(error))
        self.assertIsNone(vcgencmd.parse_temp(error))
        self.assertEqual(vcgencmd.firmware_error(error), "Command not registered")
        self.assertIsNone(vcgencmd.firmware_error("temp=48.8'C"))

    def test_missing_or_odd_output(self):
        self.assertEqual(vcgencmd.parse("measure_temp", ""), (None, "no output"))
        self.assertEqual(vcgencmd.parse("measure_temp", None), (None, "no output"))
        value, reason = vcgencmd.parse("measure_temp", "temp=abc'C")
        self.assertIsNone(value)
        self.assertIn("unrecognised output", reason)
        value, reason = vcgencmd.parse("get_mem arm", "arm=948M")
        self.assertIsNone(value)
        self.assertIn("no parser", reason)
        # A value for the wrong command is not accepted.
        self.assertIsNone(vcgencmd.parse_volts("temp=48.8'C"))
        self.assertIsNone(vcgencmd.parse_clock("frequency(48)=1500000000\nfrequency(1)=5"))

    def test_pmic_read_adc(self):
        rails = vcgencmd.parse_pmic_adc(PMIC_OUTPUT)
        self.assertEqual(sorted(rails), ["3V3_SYS", "3V7_WL_SW", "BATT", "EXT5V", "HDMI", "VDD_CORE"])
        core = rails["VDD_CORE"]
        self.assertEqual((core["volts"], core["amps"]), (0.9065925, 1.4288))
        self.assertAlmostEqual(core["watts"], 0.9065925 * 1.4288)
        # EXT5V (the board input) has a voltage but no current channel: no power.
        self.assertEqual(rails["EXT5V"], {"volts": 5.05716, "amps": None, "watts": None})
        self.assertEqual(vcgencmd.parse("pmic_read_adc", PMIC_OUTPUT), (rails, None))
        self.assertIsNone(vcgencmd.parse_pmic_adc("nothing here"))
        single = vcgencmd.parse_pmic_adc("     EXT5V_V volt(24)=5.15766000V\n")
        self.assertEqual(single, {"EXT5V": {"volts": 5.15766, "amps": None, "watts": None}})


if __name__ == "__main__":
    unittest.main()
