"""Power sensors in sysfs, read under a directory `root` (default "/"; tests pass a fake tree).

Sensors are found by driver name, never by a fixed hwmon index. Each reader returns None when
its sensor is absent or unreadable (never 0); otherwise a dict:
    {"source", "rails": {NAME: {...readings..., "power_mw"}}, "rails_mw": {NAME: mW},
     "total_mw", "total_rail", "total_reason"}
(RAPL gives energy counters instead: {"source", "zones": {...}}.)

    read_ina3221x_iio(root)  Jetson JetPack 4: /sys/bus/i2c/drivers/ina3221x/*/iio:device*/
                             rail_name_N, in_voltageN_input mV, in_currentN_input mA,
                             in_powerN_input mW
    read_ina3221_hwmon(root) JetPack 5/6, mainline: hwmon `name` == ina3221; in[1-3]_label,
                             in[1-3]_input mV, curr[1-3]_input mA, no power file (P = V x I);
                             NC channels, the sum channel 7 and the shunts in4-6 are skipped
    read_ina2xx_hwmon(root)  hwmon ina219/ina226/ina260...: in1_input bus mV, curr1_input mA
                             (signed), power1_input uW (unsigned)
    read_rapl(root)          /sys/class/powercap/intel-rapl:N[:M]/energy_uj (uJ, wraps at
                             max_energy_range_uj), keyed by zone name ("package-0/core")
    find_power_sources(root) -> {"found": {source: reading}, "missing": {source: reason}}
"""

import glob
import os
import re

from .rails import NOT_CONNECTED, board_total

INA3221_IIO_GLOB = "sys/bus/i2c/drivers/ina3221*/*/iio:device*"
HWMON_GLOB = "sys/class/hwmon/hwmon*"
RAPL_GLOB = "sys/class/powercap/intel-rapl:*"
INA3221_HWMON_NAME = "ina3221"
INA2XX_NAMES = (
    "ina209",
    "ina219",
    "ina220",
    "ina226",
    "ina230",
    "ina231",
    "ina234",
    "ina237",
    "ina238",
    "ina260",
)
INA3221_HWMON_CHANNELS = (1, 2, 3)  # 4-6 are shunt voltages (uV), 7 the sum channel


def _read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").strip("\x00\n\r\t ")
    except (IOError, OSError):
        return None


def _read_int(path):
    text = _read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _glob(root, pattern):
    return sorted(glob.glob(os.path.join(glob.escape(root), pattern)))


def _power_mw(volts_mv, current_ma):
    if volts_mv is None or current_ma is None:
        return None
    return volts_mv * current_ma / 1000.0


def _add_rail(rails, name, reading, qualifier):
    if name in rails:  # two chips naming a rail alike: keep both, visibly
        name = "%s@%s" % (name, qualifier)
    rails[name] = reading


def _result(source, rails, total_rail=None):
    rails_mw = dict((name, rail["power_mw"]) for name, rail in rails.items())
    if total_rail is not None:
        if total_rail in rails_mw and rails_mw[total_rail] is not None:
            total, rule, reason = rails_mw[total_rail], total_rail, None
        else:
            total, rule, reason = None, None, "configured total rail %s not found" % total_rail
    else:
        total, rule, reason = board_total(rails_mw)
    return {
        "source": source,
        "rails": rails,
        "rails_mw": rails_mw,
        "total_mw": total,
        "total_rail": rule,
        "total_reason": reason,
    }


def _ina3221x_iio(root):
    devices = [d for d in _glob(root, INA3221_IIO_GLOB) if os.path.isdir(d)]
    if not devices:
        return None, "no %s (JetPack 4 iio driver)" % INA3221_IIO_GLOB
    rails = {}
    for device in devices:
        address = os.path.basename(os.path.dirname(device))  # e.g. 6-0040
        for entry in sorted(os.listdir(device)):
            match = re.match(r"^rail_name_(\d+)$", entry)
            if not match:
                continue
            n = match.group(1)
            name = _read_text(os.path.join(device, entry))
            if not name or name == NOT_CONNECTED:
                continue
            volts = _read_int(os.path.join(device, "in_voltage%s_input" % n))
            current = _read_int(os.path.join(device, "in_current%s_input" % n))
            power = _read_int(os.path.join(device, "in_power%s_input" % n))
            if volts is None and current is None and power is None:
                continue
            reading = {
                "voltage_mv": volts,
                "current_ma": current,
                "power_mw": power if power is not None else _power_mw(volts, current),
                "device": address,
                "channel": int(n),
            }
            _add_rail(rails, name, reading, address)
    if not rails:
        return None, "ina3221x iio device found but no readable rail"
    return _result("ina3221x_iio", rails), None


def _hwmon_dirs(root, names):
    found = []
    for hwmon in _glob(root, HWMON_GLOB):
        name = _read_text(os.path.join(hwmon, "name"))
        if name in names:
            found.append((hwmon, name))
    return found


def _device_id(hwmon):
    device = os.path.join(hwmon, "device")
    if os.path.exists(device):
        return os.path.basename(os.path.realpath(device))
    return os.path.basename(hwmon)


