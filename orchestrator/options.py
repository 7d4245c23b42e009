"""Checks and parsers for command-line values; each mistake is a one-line UserError. And
`shared`, which declares options once for several commands (run and sweep)."""

import functools
import inspect
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError

SHAPE = re.compile(r"^([^=]+)=(\d+(?:x\d+)*)$")
DEFAULT_COOLDOWN_TIMEOUT_S = 600.0


def parse_list(text: str, option: str) -> list:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise UserError("%s: give at least one value" % option)
    return items


def parse_optional_list(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def check_batches(batches) -> list:
    for b in batches:
        if b < 1:
            raise UserError("--batch: batch size must be >= 1, got %d" % b)
    return list(batches)


def parse_batches(text: str) -> list:
    values = []
    for part in parse_list(text, "--batch"):
        if not re.fullmatch(r"-?\d+", part):
            raise UserError("--batch: not an integer: %r (example: --batch 1,8)" % part)
        values.append(int(part))
    return check_batches(values)


def check_positive(value: int, option: str) -> int:
    if value < 1:
        raise UserError("%s: must be >= 1, got %d" % (option, value))
    return value


def check_non_negative(value: int, option: str) -> int:
    if value < 0:
        raise UserError("%s: must be >= 0, got %d" % (option, value))
    return value


def check_threads(threads):
    if threads is not None and threads < 1:
        raise UserError("--threads: must be >= 1, got %d" % threads)
    return threads


def timing_overrides(min_iters, min_seconds, warmup) -> dict:
    """Only what the user set: the agent fills the rest from its defaults (or --quick)."""
    overrides = {}
    if min_iters is not None:
        if min_iters < 1:
            raise UserError("--min-iters: must be >= 1, got %d" % min_iters)
        overrides["min_iters"] = min_iters
    if min_seconds is not None:
        if min_seconds < 0:
            raise UserError("--min-seconds: must be >= 0, got %g" % min_seconds)
        overrides["min_s"] = min_seconds
        overrides["max_s"] = max(min_seconds * 4, 120.0)
    if warmup is not None:
        if warmup < 0:
            raise UserError("--warmup: must be >= 0, got %d" % warmup)
        overrides["warmup_iters"] = warmup
    return overrides


def _finite(value: float, option: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise UserError("%s: must be a finite number above 0, got %s" % (option, value))
    return float(value)


def conditions(cooldown_c, cooldown_timeout, pin_clocks: bool, nvpmodel) -> dict:
    """--cooldown-c / --cooldown-timeout / --pin-clocks / --nvpmodel as the Settings fields
    (and job keys) cooldown_c, cooldown_timeout_s, pin_clocks, nvpmodel_mode."""
    if cooldown_c is not None:
        _finite(cooldown_c, "--cooldown-c")
    if cooldown_timeout is not None:
        if cooldown_c is None:
            raise UserError("--cooldown-timeout: only with --cooldown-c T (the temperature to wait for)")
        _finite(cooldown_timeout, "--cooldown-timeout")
    if nvpmodel is not None:
        if not pin_clocks:
            raise UserError(
                "--nvpmodel: only with --pin-clocks (the power mode is set while clocks are pinned)"
            )
        if nvpmodel < 0:
            raise UserError("--nvpmodel: a Jetson power mode is >= 0, got %d" % nvpmodel)
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
            raise UserError("--shape: expected name=1x3x32x32, got %r" % item)
        dims = [int(d) for d in match.group(2).split("x")]
        if any(d < 1 for d in dims):
            raise UserError("--shape: dimensions must be >= 1 in %r" % item)
        shapes[match.group(1)] = dims
    return shapes


def check_choice(value: str, choices, option: str) -> str:
    if value not in choices:
        raise UserError("%s: %r is not one of %s" % (option, value, ", ".join(choices)))
    return value


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target and rename: a failed write never leaves half a file."""
    path = Path(path)
    if not path.parent.exists():
        raise UserError("--out: folder does not exist: %s" % path.parent)
    tmp = path.with_name(".%s.tmp-%d" % (path.name, os.getpid()))
    tmp.write_text(text)
    os.replace(tmp, path)


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
