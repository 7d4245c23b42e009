"""Parser for the log of TensorRT's `trtexec` (TensorRT 7.x to 10.x), and the TensorRT version
in a `dpkg -l` listing. Pure functions over text; formats by version in docs/TELEMETRY.md.

    parse_trtexec(text)               -> dict with every key of RESULT_KEYS
    is_engine_mismatch(text_or_errors) -> True when the engine was built by another TensorRT
                                          version or for another GPU (rebuild it)
    tensorrt_version_from_dpkg(text)  -> "8.2.1" or None

What trtexec prints, by version:
- 7.x: no summary header; multi-line sections `Host Latency`, `Enqueue Time`, `GPU Compute`,
  each followed by `min: X ms (end to end Y ms)`, ..., `percentile: X ms at 99% (...)` lines;
  `throughput: 0 qps` for explicit-batch (ONNX) engines.
- 8.0/8.2: `=== Performance summary ===`, one line per section: `Latency: min = X ms, max =
  ..., mean = ..., median = ..., percentile(99%) = ...`, plus `End-to-End Host Latency`,
  `Enqueue Time`, `H2D Latency`, `GPU Compute Time`, `D2H Latency`.
- 8.4 and later: the same without `End-to-End Host Latency`; 8.6+/10.x may give several
  percentiles (`percentile(90%) = ..., percentile(95%) = ..., percentile(99%) = ...`).

Sections (the same quantity whatever the version calls it):
    latency           one query's H2D + GPU compute + D2H: 8.x+ `Latency`, 7.x `Host Latency`
    host_latency      end-to-end host latency (waits for the query before it): 8.0/8.2
                      `End-to-End Host Latency`, 7.x the `(end to end ...)` values
    gpu_compute_time  `GPU Compute Time` (7.x `GPU Compute`)
    enqueue_time, h2d_latency, d2h_latency
Each is None when the log lacks it, else {"min_ms", "max_ms", "mean_ms", "median_ms"} (None
for one the log does not give) plus "pNN_ms" for each percentile given. `labels` names the
section as the log printed it.

Lines starting with '#' are comments (recorded logs carry them). Lines are numbered from 1.
`errors`: the log's error lines, {"line", "kind", "message"}; `warnings`: lines that look like
trtexec's but could not be read (the value is None), {"line", "message"}; `notes`: values read
but not taken at face value (a 0 qps throughput, a second summary), {"line", "message"}.
"""

import re

SECTIONS = ("latency", "host_latency", "gpu_compute_time", "enqueue_time", "h2d_latency", "d2h_latency")
RESULT_KEYS = (
    ("tensorrt_version", "throughput_qps") + SECTIONS + ("labels", "status", "errors", "warnings", "notes")
)
BASE_STATS = ("min_ms", "max_ms", "mean_ms", "median_ms")

# error kinds
VERSION_MISMATCH = "version_mismatch"
DEVICE_MISMATCH = "device_mismatch"
DESERIALIZATION_FAILED = "deserialization_failed"
UNKNOWN_OPTION = "unknown_option"
OTHER_ERROR = "error"
MISMATCH_KINDS = (VERSION_MISMATCH, DEVICE_MISMATCH)

THROUGHPUT_ZERO_NOTE = (
    "throughput 0 qps is not a measurement (TensorRT 7 prints 0 for explicit-batch engines): "
    "throughput_qps is null"
)

# Printed section name -> section (single-line form `NAME: min = ...`, or a 7.x header line).
_LABELS = {
    "latency": "latency",
    "host latency": "latency",
    "end-to-end host latency": "host_latency",
    "gpu compute time": "gpu_compute_time",
    "gpu compute": "gpu_compute_time",
    "enqueue time": "enqueue_time",
    "h2d latency": "h2d_latency",
    "d2h latency": "d2h_latency",
}
_END_TO_END_LABEL = "Host Latency (end to end)"  # 7.x: the parenthesised values

_TIMESTAMP = re.compile(r"^\[\d{2}/\d{2}/\d{4}-\d{2}:\d{2}:\d{2}\]\s*")
_TAG = re.compile(r"^\[(I|W|E|V|F|TRT)\]\s*")
_OLD_TAG = re.compile(r"^\[TensorRT\]\s+(ERROR|WARNING|INFO|VERBOSE|INTERNAL_ERROR):\s*")
_OLD_SEVERITY = {"ERROR": "E", "INTERNAL_ERROR": "F", "WARNING": "W", "INFO": "I", "VERBOSE": "V"}

