"""Validation of what a device sends back, before it reaches the store.

A device is not trusted to be well-formed: a record that fails here is reported with the
reason and left out; it never crashes the sweep or writes garbage.
"""

import numbers

from edgebench.agent.accuracy import CONFUSION_MAX_CLASSES

from .store.schema import METRIC_COLUMNS

MAX_LINE_BYTES = 64 * 1024 * 1024  # 1 M latency samples are ~20 MB of JSON
MAX_SAMPLES = 10_000_000
MAX_TEXT = 4000


class MalformedRecord(ValueError):
    pass


def _number_or_none(name, value):
    if value is None or isinstance(value, bool):
        return
    if not isinstance(value, numbers.Real) or value != value:
        raise MalformedRecord("metric %s is not a number: %.80r" % (name, value))


def _check_result(record: dict) -> None:
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        raise MalformedRecord("result without a metrics object")
    for name, value in metrics.items():
        if not isinstance(name, str) or len(name) > 100:
            raise MalformedRecord("bad metric name %.80r" % (name,))
        if name in METRIC_COLUMNS or not isinstance(value, (str, dict, list)):
            _number_or_none(name, value)  # what the store keeps in typed columns must be a number
    _check_confusion(metrics)
    samples = record.get("samples_ms")
    if samples is not None:
        if not isinstance(samples, list) or len(samples) > MAX_SAMPLES:
            raise MalformedRecord("samples_ms must be a list of at most %d numbers" % MAX_SAMPLES)
        if not {float, int}.issuperset(map(type, samples)):  # the usual case at C speed, then the culprit
            for value in samples:
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise MalformedRecord("samples_ms holds a non-number: %.80r" % (value,))
    if record.get("env") is not None and not isinstance(record["env"], dict):
        raise MalformedRecord("env must be an object")
    _check_telemetry(record.get("telemetry"))


def _confusion_problem(counts) -> str:
    """Why `accuracy_confusion` is not a square matrix of counts of at most
    CONFUSION_MAX_CLASSES classes ("" when it is)."""
    if not isinstance(counts, list) or not counts or len(counts) > CONFUSION_MAX_CLASSES:
        return "not a list of 1 to %d rows" % CONFUSION_MAX_CLASSES
    for row in counts:
        if not isinstance(row, list) or len(row) != len(counts):
            return "not a square matrix"
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in row):
            return "holds something other than counts"
    return ""


def _check_confusion(metrics: dict) -> None:
    """A malformed confusion matrix is dropped with a note: the trial's timing still stands."""
    counts = metrics.get("accuracy_confusion")
    problem = _confusion_problem(counts) if counts is not None else ""
    if problem:
        del metrics["accuracy_confusion"]
        metrics["accuracy_confusion_note"] = "dropped by the host: the confusion matrix is %s" % problem


def _check_telemetry(telemetry) -> None:
    if telemetry is None:
        return
    if not isinstance(telemetry, dict):
        raise MalformedRecord("telemetry must be an object")
    series = telemetry.get("power") or []
    if not isinstance(series, list) or len(series) > MAX_SAMPLES:
        raise MalformedRecord("telemetry.power must be a list of [t, mW] pairs")
    for point in series:
        if not (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in point)
        ):
            raise MalformedRecord("telemetry.power holds a bad point: %.80r" % (point,))


def validate(record: dict) -> dict:
    """Returns the record if it is well-formed for its type; raises MalformedRecord."""
    kind = record.get("type")
    if kind in ("trial_start", "result", "error", "trial_end", "busy") and not isinstance(
        record.get("trial_id"), str
    ):
        raise MalformedRecord("%s record without a trial_id" % kind)
    if kind == "result":
        _check_result(record)
    elif kind == "error":
        if not isinstance(record.get("error"), str):
            raise MalformedRecord("error record without an error text")
        record["error"] = record["error"][:MAX_TEXT]
    elif kind == "trial_end":
        if record.get("status") not in ("ok", "failed", "skipped"):  # skipped: --on-busy skip
            raise MalformedRecord("trial_end with status %.40r" % (record.get("status"),))
        _number_or_none("agent_s", record.get("agent_s"))
    elif kind == "busy" and not isinstance(record.get("holder"), (dict, type(None))):
        raise MalformedRecord("busy record whose holder is not an object")
    elif kind == "facts" and not isinstance(record.get("facts"), dict):
        raise MalformedRecord("facts record without a facts object")
    return record
