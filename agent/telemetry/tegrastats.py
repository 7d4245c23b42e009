"""Parser for Jetson `tegrastats` lines (JetPack 4 to 7), token by token.

The order and presence of fields vary with the board, the L4T release and whether tegrastats
runs as root, so nothing here depends on position. See docs/TELEMETRY.md for the variants.

    parse_line(line) -> record (dict); raises ValueError if no tegrastats field is in the line
    parse_log(text)  -> (records, errors), errors = [(line_number, message)]

A record always has every key of RECORD_KEYS; what the line does not carry is None (or an
empty list / map). Powers are mW, memory MB (IRAM kB), clocks MHz, temperatures deg C.
"""

import re

from .rails import NOT_CONNECTED, board_total

RECORD_KEYS = (
    "timestamp",
    "ram_used_mb",
    "ram_total_mb",
    "ram_lfb_blocks",
    "ram_lfb_block_mb",
    "swap_used_mb",
    "swap_total_mb",
    "swap_cached_mb",
    "iram_used_kb",
    "iram_total_kb",
    "iram_lfb_kb",
    "cpu_load_pct",
    "cpu_freq_mhz",
    "gpu_load_pct",
    "gpu_freq_mhz",
    "emc_load_pct",
    "emc_freq_mhz",
    "mts_fg_pct",
    "mts_bg_pct",
    "engines",
    "temps_c",
    "temps_offline",
    "rails_mw",
    "rails_avg_mw",
    "rails_values_mw",
    "power_total_mw",
    "power_total_avg_mw",
    "total_rail",
    "total_reason",
    "unparsed",
)

OFFLINE_TEMP = -256.0
IGNORED_TEMPS = ("PMIC",)  # a constant placeholder (100 C or 50 C), not a measurement

_NUM = r"-?\d+(?:\.\d+)?"
_TIMESTAMP_DATE = re.compile(r"^\d{2}-\d{2}-\d{4}$")
_TIMESTAMP_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}$")
_USED_TOTAL_MB = re.compile(r"^(\d+)/(\d+)MB$")
_LFB = re.compile(r"^(\d+)x(\d+)(MB|kB)\)$")
_CACHED = re.compile(r"^(\d+)MB\)$")
_IRAM = re.compile(r"^(\d+)/(\d+)kB(?:\(lfb)?$")
_KB_CLOSE = re.compile(r"^(\d+)kB\)$")
_CPU_CORE = re.compile(r"^(\d+)%(?:@(\d+))?$")
_CPU_OLD_FREQ = re.compile(r"^\[(.*)\]@(\d+)$")
_PCT = re.compile(r"^(\d+)%$")
_TEMP = re.compile(r"^([A-Za-z][\w-]*)@(%s)C(?:/(%s)C)?$" % (_NUM, _NUM))
_RAIL_VALUES = re.compile(r"^(%s)(mW)?/(%s)(mW)?(?:/(%s)(mW)?)?$" % (_NUM, _NUM, _NUM))
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")  # rails and engines are upper case
_ENGINE_VALUE = re.compile(r"^(?:off|(\d+)%|(\d+)%@(\d+)|(\d+)%@\[([\d,]*)\]|@\[([\d,]*)\]|@(\d+)|(\d+))$")
_SPACE_MW = re.compile(r"(\d)\s+mW\b")

# Engine names whose load/clock also get the top-level keys.
GPU_ENGINES = ("GR3D_FREQ", "GR3D")
EMC_ENGINES = ("EMC_FREQ", "EMC")


def _num(text):
    return float(text) if "." in text else int(text)


def _empty_record():
    record = dict((key, None) for key in RECORD_KEYS)
    record.update(
        cpu_load_pct=[],
        cpu_freq_mhz=[],
        engines={},
        temps_c={},
        temps_offline=[],
        rails_mw={},
        rails_avg_mw={},
        rails_values_mw={},
        unparsed=[],
    )
    return record


