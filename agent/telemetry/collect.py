"""Telemetry of one trial: the sampler process (sampler.py) started and owned by PID, the idle
baseline, power and energy over the timed window with its coverage, thermal and clock
snapshots before and after, and the throttle verdict. All times on time.perf_counter()."""

import json
import select
import subprocess
import tempfile
import time

from . import energy, power, thermal, throttle
from ..child import agent_command

MIN_POWER_SAMPLES = 10  # fewer in the timed window: the run is lengthened, or energy marked unreliable
DEFAULT_IDLE_S = 2.0
QUICK_IDLE_S = 0.5
STOP_TIMEOUT_S = 10.0
HELLO_TIMEOUT_S = 60.0  # the helper's start: Python, imports, and jtop's service answering


class SamplerProcess(object):
    """The helper process: started with the trial's settings, stopped (and waited for) on every
    exit path; its readings come back through an unlinked temporary file, read once it has
    stopped, so a killed trial leaves no file behind. Every wait on it has a deadline."""

    def __init__(self, root, settings):
        self.config = {
            "root": root,
            "telemetry": settings,
            "state_interval_ms": settings.get("state_interval_ms"),
        }
        self.proc = self.hello = self.end = None
        self.failure = None

    def start(self):
        """Blocks until the helper has chosen its power source; returns its hello (None if it
        failed or did not answer in HELLO_TIMEOUT_S, with `failure` saying why)."""
        self._file = tempfile.TemporaryFile(prefix="edgebench-samples-")
        self.config["fd"] = self._file.fileno()
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            agent_command(["sample", json.dumps(self.config)]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            universal_newlines=True,
            pass_fds=(self._file.fileno(),),
        )
        self.hello = _line(self.proc, HELLO_TIMEOUT_S)
        if self.hello is None:
            self.stop()
        return self.hello

    def stop(self):
        """Stops the helper (by PID); returns its readings. Safe to call twice."""
        if self.proc is None:
            return []
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()  # the stop signal
        except (IOError, OSError):
            pass
        if self.hello is not None:
            self.end = _line(proc, STOP_TIMEOUT_S)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()  # ours, by PID
            proc.wait()
        proc.stdout.close()
        if self.hello is None or self.end is None:
            self.failure = "sampler process %s: %s" % (_how_it_ended(proc), _last_line(self._stderr))
        self._stderr.close()
        return self._readings()

    def _readings(self):
        readings = []
        self._file.seek(0)
        for line in self._file.read().decode("utf-8", "replace").splitlines():
            try:
                readings.append(json.loads(line))
            except ValueError:
                pass  # a line cut short by a killed helper
        self._file.close()
        return readings


def _line(proc, timeout_s):
    """One JSON line from the helper within timeout_s, else None."""
    if not select.select([proc.stdout], [], [], timeout_s)[0]:
        return None
    line = proc.stdout.readline()
    try:
        return json.loads(line) if line.strip() else None
    except ValueError:
        return None


def _how_it_ended(proc):
    if proc.returncode is not None and proc.returncode < 0:
        return "killed by signal %d (no answer within its deadline?)" % -proc.returncode
    return "exited with status %s" % proc.returncode


def _last_line(stream):
    stream.seek(0)
    lines = stream.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def _firmware_raw(snapshot):
    """The Pi firmware's get_throttled value in a before/after snapshot (None without one)."""
    return (((snapshot or {}).get("pi_firmware") or {}).get("throttled") or {}).get("raw")


