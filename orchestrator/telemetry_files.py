"""Recorded telemetry logs -> one record per sample, for `edgebench telemetry parse`.

    edgebench telemetry parse --kind tegrastats|perf-stat|vcgencmd|trtexec FILE [--format csv|json]

People already keep `tegrastats --logfile` logs, `perf stat -x, -o FILE` outputs,
`vcgencmd` outputs and trtexec logs; this reads them with the agent's parsers (pure functions,
see docs/TELEMETRY.md) and renders the records as CSV or JSON.

    parse_file(kind, path) -> ParsedFile(rows, errors)
    render(parsed, fmt)    -> text for stdout ("csv" or "json")
    error_lines(path, parsed) -> ["FILE:LINE: message", ...] for stderr ("FILE: message" for
                                 the whole file)

Lines are numbered from 1. A line that cannot be read is never skipped silently: it is in
`errors` as (line number, message), and the CLI prints those to stderr and exits 1. Lines
starting with '#' are comments (recorded logs and our fixtures carry them) and blank lines are
skipped; neither is an error.

Units are in the column names (`_mw`, `_mb`, `_mhz`, `_c`, `_hz`). A value the line does not
carry is null in JSON and an empty field in CSV, never 0. Lists and maps (per-core CPU loads,
temperatures, rails) are real lists/objects in JSON and JSON-encoded text in a CSV field.

trtexec is one document per file, not one record per line: JSON is the parse of
agent/telemetry/trtexec.py with the file's name first; CSV is one row per (section, statistic)
(`file, tensorrt_version, throughput_qps, section, statistic, value_ms`), and a log with no
summary (a failed run) one row with the file, version and throughput only. A line that looks
like trtexec's but cannot be read (its value is null), or a file with nothing of trtexec's in
it, is an error as above.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from edgebench.agent.telemetry import perfstat, tegrastats, trtexec, vcgencmd
from edgebench.orchestrator.errors import UserError

KINDS = ("tegrastats", "perf-stat", "vcgencmd", "trtexec")
FORMATS = ("csv", "json")

# The documented columns come first, in this order; the parser's other keys follow.
TEGRASTATS_COLUMNS = (
    "line",
    "timestamp",
    "ram_used_mb",
    "ram_total_mb",
    "swap_used_mb",
    "cpu_load_pct",
    "cpu_freq_mhz",
    "gpu_load_pct",
    "gpu_freq_mhz",
    "temps_c",
    "rails_mw",
    "power_total_mw",
    "total_rail",
)
TEGRASTATS_EXTRA = tuple(k for k in tegrastats.RECORD_KEYS if k not in TEGRASTATS_COLUMNS)

PERF_COLUMNS = (
    "line",
    "time",
    "aggr",
    "event",
    "value",
    "unit",
    "status",
    "run_time",
    "pct_running",
    "metric_value",
    "metric_unit",
)
# `raw` (the line itself) and `error` (reported in errors instead) are left out.
PERF_EXTRA = tuple(k for k in perfstat.ROW_KEYS if k not in PERF_COLUMNS and k not in ("raw", "error"))
PERF_EMPTY = "empty"  # status of a `,,,,,` row: perf printed a row with nothing in it

VCGENCMD_COLUMNS = ("line", "quantity", "value", "flags", "reason", "command")

TRTEXEC_COLUMNS = ("file", "tensorrt_version", "throughput_qps", "section", "statistic", "value_ms")


@dataclass
class ParsedFile:
    """Rows (one dict per sample, keys in `columns` order) and the lines that could not be
    read, as (line number, message); line None: the whole file. `document`: what JSON prints
    instead of the rows, for a kind that is one document per file (trtexec)."""

    kind: str
    rows: List[dict] = field(default_factory=list)
    errors: List[Tuple[Optional[int], str]] = field(default_factory=list)
    columns: Tuple[str, ...] = ()
    document: Optional[dict] = None


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


# --- tegrastats -------------------------------------------------------------------------------


def _parse_tegrastats(text: str) -> ParsedFile:
    parsed = ParsedFile("tegrastats", columns=TEGRASTATS_COLUMNS + TEGRASTATS_EXTRA)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or _is_comment(line):
            continue
        try:
            record = tegrastats.parse_line(line)
        except ValueError as exc:
            parsed.errors.append((number, str(exc)))
            continue
        row = {"line": number}
        for key in parsed.columns[1:]:
            row[key] = record.get(key)
        parsed.rows.append(row)
    return parsed


# --- perf stat -x, ----------------------------------------------------------------------------


def _parse_perf(text: str) -> ParsedFile:
    parsed = ParsedFile("perf-stat", columns=PERF_COLUMNS + PERF_EXTRA)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or _is_comment(line):
            continue
        try:
            row = perfstat.parse_line(line, number)
        except ValueError as exc:
            parsed.errors.append((number, str(exc)))
            continue
        if row is None:
            # Neither blank nor a comment, so an all-empty `,,,,,` row: real perf output
            # (a failed --topdown run), kept visible as a row with nothing in it.
            row = {"line": number, "status": PERF_EMPTY}
        parsed.rows.append(dict((key, row.get(key)) for key in parsed.columns))
    return parsed


# --- vcgencmd ---------------------------------------------------------------------------------

_CMD_COMMENT = re.compile(r"^\s*#\s*cmd:\s*(?:\S*/)?vcgencmd\s+(\S+)(?:\s+([^\s(]\S*))?")
_PMIC_LINE = re.compile(r"^\s*(\S+)_(A|V)\s+(current|volt)\(\d+\)=")
_CLOCK_ID = re.compile(r"^\s*frequency\((\d+)\)=")
# measure_clock ids that are the ARM clock (48 on a Pi 4, 45 on earlier boards).
ARM_CLOCK_IDS = ("48", "45")

# prefix -> (vcgencmd command that prints it, parser)
_VCGENCMD_PREFIXES = (
    ("throttled=", "get_throttled"),
    ("temp=", "measure_temp"),
    ("frequency(", "measure_clock"),
    ("volt=", "measure_volts"),
)


def _cmd_quantity(command: str, target: Optional[str]) -> Optional[str]:
    """The quantity `vcgencmd COMMAND [TARGET]` measures, when that is known from its name."""
    if command == "get_throttled":
        return "throttled"
    if command == "measure_temp":
        return "%s_temp_c" % target if target else "temp_c"
    if command == "measure_clock":
        return "%s_freq_hz" % target if target else None
    if command == "measure_volts":
        return "%s_volts" % (target or "core")  # core is measure_volts' default
    return None


def _vc_quantity(command: str, line: str, cmd: Optional[Tuple[str, Optional[str]]]) -> str:
    """The quantity a line measures. `cmd` (command, target) is the preceding
    `# cmd: vcgencmd ...` comment when it is the same command; it names the target (`measure_clock core`, `measure_volts sdram_c`)."""
    target = cmd[1] if cmd is not None else None
    quantity = _cmd_quantity(command, target)
    if quantity is None:  # measure_clock with no comment naming the clock: go by its id
        clock = _CLOCK_ID.match(line).group(1)
        quantity = "arm_freq_hz" if clock in ARM_CLOCK_IDS else "clock%s_freq_hz" % clock
    return quantity


def _vc_row(number, quantity, value=None, flags=None, reason=None, cmd=None) -> dict:
    command = None
    if cmd is not None:
        command = "vcgencmd " + " ".join(part for part in cmd if part)
    return {
        "line": number,
        "quantity": quantity,
        "value": value,
        "flags": flags,
        "reason": reason,
        "command": command,
    }


def _vc_line(number: int, line: str, cmd) -> Tuple[Optional[dict], Optional[str]]:
    """One output line -> (row, None) or (None, error message)."""
    stripped = line.strip()
    if stripped.startswith("error="):
        reason = vcgencmd.firmware_error(stripped)
        if reason is None:
            return None, "unreadable vcgencmd error line: %r" % stripped[:80]
        # The command that failed is only known from a preceding `# cmd:` comment.
        quantity = _cmd_quantity(*cmd) if cmd is not None else None
        return _vc_row(number, quantity, reason="firmware: %s" % reason, cmd=cmd), None
    for prefix, command in _VCGENCMD_PREFIXES:
        if stripped.startswith(prefix):
            value, reason = vcgencmd.parse(command, stripped)
            if value is None:
                return None, "%s: %s" % (command, reason)
            flags = None
            if command == "get_throttled":
                flags = dict((k, v) for k, v in value.items() if k != "raw")
                value = value["raw"]
            same = cmd if cmd is not None and cmd[0] == command else None
            return _vc_row(number, _vc_quantity(command, stripped, same), value, flags, cmd=same), None
    pmic = _PMIC_LINE.match(stripped)
    if pmic:
        rails = vcgencmd.parse_pmic_adc(stripped)
        if not rails:
            return None, "pmic_read_adc: unrecognised output: %r" % stripped[:80]
        name, rail = next(iter(rails.items()))
        volts = pmic.group(2) == "V"
        value = rail["volts"] if volts else rail["amps"]
        quantity = "pmic_%s_%s" % (name, "volts" if volts else "amps")
        same = cmd if cmd is not None and cmd[0] == "pmic_read_adc" else None
        return _vc_row(number, quantity, value, cmd=same), None
    return None, "not a vcgencmd output line: %r" % stripped[:80]


def _parse_vcgencmd(text: str) -> ParsedFile:
    parsed = ParsedFile("vcgencmd", columns=VCGENCMD_COLUMNS)
    cmd = None  # (command, target) from the latest `# cmd: vcgencmd ...` comment
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if _is_comment(line):
            match = _CMD_COMMENT.match(line)
            if match:
                cmd = (match.group(1), match.group(2))
            continue
        row, error = _vc_line(number, line, cmd)
        if error is not None:
            parsed.errors.append((number, error))
        else:
            parsed.rows.append(row)
    return parsed


# --- trtexec ----------------------------------------------------------------------------------

NOT_TRTEXEC = "not a trtexec log: no TensorRT version, performance summary, &&&& PASSED/FAILED or error line"


def _is_trtexec_log(doc: dict) -> bool:
    """Something of trtexec's was found (a failed run's errors and verdict count)."""
    found = ("tensorrt_version", "throughput_qps", "status") + trtexec.SECTIONS
    return any(doc[key] is not None for key in found) or any(
        doc[key] for key in ("errors", "warnings", "notes")
    )


def _trtexec_rows(doc: dict) -> List[dict]:
    """One row per (section, statistic), statistics named without `_ms` (the column says it)."""
    head = {
        "file": None,
        "tensorrt_version": doc["tensorrt_version"],
        "throughput_qps": doc["throughput_qps"],
    }
    rows = []
    for section in trtexec.SECTIONS:
        for key, value in (doc[section] or {}).items():
            rows.append(dict(head, section=section, statistic=key[: -len("_ms")], value_ms=value))
    if not rows:  # a failed run: the file and its version are still a row
        rows.append(dict(head, section=None, statistic=None, value_ms=None))
    return rows


def _parse_trtexec(text: str) -> ParsedFile:
    doc = trtexec.parse_trtexec(text)
    parsed = ParsedFile("trtexec", columns=TRTEXEC_COLUMNS, document=doc)
    parsed.errors = [(warning["line"], warning["message"]) for warning in doc["warnings"]]
    if _is_trtexec_log(doc):
        parsed.rows = _trtexec_rows(doc)
    else:
        parsed.errors.append((None, NOT_TRTEXEC))
    return parsed


_PARSERS: Dict[str, Callable[[str], ParsedFile]] = {
    "tegrastats": _parse_tegrastats,
    "perf-stat": _parse_perf,
    "vcgencmd": _parse_vcgencmd,
    "trtexec": _parse_trtexec,
}


# --- public API -------------------------------------------------------------------------------


def parse_text(kind: str, text: str, source: Optional[str] = None) -> ParsedFile:
    """Like parse_file, over text already read; `source` names the file where the output
    does (trtexec's `file`)."""
    parser = _PARSERS.get(kind)
    if parser is None:
        raise UserError("unknown telemetry kind %r: use one of %s" % (kind, ", ".join(KINDS)))
    parsed = parser(text)
    if "file" in parsed.columns:
        for row in parsed.rows:
            row["file"] = source
    if parsed.document is not None:
        parsed.document = dict([("file", source)] + list(parsed.document.items()))
    return parsed


def parse_file(kind: str, path) -> ParsedFile:
    """Parse a recorded log. Unknown kind, or a file that is missing or unreadable ->
    UserError naming the kind or the path."""
    if kind not in _PARSERS:
        raise UserError("unknown telemetry kind %r: use one of %s" % (kind, ", ".join(KINDS)))
    path = Path(path)
    try:
        # Bad bytes become U+FFFD: the line that holds them is reported, not the whole file.
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError("%s: no such file" % path) from None
    except IsADirectoryError:
        raise UserError("%s: is a folder, not a %s log file" % (path, kind)) from None
    except OSError as exc:
        raise UserError("%s: cannot read: %s" % (path, exc.strerror or exc)) from None
    return parse_text(kind, text, str(path))


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, sort_keys=False)
    return value


def render(parsed: ParsedFile, fmt: str = "csv") -> str:
    """Rows as CSV (header first, documented columns first) or JSON (a list of objects; the
    document itself for trtexec)."""
    if fmt not in FORMATS:
        raise UserError("unknown format %r: use one of %s" % (fmt, ", ".join(FORMATS)))
    if fmt == "json" and parsed.document is not None:
        return json.dumps(parsed.document, indent=2) + "\n"
    columns = list(parsed.columns) or (list(parsed.rows[0]) if parsed.rows else [])
    if fmt == "json":
        rows = [dict((key, row.get(key)) for key in columns) for row in parsed.rows]
        return json.dumps(rows, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in parsed.rows:
        writer.writerow([_csv_cell(row.get(key)) for key in columns])
    return out.getvalue()


def error_lines(path, parsed: ParsedFile) -> List[str]:
    """`FILE:LINE: message` for each line that could not be read, `FILE: message` for a
    whole file (for stderr)."""
    return [
        "%s: %s" % (path, message) if number is None else "%s:%d: %s" % (path, number, message)
        for number, message in parsed.errors
    ]