def _ram(record, tokens, i):
    match = _USED_TOTAL_MB.match(_at(tokens, i + 1))
    if not match:
        return None
    record["ram_used_mb"], record["ram_total_mb"] = int(match.group(1)), int(match.group(2))
    i += 2
    if _at(tokens, i) == "(lfb":
        lfb = _LFB.match(_at(tokens, i + 1))
        if not lfb:
            return None
        record["ram_lfb_blocks"] = int(lfb.group(1))
        size = int(lfb.group(2))
        record["ram_lfb_block_mb"] = size if lfb.group(3) == "MB" else size / 1024.0
        i += 2
    return i


def _swap(record, tokens, i):
    match = _USED_TOTAL_MB.match(_at(tokens, i + 1))
    if not match:
        return None
    record["swap_used_mb"], record["swap_total_mb"] = int(match.group(1)), int(match.group(2))
    i += 2
    if _at(tokens, i) == "(cached":
        cached = _CACHED.match(_at(tokens, i + 1))
        if not cached:
            return None
        record["swap_cached_mb"] = int(cached.group(1))
        i += 2
    return i


def _iram(record, tokens, i):
    """`IRAM 0/252kB(lfb 252kB)`: no space before '(' (also accepted with one)."""
    token = _at(tokens, i + 1)
    match = _IRAM.match(token)
    if not match:
        return None
    record["iram_used_kb"], record["iram_total_kb"] = int(match.group(1)), int(match.group(2))
    i += 2
    if token.endswith("(lfb") or _at(tokens, i) == "(lfb":
        if not token.endswith("(lfb"):
            i += 1
        lfb = _KB_CLOSE.match(_at(tokens, i))
        if not lfb:
            return None
        record["iram_lfb_kb"] = int(lfb.group(1))
        i += 1
    return i


def _cpu(record, tokens, i):
    """`CPU [l%@MHz,...,off]` or the old `CPU [a%,b%]@MHz`."""
    token = _at(tokens, i + 1)
    common_freq = None
    old = _CPU_OLD_FREQ.match(token)
    if old:
        body, common_freq = old.group(1), int(old.group(2))
    elif token.startswith("[") and token.endswith("]"):
        body = token[1:-1]
    else:
        return None
    loads, freqs = [], []
    for core in body.split(","):
        if core == "off":
            loads.append(None)
            freqs.append(None)
            continue
        match = _CPU_CORE.match(core)
        if not match:
            return None
        loads.append(int(match.group(1)))
        freqs.append(int(match.group(2)) if match.group(2) else common_freq)
    record["cpu_load_pct"], record["cpu_freq_mhz"] = loads, freqs
    return i + 2


def _mts(record, tokens, i):
    """`MTS fg 0% bg 0%`."""
    fg, bg = _PCT.match(_at(tokens, i + 2)), _PCT.match(_at(tokens, i + 4))
    if _at(tokens, i + 3) != "bg" or not fg or not bg:
        return None
    record["mts_fg_pct"], record["mts_bg_pct"] = int(fg.group(1)), int(bg.group(1))
    return i + 5


def _engine_value(text):
    """`off`, `l%`, `l%@MHz`, `l%@[MHz,...]`, `@[MHz,...]`, `@MHz`, or a bare `MHz`."""
    match = _ENGINE_VALUE.match(text)
    if not match:
        return None
    g = match.groups()
    freq_list = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    if text == "off":
        return {"off": True, "load_pct": None, "freq_mhz": None}
    if g[0] is not None:
        return {"off": False, "load_pct": int(g[0]), "freq_mhz": None}
    if g[1] is not None:
        return {"off": False, "load_pct": int(g[1]), "freq_mhz": int(g[2])}
    if g[3] is not None:
        return {"off": False, "load_pct": int(g[3]), "freq_mhz": freq_list(g[4])}
    if g[5] is not None:
        return {"off": False, "load_pct": None, "freq_mhz": freq_list(g[5])}
    return {"off": False, "load_pct": None, "freq_mhz": int(g[6] if g[6] is not None else g[7])}


