"""Parsers for Raspberry Pi firmware `vcgencmd` outputs (pure functions over text).

Each parse_* returns the value, or None when the output does not carry it (the command is
missing, the firmware answered `error=1 error_msg="..."`, or the text is not the expected
form); `parse(command, text)` returns (value, reason) so a caller can say why it has None.

    get_throttled       throttled=0x50005            -> dict of flags + raw int
    measure_temp        temp=48.8'C                  -> 48.8 (deg C)
    measure_clock arm   frequency(48)=1500000000     -> 1500000000 (Hz)
    measure_volts core  volt=0.8563V                 -> 0.8563 (V)
    pmic_read_adc       VDD_CORE_A current(7)=1.4A   -> {"VDD_CORE": {"volts", "amps", "watts"}}
                        (Pi 5 only; EXT5V has a voltage but no current channel, so there is
                        no board-input power here)
"""

import re

THROTTLE_BITS = (
    (0, "under_voltage_now"),
    (1, "arm_freq_capped_now"),
    (2, "throttled_now"),
    (3, "soft_temp_limit_now"),
    (16, "under_voltage_occurred"),
    (17, "arm_freq_capped_occurred"),
    (18, "throttled_occurred"),
    (19, "soft_temp_limit_occurred"),
)

_ERROR = re.compile(r'error=(\d+)\s+error_msg="([^"]*)"')
_THROTTLED = re.compile(r"^\s*throttled=(0x[0-9a-fA-F]+|\d+)\s*$")
_TEMP = re.compile(r"^\s*temp=(-?\d+(?:\.\d+)?)'C\s*$")
_CLOCK = re.compile(r"^\s*frequency\((\d+)\)=(\d+)\s*$")
_VOLTS = re.compile(r"^\s*volt=(-?\d+(?:\.\d+)?)V\s*$")
_PMIC = re.compile(r"^\s*(\S+)_(A|V)\s+(current|volt)\((\d+)\)=(-?\d+(?:\.\d+)?)(A|V)\s*$")


def firmware_error(text):
    """`error=1 error_msg="Command not registered"` -> 'Command not registered' (else None)."""
    match = _ERROR.search(text or "")
    if not match:
        return None
    return match.group(2) or "error=%s" % match.group(1)


def _single_line(text, pattern):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if len(lines) != 1:
        return None
    return pattern.match(lines[0])


def parse_throttled(text):
    match = _single_line(text, _THROTTLED)
    if not match:
        return None
    raw = int(match.group(1), 0)
    flags = dict((name, bool(raw & (1 << bit))) for bit, name in THROTTLE_BITS)
    flags["raw"] = raw
    return flags


def parse_temp(text):
    match = _single_line(text, _TEMP)
    return float(match.group(1)) if match else None


def parse_clock(text):
    match = _single_line(text, _CLOCK)
    return int(match.group(2)) if match else None


def parse_volts(text):
    match = _single_line(text, _VOLTS)
    return float(match.group(1)) if match else None


def parse_pmic_adc(text):
    """Every `NAME_A current(n)=xA` / `NAME_V volt(n)=xV` line -> {NAME: {volts, amps, watts}};
    a rail measured one way only has None for the other (and for watts). None if no line."""
    rails = {}
    for line in (text or "").splitlines():
        match = _PMIC.match(line)
        if not match:
            continue
        name, kind, value = match.group(1), match.group(2), float(match.group(5))
        rail = rails.setdefault(name, {"volts": None, "amps": None, "watts": None})
        rail["volts" if kind == "V" else "amps"] = value
    for rail in rails.values():
        if rail["volts"] is not None and rail["amps"] is not None:
            rail["watts"] = rail["volts"] * rail["amps"]
    return rails or None


PARSERS = {
    "get_throttled": parse_throttled,
    "measure_temp": parse_temp,
    "measure_clock": parse_clock,
    "measure_volts": parse_volts,
    "pmic_read_adc": parse_pmic_adc,
}


def parse(command, text):
    """(value, reason): reason is None when the value was read, else why it is None."""
    parser = PARSERS.get(command.split()[0] if command else "")
    if parser is None:
        return None, "no parser for vcgencmd %r (known: %s)" % (command, ", ".join(sorted(PARSERS)))
    if text is None or not text.strip():
        return None, "no output"
    error = firmware_error(text)
    if error is not None:
        return None, "firmware: %s" % error
    value = parser(text)
    if value is None:
        return None, "unrecognised output: %r" % text.strip()[:80]
    return value, None
