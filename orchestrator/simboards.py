"""Simulated boards for the test fleet: a directory tree with the real layouts and units of a
Jetson Nano (JetPack 4.6) or a Raspberry Pi 4, and small programs that replay captured output
(tegrastats, nvpmodel, vcgencmd). The agent reads it through EDGEBENCH_SYSROOT and tags every
value from it as simulated."""

import os
import stat
import sys
from pathlib import Path

BOARDS = ("jetson-nano", "rpi4")

# Real tegrastats lines of a Jetson Nano on JetPack 4.6 (run as root), from public captures
# (see tests/fixtures/telemetry/tegrastats_nano_jp4.txt): POM_5V_IN is the board total.
NANO_TEGRASTATS = [
    "RAM 1923/3964MB (lfb 2x2MB) SWAP 191/1982MB (cached 6MB) IRAM 0/252kB(lfb 252kB) CPU [5%@1224,4%@1224,3%@1224,6%@1224] EMC_FREQ 0%@1600 GR3D_FREQ 0%@76 APE 25 PLL@37C CPU@40C PMIC@50C GPU@40C AO@45C thermal@40C POM_5V_IN 1750/1628 POM_5V_GPU 0/0 POM_5V_CPU 366/406",
    "RAM 3431/3956MB (lfb 37x4MB) SWAP 1904/1978MB (cached 2MB) IRAM 0/252kB(lfb 252kB) CPU [8%@1479,5%@1479,99%@1479,10%@1479] EMC_FREQ 5%@1600 GR3D_FREQ 0%@76 APE 25 PLL@41C CPU@41.5C PMIC@50C GPU@43C AO@48.5C thermal@41.5C POM_5V_IN 3014/3014 POM_5V_GPU 0/0 POM_5V_CPU 1044/1044",
    "RAM 1409/3964MB (lfb 28x4MB) SWAP 0/1982MB (cached 0MB) IRAM 0/252kB(lfb 252kB) CPU [22%@518,67%@518,off,off] EMC_FREQ 0%@1600 GR3D_FREQ 0%@76 APE 25 PLL@28.5C CPU@32C PMIC@50C GPU@30.5C AO@39.5C thermal@31.25C POM_5V_IN 2003/2003 POM_5V_GPU 0/0 POM_5V_CPU 320/320",
]
NANO_THERMAL = [
    ("AO-therm", 41500),
    ("CPU-therm", 34000),
    ("GPU-therm", 31000),
    ("PLL-therm", 31500),
    ("PMIC-Die", 100000),
    ("thermal-fan-est", 33000),
]
NANO_RELEASE = "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n"

REPLAY = '''#!{python}
"""Simulated tegrastats: replays captured lines every --interval ms until stopped."""
import itertools, sys, time
lines = {lines!r}
interval = int(sys.argv[sys.argv.index("--interval") + 1]) / 1000.0 if "--interval" in sys.argv else 1.0
for line in itertools.cycle(lines):
    sys.stdout.write(line + "\\n")
    sys.stdout.flush()
    time.sleep(interval)
'''
ANSWERS = '''#!{python}
"""Simulated {name}: canned answers captured from a real board."""
import sys
answers = {answers!r}
key = " ".join(sys.argv[1:])
if key not in answers:
    sys.stdout.write('error=1 error_msg="Command not registered"\\n')
    sys.exit(255)
sys.stdout.write(answers[key])
'''


def _write(path: Path, text, mode=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    if mode:
        path.chmod(mode)


def _program(path: Path, text: str) -> None:
    _write(path, text, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def _thermal(root: Path, zones) -> None:
    for index, (kind, millidegrees) in enumerate(zones):
        zone = root / ("sys/class/thermal/thermal_zone%d" % index)
        _write(zone / "type", kind + "\n")
        _write(zone / "temp", "%d\n" % millidegrees)


def _cpus(root: Path, count: int, khz: int, governor: str, min_khz: int) -> None:
    """cpufreq as the kernel shows it: the clock, its range (max is the cap that thermal capping
    lowers) and the governor."""
    for n in range(count):
        cpu = root / ("sys/devices/system/cpu/cpu%d" % n)
        _write(cpu / "online", "1\n")
        for name, value in (
            ("scaling_cur_freq", khz),
            ("scaling_min_freq", min_khz),
            ("scaling_max_freq", khz),
        ):
            _write(cpu / "cpufreq" / name, "%d\n" % value)
        _write(cpu / "cpufreq/scaling_governor", governor + "\n")


def jetson_nano(root: Path, python: str = sys.executable) -> dict:
    """Returns the inventory telemetry settings for this board."""
    _write(root / "proc/device-tree/model", b"NVIDIA Jetson Nano Developer Kit\x00")
    _write(root / "etc/nv_tegra_release", NANO_RELEASE)
    _thermal(root, NANO_THERMAL)
    _cpus(root, 4, 1479000, "schedutil", min_khz=102000)
    _write(root / "sys/devices/57000000.gpu/devfreq/57000000.gpu/cur_freq", "76800000\n")
    _program(root / "usr/bin/tegrastats", REPLAY.format(python=python, lines=NANO_TEGRASTATS))
    _program(
        root / "usr/sbin/nvpmodel",
        ANSWERS.format(python=python, name="nvpmodel", answers={"-q": "NV Power Mode: MAXN\n0\n"}),
    )
    return {}


def rpi4(root: Path, python: str = sys.executable) -> dict:
    """A Pi 4 with an INA219 on the 5 V input (hwmon, power in µW)."""
    _write(root / "proc/device-tree/model", b"Raspberry Pi 4 Model B Rev 1.4\x00")
    _thermal(root, [("cpu-thermal", 48800)])
    _cpus(root, 4, 1500000, "ondemand", min_khz=600000)
    device = root / "sys/bus/i2c/devices/1-0040"
    device.mkdir(parents=True, exist_ok=True)
    hwmon = root / "sys/class/hwmon/hwmon0"
    for name, value in (
        ("name", "ina219"),
        ("in0_input", "62"),
        ("in1_input", "5104"),
        ("curr1_input", "612"),
        ("power1_input", "3123648"),
        ("shunt_resistor", "100000"),
    ):
        _write(hwmon / name, value + "\n")
    os.symlink(os.path.relpath(device, hwmon), hwmon / "device")
    _program(
        root / "usr/bin/vcgencmd",
        ANSWERS.format(
            python=python,
            name="vcgencmd",
            answers={
                "get_throttled": "throttled=0x0\n",
                "measure_temp": "temp=48.8'C\n",
                "measure_clock arm": "frequency(48)=1500000000\n",
                "measure_volts core": "volt=0.8563V\n",
            },
        ),
    )
    return {"power": "ina2xx_hwmon", "total_rail": "ina219-1-0040"}


def make_board(kind: str, root: Path, python: str = sys.executable) -> dict:
    if kind == "jetson-nano":
        return jetson_nano(root, python)
    if kind == "rpi4":
        return rpi4(root, python)
    raise ValueError("unknown simulated board %r (have: %s)" % (kind, ", ".join(BOARDS)))