def _scalar_freq(freq):
    """A per-GPC list of clocks (`@[305,305]`) gives its highest; an empty list gives None."""
    if isinstance(freq, list):
        return max(freq) if freq else None
    return freq


def _temperature(record, match):
    name, value = match.group(1), float(match.group(2))
    if name.upper() in IGNORED_TEMPS:
        return
    if value == OFFLINE_TEMP:
        record["temps_offline"].append(name)
        return
    record["temps_c"][name] = value


def _rail(record, name, match):
    values = [_num(match.group(k)) for k in (1, 3, 5) if match.group(k) is not None]
    if name == NOT_CONNECTED:
        return
    record["rails_values_mw"][name] = values
    record["rails_mw"][name] = values[0]
    if len(values) == 2:  # JetPack 4-6: instant/average; JetPack 7's 3 values are undocumented
        record["rails_avg_mw"][name] = values[1]


def _at(tokens, i):
    return tokens[i] if i < len(tokens) else ""


def parse_line(line):
    """One tegrastats line -> record. Raises ValueError when no field can be read."""
    tokens = _SPACE_MW.sub(r"\1mW", line).split()
    record = _empty_record()
    recognised = 0
    i = 0
    if len(tokens) >= 2 and _TIMESTAMP_DATE.match(tokens[0]) and _TIMESTAMP_TIME.match(tokens[1]):
        record["timestamp"] = tokens[0] + " " + tokens[1]
        i = 2
    while i < len(tokens):
        token, following = tokens[i], _at(tokens, i + 1)
        handler = {"RAM": _ram, "SWAP": _swap, "IRAM": _iram}.get(token)
        if handler is None and token.upper() == "CPU" and following.startswith("["):
            handler = _cpu
        if handler is None and token == "MTS" and following == "fg":
            handler = _mts
        if handler is not None:
            end = handler(record, tokens, i)
            if end is None:  # a known field in a form we do not know: keep it visible
                record["unparsed"].extend(tokens[i : i + 2])
                i += 2
            else:
                recognised += 1
                i = end
            continue
        temp = _TEMP.match(token)
        if temp:
            _temperature(record, temp)
            recognised += 1
            i += 1
            continue
        rail = _RAIL_VALUES.match(following) if _NAME.match(token) else None
        if rail:
            _rail(record, token, rail)
            recognised += 1
            i += 2
            continue
        engine = _engine_value(following) if _NAME.match(token) else None
        if engine:  # engines alone do not make a tegrastats line ("ERROR 1" is not one)
            record["engines"][token] = engine
            i += 2
            continue
        record["unparsed"].append(token)
        i += 1
    if not recognised:
        raise ValueError("no tegrastats field in line: %r" % line[:80])
    _engine_summary(record)
    _totals(record)
    return record


def _engine_summary(record):
    for names, prefix in ((GPU_ENGINES, "gpu"), (EMC_ENGINES, "emc")):
        for name in names:
            engine = record["engines"].get(name)
            if engine is not None:
                record[prefix + "_load_pct"] = engine["load_pct"]
                record[prefix + "_freq_mhz"] = _scalar_freq(engine["freq_mhz"])
                break


def _totals(record):
    total, rule, reason = board_total(record["rails_mw"])
    record["power_total_mw"], record["total_rail"], record["total_reason"] = total, rule, reason
    if rule is not None and record["rails_avg_mw"]:
        avg, avg_rule, _ = board_total(record["rails_avg_mw"])
        if avg_rule == rule:
            record["power_total_avg_mw"] = avg


def parse_log(text):
    """Every line of a tegrastats log -> (records, errors).

    A line that cannot be read (blank, another program's output, a truncated line) is never
    dropped silently: it is in `errors` as (line_number, message), numbered from 1.
    """
    records, errors = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            errors.append((number, "blank line"))
            continue
        try:
            records.append(parse_line(line))
        except ValueError as exc:
            errors.append((number, str(exc)))
    return records, errors
