"""Which Jetson power rail(s) make the board total (shared by tegrastats and sysfs readers).

Rules (docs/TELEMETRY.md): a board with a total rail uses it alone -- Nano `POM_5V_IN` (never
add POM_5V_GPU/POM_5V_CPU to it), TX2 / Xavier NX / Orin NX / Orin Nano `VDD_IN`. AGX Xavier
has no total rail: sum GPU, CPU, SOC, CV, VDDRQ, SYS5V. AGX Orin has none either: sum
VDD_GPU_SOC, VDD_CPU_CV and VIN_SYS_5V0. Rails named NC are not connected. Any other set of
rails gives an unknown total (None), never a guess.
"""

TOTAL_RAILS = ("POM_5V_IN", "VDD_IN")
SUM_RULES = (
    ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"),  # AGX Xavier
    ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"),  # AGX Orin
)
NOT_CONNECTED = "NC"


def board_total(rails_mw):
    """`rails_mw` maps rail name -> mW (None where unreadable).

    Returns (total_mw, rule, reason): rule names the rail or the sum used ("POM_5V_IN",
    "sum(GPU,CPU,SOC,CV,VDDRQ,SYS5V)"); total and rule are None when unknown, and then
    reason says why.
    """
    rails = dict((k, v) for k, v in (rails_mw or {}).items() if k != NOT_CONNECTED)
    if not rails:
        return None, None, "no power rails"
    for name in TOTAL_RAILS:
        if name in rails:
            if rails[name] is None:
                return None, None, "total rail %s unreadable" % name
            return rails[name], name, None
    for names in SUM_RULES:
        if all(name in rails for name in names):
            values = [rails[name] for name in names]
            rule = "sum(%s)" % ",".join(names)
            if any(v is None for v in values):
                return None, None, "a rail of %s unreadable" % rule
            return sum(values), rule, None
    return None, None, "no known board-total rule for rails %s" % ",".join(sorted(rails))