def _ina3221_hwmon(root):
    chips = _hwmon_dirs(root, (INA3221_HWMON_NAME,))
    if not chips:
        return None, "no hwmon named %s under %s" % (INA3221_HWMON_NAME, HWMON_GLOB)
    rails = {}
    for hwmon, _ in chips:
        qualifier = _device_id(hwmon)
        for n in INA3221_HWMON_CHANNELS:
            label = _read_text(os.path.join(hwmon, "in%d_label" % n))
            if label == NOT_CONNECTED or _read_int(os.path.join(hwmon, "in%d_enable" % n)) == 0:
                continue
            volts = _read_int(os.path.join(hwmon, "in%d_input" % n))
            current = _read_int(os.path.join(hwmon, "curr%d_input" % n))
            if volts is None and current is None:
                continue
            reading = {
                "voltage_mv": volts,
                "current_ma": current,
                "power_mw": _power_mw(volts, current),
                "device": qualifier,
                "channel": n,
            }
            _add_rail(rails, label or "%s:in%d" % (qualifier, n), reading, qualifier)
    if not rails:
        return None, "ina3221 hwmon found but no readable channel"
    return _result("ina3221_hwmon", rails), None


def _ina2xx_hwmon(root, total_rail=None):
    chips = _hwmon_dirs(root, INA2XX_NAMES)
    if not chips:
        return None, "no hwmon named %s under %s" % ("/".join(INA2XX_NAMES), HWMON_GLOB)
    rails = {}
    for hwmon, name in chips:
        qualifier = _device_id(hwmon)
        bus = _read_int(os.path.join(hwmon, "in1_input"))
        current = _read_int(os.path.join(hwmon, "curr1_input"))
        power_uw = _read_int(os.path.join(hwmon, "power1_input"))
        if bus is None and current is None and power_uw is None:
            continue
        reading = {
            "voltage_mv": bus,
            "current_ma": current,
            "shunt_mv": _read_int(os.path.join(hwmon, "in0_input")),
            "power_mw": power_uw / 1000.0 if power_uw is not None else None,
            "device": qualifier,
            "chip": name,
        }
        rails["%s-%s" % (name, qualifier)] = reading
    if not rails:
        return None, "ina2xx hwmon found but nothing readable"
    result = _result("ina2xx_hwmon", rails, total_rail=total_rail)
    if total_rail is None:  # what an INA2xx measures depends on how it was wired
        result["total_reason"] = "ina2xx: name the rail that is the board input (total_rail)"
    return result, None


def _rapl(root):
    zones_dirs = [d for d in _glob(root, RAPL_GLOB) if os.path.isdir(d)]
    if not zones_dirs:
        return None, "no %s (not x86, or a virtual machine)" % RAPL_GLOB
    zones = {}
    for zone in zones_dirs:
        base = os.path.basename(zone)
        name = _read_text(os.path.join(zone, "name")) or base
        parts = base.split(":")
        if len(parts) > 2:  # intel-rapl:0:1 is a subzone of intel-rapl:0
            parent = os.path.join(os.path.dirname(zone), ":".join(parts[:2]))
            name = "%s/%s" % (_read_text(os.path.join(parent, "name")) or parts[:2][-1], name)
        energy = _read_int(os.path.join(zone, "energy_uj"))
        if energy is None:
            continue
        zones[name] = {
            "energy_uj": energy,
            "zone": base,
            "max_energy_range_uj": _read_int(os.path.join(zone, "max_energy_range_uj")),
        }
    if not zones:
        return None, "RAPL zones present but energy_uj unreadable (root only since Linux 5.10)"
    return {"source": "rapl", "zones": zones}, None


def read_ina3221x_iio(root="/"):
    return _ina3221x_iio(root)[0]


def read_ina3221_hwmon(root="/"):
    return _ina3221_hwmon(root)[0]


def read_ina2xx_hwmon(root="/", total_rail=None):
    """`total_rail` ("ina219-1-0040") names the sensor on the board input, if one is."""
    return _ina2xx_hwmon(root, total_rail)[0]


def read_rapl(root="/"):
    return _rapl(root)[0]


def rapl_energy_delta_uj(before, after, max_range):
    """Energy between two readings of one counter, in uJ; the counter wraps to 0 past
    `max_range` (one wrap at most between readings). None when it cannot be known."""
    if before is None or after is None:
        return None
    if after >= before:
        return after - before
    if not max_range or before > max_range:
        return None
    return max_range - before + after


def rapl_average_power_mw(before, after, seconds):
    """Two read_rapl() results taken `seconds` apart -> {zone name: mW} (uJ/s = uW)."""
    if not before or not after or not seconds or seconds <= 0:
        return None
    powers = {}
    for name, zone in before["zones"].items():
        later = after["zones"].get(name)
        if later is None:
            continue
        delta = rapl_energy_delta_uj(zone["energy_uj"], later["energy_uj"], later["max_energy_range_uj"])
        powers[name] = None if delta is None else delta / seconds / 1000.0
    return powers


SOURCES = (
    ("ina3221x_iio", _ina3221x_iio),
    ("ina3221_hwmon", _ina3221_hwmon),
    ("ina2xx_hwmon", _ina2xx_hwmon),
    ("rapl", _rapl),
)


def find_power_sources(root="/"):
    """What power sensors this tree has: {"found": {source: reading}, "missing": {source: reason}}."""
    found, missing = {}, {}
    for name, reader in SOURCES:
        reading, reason = reader(root)
        if reading is None:
            missing[name] = reason
        else:
            found[name] = reading
    return {"found": found, "missing": missing}
