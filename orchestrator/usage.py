"""typer's usage errors (a value of the wrong type, an unknown option, a missing argument) as
one line, like every other user mistake: `--threads: 'abc' is not a valid integer (see
edgebench run --help)`. typer itself prints a usage box of five lines or more."""

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import BadParameter, MissingParameter, NoSuchOption, UsageError
except ImportError:  # pragma: no cover - older typer, on the click package
    from click.exceptions import BadParameter, MissingParameter, NoSuchOption, UsageError

__all__ = ["UsageError", "usage_line", "wants_help"]

# What a value failed to be, by the error type of the validator typer uses (pydantic).
EXPECTED = {
    "int_parsing": "a valid integer",
    "int_parsing_size": "an integer of a sane size",
    "int_from_float": "a whole number",
    "int_type": "a valid integer",
    "float_parsing": "a valid number",
    "float_type": "a valid number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
}


def usage_line(exc: UsageError) -> str:
    """The mistake, the option (or argument) it is about, and where to read more."""
    return "%s (see %s --help)" % (_what(exc), exc.ctx.command_path if exc.ctx else "edgebench")


def wants_help(exc: UsageError) -> bool:
    """`edgebench plot` and the like (a group without its command): typer shows the help,
    which is what the user asked for, in effect."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def _what(exc: UsageError) -> str:
    if isinstance(exc, NoSuchOption):
        close = sorted(exc.possibilities or ())
        return "no such option: %s%s" % (
            exc.option_name,
            " (did you mean %s?)" % ", ".join(close) if close else "",
        )
    if isinstance(exc, MissingParameter) and exc.param is not None:
        return "missing %s %s" % (exc.param.param_type_name, _name(exc.param))
    if isinstance(exc, BadParameter) and exc.param is not None:
        return "%s: %s" % (_name(exc.param), _bad_value(exc))
    message = _one_line(exc.format_message()).rstrip(".")
    return message[:1].lower() + message[1:]  # "No such command 'x'" reads as the other lines do


def _name(param) -> str:
    if param.param_type_name != "option":  # an argument: its metavar, e.g. DIR|SWEEP_ID
        return param.metavar or (param.name or "argument").upper()
    long_names = [opt for opt in param.opts if opt.startswith("--")]
    return (long_names or param.opts)[0]


def _bad_value(exc: BadParameter) -> str:
    """The value and what it should have been, from typer's validator when it says so."""
    errors = getattr(exc.__cause__, "errors", None)
    first = errors()[0] if callable(errors) and errors() else {}
    if "input" in first:
        expected = EXPECTED.get(first.get("type"))
        if expected:
            return "%s is not %s" % (_quoted(first["input"]), expected)
        return "%s: %s" % (_quoted(first["input"]), _one_line(first.get("msg", "not accepted")))
    return _one_line(exc.message).rstrip(".")


def _quoted(value) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
