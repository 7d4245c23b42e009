"""Thermal zones, clocks, power mode and throttle flags, read before and after each trial.

Everything is read under `root` (tests and simulated boards pass a tree); programs
(`vcgencmd`, `nvpmodel`) are looked for under root's bin folders first, then on PATH.
"""

import glob
import os

# subprocess and vcgencmd are imported where a program is run: `edgebench probe` imports this
# module on every device and, without nvpmodel or vcgencmd, runs none.

BIN_FOLDERS = ("usr/bin", "usr/sbin", "usr/local/bin", "opt/vc/bin")
GPU_FREQ_FILES = (
    "sys/devices/57000000.gpu/devfreq/57000000.gpu/cur_freq",  # Jetson Nano (Hz)
    "sys/devices/17000000.gv11b/devfreq/17000000.gv11b/cur_freq",
)  # Xavier


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def read_text(path):
    """A sysfs file's text, stripped; None when it cannot be read."""
    return _read(path)


def read_int(path):
    return _int(_read(path))


def thermal_zones(root="/"):
    """{zone type: degrees C}; millidegree files; unreadable zones left out."""
    zones = {}
    for zone in sorted(glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*"))):
        kind, value = _read(os.path.join(zone, "type")), _int(_read(os.path.join(zone, "temp")))
        if kind and value is not None and value > -256000:
            zones[kind] = value / 1000.0
    return zones


# Constant placeholders, not temperatures (docs/TELEMETRY.md: PMIC-Die reads 100.0 on a Nano).
PLACEHOLDER_ZONES = ("PMIC-Die",)


def real_temps(zones):
    return dict((k, v) for k, v in zones.items() if k not in PLACEHOLDER_ZONES)


def cpu_clocks(root="/"):
    """{cpuN: {cur_khz, min_khz, max_khz, governor, online}}: max is the cap (thermal capping
    lowers it), min == max means the clock is fixed (jetson_clocks, a userspace governor)."""
    cpus = {}
    for cpu in sorted(glob.glob(os.path.join(root, "sys/devices/system/cpu/cpu[0-9]*"))):
        name = os.path.basename(cpu)
        online = _read(os.path.join(cpu, "online"))
        cpus[name] = {
            "cur_khz": _int(_read(os.path.join(cpu, "cpufreq/scaling_cur_freq"))),
            "min_khz": _int(_read(os.path.join(cpu, "cpufreq/scaling_min_freq"))),
            "max_khz": _int(_read(os.path.join(cpu, "cpufreq/scaling_max_freq"))),
            "governor": _read(os.path.join(cpu, "cpufreq/scaling_governor")),
            "online": None if online is None else online == "1",
        }
    return cpus


def gpu_freq_hz(root="/"):
    for relative in GPU_FREQ_FILES:
        value = _int(_read(os.path.join(root, relative)))
        if value is not None:
            return value
    return None


def gpu_freq_limits_hz(root="/"):
    """(min, max) of the Jetson GPU's devfreq (Hz), beside cur_freq; (None, None) without."""
    for relative in GPU_FREQ_FILES:
        folder = os.path.dirname(os.path.join(root, relative))
        if os.path.isdir(folder):
            return _int(_read(os.path.join(folder, "min_freq"))), _int(
                _read(os.path.join(folder, "max_freq"))
            )
    return None, None


def find_program(root, name):
    for folder in BIN_FOLDERS:
        path = os.path.join(root, folder, name)
        if os.access(path, os.X_OK):
            return path
    return None


def _run(argv):
    import subprocess

    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True
        )
    except OSError:
        return None
    try:
        out, _ = proc.communicate(timeout=10)
        return out
    except subprocess.TimeoutExpired:
        proc.kill()  # ours, by PID
        proc.communicate()
        return None


def power_mode(root="/"):
    """`nvpmodel -q`: 'NV Power Mode: MAXN' then the mode id; None without nvpmodel."""
    program = find_program(root, "nvpmodel")
    out = _run([program, "-q"]) if program else None
    if not out:
        return None
    for line in out.splitlines():
        if line.startswith("NV Power Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def parse_jetson_clocks(text):
    """`jetson_clocks --show`: per-CPU lines `cpuN: Online=1 Governor=schedutil MinFreq=...
    MaxFreq=... CurrentFreq=...` (old L4T spells it `Gonvernor=`) and `NV Power Mode: ...`."""
    cpus, mode = {}, None
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("NV Power Mode:"):
            mode = line.split(":", 1)[1].strip()
        elif line.startswith("cpu") and ":" in line:
            name, rest = line.split(":", 1)
            fields = dict(part.split("=", 1) for part in rest.split() if "=" in part)
            cpus[name] = {
                "online": fields.get("Online") == "1",
                "governor": fields.get("Governor") or fields.get("Gonvernor"),
                "min_khz": _int(fields.get("MinFreq")),
                "max_khz": _int(fields.get("MaxFreq")),
                "cur_khz": _int(fields.get("CurrentFreq")),
            }
    return {"cpus": cpus, "power_mode": mode} if cpus or mode else None


def jetson_clocks(root="/"):
    """jetson_clocks' view (needs root on the device; None when absent or refused)."""
    program = find_program(root, "jetson_clocks")
    return parse_jetson_clocks(_run([program, "--show"])) if program else None


def pi_firmware(root="/"):
    """Raspberry Pi firmware readings, or None without vcgencmd."""
    program = find_program(root, "vcgencmd")
    if not program:
        return None
    from . import vcgencmd

    throttled, reason = vcgencmd.parse("get_throttled", _run([program, "get_throttled"]) or "")
    temp, _ = vcgencmd.parse("measure_temp", _run([program, "measure_temp"]) or "")
    return {"throttled": throttled, "throttled_reason": reason, "temp_c": temp}


def snapshot(root="/"):
    return {
        "thermal_c": thermal_zones(root),
        "cpus": cpu_clocks(root),
        "gpu_freq_hz": gpu_freq_hz(root),
        "power_mode": power_mode(root),
        "jetson_clocks": jetson_clocks(root),
        "pi_firmware": pi_firmware(root),
    }


def throttle_flags(before, after):
    """Flags that say the board throttled or was under-voltage during the trial: a 'now' bit
    set before or after, or a 'since boot' bit that was not set before and is after."""
    flags = set()
    for snap in (before, after):
        firmware = (snap or {}).get("pi_firmware") or {}
        for name, value in (firmware.get("throttled") or {}).items():
            if name.endswith("_now") and value is True:
                flags.add(name)
    old = ((before or {}).get("pi_firmware") or {}).get("throttled") or {}
    new = ((after or {}).get("pi_firmware") or {}).get("throttled") or {}
    for name, value in new.items():
        if name.endswith("_occurred") and value is True and old.get(name) is not True:
            flags.add(name)
    return sorted(flags)