_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "\u00b5s": 0.001, "\u03bcs": 0.001, "ns": 0.000001}
_VALUE_UNIT = re.compile(r"^(\S+?)\s*(ms|s|us|\u00b5s|\u03bcs|ns)?$")
_PCT = r"(\d+(?:\.\d+)?)"
_PERCENTILE_NAMES = (
    re.compile(r"^percentile\s*\(\s*%s\s*%%\s*\)$" % _PCT),  # percentile(99%)
    re.compile(r"^percentile\s*:?\s*%s\s*%%$" % _PCT),  # percentile: 99%
    re.compile(r"^%s\s*(?:%%|st|nd|rd|th)?\s+percentile$" % _PCT),  # 99th percentile
    re.compile(r"^p\s*%s$" % _PCT),  # p99
)
_STAT_NAMES = {"min": "min_ms", "max": "max_ms", "mean": "mean_ms", "median": "median_ms"}

_VERSION_LINE = re.compile(r"^TensorRT version:\s*(\S+)\s*$")
_BANNER = re.compile(r"\[TensorRT v(\d+)\]")
_THROUGHPUT = re.compile(r"^throughput:\s*(\S+)\s*qps\s*$", re.IGNORECASE)
_STATUS = re.compile(r"^&&&& (PASSED|FAILED)\b")
_SUMMARY = re.compile(r"^([A-Za-z][A-Za-z0-9 -]*?):\s*(min\s*=.*)$")
_OLD_STAT = re.compile(r"^(min|max|mean|median)\s*:\s*(.+?)(?:\s*\(end to end\s+(.+?)\))?\s*$")
_OLD_PERCENTILE = re.compile(
    r"^percentile\s*:\s*(.+?)\s+at\s+%s\s*%%(?:\s*\(end to end\s+(.+?)\s+at\s+%s\s*%%\))?\s*$" % (_PCT, _PCT)
)

# (kind, pattern) in order: the first that matches names an error line.
_ERROR_KINDS = (
    (DEVICE_MISMATCH, re.compile(r"engine plan file is generated on an incompatible device", re.I)),
    (VERSION_MISMATCH, re.compile(r"engine plan file is not compatible with this version of TensorRT", re.I)),
    (VERSION_MISMATCH, re.compile(r"Version tag does not match", re.I)),  # TensorRT 10
    (DESERIALIZATION_FAILED, re.compile(r"deseriali[sz]\w*.*fail", re.I)),
    (UNKNOWN_OPTION, re.compile(r"^Unknown option:", re.I)),
)


def _split_prefix(line):
    """A log line -> (severity letter or None, the text after the timestamp and tags)."""
    body = _TIMESTAMP.sub("", line.strip(), count=1)
    severity = None
    while True:
        tag = _TAG.match(body)
        if tag:
            if tag.group(1) != "TRT":
                severity = tag.group(1)
            body = body[tag.end() :]
            continue
        old = _OLD_TAG.match(body)
        if old:
            severity = _OLD_SEVERITY[old.group(1)]
            body = body[old.end() :]
            continue
        return severity, body.strip()


