"""The scenario options of `run` and `sweep` (agent/scenarios runs them): declared once here,
checked on the host before anything is stored, sent with each job of a non-single-stream cell.

--scenario takes a comma-separated list: each scenario is a dimension of the sweep matrix.
"""

from typing import Optional, Tuple

import typer

from edgebench.agent.scenarios.checks import OVERRUN, POLICIES, SCENARIOS

from . import options
from .errors import UserError

PANEL = "Scenario (how queries arrive)"


def params() -> list:
    param = options.Param

    def opt(default, flag, help_text, metavar=None):
        return typer.Option(default, flag, help=help_text, metavar=metavar, rich_help_panel=PANEL)

    return [
        param(
            "scenario",
            str,
            opt(
                options.SINGLE_STREAM,
                "--scenario",
                "single-stream (one query after another), offline (the largest batch that fits, "
                "throughput), stream (--fps), server (--qps, Poisson arrivals); comma-separated: "
                "each is a sweep dimension.",
                metavar="NAME[,NAME]",
            ),
        ),
        param("fps", Optional[float], opt(None, "--fps", "stream: frames released per second.")),
        param(
            "on_overrun",
            str,
            opt(
                "drop",
                "--on-overrun",
                "stream: a frame released while the previous one is still processed is dropped or "
                "queued (counted either way).",
                metavar="drop|queue",
            ),
        ),
        param("qps", Optional[float], opt(None, "--qps", "server: mean arrival rate (Poisson), queries/s.")),
        param(
            "latency_target_ms",
            Optional[float],
            opt(
                None,
                "--latency-target-ms",
                "server: the latency target (p99 must meet it; goodput counts it).",
            ),
        ),
        param(
            "batching",
            str,
            opt(
                "fixed",
                "--batching",
                "server: fixed (--batch), timeout (full batch or --max-queue-delay-ms), aimd "
                "(grow while the target is met, cut by 10% on a miss) or latency-aware (the paper's).",
                metavar="|".join(POLICIES),
            ),
        ),
        param(
            "max_batch",
            Optional[int],
            opt(None, "--max-batch", "server, offline: the largest batch (default: --batch)."),
        ),
        param(
            "max_queue_delay_ms",
            Optional[float],
            opt(
                None, "--max-queue-delay-ms", "server, timeout batching: the longest the oldest query waits."
            ),
        ),
        param(
            "find_max_qps",
            bool,
            opt(False, "--find-max-qps", "server: search for the highest rate that still passes."),
        ),
    ]


def scenario_settings(measure: dict, batches) -> Tuple[tuple, dict]:
    """(the scenarios, in the order given; the options sent with their jobs). UserError naming
    what is missing or wrong, before anything is stored."""
    names = tuple(dict.fromkeys(options.parse_optional_list(measure["scenario"]))) or (options.SINGLE_STREAM,)
    for name in names:
        options.check_choice(name, SCENARIOS, "--scenario")
    options.check_choice(measure["on_overrun"], OVERRUN, "--on-overrun")
    options.check_choice(measure["batching"], POLICIES, "--batching")
    chosen = {
        "fps": _positive(measure["fps"], "--fps"),
        "on_overrun": measure["on_overrun"],
        "qps": _positive(measure["qps"], "--qps"),
        "latency_target_ms": _positive(measure["latency_target_ms"], "--latency-target-ms"),
        "batching": measure["batching"],
        "max_batch": None
        if measure["max_batch"] is None
        else options.check_int(measure["max_batch"], "--max-batch", 1),
        "max_queue_delay_ms": _positive(measure["max_queue_delay_ms"], "--max-queue-delay-ms"),
        "find_max_qps": bool(measure["find_max_qps"]),
    }
    if "stream" in names and chosen["fps"] is None:
        raise UserError("--scenario stream needs --fps (frames per second, e.g. --fps 15)")
    if "server" in names:
        if chosen["latency_target_ms"] is None:
            raise UserError("--scenario server needs --latency-target-ms (e.g. --latency-target-ms 50)")
        if chosen["qps"] is None and not chosen["find_max_qps"]:
            raise UserError("--scenario server needs --qps (queries per second) or --find-max-qps")
    if chosen["max_batch"] is not None and any(b > chosen["max_batch"] for b in batches):
        raise UserError("--max-batch %d is below --batch %s" % (chosen["max_batch"], max(batches)))
    return names, {k: v for k, v in chosen.items() if v is not None}


def _positive(value: Optional[float], option: str) -> Optional[float]:
    if value is None:
        return None
    if not 0 < value < float("inf"):  # NaN fails both comparisons
        raise UserError("%s: give a positive number, got %s" % (option, value))
    return float(value)
