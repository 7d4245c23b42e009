"""Telemetry of one trial: idle baseline, power during the timed window, thermal and clock
snapshots before and after, throttle flags. All times on time.perf_counter()."""
import threading
import time

from . import energy, power, thermal

MIN_POWER_SAMPLES = 10   # fewer in the timed window: the run is lengthened, or energy marked unreliable
DEFAULT_IDLE_S = 2.0
QUICK_IDLE_S = 0.5


THERMAL_INTERVAL_S = 0.5


class ThermalSampler(object):
    """Thermal zones every half second while the trial runs (sysfs reads: cheap)."""

    def __init__(self, root):
        self.root, self.samples = root, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True

    def _run(self):
        while not self._stop.is_set():
            zones = thermal.thermal_zones(self.root)
            if zones:
                self.samples.append((time.perf_counter(), zones))
            self._stop.wait(THERMAL_INTERVAL_S)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)


class TrialTelemetry(object):
    def __init__(self, settings, root, quick=False):
        self.settings, self.root = settings or {}, root
        self.idle_s = float(self.settings.get("idle_s", QUICK_IDLE_S if quick else DEFAULT_IDLE_S))
        self.source, self.missing = power.survey(root, self.settings)
        self.sampler = None
        self.before = self.after = None
        self.idle_window = None

    @property
    def interval_s(self):
        return self.source.interval_ms / 1000.0 if self.source else None

    def min_window_s(self):
        """The timed window must hold enough power samples to mean something."""
        return MIN_POWER_SAMPLES * self.interval_s * 1.5 if self.source else 0.0  # margin: a busy sampler lags

    def start(self):
        self.before = thermal.snapshot(self.root)
        self.thermal = ThermalSampler(self.root)
        self.thermal.start()
        if self.source is not None:
            self.sampler = power.start_sampling(self.source)

    def measure_idle(self):
        """Idle baseline: the model loaded, nothing running, after a short settle, for idle_s
        seconds, lengthened to hold enough samples at the sensor's rate."""
        if self.sampler is None or self.idle_s <= 0:
            return
        time.sleep(min(0.2, self.idle_s))  # the sensor (tegrastats) starts; clocks settle after loading
        start = time.perf_counter()
        time.sleep(max(self.idle_s, self.min_window_s()))
        self.idle_window = (start, time.perf_counter())

    def stop(self):
        """Always called (finally): stops what we started."""
        if self.sampler is not None:
            self.sampler.stop()
        if getattr(self, "thermal", None) is not None:
            self.thermal.stop()
        if self.after is None and self.before is not None:
            self.after = thermal.snapshot(self.root)

    def summary(self, t0, t1, inferences, origin):
        """Metrics and the time series (times relative to `origin`)."""
        flags = thermal.throttle_flags(self.before, self.after)
        detectable = thermal.throttle_detectable(self.before, self.after)
        metrics = {"power_mw": None, "energy_mj": None, "idle_power_mw": None, "power_above_idle_mw": None,
                   "energy_above_idle_mj": None, "power_sensor": None, "power_samples": 0,
                   "power_interval_ms": None, "energy_reliable": None, "power_missing": self.missing,
                   "throttled": bool(flags) if detectable else None,  # None: nothing here reports it
                   "throttle_flags": flags if detectable else None}
        series = {"window": [t0 - origin, t1 - origin], "before": self.before, "after": self.after,
                  "thermal": [[round(t - origin, 3), zones] for t, zones in self.thermal.samples]}
        temps = [max(thermal.real_temps(zones).values() or [None]) for t, zones in self.thermal.samples
                 if t0 <= t <= t1 and thermal.real_temps(zones)]
        metrics["max_temp_c"] = max(temps) if temps else None
        if self.sampler is None:
            return metrics, series
        samples = list(self.sampler.samples)
        metrics["power_errors"] = list(getattr(self.sampler, "errors", []))[:5]
        idle = energy.average_power_mw(samples, *self.idle_window) if self.idle_window else None
        metrics["idle_samples"] = energy.window_points(samples, *self.idle_window)[1] if self.idle_window else 0
        result = energy.energy_per_inference(samples, t0, t1, inferences, idle_mw=idle)
        description = self.source.describe()
        metrics.update({
            "power_mw": result["avg_power_mw"], "energy_mj": result["energy_per_inference_mj"],
            "idle_power_mw": idle, "power_above_idle_mw": result["avg_power_above_idle_mw"],
            "energy_above_idle_mj": result["energy_per_inference_above_idle_mj"],
            "power_sensor": description["sensor"], "power_total_rule": description.get("total_rail"),
            "power_samples": result["samples"], "power_interval_ms": self.source.interval_ms,
            "energy_reliable": result["samples"] >= MIN_POWER_SAMPLES and result["reason"] is None,
            "energy_note": result["reason"],
        })
        if metrics["power_total_rule"] is None and self.source.describe()["sensor"] == "tegrastats" and getattr(self.source, "records", None):
            metrics["power_total_rule"] = self.source.records[-1][1].get("total_rail")
        series["power"] = [[round(t - origin, 6), mw] for t, mw in samples]
        series["idle_window"] = [self.idle_window[0] - origin, self.idle_window[1] - origin] if self.idle_window else None
        return metrics, series
