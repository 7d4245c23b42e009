"""Checks and parsers for command-line values; each mistake is a one-line UserError. And
`shared`, which declares options once for several commands (run and sweep)."""

import functools
import inspect
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError

# name=1x3x32x32, at most 9 digits a dimension (a longer one is a typo; MAX_DIMENSION says so).
SHAPE = re.compile(r"^([^=]+)=(\d{1,9}(?:x\d{1,9})*)$")
MAX_DIMENSION = 65536
DEFAULT_COOLDOWN_TIMEOUT_S = 600.0
# Independent runs per cell (each its own trial process), unless --repeats or --quick says
# otherwise: five give a between-run interval (t, 4 degrees of freedom) that a second sweep
# reproduces (benchmarks/reproducibility.py), at the cost of five process starts.
DEFAULT_REPEATS = 5
# The scenario of a trial that names none (and of every trial stored before scenarios).
SINGLE_STREAM = "single-stream"
# --on-busy: what a sweep does with a device whose lock another sweep's trial holds.
ON_BUSY = ("wait", "skip")


def parse_list(text: str, option: str) -> list:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise UserError("%s: give at least one value" % option)
    return items


def parse_optional_list(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_provider_options(text: str) -> dict:
    """'TensorrtExecutionProvider.trt_fp16_enable=True,CUDAExecutionProvider.device_id=0' ->
    {provider: {key: value}}, values kept as strings (ONNX Runtime takes them so)."""
    found: dict = {}
    for item in parse_optional_list(text or ""):
        left, equals, value = item.partition("=")
        provider, dot, key = left.strip().partition(".")
        if not (equals and dot and provider and key.strip()):
            raise UserError(
                "--provider-options: %r is not PROVIDER.KEY=VALUE "
                "(e.g. TensorrtExecutionProvider.trt_fp16_enable=True)" % item
            )
        found.setdefault(provider, {})[key.strip()] = value.strip()
    return found


# The largest value of each integer option: beyond it a value is a typo, not a wish, and an
# SQLite INTEGER (8 bytes) or the agent's own types (a numpy seed, a thread count) would
# overflow later, with a sweep already stored. Options not named here: MAX_INT.
MAX_INT = 2**31 - 1
MAXIMUM = {
    "--batch": 65536,
    "--threads": 1024,
    "--parallel": 1024,
    "--retries": 100,
    "--repeats": 1000,
    "--seed": 2**32 - 1,  # numpy's RandomState on the device takes no more
    "--nvpmodel": 255,
    "COUNT": 254,  # simulated devices: with --netns, device N is 10.231.N.2
}
# Seconds: a timed window or a wait of more than a day is a mistake (and threading.Timer
# refuses values near the float maximum).
MAX_SECONDS = 86400.0
MAX_CELSIUS = 200.0  # --cooldown-c: above any thermal zone's trip point


def check_int(value: int, option: str, minimum: int) -> int:
    maximum = MAXIMUM.get(option, MAX_INT)
    if not minimum <= value <= maximum:
        raise UserError(
            "%s: must be an integer from %d to %d, got %s" % (option, minimum, maximum, _shown(value))
        )
    return value


def _shown(value) -> str:
    # str() of an integer of more than 4300 digits raises; say what it is instead.
    return str(value) if abs(value) < 10**30 else "a number of more than 30 digits"


def check_batches(batches) -> list:
    return [check_int(b, "--batch", 1) for b in batches]


def parse_batches(text: str) -> list:
    values = []
    for part in parse_list(text, "--batch"):
        if not re.fullmatch(r"-?\d+", part):
            raise UserError("--batch: not an integer: %r (example: --batch 1,8)" % part[:40])
        digits = len(part.lstrip("-"))
        if digits > 12:  # out of range whatever it is; int() of thousands of digits would raise
            raise UserError(
                "--batch: must be an integer from 1 to %d, got a %d-digit number"
                % (MAXIMUM["--batch"], digits)
            )
        values.append(int(part))
    return check_batches(values)


def check_positive(value: int, option: str) -> int:
    return check_int(value, option, 1)


def check_non_negative(value: int, option: str) -> int:
    return check_int(value, option, 0)


def repeats(value, quick: bool) -> int:
    """--repeats: runs per cell; by default DEFAULT_REPEATS, or 1 under --quick."""
    if value is None:
        return 1 if quick else DEFAULT_REPEATS
    return check_int(value, "--repeats", 1)


def check_seed(seed: int) -> int:
    return check_int(seed, "--seed", 0)


def check_threads(threads):
    return threads if threads is None else check_int(threads, "--threads", 1)


def check_seconds(value: float, option: str) -> float:
    """A duration: finite, from 0 to MAX_SECONDS (NaN and the infinities refused)."""
    if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise UserError("%s: must be a number of seconds from 0 to %g, got %s" % (option, MAX_SECONDS, value))
    return float(value)


def timing_overrides(min_iters, min_seconds, warmup) -> dict:
    """Only what the user set: the agent fills the rest from its defaults (or --quick)."""
    overrides = {}
    if min_iters is not None:
        overrides["min_iters"] = check_int(min_iters, "--min-iters", 1)
    if min_seconds is not None:
        overrides["min_s"] = check_seconds(min_seconds, "--min-seconds")
        overrides["max_s"] = max(min_seconds * 4, 120.0)
    if warmup is not None:
        overrides["warmup_iters"] = check_int(warmup, "--warmup", 0)
    return overrides


def _finite(value: float, option: str, maximum: float) -> float:
    if not (math.isfinite(value) and 0 < value <= maximum):
        raise UserError(
            "%s: must be a finite number above 0 and at most %g, got %s" % (option, maximum, value)
        )
    return float(value)


def conditions(cooldown_c, cooldown_timeout, pin_clocks: bool, nvpmodel) -> dict:
    """--cooldown-c / --cooldown-timeout / --pin-clocks / --nvpmodel as the Settings fields
    (and job keys) cooldown_c, cooldown_timeout_s, pin_clocks, nvpmodel_mode."""
    if cooldown_c is not None:
        _finite(cooldown_c, "--cooldown-c", MAX_CELSIUS)
    if cooldown_timeout is not None:
        if cooldown_c is None:
            raise UserError("--cooldown-timeout: only with --cooldown-c T (the temperature to wait for)")
        _finite(cooldown_timeout, "--cooldown-timeout", MAX_SECONDS)
    if nvpmodel is not None:
        if not pin_clocks:
            raise UserError(
                "--nvpmodel: only with --pin-clocks (the power mode is set while clocks are pinned)"
            )
        check_int(nvpmodel, "--nvpmodel", 0)
    return {
        "cooldown_c": None if cooldown_c is None else float(cooldown_c),
        "cooldown_timeout_s": DEFAULT_COOLDOWN_TIMEOUT_S
        if cooldown_timeout is None
        else float(cooldown_timeout),
        "pin_clocks": bool(pin_clocks),
        "nvpmodel_mode": nvpmodel,
    }


def parse_shapes(items) -> dict:
    shapes = {}
    for item in items:
        match = SHAPE.match(item)
        if not match:
            raise UserError("--shape: expected name=1x3x32x32, got %r" % item[:80])
        dims = [int(d) for d in match.group(2).split("x")]
        if any(not 1 <= d <= MAX_DIMENSION for d in dims):
            raise UserError("--shape: dimensions must be from 1 to %d in %r" % (MAX_DIMENSION, item))
        shapes[match.group(1)] = dims
    return shapes


def check_on_busy(value: str) -> str:
    return check_choice(value, ON_BUSY, "--on-busy")


def check_choice(value: str, choices, option: str) -> str:
    if value not in choices:
        raise UserError("%s: %r is not one of %s" % (option, value, ", ".join(choices)))
    return value


def write_atomically(path: Path, data, option: str = "--out") -> Path:
    """Writes a file edgebench makes (a report, an export): into a temporary file beside the
    target, then renamed over it, so a failed write leaves neither half a file nor the
    temporary one. A str is written as UTF-8. Mistakes name `option` and the path."""
    path = Path(path)
    if path.is_dir():
        raise UserError("%s: %s is a folder; give a file name in it" % (option, path))
    if not path.parent.is_dir():
        raise UserError("%s: folder does not exist: %s" % (option, path.parent))
    data = data.encode("utf-8") if isinstance(data, str) else data
    try:
        handle, temporary = tempfile.mkstemp(prefix=".%s." % path.name, suffix=".tmp", dir=str(path.parent))
    except OSError as exc:
        raise UserError("%s: cannot write in %s: %s" % (option, path.parent, exc.strerror or exc)) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a report from the rest of the team
        os.replace(temporary, path)
    except BaseException as exc:
        _remove_quietly(temporary)
        if isinstance(exc, OSError):
            raise UserError("%s: cannot write %s: %s" % (option, path, exc.strerror or exc)) from None
        raise
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@dataclass(frozen=True)
class Param:
    """One command-line option declared once: its parameter name, type and typer.Option."""

    name: str
    annotation: Any
    option: Any  # typer.Option(...)


def shared(params: Sequence[Param], into: str):
    """Decorator for typer commands: adds `params` to the command's options; the command gets
    their values as one dict, in its parameter named `into`."""
    names = [p.name for p in params]

    def decorate(command):
        signature = inspect.signature(command)
        kept = [p for p in signature.parameters.values() if p.name != into]
        added = [
            inspect.Parameter(
                p.name, inspect.Parameter.KEYWORD_ONLY, default=p.option, annotation=p.annotation
            )
            for p in params
        ]

        @functools.wraps(command)
        def wrapper(**kwargs):
            values = {name: kwargs.pop(name) for name in names if name in kwargs}
            return command(**kwargs, **{into: values})

        wrapper.__signature__ = signature.replace(
            parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept] + added
        )
        return wrapper

    return decorate
