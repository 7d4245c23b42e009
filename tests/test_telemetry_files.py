"""Tests for edgebench.orchestrator.telemetry_files (`edgebench telemetry parse`)."""

import csv
import io
import json
from pathlib import Path

import pytest

from edgebench.orchestrator import telemetry_files as tf
from edgebench.orchestrator.errors import UserError

# Outputs recorded on real devices, kept with the tests: they never skip for want of them.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "telemetry"

TEGRA_HEADER = [
    "line",
    "timestamp",
    "ram_used_mb",
    "ram_total_mb",
    "swap_used_mb",
    "cpu_load_pct",
    "cpu_freq_mhz",
    "gpu_load_pct",
    "gpu_freq_mhz",
    "temps_c",
    "rails_mw",
    "power_total_mw",
    "total_rail",
]
PERF_HEADER = [
    "line",
    "time",
    "aggr",
    "event",
    "value",
    "unit",
    "status",
    "run_time",
    "pct_running",
    "metric_value",
    "metric_unit",
]


def fixture(name):
    path = FIXTURES / name
    assert path.is_file(), "fixture %s is missing: the project keeps its fixtures" % path
    return path


def data_lines(path):
    """Line numbers of the lines that are neither blank nor '#' comments."""
    return [
        n
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def by_line(parsed):
    return dict((row["line"], row) for row in parsed.rows)


# --- every line of every fixture ----------------------------------------------------------


@pytest.mark.parametrize(
    "kind, name",
    [
        ("tegrastats", "tegrastats_nano_jp4.txt"),
        ("tegrastats", "tegrastats_xavier_jp4.txt"),
        ("perf-stat", "perf_stat_csv_real.txt"),
        ("vcgencmd", "rpi_vcgencmd_outputs.txt"),
    ],
)
def test_every_data_line_becomes_one_row(kind, name):
    path = fixture(name)
    parsed = tf.parse_file(kind, path)
    assert parsed.errors == []
    assert [row["line"] for row in parsed.rows] == data_lines(path)
    assert tf.error_lines(path, parsed) == []
    for fmt in ("csv", "json"):
        assert tf.render(parsed, fmt)


def test_tegrastats_nano_values():
    parsed = tf.parse_file("tegrastats", fixture("tegrastats_nano_jp4.txt"))
    first = parsed.rows[0]
    assert first["line"] == 3
    assert first["power_total_mw"] == 1750
    assert first["total_rail"] == "POM_5V_IN"  # never plus POM_5V_GPU / POM_5V_CPU
    assert first["rails_mw"] == {"POM_5V_IN": 1750, "POM_5V_GPU": 0, "POM_5V_CPU": 366}
    assert (first["ram_used_mb"], first["ram_total_mb"], first["swap_used_mb"]) == (1923, 3964, 191)
    assert first["cpu_load_pct"] == [5, 4, 3, 6]
    assert first["cpu_freq_mhz"] == [1224] * 4
    assert (first["gpu_load_pct"], first["gpu_freq_mhz"]) == (0, 76)
    assert first["temps_c"]["CPU"] == 40.0
    assert "PMIC" not in first["temps_c"]  # a constant, not a measurement
    assert first["timestamp"] is None
    rows = by_line(parsed)
    five_watt = rows[9]  # 5 W mode: two cores off
    assert five_watt["cpu_load_pct"] == [22, 67, None, None]
    assert five_watt["power_total_mw"] == 2003
    non_root = rows[7]
    assert non_root["gpu_load_pct"] == 0 and non_root["gpu_freq_mhz"] is None
    assert [r["power_total_mw"] for r in parsed.rows] == [1750, 1022, 900, 2003, 3014, 1003, 2545]


def test_tegrastats_xavier_totals_by_board_rule():
    parsed = tf.parse_file("tegrastats", fixture("tegrastats_xavier_jp4.txt"))
    totals = [(r["power_total_mw"], r["total_rail"]) for r in parsed.rows]
    agx = "sum(GPU,CPU,SOC,CV,VDDRQ,SYS5V)"  # AGX Xavier has no total rail
    assert totals == [(3346, agx), (3229, agx), (3113, agx), (7632, agx), (4067, "VDD_IN"), (6140, "VDD_IN")]
    nx = parsed.rows[4]
    assert (nx["gpu_load_pct"], nx["gpu_freq_mhz"]) == (62, 306)
    assert nx["cpu_freq_mhz"][-1] == 1267


def test_tegrastats_no_rails_is_null_power_and_timestamp_kept(tmp_path):
    log = tmp_path / "t.log"
    log.write_text(
        "RAM 2000/3964MB (lfb 1x4MB) SWAP 0/1982MB (cached 0MB) CPU [1%@102,2%@102,off,off]"
        " EMC_FREQ 0% GR3D_FREQ 0% PLL@20C CPU@25.5C\n"
        "03-06-2024 10:00:01 RAM 2000/7620MB (lfb 1x4MB) CPU [1%@729,2%@729] GR3D_FREQ 0%"
        " cpu@45.5C VDD_IN 2763mW/2846mW VDD_CPU_GPU_CV 400mW/410mW\n"
    )
    rows = tf.parse_file("tegrastats", log).rows
    assert rows[0]["power_total_mw"] is None and rows[0]["total_rail"] is None
    assert rows[0]["rails_mw"] == {}
    assert rows[1]["timestamp"] == "03-06-2024 10:00:01"
    assert (rows[1]["power_total_mw"], rows[1]["total_rail"]) == (2763, "VDD_IN")
    data = json.loads(tf.render(tf.parse_file("tegrastats", log), "json"))
    assert data[0]["power_total_mw"] is None  # null, never 0


def test_perf_stat_values():
    parsed = tf.parse_file("perf-stat", fixture("perf_stat_csv_real.txt"))
    rows = by_line(parsed)
    assert rows[3]["event"] == "slots" and rows[3]["status"] == "not counted"
    assert rows[3]["value"] is None
    assert rows[10]["status"] == tf.PERF_EMPTY and rows[10]["event"] is None  # `,,,,,`
    cpu_clock = rows[12]
    assert cpu_clock["time"] == pytest.approx(1.001323097)
    assert (cpu_clock["event"], cpu_clock["value"], cpu_clock["unit"]) == ("cpu-clock", 8013.48, "msec")
    assert cpu_clock["metric_value"] == 8.013 and cpu_clock["metric_unit"] == "CPUs utilized"
    assert rows[20]["time"] is None and rows[20]["event"] == "cpu-clock"  # summary row
    socket = [r for r in parsed.rows if r["aggr"] == "S0"]
    cycles = [r for r in socket if r["event"] == "cycles"][0]
    assert cycles["value"] == 189544 and cycles["pct_running"] == 67.0
    assert socket[-1]["status"] == "metric-only" and socket[-1]["metric_value"] == 1.34
    empty_metric = [r for r in parsed.rows if r["time"] == pytest.approx(1.000838672)][0]
    assert empty_metric["metric_value"] is None and empty_metric["metric_unit"] is None


def test_vcgencmd_values():
    parsed = tf.parse_file("vcgencmd", fixture("rpi_vcgencmd_outputs.txt"))
    rows = parsed.rows
    assert [r["quantity"] for r in rows] == (
        ["throttled"] * 3 + ["temp_c"] * 2 + ["arm_freq_hz"] * 3 + ["core_volts"]
    )
    assert rows[0]["value"] == 0 and not any(rows[0]["flags"].values())
    flags = rows[2]["flags"]  # 0x50005
    assert rows[2]["value"] == 0x50005
    assert flags["under_voltage_now"] and flags["throttled_now"]
    assert flags["under_voltage_occurred"] and flags["throttled_occurred"]
    assert not flags["arm_freq_capped_now"]
    assert rows[3]["value"] == 80.6
    assert rows[5]["value"] == 1141118000
    assert rows[8]["value"] == 0.8563
    assert rows[5]["command"] == "vcgencmd measure_clock arm"
    assert all(r["reason"] is None for r in rows)


def test_vcgencmd_firmware_error_pmic_and_garbage(tmp_path):
    log = tmp_path / "vc.txt"
    log.write_text(
        "# cmd: vcgencmd measure_volts core\n"
        'error=1 error_msg="Command not registered"\n'
        "frequency(1)=500000000\n"
        "# cmd: vcgencmd pmic_read_adc\n"
        "   VDD_CORE_A current(7)=1.40000000A\n"
        "      EXT5V_V volt(24)=5.12000000V\n"
        "temp=hot\n"
        "hello world\n"
    )
    parsed = tf.parse_file("vcgencmd", log)
    rows = by_line(parsed)
    assert rows[2]["value"] is None and rows[2]["quantity"] == "core_volts"
    assert rows[2]["reason"] == "firmware: Command not registered"
    assert rows[3]["quantity"] == "clock1_freq_hz" and rows[3]["value"] == 500000000
    assert (rows[5]["quantity"], rows[5]["value"]) == ("pmic_VDD_CORE_amps", 1.4)
    assert (rows[6]["quantity"], rows[6]["value"]) == ("pmic_EXT5V_volts", 5.12)
    assert [n for n, _ in parsed.errors] == [7, 8]
    lines = tf.error_lines(log, parsed)
    assert lines[0].startswith("%s:7: " % log) and lines[1].startswith("%s:8: " % log)


# --- errors, formats ------------------------------------------------------------------------


def test_garbage_line_reported_with_its_number(tmp_path):
    source = fixture("tegrastats_nano_jp4.txt").read_text().splitlines()
    source.insert(3, "tegrastats: something went wrong")  # becomes line 4
    source.insert(4, "")  # blank: skipped, not an error
    log = tmp_path / "nano.log"
    log.write_text("\n".join(source) + "\n")
    parsed = tf.parse_file("tegrastats", log)
    assert [n for n, _ in parsed.errors] == [4]
    assert len(parsed.rows) == 7
    assert tf.error_lines(log, parsed) == ["%s:4: %s" % (log, parsed.errors[0][1])]
    assert "something went wrong" not in tf.render(parsed, "csv")  # errors are not in stdout


def test_perf_garbage_line_is_an_error(tmp_path):
    log = tmp_path / "perf.txt"
    log.write_text("# started on Mon Jan  1\n\n12,,task-clock,100,100.00,,\nnot perf at all\n")
    parsed = tf.parse_file("perf-stat", log)
    assert [r["line"] for r in parsed.rows] == [3]
    assert [n for n, _ in parsed.errors] == [4]


def test_csv_header_order_and_encoding():
    parsed = tf.parse_file("tegrastats", fixture("tegrastats_nano_jp4.txt"))
    reader = csv.reader(io.StringIO(tf.render(parsed, "csv")))
    header = next(reader)
    assert header[: len(TEGRA_HEADER)] == TEGRA_HEADER
    first = dict(zip(header, next(reader)))
    assert first["power_total_mw"] == "1750"
    assert json.loads(first["cpu_load_pct"]) == [5, 4, 3, 6]
    assert json.loads(first["rails_mw"])["POM_5V_IN"] == 1750
    assert first["timestamp"] == ""  # null -> empty field

    perf = tf.parse_file("perf-stat", fixture("perf_stat_csv_real.txt"))
    header = next(csv.reader(io.StringIO(tf.render(perf, "csv"))))
    assert header[: len(PERF_HEADER)] == PERF_HEADER
    vc = tf.parse_file("vcgencmd", fixture("rpi_vcgencmd_outputs.txt"))
    header = next(csv.reader(io.StringIO(tf.render(vc, "csv"))))
    assert header[:5] == ["line", "quantity", "value", "flags", "reason"]


@pytest.mark.parametrize(
    "kind, name",
    [
        ("tegrastats", "tegrastats_xavier_jp4.txt"),
        ("perf-stat", "perf_stat_csv_real.txt"),
        ("vcgencmd", "rpi_vcgencmd_outputs.txt"),
    ],
)
def test_json_round_trips(kind, name):
    parsed = tf.parse_file(kind, fixture(name))
    data = json.loads(tf.render(parsed, "json"))
    assert data == parsed.rows
    assert list(data[0]) == list(parsed.columns)


def test_empty_file_gives_header_only(tmp_path):
    log = tmp_path / "empty.log"
    log.write_text("# nothing recorded\n\n")
    parsed = tf.parse_file("tegrastats", log)
    assert parsed.rows == [] and parsed.errors == []
    assert tf.render(parsed, "csv").splitlines()[0].startswith("line,timestamp,")
    assert json.loads(tf.render(parsed, "json")) == []


def test_unknown_kind_names_the_valid_ones(tmp_path):
    with pytest.raises(UserError) as info:
        tf.parse_file("jtop", tmp_path / "x.log")
    for kind in tf.KINDS:
        assert kind in str(info.value)


def test_missing_or_unreadable_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.log"
    with pytest.raises(UserError) as info:
        tf.parse_file("tegrastats", missing)
    assert str(missing) in str(info.value)
    with pytest.raises(UserError) as info:
        tf.parse_file("perf-stat", tmp_path)
    assert str(tmp_path) in str(info.value)


def test_unknown_format(tmp_path):
    parsed = tf.ParsedFile("tegrastats", columns=tf.TEGRASTATS_COLUMNS)
    with pytest.raises(UserError):
        tf.render(parsed, "xml")


# --- trtexec: one document per file --------------------------------------------------------

TRTEXEC = Path(__file__).resolve().parent / "fixtures" / "parsers" / "trtexec"
TRTEXEC_HEADER = ["file", "tensorrt_version", "throughput_qps", "section", "statistic", "value_ms"]


def trtexec_fixture(name):
    path = TRTEXEC / name
    assert path.is_file(), "fixture %s is missing: the project keeps its fixtures" % path
    return path


def test_trtexec_cli_json(workspace):
    path = trtexec_fixture("trtexec_trt8201_jetson_nano_full.txt")
    proc = workspace.edgebench("telemetry", "parse", "--kind", "trtexec", path, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert list(doc)[:3] == ["file", "tensorrt_version", "throughput_qps"]
    assert (doc["file"], doc["tensorrt_version"], doc["throughput_qps"]) == (str(path), "8.2.1", 11.0613)
    assert doc["latency"] == {
        "min_ms": 89.312,
        "max_ms": 91.492,
        "mean_ms": 90.3919,
        "median_ms": 90.3035,
        "p99_ms": 91.492,
    }
    assert doc["host_latency"]["median_ms"] == 90.3167  # End-to-End Host Latency
    assert doc["gpu_compute_time"]["mean_ms"] == 90.1061
    assert (doc["status"], doc["errors"], doc["warnings"]) == ("passed", [], [])


def test_trtexec_cli_csv(workspace):
    path = trtexec_fixture("trtexec_trt100300_jetson_jp6_nodatatransfers_summary.txt")
    proc = workspace.edgebench("telemetry", "parse", "--kind", "trtexec", path, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == TRTEXEC_HEADER
    assert all(r[:3] == [str(path), "10.3.0", "318.007"] for r in rows[1:])
    cells = dict(((r[3], r[4]), r[5]) for r in rows[1:])
    assert len(cells) == len(rows) - 1 == 5 * 7  # five sections, seven statistics each
    assert cells[("latency", "min")] == "3.12671"
    assert cells[("latency", "p90")] == "3.14587"
    assert cells[("gpu_compute_time", "p95")] == "3.14771"
    assert cells[("enqueue_time", "p99")] == "1.0658"
    assert cells[("h2d_latency", "max")] == "0.0"  # --noDataTransfers: printed as 0 ms
    assert [r[3] for r in rows[1::7]] == [
        "latency",
        "gpu_compute_time",
        "enqueue_time",
        "h2d_latency",
        "d2h_latency",
    ]


def test_trtexec_not_a_log_is_one_line_and_exit_1(workspace):
    path = trtexec_fixture("dpkg_nvinfer_jetson_nano_jp46x.txt")
    proc = workspace.edgebench("telemetry", "parse", "--kind", "trtexec", path, "--format", "json")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["%s: %s" % (path, tf.NOT_TRTEXEC)]


def test_trtexec_every_fixture_parses():
    for path in sorted(TRTEXEC.glob("*.txt")):
        parsed = tf.parse_file("trtexec", path)
        expected = json.loads(path.with_suffix(".json").read_text())["trtexec"]
        doc = json.loads(tf.render(parsed, "json"))
        assert doc == dict(expected, file=str(path)), path.name
        header = next(csv.reader(io.StringIO(tf.render(parsed, "csv"))))
        assert header == TRTEXEC_HEADER
        assert (parsed.errors != []) == path.name.startswith("dpkg_"), path.name


def test_trtexec_failed_run_is_one_row_and_unreadable_values_are_errors(tmp_path):
    parsed = tf.parse_file("trtexec", trtexec_fixture("trtexec_trt100300_jetson_unknown_option_error.txt"))
    assert parsed.errors == []  # the log's own errors are its content, in the JSON
    assert [(r["tensorrt_version"], r["section"], r["value_ms"]) for r in parsed.rows] == [
        ("10.3.0", None, None)
    ]
    assert len(parsed.document["errors"]) == 3 and parsed.document["status"] == "failed"

    log = tmp_path / "trt.log"
    log.write_text(
        "[I] Throughput: 12.5 qps\n"
        "[I] Latency: min = 1 ms, max = oops ms, mean = 1.5 ms, median = 1.5 ms, percentile(99%) = 2 ms\n"
    )
    parsed = tf.parse_file("trtexec", log)
    assert [n for n, _ in parsed.errors] == [2]
    assert tf.error_lines(log, parsed)[0].startswith("%s:2: Latency max: " % log)
    values = dict((r["statistic"], r["value_ms"]) for r in parsed.rows)
    assert values == {"min": 1.0, "max": None, "mean": 1.5, "median": 1.5, "p99": 2.0}
    line = [r for r in tf.render(parsed, "csv").splitlines() if ",max," in r][0]
    assert line.endswith(",latency,max,")  # null, never 0


def test_trtexec_empty_file(tmp_path):
    log = tmp_path / "empty.log"
    log.write_text("")
    parsed = tf.parse_file("trtexec", log)
    assert parsed.rows == []
    assert tf.error_lines(log, parsed) == ["%s: %s" % (log, tf.NOT_TRTEXEC)]
    assert tf.render(parsed, "csv") == ",".join(TRTEXEC_HEADER) + "\n"
