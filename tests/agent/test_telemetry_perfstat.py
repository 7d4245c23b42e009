"""perf stat -x, parser: every line of the real captures, and the documented variants."""

import unittest
from pathlib import Path

from agent.telemetry import perfstat
from agent.telemetry.perfstat import parse_line, parse_output

# Outputs recorded on real devices, kept with the tests: they never skip for want of them.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telemetry"
FIELDS = (
    "time",
    "aggr",
    "aggr_count",
    "value",
    "unit",
    "event",
    "run_time",
    "pct_running",
    "metric_value",
    "metric_unit",
    "status",
)

# One entry per non-comment line of perf_stat_csv_real.txt, in order (checked by hand
# against the raw line); None = a line with nothing in it (`,,,,,`).
EXPECTED = [
    (None, None, None, None, None, "slots", 0, 0.0, None, None, "not counted"),
    (None, None, None, None, None, "topdown-retiring", 0, 0.0, None, None, "not counted"),
    (None, None, None, None, None, "topdown-be-bound", 0, 0.0, None, None, "not counted"),
    (None, None, None, None, None, "topdown-fe-bound", 0, 0.0, None, None, "not counted"),
    (None, None, None, None, None, "topdown-bad-spec", 0, 0.0, None, None, "not counted"),
    (None, None, None, None, None, "cycles", 0, 0.0, None, None, "not counted"),
    None,  # ',,,,,'
    (
        1.001323097,
        None,
        None,
        8013.48,
        "msec",
        "cpu-clock",
        8013483384,
        100.0,
        8.013,
        "CPUs utilized",
        "counted",
    ),
    (1.001323097, None, None, 270, None, "context-switches", 8013513297, 100.0, 0.034, "K/sec", "counted"),
    (1.001323097, None, None, 13, None, "cpu-migrations", 8013530032, 100.0, 0.002, "K/sec", "counted"),
    (1.001323097, None, None, 184, None, "page-faults", 8013546992, 100.0, 0.023, "K/sec", "counted"),
    (1.001323097, None, None, 20574191, None, "cycles", 8013551506, 100.0, 0.003, "GHz", "counted"),
    (
        1.001323097,
        None,
        None,
        10562267,
        None,
        "instructions",
        8013564958,
        100.0,
        0.51,
        "insn per cycle",
        "counted",
    ),
    (1.001323097, None, None, 2019244, None, "branches", 8013575673, 100.0, 0.252, "M/sec", "counted"),
    (
        1.001323097,
        None,
        None,
        106152,
        None,
        "branch-misses",
        8013585776,
        100.0,
        5.26,
        "of all branches",
        "counted",
    ),
    (None, None, None, 8013.48, "msec", "cpu-clock", 8013483384, 100.0, 7.984, "CPUs utilized", "counted"),
    (
        1.001330198,
        None,
        None,
        8013.28,
        "msec",
        "cpu-clock",
        8013279201,
        100.0,
        8.013,
        "CPUs utilized",
        "counted",
    ),
    (1.001330198, None, None, 205, None, "context-switches", 8013308394, 100.0, 25.583, "/sec", "counted"),
    (1.001330198, None, None, 10, None, "cpu-migrations", 8013324681, 100.0, 1.248, "/sec", "counted"),
    (1.001330198, None, None, 0, None, "page-faults", 8013340926, 100.0, 0.0, "/sec", "counted"),
    (1.001330198, None, None, 8027742, None, "cycles", 8013344503, 100.0, 0.001, "GHz", "counted"),
    (
        1.001330198,
        None,
        None,
        2871717,
        None,
        "instructions",
        8013356501,
        100.0,
        0.36,
        "insn per cycle",
        "counted",
    ),
    (1.001330198, None, None, 553564, None, "branches", 8013366204, 100.0, 69.081, "K/sec", "counted"),
    (
        1.001330198,
        None,
        None,
        54021,
        None,
        "branch-misses",
        8013375952,
        100.0,
        9.76,
        "of all branches",
        "counted",
    ),
    (
        0.001149309,
        None,
        None,
        219.2,
        "msec",
        "cpu-clock",
        219322251,
        100.0,
        219.2,
        "CPUs utilized",
        "counted",
    ),
    (0.001149309, None, None, 144, None, "context-switches", 219241902, 100.0, 656.935, "/sec", "counted"),
    (0.001149309, None, None, 38, None, "cpu-migrations", 219173705, 100.0, 173.358, "/sec", "counted"),
    (0.001149309, None, None, 61, None, "page-faults", 219093635, 100.0, 278.285, "/sec", "counted"),
    (0.001149309, None, None, 10679310, None, "cycles", 218746228, 100.0, 0.049, "GHz", "counted"),
    (
        0.001149309,
        None,
        None,
        6288296,
        None,
        "instructions",
        218589869,
        100.0,
        0.59,
        "insn per cycle",
        "counted",
    ),
    (0.001149309, None, None, 1386904, None, "branches", 218428851, 100.0, 6.327, "M/sec", "counted"),
    (
        0.001149309,
        None,
        None,
        56863,
        None,
        "branch-misses",
        218219951,
        100.0,
        4.1,
        "of all branches",
        "counted",
    ),
    (1.000838672, None, None, 4003.55, "msec", "cpu-clock", 4003548736, 100.0, None, None, "counted"),
    (1.000838672, None, None, 11243, None, "context-switches", 4003631885, 100.0, 0.003, "M/sec", "counted"),
    (1.000838672, None, None, 1682, None, "cpu-migrations", 4003672150, 100.0, 0.42, "K/sec", "counted"),
    (1.000838672, None, None, 13244, None, "page-faults", 4003697471, 100.0, 0.003, "M/sec", "counted"),
    (1.000838672, None, None, 2953214077, None, "cycles", 4003715495, 100.0, 0.738, "GHz", "counted"),
    (
        1.000838672,
        None,
        None,
        4380820799,
        None,
        "instructions",
        4003738270,
        100.0,
        1.48,
        "insn per cycle",
        "counted",
    ),
    (1.000838672, None, None, 809865653, None, "branches", 4003760616, 100.0, 202.287, "M/sec", "counted"),
    (
        1.000838672,
        None,
        None,
        12439843,
        None,
        "branch-misses",
        4003780785,
        100.0,
        1.54,
        "of all branches",
        "counted",
    ),
    (None, "S0", 1, 1.89, "msec", "cpu-clock", 1887692, 100.0, 1.013, "CPUs utilized", "counted"),
    (None, "S0", 1, 2, None, "context-switches", 1885842, 100.0, 1.06, "K/sec", "counted"),
    (None, "S0", 1, 0, None, "cpu-migrations", 1885374, 100.0, 0.0, "/sec", "counted"),
    (None, "S0", 1, 2, None, "page-faults", 1884880, 100.0, 1.06, "K/sec", "counted"),
    (None, "S0", 1, 189544, None, "cycles", 1263158, 67.0, 0.1, "GHz", "counted"),
    (
        None,
        "S0",
        1,
        64602,
        None,
        "stalled-cycles-frontend",
        1876146,
        100.0,
        34.08,
        "frontend cycles idle",
        "counted",
    ),
    (
        None,
        "S0",
        1,
        128241,
        None,
        "stalled-cycles-backend",
        1875512,
        100.0,
        67.66,
        "backend cycles idle",
        "counted",
    ),
    (None, "S0", 1, 95578, None, "instructions", 1874676, 100.0, 0.5, "insn per cycle", "counted"),
    (None, "S0", 1, None, None, None, None, None, 1.34, "stalled cycles per insn", "metric-only"),
    (None, "CPU0", None, 1.5, "msec", "cpu-clock", 1502781, 100.0, 1.052, "CPUs utilized", "counted"),
    (None, "CPU1", None, 1.48, "msec", "cpu-clock", 1476113, 100.0, 1.034, "CPUs utilized", "counted"),
    (None, None, None, 0.95, "msec", "cpu-clock", 949800, 100.0, 1.06, "CPUs utilized", "counted"),
]


