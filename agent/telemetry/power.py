"""Power sources for a trial: each `available()` or says why not. They are read in the sampler
process (sampler.py), never in the timed one; samples are stamped with time.perf_counter()
(CLOCK_MONOTONIC on Linux, so stamps from two processes compare), the clock of the latency loop.

    polled sysfs  ina3221x_iio, ina3221_hwmon, ina2xx_hwmon (the sampler process reads the files)
    rapl          energy counters; power = delta energy / delta t (and read at the window edges)
    tegrastats    started by the sampler with --interval, owned by PID, stopped on every exit path
    jtop          jetson-stats, when its service answers (absent otherwise, never zero)
    ina219_i2c    pi-ina219 over I2C, only when the inventory configures it

`choose(settings, root)` picks one: the inventory's `telemetry: {power: NAME}` or, by default,
the first available in AUTO_ORDER. None when there is none: power stays null.
"""

import os
import time

from . import sysfs_power

# subprocess and tegrastats (its parser compiles some twenty patterns) are imported where a
# trial uses them: `edgebench probe` imports this module on every device, 64 at once on a fleet.

AUTO_ORDER = ("ina3221x_iio", "ina3221_hwmon", "tegrastats", "jtop", "ina2xx_hwmon", "rapl")
DEFAULT_INTERVAL_MS = {"tegrastats": 100, "jtop": 500}
POLL_INTERVAL_MS = 50


class PolledSysfs(object):
    """An INA sensor in sysfs, read every `interval` by the sampler process."""

    def __init__(self, name, root, settings):
        self.name, self.root = name, root
        self.total_rail = settings.get("total_rail")
        self.interval_ms = int(settings.get("interval_ms") or POLL_INTERVAL_MS)
        self.why_not = None

    def _read(self):
        if self.name == "ina2xx_hwmon":
            return sysfs_power.read_ina2xx_hwmon(self.root, self.total_rail)
        return getattr(sysfs_power, "read_" + self.name)(self.root)

    def available(self):
        reading = self._read()
        if reading is None:
            self.why_not = "no %s sensor" % self.name
        elif reading.get("total_mw") is None:
            self.why_not = "%s found, but no board total: %s" % (self.name, reading.get("total_reason"))
        return self.why_not is None

    def describe(self):
        reading = self._read() or {}
        return {"sensor": self.name, "total_rail": reading.get("total_rail"), "interval_ms": self.interval_ms}

    def sample(self):
        """(total mW, {rail: mW}) now, or None."""
        reading = self._read()
        if reading is None or reading.get("total_mw") is None:
            return None
        return reading["total_mw"], reading.get("rails_mw") or {}


class Rapl(PolledSysfs):
    """x86 package energy: power is the counter's delta over the time between two reads."""

    def __init__(self, root, settings):
        PolledSysfs.__init__(self, "rapl", root, settings)
        self.interval_ms = int(settings.get("interval_ms") or 100)
        self._last = None

    def available(self):
        reading = sysfs_power.read_rapl(self.root)
        if reading is None or not any(z.startswith("package-") for z in reading["zones"]):
            self.why_not = "no readable RAPL package zone"
        return self.why_not is None

    def describe(self):
        return {
            "sensor": "rapl",
            "total_rail": "sum of RAPL package-N zones (CPU package, not the board)",
            "interval_ms": self.interval_ms,
        }

    timestamp = "midpoint"  # a RAPL value is the mean over the interval before it

    def sample(self):
        """Only package-N zones: psys (platform) already contains the package."""
        now, reading = time.perf_counter(), sysfs_power.read_rapl(self.root)
        last, self._last = self._last, (now, reading)
        if last is None or reading is None:
            return None
        powers = sysfs_power.rapl_average_power_mw(last[1], reading, now - last[0]) or {}
        packages = dict((k, v) for k, v in powers.items() if is_package_zone(k) and v is not None)
        return (sum(packages.values()), packages, (last[0] + now) / 2.0) if packages else None


