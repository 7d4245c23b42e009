"""Command-line values of plain types (str, int, float, bool, Path and lists of them) checked
without pydantic.

typer (0.2x) checks every option's value with a pydantic TypeAdapter, built when the command
runs: importing pydantic and building an adapter per option took longer than the rest of
`edgebench devices`, and `edgebench run --batch abc` built thirty of them to say one line. This
module gives typer a plain check for the values whose meaning is beyond doubt: a string of
digits for an int, a decimal for a float, any string for a str or a Path; and a plain error for
a value with no digit at all where a number is wanted ("'abc' is not a valid integer", the line
`usage.py` makes of pydantic's error). Anything else (`1.5` or `1_000` for an int, a bytes
value, an option with a parser or constraints) goes to typer's own check, so the result is
always what pydantic gives: tests/test_cli_startup.py compares the two.

`install()` does nothing where typer is built differently (no `typer.core.build_runtime_param`):
then pydantic is imported as before, and only the start-up test notices.
"""

import re
from pathlib import Path
from typing import Any, Callable, Optional

from .usage import EXPECTED, _quoted

# Attributes of typer's ParameterInfo that change how a value is checked; an option that sets
# any of them to other than its default is left to typer.
CHECK_ATTRIBUTES = (
    "parser",
    "click_type",
    "min",
    "max",
    "clamp",
    "formats",
    "exists",
    "file_okay",
    "dir_okay",
    "writable",
    "readable",
    "resolve_path",
    "allow_dash",
    "path_type",
    "mode",
    "encoding",
    "errors",
    "lazy",
    "atomic",
)
_INT = re.compile(r"\s*[+-]?[0-9]{1,18}\s*")
_FLOAT = re.compile(r"\s*[+-]?([0-9]{1,18}(\.[0-9]{0,18})?|\.[0-9]{1,18})([eE][+-]?[0-9]{1,3})?\s*")
_FLOAT_WORDS = ("inf", "infinity", "nan")


class Unsure(Exception):
    """The plain check cannot be sure: typer's own check decides."""


def _no_digit(text: str) -> bool:
    return not any(c.isdigit() for c in text)


def _check_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    if isinstance(value, str) and _no_digit(value):
        raise ValueError("%s is not %s" % (_quoted(value), EXPECTED["int_parsing"]))
    raise Unsure


def _check_float(value: Any) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _FLOAT.fullmatch(value):
        return float(value)
    if isinstance(value, str) and _no_digit(value) and value.strip().lstrip("+-").lower() not in _FLOAT_WORDS:
        raise ValueError("%s is not %s" % (_quoted(value), EXPECTED["float_parsing"]))
    raise Unsure


def _check_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise Unsure


def _check_path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise Unsure


def _check_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Unsure


CHECKS = {int: _check_int, float: _check_float, str: _check_str, Path: _check_path, bool: _check_bool}


def plain_check(annotation: Any) -> Optional[Callable[[Any], Any]]:
    """The check of a plain annotation (a list of one is checked item by item), else None."""
    if getattr(annotation, "__origin__", None) is list:
        item = CHECKS.get(getattr(annotation, "__args__", (None,))[0])
        return None if item is None else lambda values: [item(v) for v in values]
    return CHECKS.get(annotation)


def _is_plain(info: Any) -> bool:
    try:
        default = type(info)()
    except TypeError:  # a ParameterInfo that needs arguments: not one this module knows
        return False
    return all(getattr(info, name, None) == getattr(default, name, None) for name in CHECK_ATTRIBUTES)


def install() -> bool:
    """Gives typer the plain checks; True when it took them."""
    try:
        from typer import core
        from typer._click.exceptions import BadParameter
        from typer._coercion import RuntimeParam
    except ImportError:
        return False
    typers_own = getattr(core, "build_runtime_param", None)
    if typers_own is None or getattr(typers_own, "plain_checks", False):
        return typers_own is not None

    class PlainRuntimeParam(RuntimeParam):
        """A plain check, with typer's own to fall back on."""

        def __init__(self, descriptor, check):
            super().__init__(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
            object.__setattr__(self, "descriptor", descriptor)
            object.__setattr__(self, "check", check)
            object.__setattr__(self, "fallback", None)

        def _coerce_value(self, value, param, ctx):
            try:
                return self.check(value)
            except Unsure:
                pass
            except ValueError as exc:
                raise BadParameter(str(exc), ctx=ctx, param=param) from None
            if self.fallback is None:
                object.__setattr__(self, "fallback", typers_own(self.descriptor))
            return self.fallback._coerce_value(value, param=param, ctx=ctx)

    def build_runtime_param(descriptor):
        check = plain_check(descriptor.annotation)
        if (
            check is None
            or descriptor.file_annotation is not None
            or not _is_plain(descriptor.parameter_info)
        ):
            return typers_own(descriptor)
        try:
            return PlainRuntimeParam(descriptor, check)
        except Exception:  # a typer whose RuntimeParam is built differently: its own check, as before
            return typers_own(descriptor)

    build_runtime_param.plain_checks = True
    core.build_runtime_param = build_runtime_param
    return True