def fixture_text(name):
    path = FIXTURES / name
    with path.open(encoding="utf-8") as f:
        return f.read()


class RealCapturesTest(unittest.TestCase):
    def test_every_line(self):
        text = fixture_text("perf_stat_csv_real.txt")
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if not line.startswith("#")]
        self.assertEqual(len(lines), len(EXPECTED))
        for (number, line), expected in zip(lines, EXPECTED):
            with self.subTest(line=number, text=line):
                row = parse_line(line, number)
                if expected is None:
                    self.assertIsNone(row)
                    continue
                self.assertEqual(tuple(row[k] for k in FIELDS), expected)
                self.assertEqual(row["line"], number)
                self.assertEqual(set(row), set(perfstat.ROW_KEYS))

    def test_whole_output(self):
        rows = parse_output(fixture_text("perf_stat_csv_real.txt"))
        self.assertEqual(len(rows), len([e for e in EXPECTED if e is not None]))
        self.assertNotIn(perfstat.UNPARSED, [r["status"] for r in rows])
        counted = [r for r in rows if r["status"] == perfstat.COUNTED]
        self.assertEqual(len(counted), 44)
        self.assertEqual(len([r for r in rows if r["status"] == "not counted"]), 6)
        self.assertEqual([r["status"] for r in rows].count(perfstat.METRIC_ONLY), 1)