class Tegrastats(object):
    """tegrastats --interval MS, started by the sampler process, which reads its output as it
    comes (`fileno()`, `feed()`) and stamps each line when it is read."""

    def __init__(self, root, settings):
        self.root = root
        self.interval_ms = int(settings.get("interval_ms") or DEFAULT_INTERVAL_MS["tegrastats"])
        self.path = settings.get("tegrastats") or self._find()
        self.why_not = None
        self.errors = []
        self.last_record = None
        self._proc = None
        self._pending = b""

    def _find(self):
        for folder in ("usr/bin", "usr/sbin", "usr/local/bin"):
            path = os.path.join(self.root, folder, "tegrastats")
            if os.access(path, os.X_OK):
                return path
        return None

    def available(self):
        if not self.path:
            self.why_not = "no tegrastats program"
        return self.why_not is None

    def describe(self):
        rule = (self.last_record or {}).get("total_rail")
        return {"sensor": "tegrastats", "total_rail": rule, "interval_ms": self.interval_ms}

    def start(self):
        import subprocess

        self._proc = subprocess.Popen(
            [self.path, "--interval", str(self.interval_ms)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def fileno(self):
        return self._proc.stdout.fileno()

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    def feed(self, stamp):
        """Reads what tegrastats has printed; returns [(stamp, total mW, rails)] for each whole
        line, and None at end of output (the program exited)."""
        data = os.read(self.fileno(), 65536)
        if not data:
            return None
        from . import tegrastats

        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        readings = []
        for line in lines:
            try:
                record = tegrastats.parse_line(line.decode("utf-8", "replace"))
            except ValueError as exc:
                self.errors.append(str(exc))
                continue
            self.last_record = record
            if record.get("power_total_mw") is not None:
                readings.append((stamp, record["power_total_mw"], record.get("rails_mw") or {}))
        return readings

    def close(self):
        """Stops the process we started, by PID; safe to call twice."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            import subprocess

            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc.stdout.close()
        self._proc = None


class Jtop(object):
    """jetson-stats: only when `jtop.service` answers; its `avg` is a smoothing, not a mean,
    so only the instantaneous total is used."""

    def __init__(self, root, settings):
        self.interval_ms = int(settings.get("interval_ms") or DEFAULT_INTERVAL_MS["jtop"])
        self.why_not, self._jetson = None, None

    def available(self):
        try:
            from jtop import jtop  # optional: jetson-stats on the device

            self._jetson = jtop(interval=self.interval_ms / 1000.0)
            self._jetson.start()
        except Exception as exc:  # ImportError, JtopException ("jtop.service is not active")
            self.why_not = "jtop unavailable: %s" % (
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            )
            self._jetson = None
        return self._jetson is not None

    def describe(self):
        return {"sensor": "jtop", "total_rail": None, "interval_ms": self.interval_ms}

    def sample(self):
        power = self._jetson.power if self._jetson is not None else None
        if isinstance(power, dict) and isinstance(power.get("tot"), dict):  # jetson-stats 4.x / 7.x
            total = power["tot"].get("power")
            rails = dict(
                (k, v.get("power")) for k, v in (power.get("rail") or {}).items() if isinstance(v, dict)
            )
            return (total, rails) if total is not None else None
        if isinstance(power, tuple) and power and isinstance(power[0], dict):  # 3.x: (total, rails)
            return power[0].get("cur"), {}
        return None

    def close(self):
        if self._jetson is not None:
            self._jetson.close()
            self._jetson = None


class Ina219I2c(object):
    """An INA219 read over I2C from user space with the `pi-ina219` library (no kernel driver),
    only when the inventory configures it: telemetry: {power: ina219_i2c, shunt_ohms: 0.1,
    address: 0x40, busnum: 1, max_expected_amps: 2.0}. It measures what it is wired to: the
    board input, if that is where the shunt sits."""

    def __init__(self, root, settings):
        self.settings = settings
        self.interval_ms = int(settings.get("interval_ms") or POLL_INTERVAL_MS)
        self.why_not, self._sensor = None, None

    def available(self):
        try:
            from ina219 import INA219  # pi-ina219, optional

            self._sensor = INA219(
                float(self.settings.get("shunt_ohms", 0.1)),
                max_expected_amps=self.settings.get("max_expected_amps"),
                busnum=self.settings.get("busnum"),
                address=int(self.settings.get("address", 0x40)),
            )
            self._sensor.configure()
        except Exception as exc:  # ImportError, no I2C bus, no device at the address
            self.why_not = "pi-ina219 unavailable: %s" % (
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            )
            self._sensor = None
        return self._sensor is not None

    def describe(self):
        return {
            "sensor": "ina219_i2c",
            "total_rail": "INA219 at 0x%x" % int(self.settings.get("address", 0x40)),
            "interval_ms": self.interval_ms,
        }

    def sample(self):
        milliwatts = self._sensor.power()  # pi-ina219: power() in mW
        return (float(milliwatts), {}) if milliwatts is not None else None


def make_source(name, root, settings):
    if name in ("ina3221x_iio", "ina3221_hwmon", "ina2xx_hwmon"):
        return PolledSysfs(name, root, settings)
    if name == "rapl":
        return Rapl(root, settings)
    if name == "tegrastats":
        return Tegrastats(root, settings)
    if name == "jtop":
        return Jtop(root, settings)
    if name == "ina219_i2c":
        return Ina219I2c(root, settings)
    raise ValueError("unknown power source %r; valid: %s, ina219_i2c, none" % (name, ", ".join(AUTO_ORDER)))


def survey(root="/", settings=None):
    """Every source: (chosen source or None, {source name: why it is not usable})."""
    settings = settings or {}
    wanted = settings.get("power", "auto")
    if wanted == "none":
        return None, {"all": "power measurement turned off in the inventory (telemetry.power: none)"}
    names = AUTO_ORDER if wanted == "auto" else (wanted,)
    missing = {}
    for name in names:
        source = make_source(name, root, settings)
        if source.available():
            return source, missing
        missing[name] = source.why_not
    return None, missing


def is_package_zone(name):
    """`package-0`, not its subzones `package-0/core`, `package-0/uncore` (already inside it)."""
    return name.startswith("package-") and "/" not in name


def rapl_package_energy_mj(before, after):
    """Energy of the RAPL package zones between two read_rapl() results, in mJ (None when a
    counter cannot be read or wrapped more than we can tell)."""
    if not before or not after:
        return None
    total = 0.0
    for name, zone in before["zones"].items():
        later = after["zones"].get(name)
        if not is_package_zone(name) or later is None:
            continue
        delta = sysfs_power.rapl_energy_delta_uj(
            zone["energy_uj"], later["energy_uj"], later["max_energy_range_uj"]
        )
        if delta is None:
            return None
        total += delta / 1000.0
    return total
