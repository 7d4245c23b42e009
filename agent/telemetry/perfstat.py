"""Parser for `perf stat -x,` CSV output (stderr text, or an `-o FILE` with `# started on`).

Field order, as perf prints it:
    [time,][aggr,[count,]]value,unit,event,[cgroup,][variance%,]run-time,pct-running,metric-value,metric-unit

The optional leading columns shift every field, so the layout is found per row: the value is
the first field that reads as a count (or `<not supported>` / `<not counted>`), followed by a
unit (empty or a word, never a number) and a non-numeric event name; what comes before it is
the interval time (a number) and the aggregation id (`S0` with its count `1`, `CPU0`, ...).
The tail is read from the right. Run perf with LC_ALL=C: decimal commas cannot be told apart
from separators.

    parse_line(line)   -> row dict, or None for a blank, comment or all-empty (`,,,,,`) line;
                          raises ValueError for a line that is not perf CSV
    parse_output(text) -> list of row dicts; a line that cannot be read becomes a row with
                          status "unparsed" and its text in `raw` (never dropped silently)
"""

import re

ROW_KEYS = (
    "line",
    "time",
    "aggr",
    "aggr_count",
    "value",
    "unit",
    "event",
    "cgroup",
    "variance_pct",
    "run_time",
    "pct_running",
    "metric_value",
    "metric_unit",
    "status",
    "raw",
    "error",
)
NOT_SUPPORTED = "<not supported>"
NOT_COUNTED = "<not counted>"
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")

# status values
COUNTED = "counted"
METRIC_ONLY = "metric-only"
UNPARSED = "unparsed"


def _is_number(text):
    return bool(_NUMBER.match(text.strip()))


def _number(text):
    text = text.strip()
    if not text or not _is_number(text):
        return None
    if re.match(r"^[-+]?\d+$", text):
        return int(text)
    return float(text)


def _is_value(text):
    return text in (NOT_SUPPORTED, NOT_COUNTED) or _is_number(text)


def _is_unit(text):
    return not _is_number(text) and not text.startswith("<")


def _is_event(text):
    return bool(text) and not _is_number(text) and not text.startswith("<")


def _row(**fields):
    row = dict((key, None) for key in ROW_KEYS)
    row.update(fields)
    return row


def _prefix(fields):
    """Leading columns -> (time, aggr, aggr_count)."""
    time = aggr = count = None
    rest = list(fields)
    if rest and _is_number(rest[0]):
        time = float(rest.pop(0))
    if rest:
        aggr = rest.pop(0).strip() or None
    if rest:
        count = _number(rest.pop(0))
    return time, aggr, count


def _join_event(fields, start):
    """An event like `cpu/event=0xc0,umask=0x0/` was split on its commas: join until the
    slashes balance. Returns (event, index after it)."""
    event, end = fields[start], start + 1
    while event.count("/") % 2 == 1 and end < len(fields):
        event += "," + fields[end]
        end += 1
    return event, end


def _find_value(fields):
    for p in range(min(len(fields) - 2, 4)):  # at most time, aggr, count before the value
        if _is_value(fields[p].strip()) and _is_unit(fields[p + 1]) and _is_event(fields[p + 2]):
            return p
    return None


def _tail(row, rest):
    """[cgroup,][variance%,]run-time,pct-running,metric-value,metric-unit (old perf: fewer)."""
    if len(rest) >= 4:
        extra, tail = rest[:-4], rest[-4:]
    else:
        extra, tail = [], rest + [""] * (4 - len(rest))
    for field in extra:
        if field.endswith("%") and _is_number(field[:-1]):
            row["variance_pct"] = float(field[:-1])
        elif field:
            row["cgroup"] = field
    row["run_time"] = _number(tail[0])
    row["pct_running"] = _number(tail[1])
    row["metric_value"] = _number(tail[2])
    row["metric_unit"] = tail[3].strip() or None


def parse_line(line, number=None):
    text = line.rstrip("\r\n")
    if not text.strip() or text.lstrip().startswith("#"):
        return None
    fields = text.strip().split(",")
    if not any(f.strip() for f in fields):
        return None  # `,,,,,`: perf printed a row with nothing in it
    p = _find_value(fields)
    if p is None:
        return _metric_only(fields, text, number)
    time, aggr, count = _prefix(fields[:p])
    raw_value = fields[p].strip()
    event, end = _join_event(fields, p + 2)
    row = _row(
        line=number, time=time, aggr=aggr, aggr_count=count, unit=fields[p + 1] or None, event=event, raw=text
    )
    if raw_value in (NOT_SUPPORTED, NOT_COUNTED):
        row["status"] = raw_value.strip("<>")
    else:
        row["value"], row["status"] = _number(raw_value), COUNTED
    _tail(row, fields[end:])
    return row


def _metric_only(fields, text, number):
    """A continuation row carrying only a metric (`S0,1,,,,,,,1.34,stalled cycles per insn`):
    leading time/aggregation columns, empty counter fields, then metric value and unit."""
    lead = []
    for field in fields:
        if not field.strip():
            break
        lead.append(field)
    rest = fields[len(lead) :]
    filled = [f for f in rest if f.strip()]
    if len(filled) == 2 and rest[-2:] == filled and _is_number(filled[0]) and not _is_number(filled[1]):
        time, aggr, count = _prefix(lead)
        return _row(
            line=number,
            time=time,
            aggr=aggr,
            aggr_count=count,
            status=METRIC_ONLY,
            metric_value=_number(filled[0]),
            metric_unit=filled[1].strip(),
            raw=text,
        )
    raise ValueError("not a perf stat CSV row: %r" % text[:80])


def parse_output(text):
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            row = parse_line(line, number)
        except ValueError as exc:
            row = _row(line=number, status=UNPARSED, raw=line, error=str(exc))
        if row is not None:
            rows.append(row)
    return rows


def counters(rows):
    """Rows that name an event -> {event: value} (None for not supported / not counted).
    Aggregated rows (per socket/CPU) are keyed (event, aggr); interval rows keep the last."""
    result = {}
    for row in rows:
        if row.get("event"):
            key = row["event"] if row["aggr"] is None else (row["event"], row["aggr"])
            result[key] = row["value"]
    return result
