"""The sampler: one helper process per trial that reads power, thermal zones, clocks and
throttle flags while the timing loop runs in another process.

Why a process: a sampler thread inside the timed process competes with the loop for the GIL.
A pure-Python backend starves it (a 0.1 ms sysfs read took 88-171 ms), its catch-up reads
bunch together, and a sampler holding the GIL delays the loop's clock read after `run()`.
Here nothing shares the timed process's GIL, the helper runs at a lower priority, and each
reading is stamped when it is read with time.perf_counter(), which is CLOCK_MONOTONIC on
Linux in both processes, so its stamps compare with the loop's.

Protocol (`edgebench-agent sample CONFIG_JSON`):
    stdout  one `hello` line once the power source is chosen ({"power": describe() or null,
            "missing": {source: why}, "trips": {zone: passive trip C}, "board": model}),
            then one `end` line when it stops ({"missed": {"power": n, "state": n},
            "power": describe() again, which for tegrastats now names its total rail}).
    stdin   the stop signal: any input or end of file (the parent died) stops it.
    file    config["fd"]: one JSON line per reading, written as read (a temporary file the
            trial opened and unlinked, passed down, so nothing is left behind on any path):
            {"k": "p", "t": stamp, "mw": total, "rails": {name: mW}}     power
            {"k": "s", "t": stamp, "thermal": {zone: C}, "cpu_khz": {cpuN: kHz},
             "gpu_hz": Hz, "throttled_raw": int}                          state
            {"k": "e", "t": stamp, "error": text}                        a failed read
A slot missed because the helper was late is a gap (counted in `missed`), never a burst of
catch-up reads.
"""

import json
import os
import select
import subprocess
import sys
import time

from ..probe import board_model
from . import power, thermal, vcgencmd

NICE_INCREMENT = 5  # below the timing loop, above background batch work at nice 10
DEFAULT_STATE_INTERVAL_MS = 250
FIRMWARE_TIMEOUT_S = 5.0  # vcgencmd answers in milliseconds; one that hangs is given up