class TrialTelemetry(object):
    def __init__(self, settings, root, quick=False):
        self.settings, self.root = settings or {}, root
        self.idle_s = float(self.settings.get("idle_s", QUICK_IDLE_S if quick else DEFAULT_IDLE_S))
        self.sampler = SamplerProcess(root, self.settings)
        self.power, self.missing, self.hello = None, {}, {}
        self.readings, self.edges = [], []
        self.before = self.after = None
        self.idle_window = None

    @property
    def interval_s(self):
        return self.power["interval_ms"] / 1000.0 if self.power else None

    def min_window_s(self):
        """The timed window must hold enough power samples to mean something."""
        return MIN_POWER_SAMPLES * self.interval_s * 1.5 if self.power else 0.0  # margin: the sensor's phase

    def start(self):
        self.before = thermal.snapshot(self.root)
        if self.settings.get("off"):  # the telemetry overhead benchmark's reference side
            self.missing = {"all": "telemetry turned off for this trial"}
            return
        hello = self.sampler.start()
        if hello is None:
            self.missing = {"all": self.sampler.failure}
            return
        self.hello, self.power, self.missing = hello, hello.get("power"), hello.get("missing") or {}

    def measure_idle(self):
        """Idle baseline: the model loaded, nothing running, after a short settle, for idle_s
        seconds, lengthened to hold enough samples at the sensor's rate."""
        if self.power is None or self.idle_s <= 0:
            return
        time.sleep(min(0.2, self.idle_s))  # the sensor (tegrastats) starts; clocks settle after loading
        start = time.perf_counter()
        time.sleep(max(self.idle_s, self.min_window_s()))
        self.idle_window = (start, time.perf_counter())

    def window_edge(self):
        """Called just before t0 and just after t1: a cumulative energy counter (RAPL) is read
        at the window's edges, so its energy needs no sampling at all."""
        if self.power and self.power.get("sensor") == "rapl":
            from . import sysfs_power

            self.edges.append((time.perf_counter(), sysfs_power.read_rapl(self.root)))

    def stop(self):
        """Always called (finally): stops what we started."""
        self.readings = self.sampler.stop()
        if self.after is None and self.before is not None:
            self.after = thermal.snapshot(self.root)

    def _of_kind(self, kind):
        return [r for r in self.readings if r.get("k") == kind]

    def summary(self, t0, t1, inferences, origin):
        """Metrics and the time series (times relative to `origin`)."""
        states = self._of_kind("s")
        metrics = self._throttle_metrics(states, t0, t1)
        temps = [
            max(thermal.real_temps(s["thermal"]).values())
            for s in states
            if t0 <= s["t"] <= t1 and thermal.real_temps(s.get("thermal") or {})
        ]
        metrics["max_temp_c"] = max(temps) if temps else None
        metrics["sampler_missed_slots"] = (self.sampler.end or {}).get("missed")
        metrics["sampler_children"] = self.hello.get("children")  # PIDs it started (tegrastats), all stopped
        series = {
            "window": [t0 - origin, t1 - origin],
            "before": self.before,
            "after": self.after,
            "thermal": [[round(s["t"] - origin, 3), s["thermal"]] for s in states if s.get("thermal")],
        }
        metrics.update(self._power_metrics(t0, t1, inferences))
        if self.power is not None:
            series["power"] = [[round(r["t"] - origin, 6), r["mw"]] for r in self._of_kind("p")]
            series["idle_window"] = [w - origin for w in self.idle_window] if self.idle_window else None
        return metrics, series

    def _throttle_metrics(self, states, t0, t1):
        before, after = _firmware_raw(self.before), _firmware_raw(self.after)
        throttled, reason = throttle.assess(states, t0, t1, self.hello.get("trips"), before, after)
        flags = thermal.throttle_flags(self.before, self.after) if before is not None else None
        return {"throttled": throttled, "throttle_reason": reason, "throttle_flags": flags}

    def _power_metrics(self, t0, t1, inferences):
        metrics = {
            "power_mw": None,
            "energy_mj": None,
            "idle_power_mw": None,
            "power_above_idle_mw": None,
            "energy_above_idle_mj": None,
            "power_sensor": None,
            "power_samples": None,
            "power_interval_ms": None,
            "energy_reliable": None,
            "power_missing": self.missing,
            "power_max_gap_ms": None,
            "power_coverage": None,
        }
        if self.power is None:
            return metrics
        samples = [(r["t"], r["mw"]) for r in self._of_kind("p")]
        idle = energy.average_power_mw(samples, *self.idle_window) if self.idle_window else None
        result = energy.energy_per_inference(samples, t0, t1, inferences, idle_mw=idle)
        gap = energy.largest_gap_s(samples, t0, t1)
        described = (self.sampler.end or {}).get("power") or self.power
        metrics.update(
            {
                "power_mw": result["avg_power_mw"],
                "energy_mj": result["energy_per_inference_mj"],
                "idle_power_mw": idle,
                "power_above_idle_mw": result["avg_power_above_idle_mw"],
                "energy_above_idle_mj": result["energy_per_inference_above_idle_mj"],
                "power_sensor": described["sensor"],
                "power_total_rule": described.get("total_rail"),
                "power_samples": result["samples"],
                "power_interval_ms": described["interval_ms"],
                "power_max_gap_ms": gap * 1000.0,
                "power_coverage": result["coverage"],
                "energy_reliable": energy.reliable(result, self.interval_s, MIN_POWER_SAMPLES, gap),
                "energy_note": result["reason"],
                "idle_samples": energy.window_points(samples, *self.idle_window)[1]
                if self.idle_window
                else 0,
                "power_errors": [r["error"] for r in self._of_kind("e")][:5],
            }
        )
        metrics.update(self._counter_energy(t0, t1, inferences, idle))
        return metrics

    def _counter_energy(self, t0, t1, inferences, idle):
        """RAPL: energy from the counter read at the window's edges (exact, whatever the sampling)."""
        if len(self.edges) != 2:
            return {}
        (start, first), (end, last) = self.edges
        millijoules = power.rapl_package_energy_mj(first, last)
        if millijoules is None or end <= start:
            return {}
        avg = millijoules / (end - start)
        window = t1 - t0
        out = {
            "power_mw": avg,
            "energy_mj": avg * window / inferences if inferences else None,
            "energy_reliable": True,
            "power_coverage": 1.0,
            "energy_note": "RAPL counter read at the window's edges",
        }
        if idle is not None:
            out["power_above_idle_mw"] = avg - idle
            out["energy_above_idle_mj"] = (avg - idle) * window / inferences if inferences else None
        return out