def _decode_version(number):
    """NV_TENSORRT_VERSION -> "major.minor.patch": 8201 -> 8.2.1 (before 10: M*1000 + m*100 +
    p), 100300 -> 10.3.0 (10 and later: M*10000 + m*100 + p). None if neither."""
    n = int(number)
    if n >= 100000:
        return "%d.%d.%d" % (n // 10000, n // 100 % 100, n % 100)
    if 1000 <= n < 10000:
        return "%d.%d.%d" % (n // 1000, n // 100 % 10, n % 100)
    return None


def _version_text(text):
    """`TensorRT version:` value: dotted as printed (8.2.1), or a number (8001) decoded."""
    if re.match(r"^\d+(?:\.\d+){1,3}$", text):
        return text
    if text.isdigit():
        return _decode_version(text)
    return None


def _ms(text):
    """'3.14 ms' -> (3.14, None); unreadable -> (None, why)."""
    match = _VALUE_UNIT.match(text.strip())
    if not match or not _NUMBER.match(match.group(1)):
        return None, "cannot read %r as a number" % text.strip()
    if match.group(2) is None:
        return None, "no unit in %r" % text.strip()
    factor = _UNIT_MS[match.group(2)]
    value = float(match.group(1))
    return (value if factor == 1.0 else round(value * factor, 9)), None


def _pct_key(number):
    """'99' / '99.0' -> 'p99_ms'; '99.9' -> 'p99.9_ms'."""
    text = number.rstrip("0").rstrip(".") if "." in number else number
    return "p%s_ms" % text


def stat_key(name):
    """A statistic as trtexec (or a person) names it -> the key in a section, or None."""
    name = name.strip().lower()
    if name in _STAT_NAMES:
        return _STAT_NAMES[name]
    for pattern in _PERCENTILE_NAMES:
        match = pattern.match(name)
        if match:
            return _pct_key(match.group(1))
    return None


def _sorted_section(stats):
    """min, max, mean, median (None when absent), then percentiles in increasing order."""
    section = dict((key, stats.get(key)) for key in BASE_STATS)
    for key in sorted((k for k in stats if k not in BASE_STATS), key=lambda k: float(k[1:-3])):
        section[key] = stats[key]
    return section


class _Reader(object):
    """State while reading one log, line by line."""

    def __init__(self):
        self.result = dict((key, None) for key in RESULT_KEYS)
        self.result.update(labels={}, errors=[], warnings=[], notes=[])
        self.stats = {}  # section -> {key: value}
        self.open = None  # 7.x: the multi-line section the stat lines belong to
        self.banner_version = None
        self.throughput_line = None

    def warn(self, number, message):
        self.result["warnings"].append({"line": number, "message": message})

    def note(self, number, message):
        self.result["notes"].append({"line": number, "message": message})

    def start_section(self, number, section, label):
        if section in self.stats:
            self.note(number, "%s printed again: the later values are kept" % label)
        self.stats[section] = {}
        self.result["labels"][section] = label

    def put(self, number, section, label, name, key, text):
        value, problem = _ms(text)
        if problem:
            self.warn(number, "%s %s: %s" % (label, name, problem))
        self.stats[section][key] = value

    def line(self, number, line):
        status = _STATUS.match(line.strip())
        if status:
            self.result["status"] = status.group(1).lower()
        banner = _BANNER.search(line)
        if banner and self.banner_version is None:
            self.banner_version = _decode_version(banner.group(1))
        if status:
            return
        severity, body = _split_prefix(line)
        if severity in ("E", "F") or severity is None:
            self.error(number, severity, body)
        if severity == "V" or not body:
            return  # verbose: the metric explanations also start with "Latency: "
        if self.open is not None and self.old_stat(number, body):
            return
        self.open = None
        for read in (self.summary, self.header, self.version, self.throughput):
            if read(number, body):
                return

    def error(self, number, severity, body):
        for kind, pattern in _ERROR_KINDS:
            if pattern.search(body):
                self.result["errors"].append({"line": number, "kind": kind, "message": body})
                return
        if severity is not None and body:
            self.result["errors"].append({"line": number, "kind": OTHER_ERROR, "message": body})

    def summary(self, number, body):
        """8.x+: `Latency: min = 3.1 ms, max = ..., percentile(99%) = 3.2 ms`."""
        match = _SUMMARY.match(body)
        if not match or match.group(1).lower() not in _LABELS:
            return False
        label = match.group(1)
        section = _LABELS[label.lower()]
        self.start_section(number, section, label)
        for item in match.group(2).split(","):
            name, equals, text = item.partition("=")
            key = stat_key(name)
            if not equals or key is None:
                self.warn(number, "%s: cannot read %r" % (label, item.strip()))
                continue
            self.put(number, section, label, name.strip(), key, text)
        return True

    def header(self, number, body):
        """7.x: a line holding only the section's name; its statistics follow."""
        section = _LABELS.get(body.lower())
        if section is None:
            return False
        self.start_section(number, section, body)
        if section == "latency":  # its lines also carry the end-to-end host latency
            self.start_section(number, "host_latency", _END_TO_END_LABEL)
        self.open = (section, body)
        return True

    def old_stat(self, number, body):
        """7.x: `min: 4.3 ms (end to end 4.4 ms)`, `percentile: 5.5 ms at 99% (end to end ...)`."""
        section, label = self.open
        match = _OLD_STAT.match(body)
        if match:
            name, text, e2e = match.group(1), match.group(2), match.group(3)
            key = _STAT_NAMES[name]
        else:
            match = _OLD_PERCENTILE.match(body)
            if not match:
                return False
            name, text, e2e = "percentile", match.group(1), match.group(3)
            key = _pct_key(match.group(2))
        self.put(number, section, label, name, key, text)
        if e2e is not None and section == "latency":
            self.put(number, "host_latency", _END_TO_END_LABEL, name, key, e2e)
        return True

    def version(self, number, body):
        match = _VERSION_LINE.match(body)
        if not match:
            return False
        version = _version_text(match.group(1))
        if version is None:
            self.warn(number, "cannot read TensorRT version %r" % match.group(1))
        elif self.result["tensorrt_version"] is None:
            self.result["tensorrt_version"] = version
        return True

    def throughput(self, number, body):
        match = _THROUGHPUT.match(body)
        if not match:
            return False
        if self.throughput_line is not None:
            self.note(number, "throughput printed again: the later value is kept")
        self.throughput_line = number
        text = match.group(1)
        if not _NUMBER.match(text):
            self.result["throughput_qps"] = None
            self.warn(number, "throughput: cannot read %r as a number" % text)
        elif float(text) == 0:
            self.result["throughput_qps"] = None
            self.note(number, THROUGHPUT_ZERO_NOTE)
        else:
            self.result["throughput_qps"] = float(text)
        return True

    def finish(self):
        result = self.result
        if result["tensorrt_version"] is None:
            result["tensorrt_version"] = self.banner_version
        for section, stats in self.stats.items():
            result[section] = _sorted_section(stats)
        return result


def _is_comment(line):
    return line.lstrip().startswith("#")


def parse_trtexec(text):
    """trtexec's log (stdout and stderr, any version from 7.x) -> dict; see the module doc."""
    reader = _Reader()
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not _is_comment(line):
            reader.line(number, line)
    return reader.finish()


def _error_kind(message):
    for kind, pattern in _ERROR_KINDS:
        if pattern.search(message):
            return kind
    return None


def is_engine_mismatch(text_or_errors):
    """True when the log (text, or the `errors` of parse_trtexec, or a list of lines) says the
    engine was built by another TensorRT version or for another GPU: rebuild it."""
    if isinstance(text_or_errors, str):
        errors = parse_trtexec(text_or_errors)["errors"]
    else:
        errors = text_or_errors
    for error in errors:
        if isinstance(error, dict):
            kind = error.get("kind") or _error_kind(error.get("message") or "")
        else:
            kind = _error_kind(_split_prefix(str(error))[1])
        if kind in MISMATCH_KINDS:
            return True
    return False


# `dpkg -l` rows: status (ii, hi, ...), name[:arch], version, architecture, description.
_DPKG_ROW = re.compile(r"^\s*[a-z][a-zA-Z]\S?\s+(\S+)\s+(\S+)\s+\S+")
_DPKG_VERSION = re.compile(r"^(?:\d+:)?(\d+\.\d+\.\d+)")
# Packages that carry the TensorRT version, the runtime library first.
_DPKG_PACKAGES = (
    re.compile(r"^libnvinfer\d+$"),
    re.compile(r"^libnvinfer-bin$"),
    re.compile(r"^python3-libnvinfer$"),
    re.compile(r"^tensorrt$"),
)


def tensorrt_version_from_dpkg(text):
    """`dpkg -l` output -> the installed TensorRT version ("8.2.1" from `8.2.1-1+cuda10.2`;
    the `tensorrt` meta package's 4-part `8.2.1.9-1+cuda10.2` also gives "8.2.1"), or None.
    Only installed rows (`ii`, `hi`) count; the runtime library libnvinferN is preferred."""
    found = {}
    for line in text.splitlines():
        if _is_comment(line) or line.strip()[:2] not in ("ii", "hi"):
            continue
        row = _DPKG_ROW.match(line)
        if not row:
            continue
        name, version = row.group(1).split(":")[0], _DPKG_VERSION.match(row.group(2))
        for rank, pattern in enumerate(_DPKG_PACKAGES):
            if version and pattern.match(name) and rank not in found:
                found[rank] = version.group(1)
    return found[min(found)] if found else None