class Slots(object):
    """Reading times on a fixed grid: start + k * interval."""

    def __init__(self, interval_s, start):
        self.interval, self.next, self.missed = interval_s, start, 0

    def due(self, now):
        return now >= self.next

    def advance(self, now):
        """The first slot after `now`: the ones that passed while we were late are skipped."""
        self.next += self.interval
        if self.next <= now:
            skipped = int((now - self.next) // self.interval) + 1
            self.missed += skipped
            self.next += skipped * self.interval


def passive_trips(root):
    """{zone type: lowest passive trip point in C} from sys/class/thermal."""
    import glob

    trips = {}
    for zone in sorted(glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*"))):
        kind = thermal.read_text(os.path.join(zone, "type"))
        for type_file in glob.glob(os.path.join(zone, "trip_point_*_type")):
            if thermal.read_text(type_file) != "passive":
                continue
            temp = thermal.read_int(type_file[: -len("type")] + "temp")
            if kind and temp is not None and temp > 0:
                trips[kind] = min(trips.get(kind, temp / 1000.0), temp / 1000.0)
    return trips


def _by_cpu(cpus, key):
    return dict((name, cpu[key]) for name, cpu in cpus.items() if cpu[key] is not None)


class StateReader(object):
    """Thermal zones, CPU and GPU clocks (sysfs: read at once), and the Pi firmware's throttle
    bits (`vcgencmd get_throttled`: a program, so started and collected when it answers, and
    the power readings meanwhile keep their slots)."""

    def __init__(self, root):
        self.root = root
        self.vcgencmd = thermal.find_program(root, "vcgencmd")
        self.pending = None  # (state, process) while vcgencmd runs

    def begin(self, stamp):
        """Returns the state when complete, else None (then `fileno()` tells when to `finish`)."""
        cpus = thermal.cpu_clocks(self.root)
        gpu_min, gpu_max = thermal.gpu_freq_limits_hz(self.root)
        state = {
            "k": "s",
            "t": stamp,
            "thermal": thermal.thermal_zones(self.root),
            "cpu_khz": _by_cpu(cpus, "cur_khz"),
            "cpu_min_khz": _by_cpu(cpus, "min_khz"),
            "cpu_max_khz": _by_cpu(cpus, "max_khz"),
            "gpu_hz": thermal.gpu_freq_hz(self.root),
            "gpu_min_hz": gpu_min,
            "gpu_max_hz": gpu_max,
            "throttled_raw": None,
        }
        if self.pending is not None and stamp - self.pending[0]["t"] > FIRMWARE_TIMEOUT_S:
            self.close()  # a hung vcgencmd (it happens on Pis): that reading has no throttle bits
        if not self.vcgencmd or self.pending is not None:
            return state
        try:
            proc = subprocess.Popen(
                [self.vcgencmd, "get_throttled"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                universal_newlines=True,
            )
        except OSError:
            return state
        self.pending = (state, proc)
        return None

    def fileno(self):
        return self.pending[1].stdout.fileno() if self.pending else None

    def finish(self):
        state, proc = self.pending
        self.pending = None
        try:
            out, _ = proc.communicate(timeout=FIRMWARE_TIMEOUT_S)  # one short line, then it exits
        except subprocess.TimeoutExpired:
            proc.kill()  # ours, by PID
            proc.communicate()
            out = ""
        flags, _ = vcgencmd.parse("get_throttled", out or "")
        state["throttled_raw"] = flags["raw"] if flags else None
        return state

    def close(self):
        if self.pending is not None:
            self.pending[1].kill()  # ours, by PID
            self.pending[1].communicate()
            self.pending = None


class Sampler(object):
    def __init__(self, config, out, control_fd):
        self.root = config.get("root") or "/"
        self.settings = config.get("telemetry") or {}
        self.state_interval = float(config.get("state_interval_ms") or DEFAULT_STATE_INTERVAL_MS) / 1000.0
        self.out, self.control_fd = out, control_fd
        self.source, self.missing = power.survey(self.root, self.settings)
        self.state = StateReader(self.root)
        self.streaming = isinstance(self.source, power.Tegrastats)

    def hello(self):
        return {
            "power": self.source.describe() if self.source else None,
            "missing": self.missing,
            "trips": passive_trips(self.root),
            "board": board_model(self.root),
            "pid": os.getpid(),
            "children": [self.source.pid] if self.streaming else [],
        }

    def _write(self, record):
        self.out.write(json.dumps(record, separators=(",", ":")) + "\n")

    def _power(self):
        before = time.perf_counter()
        try:
            reading = self.source.sample()
        except Exception as exc:  # a sensor that fails mid-trial: say so, keep what we have
            self._write({"k": "e", "t": before, "error": "%s: %s" % (type(exc).__name__, exc)})
            return
        if reading is not None:
            stamp = reading[2] if len(reading) > 2 else (before + time.perf_counter()) / 2.0
            self._write({"k": "p", "t": stamp, "mw": reading[0], "rails": reading[1]})

    def read_state(self):
        state = self.state.begin(time.perf_counter())
        if state is not None:
            self._write(state)

    def read_state_now(self):
        """The first reading, whole, before the trial goes on: the clocks' baseline."""
        if self.state.begin(time.perf_counter()) is None:
            self._write(self.state.finish())

    def _stream(self):
        readings = self.source.feed(time.perf_counter())
        if readings is None:
            self._write({"k": "e", "t": time.perf_counter(), "error": "tegrastats exited"})
            self.streaming = False
            return
        for stamp, total, rails in readings:
            self._write({"k": "p", "t": stamp, "mw": total, "rails": rails})
        for error in self.source.errors:  # a line it could not read: said, not dropped
            self._write({"k": "e", "t": time.perf_counter(), "error": "tegrastats: " + error})
        del self.source.errors[:]

    def loop(self):
        """Until the parent says stop (or dies): returns the missed slot counts."""
        now = time.perf_counter()
        state_slots = Slots(self.state_interval, now + self.state_interval)
        power_slots = None
        if self.source is not None and not self.streaming:
            power_slots = Slots(self.source.interval_ms / 1000.0, now)
        slots = [s for s in (state_slots, power_slots) if s is not None]
        while True:
            wait = max(0.0, min(s.next for s in slots) - time.perf_counter())
            fds = [self.control_fd] + ([self.source.fileno()] if self.streaming else [])
            fds += [self.state.fileno()] if self.state.pending else []
            ready = select.select(fds, [], [], wait)[0]
            if self.control_fd in ready:
                break  # a stop request, or end of file: the parent is gone
            if self.state.pending and self.state.fileno() in ready:
                self._write(self.state.finish())
            if self.streaming and self.source.fileno() in ready:
                self._stream()
            if power_slots is not None and power_slots.due(time.perf_counter()):
                self._power()
                power_slots.advance(time.perf_counter())
            if state_slots.due(time.perf_counter()):
                self.read_state()
                state_slots.advance(time.perf_counter())
        return {"power": power_slots.missed if power_slots else 0, "state": state_slots.missed}

    def close(self):
        self.state.close()
        if self.source is not None and hasattr(self.source, "close"):
            self.source.close()


def main(config_json):
    """Entry point of the helper process."""
    config = json.loads(config_json)
    try:
        os.nice(NICE_INCREMENT)
    except OSError:
        pass
    with os.fdopen(config["fd"], "w") as out:  # the trial's unlinked temporary file
        sampler = Sampler(config, out, sys.stdin.fileno())
        try:
            if sampler.streaming:
                sampler.source.start()
            sampler.read_state_now()
            sys.stdout.write(json.dumps(sampler.hello()) + "\n")
            sys.stdout.flush()
            missed = sampler.loop()
        finally:
            sampler.close()  # tegrastats and jtop stop on every path
    described = sampler.source.describe() if sampler.source else None  # tegrastats: its total rail by now
    sys.stdout.write(json.dumps({"missed": missed, "power": described}) + "\n")
    sys.stdout.flush()
    return 0