class VariantsTest(unittest.TestCase):
    def test_output_file_with_started_on_header(self):
        text = (
            "# started on Mon Mar  4 10:00:00 2024\n\n"
            "3.52,msec,task-clock,3520153,100.00,0.650,CPUs utilized\n"
            "<not supported>,,cycles,0,100.00,,\n"
            "<not supported>,,instructions,0,100.00,,\n"
            "2,,context-switches,3520153,100.00,568.157,/sec\n"
        )
        rows = parse_output(text)
        self.assertEqual(
            [r["event"] for r in rows], ["task-clock", "cycles", "instructions", "context-switches"]
        )
        self.assertEqual(
            [r["status"] for r in rows], ["counted", "not supported", "not supported", "counted"]
        )
        self.assertIsNone(rows[1]["value"])
        self.assertIsNone(rows[1]["metric_value"])
        self.assertEqual(rows[0]["value"], 3.52)
        self.assertEqual([r["line"] for r in rows], [3, 4, 5, 6])
        self.assertEqual(
            perfstat.counters(rows),
            {"task-clock": 3.52, "cycles": None, "instructions": None, "context-switches": 2},
        )

    def test_hybrid_pmu_names(self):
        rows = parse_output(
            "1234567,,cpu_core/cycles/,1000000,100.00,,\n<not counted>,,cpu_atom/cycles/,0,0.00,,\n"
        )
        self.assertEqual([r["event"] for r in rows], ["cpu_core/cycles/", "cpu_atom/cycles/"])
        self.assertEqual((rows[0]["value"], rows[1]["value"]), (1234567, None))
        self.assertEqual(rows[1]["status"], "not counted")

    def test_event_with_commas_in_its_terms(self):
        row = parse_line("123,,cpu/event=0xc0,umask=0x0/,2000,100.00,,")
        self.assertEqual(row["event"], "cpu/event=0xc0,umask=0x0/")
        self.assertEqual((row["value"], row["run_time"], row["pct_running"]), (123, 2000, 100.0))

    def test_variance_and_cgroup_columns(self):
        row = parse_line("3.52,msec,task-clock,0.52%,3520153,100.00,0.650,CPUs utilized")
        self.assertEqual((row["variance_pct"], row["run_time"], row["metric_value"]), (0.52, 3520153, 0.65))
        row = parse_line("5,,page-faults,mygroup,3520153,100.00,1.4,K/sec")
        self.assertEqual((row["cgroup"], row["value"], row["metric_unit"]), ("mygroup", 5, "K/sec"))

    def test_interval_with_aggregation(self):
        row = parse_line("     2.002,S0,4,<not counted>,,cycles,0,0.00,,")
        self.assertEqual(
            (row["time"], row["aggr"], row["aggr_count"], row["value"], row["event"]),
            (2.002, "S0", 4, None, "cycles"),
        )
        row = parse_line("1.5,CPU3,27,,page-faults,100,100.00,,")
        self.assertEqual(
            (row["time"], row["aggr"], row["value"], row["event"]), (1.5, "CPU3", 27, "page-faults")
        )

    def test_old_perf_without_metric_columns(self):
        row = parse_line("8013.48,msec,cpu-clock")
        self.assertEqual(
            (row["value"], row["event"], row["run_time"], row["metric_value"]),
            (8013.48, "cpu-clock", None, None),
        )

    def test_lines_that_are_not_perf_csv(self):
        for line in ("Performance counter stats for 'true':", "workload: error, oops", "1,2,3,4"):
            with self.subTest(line=line):
                with self.assertRaises(ValueError):
                    parse_line(line)
        rows = parse_output("hello from the workload\n5,,page-faults,10,100.00,,\n")
        self.assertEqual([r["status"] for r in rows], ["unparsed", "counted"])
        self.assertEqual(rows[0]["raw"], "hello from the workload")
        self.assertEqual(rows[0]["line"], 1)
        self.assertIn("not a perf stat CSV row", rows[0]["error"])

    def test_blank_comment_and_empty_rows(self):
        for line in ("", "   ", "# started on x", ",,,,,", ",,,,,,,,"):
            self.assertIsNone(parse_line(line))
        self.assertEqual(parse_output(""), [])


if __name__ == "__main__":
    unittest.main()
