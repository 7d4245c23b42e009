"""Did the device throttle during the timed window? (pure functions over sampled state)

Three witnesses, each used where the board has it:
- Raspberry Pi firmware (`vcgencmd get_throttled`): a "now" bit (under-voltage, ARM frequency
  capped, throttled, soft temperature limit) seen during the window or right after it, or a
  sticky "occurred" bit that turned on after the first reading. Bits already set at boot
  cannot show a later event, which is why the "now" bits are polled during the window.
- Clocks (Jetson, and any board whose governor was pinned to `performance`): a CPU or GPU
  clock that falls more than CLOCK_DROP below its value at the start of the window. Under a
  dynamic governor elsewhere, clocks move with load, so a drop says nothing there.
- Thermal zones with a passive trip point (where the kernel starts to throttle): a zone at or
  past it during the window.

`assess` returns (throttled, reason): True with what was seen, False when some witness
watched and saw nothing, None with why when no witness was there (never a silent False).
"""

from .vcgencmd import THROTTLE_BITS

CLOCK_DROP = 0.10  # DVFS steps under load are small; thermal capping is a large step down
PINNED_GOVERNORS = ("performance",)


def _in_window(states, t0, t1):
    return [s for s in states if t0 <= s["t"] <= t1]


def _baseline(states, t0, key):
    """{name: clock} at the window's start: the last reading at or before t0, else the first."""
    before = [s for s in states if s["t"] <= t0]
    start = before[-1] if before else (states[0] if states else None)
    if start is None:
        return {}
    value = start.get(key)
    return value if isinstance(value, dict) else {"gpu": value}


def _flags(raw):
    return set(name for bit, name in THROTTLE_BITS if raw & (1 << bit))


def firmware_events(first_raw, raws):
    """'now' bits in any of `raws`, and 'occurred' bits set in one of them but not in the first."""
    seen = set()
    start = _flags(first_raw) if first_raw is not None else set()
    for raw in raws:
        if raw is None:
            continue
        flags = _flags(raw)
        seen |= set(f for f in flags if f.endswith("_now"))
        seen |= set(f for f in flags - start if f.endswith("_occurred"))
    return sorted(seen)


def clock_drops(states, t0, t1):
    """['cpu2 1479 -> 921 MHz', ...] for clocks that fell more than CLOCK_DROP in the window."""
    drops = []
    for key in ("cpu_khz", "gpu_hz"):
        unit = 1000.0 if key == "cpu_khz" else 1e6
        for name, start in sorted(_baseline(states, t0, key).items()):
            if not start:
                continue
            lowest = None
            for state in _in_window(states, t0, t1):
                value = state.get(key)
                value = value.get(name) if isinstance(value, dict) else value
                if value is not None and (lowest is None or value < lowest):
                    lowest = value
            if lowest is not None and lowest < start * (1.0 - CLOCK_DROP):
                drops.append("%s %.0f -> %.0f MHz" % (name, start / unit, lowest / unit))
    return drops


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


def clocks_are_watched(board, governors):
    """Clock drops mean throttling on a Jetson, or where the governor holds clocks fixed."""
    pinned = bool(governors) and all(g in PINNED_GOVERNORS for g in governors)
    return bool(board and "jetson" in board.lower()) or pinned


def assess(states, t0, t1, trips=None, board=None, governors=(), first_raw=None, after_raw=None):
    """(throttled True/False/None, reason). `states` are the sampler's state readings,
    `first_raw`/`after_raw` the firmware's get_throttled before and after the trial."""
    trips = trips or {}
    window = _in_window(states, t0, t1)
    raws = [s.get("throttled_raw") for s in window] + [after_raw]
    events, witnesses = [], []
    if first_raw is not None or any(r is not None for r in raws):
        witnesses.append("firmware")
        events += firmware_events(first_raw, raws)
    if clocks_are_watched(board, governors) and any(s.get("cpu_khz") or s.get("gpu_hz") for s in window):
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
        "nothing here can tell: no firmware throttle flags, no passive trip points, "
        "and clocks are not a witness on this board"
    )
