"""Did the device throttle during the timed window? (pure functions over sampled state)

Three witnesses, each used where the board has it:
- Raspberry Pi firmware (`vcgencmd get_throttled`): a "now" bit (under-voltage, ARM frequency
  capped, throttled, soft temperature limit) seen during the window or right after it, or a
  sticky "occurred" bit that turned on after the first reading. Bits already set at boot
  cannot show a later event, which is why the "now" bits are polled during the window.
- Clocks: a cap (cpufreq `scaling_max_freq`, the Jetson GPU's devfreq `max_freq`) lowered by
  more than CLOCK_DROP during the window, as thermal capping does, on any board; and, where a
  clock is fixed (min == max: `jetson_clocks`, --pin-clocks on a Jetson), the clock itself
  falling more than CLOCK_DROP. A clock that is not fixed moves with load (an idle cluster, an
  idle GPU, intel_pstate), so its fall alone says nothing.
- Thermal zones with a passive trip point (where the kernel starts to throttle): a zone at or
  past it during the window.

`assess` returns (throttled, reason): True with what was seen, False when some witness
watched and saw nothing, None with why when no witness was there (never a silent False).
"""

from .vcgencmd import THROTTLE_BITS

CLOCK_DROP = 0.10  # DVFS steps under load are small; thermal capping is a large step down
CLOCKS = (  # (clock key, min key, max key, unit in Hz)
    ("cpu_khz", "cpu_min_khz", "cpu_max_khz", 1000.0),
    ("gpu_hz", "gpu_min_hz", "gpu_max_hz", 1e6),
)


def _in_window(states, t0, t1):
    return [s for s in states if t0 <= s["t"] <= t1]


def _start(states, t0):
    """The reading at the window's start: the last at or before t0, else the first."""
    before = [s for s in states if s["t"] <= t0]
    return before[-1] if before else (states[0] if states else None)


def _per_name(state, key):
    value = (state or {}).get(key)
    if isinstance(value, dict):
        return value
    return {} if value is None else {"gpu": value}


def _flags(raw):
    return set(name for bit, name in THROTTLE_BITS if raw & (1 << bit))


def firmware_events(first_raw, raws):
    """'now' bits in any of `raws`, and 'occurred' bits set in one of them but not in the first
    reading (`first_raw`, else the first of `raws` that was read)."""
    known = [raw for raw in raws if raw is not None]
    if first_raw is None and known:
        first_raw = known[0]
    start = _flags(first_raw) if first_raw is not None else set()
    seen = set()
    for raw in known:
        flags = _flags(raw)
        seen |= set(f for f in flags if f.endswith("_now"))
        seen |= set(f for f in flags - start if f.endswith("_occurred"))
    return sorted(seen)


def _lowest(window, key, name):
    values = [_per_name(state, key).get(name) for state in window]
    values = [v for v in values if v is not None]
    return min(values) if values else None


def _drops(window, start, key, unit, names, what):
    drops = []
    for name in sorted(names):
        first, lowest = _per_name(start, key).get(name), _lowest(window, key, name)
        if first and lowest is not None and lowest < first * (1.0 - CLOCK_DROP):
            drops.append("%s %s %.0f -> %.0f MHz" % (name, what, first / unit, lowest / unit))
    return drops


def clock_drops(states, t0, t1):
    """['cpu2 cap 1479 -> 921 MHz', 'gpu clock 921 -> 614 MHz', ...]: caps lowered, and fixed
    clocks fallen, by more than CLOCK_DROP during the window."""
    start, window = _start(states, t0), _in_window(states, t0, t1)
    drops = []
    for cur, low, high, unit in CLOCKS:
        caps = _per_name(start, high)
        drops += _drops(window, start, high, unit, caps, "cap")
        fixed = [n for n, top in caps.items() if top and _per_name(start, low).get(n) == top]
        drops += _drops(window, start, cur, unit, fixed, "clock")
    return drops


def clocks_are_watched(states, t0, t1):
    """A cap is readable at the window's start, and read again during it."""
    start = _start(states, t0)
    return any(_per_name(start, high) for _, _, high, _ in CLOCKS) and bool(_in_window(states, t0, t1))


def trip_crossings(states, t0, t1, trips):
    crossed = {}
    for state in _in_window(states, t0, t1):
        for zone, temp in (state.get("thermal") or {}).items():
            trip = trips.get(zone)
            if trip is not None and temp >= trip and temp > crossed.get(zone, (None, -1e9))[1]:
                crossed[zone] = (trip, temp)
    return [
        "%s %.1f C >= passive trip %.1f C" % (zone, temp, trip)
        for zone, (trip, temp) in sorted(crossed.items())
    ]


def assess(states, t0, t1, trips=None, first_raw=None, after_raw=None):
    """(throttled True/False/None, reason). `states` are the sampler's state readings,
    `first_raw`/`after_raw` the firmware's get_throttled before and after the trial."""
    trips = trips or {}
    window = _in_window(states, t0, t1)
    raws = [s.get("throttled_raw") for s in window] + [after_raw]
    events, witnesses = [], []
    if first_raw is not None or any(r is not None for r in raws):
        witnesses.append("firmware")
        events += firmware_events(first_raw, raws)
    if clocks_are_watched(states, t0, t1):
        witnesses.append("clocks")
        events += clock_drops(states, t0, t1)
    if trips and any(s.get("thermal") for s in window):
        witnesses.append("trip points")
        events += trip_crossings(states, t0, t1, trips)
    if events:
        return True, "; ".join(events)
    if witnesses:
        return False, None
    return None, (
        "nothing here can tell: no firmware throttle flags, no clock caps to watch, no passive trip points"
    )
