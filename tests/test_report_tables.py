"""Tests for edgebench.orchestrator.report.tables."""

import io
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pandas as pd
import pytest

from edgebench.orchestrator.report import tables as t


def trial(**overrides):
    """One trial row with sensible defaults."""
    row = dict(
        trial_id=1,
        sweep_id="s1",
        device="jetson_nano",
        model="mobilenet_v2",
        model_sha256="abc",
        backend="onnxruntime",
        precision="fp32",
        batch=1,
        status="ok",
        iterations=100,
        latency_p50_ms=12.34,
        latency_p90_ms=13.0,
        latency_p95_ms=13.5,
        latency_p99_ms=14.0,
        latency_mean_ms=12.5,
        latency_std_ms=0.4,
        throughput_ips=80.0,
        peak_rss_mb=210.44,
        model_size_mb=13.6,
        power_mw=4321.4,
        energy_mj=53.3,
        accuracy=0.901,
        params=3_504_872,
        finished_at="2024-05-01T10:00:00Z",
        simulated=False,
    )
    row.update(overrides)
    return row


def frame(*rows):
    return pd.DataFrame(list(rows))


# ---------------------------------------------------------------- selection


def test_the_latest_sweep_with_an_ok_run_of_a_cell_wins():
    df = frame(
        trial(trial_id=1, latency_p50_ms=20.0, finished_at="2024-05-01T10:00:00Z"),
        trial(trial_id=2, sweep_id="s2", latency_p50_ms=10.0, finished_at="2024-05-02T10:00:00Z"),
        trial(trial_id=3, latency_p50_ms=99.0, status="failed", finished_at="2024-05-03T10:00:00Z"),
        trial(trial_id=4, device="rpi4", finished_at="2024-05-01T09:00:00Z"),
    )
    latest = t.cell_rows(df)
    assert sorted(zip(latest["device"], latest["sweep_id"])) == [("jetson_nano", "s2"), ("rpi4", "s1")]
    table = t.device_table(df)
    assert list(table["Device"]) == ["jetson_nano", "rpi4"]
    assert table.loc[0, "Latency (ms)"] == pytest.approx(10.0)  # the latest sweep of the cell


def test_a_cells_runs_in_its_latest_sweep_give_the_median_of_their_medians():
    df = frame(
        trial(trial_id=1, sweep_id="old", latency_p50_ms=50.0, finished_at="2024-05-01T10:00:00Z"),
        trial(trial_id=2, sweep_id="old", latency_p50_ms=51.0, finished_at="2024-05-01T10:01:00Z"),
        trial(trial_id=3, run=1, latency_p50_ms=10.0, power_mw=4000.0, finished_at="2024-05-02T10:00:00Z"),
        trial(trial_id=4, run=2, latency_p50_ms=12.5, power_mw=4200.0, finished_at="2024-05-02T10:01:00Z"),
        trial(trial_id=5, run=3, latency_p50_ms=11.0, power_mw=4100.0, finished_at="2024-05-02T10:02:00Z"),
        trial(trial_id=6, run=4, status="failed", latency_p50_ms=None, finished_at="2024-05-03T10:00:00Z"),
    )
    table = t.device_table(df)
    assert len(table) == 1 and table.loc[0, "Latency (ms)"] == pytest.approx(11.0)
    assert table.loc[0, "Power (mW)"] == pytest.approx(4100.0)
    cells = md_cells(t.render(table, "markdown"), 0)
    # mean 11.17, s 1.258, t(2 df) 4.303: [8.04, 14.29], 3.29 above the median 11.0; the runs
    # spread 1.258/11 = 11.4%, above 10% of their median: unstable (†), the reason under the table
    # Every row has 3 runs: the footnote says so once, the cells do not repeat it.
    assert cells[2] == "11.0 ± 3.3†" and cells[3] == "4100 ± 248"
    notes = t.render(table, "markdown").split("\n\n")[1:]
    assert any(
        n.startswith("Latency ±: 95% t interval over the runs' medians")
        and "3 runs per cell" in n
        and n.endswith("Power and energy ±: the same over the runs' values.")
        for n in notes
    )
    assert any(n.startswith("† Latency unstable") and "jetson_nano: runs disagree: " in n for n in notes)


def md_cells(markdown: str, row: int) -> list:
    return [c.strip() for c in markdown.splitlines()[2 + row].strip("|").split("|")]


def test_csv_table_has_runs_and_the_latency_interval_per_call():
    df = frame(
        trial(trial_id=1, run=1, batch=4, latency_p50_ms=40.0),
        trial(trial_id=2, run=2, batch=4, latency_p50_ms=40.4),
        trial(trial_id=3, run=3, batch=4, latency_p50_ms=40.2),
        trial(trial_id=4, device="rpi4", latency_p50_ms=12.34),
    )
    parsed = pd.read_csv(io.StringIO(t.render(t.device_table(df), "csv")), comment="#").set_index("Device")
    assert list(parsed.columns[-7:]) == [
        "Runs",
        "Latency CI95 low (ms)",
        "Latency CI95 high (ms)",
        "Power CI95 low (mW)",
        "Power CI95 high (mW)",
        "Energy CI95 low (mJ/inf)",
        "Energy CI95 high (mJ/inf)",
    ]
    nano = parsed.loc["jetson_nano"]
    assert (nano["Runs"], nano["Latency (ms/call)"], nano["Latency (ms/sample)"]) == (3, 40.2, 10.1)
    assert (nano["Latency CI95 low (ms)"], nano["Latency CI95 high (ms)"]) == (39.7, 40.7)  # 40.2 ± 0.497
    assert parsed.loc["rpi4", "Runs"] == 1 and pd.isna(parsed.loc["rpi4", "Latency CI95 low (ms)"])
    assert (nano["Power CI95 low (mW)"], nano["Power CI95 high (mW)"]) == (4321, 4321)  # 3 equal runs
    assert pd.isna(parsed.loc["rpi4", "Power CI95 low (mW)"])
    # The rows differ in their runs: each cell says its own.
    md = t.render(t.device_table(df), "markdown")
    assert md_cells(md, 0)[3:6] == ["40.2 ± 0.5 (3 runs)", "10.1 ± 0.1 (3 runs)", "4321 ± 0 (3 runs)"]
    assert md_cells(md, 1)[3:6] == ["12.3 (1 run)", "12.3 (1 run)", "4321 (1 run)"]
    assert "1\u20133 runs per cell, as given in each cell" in md


def test_latest_sweep_with_mixed_datetime_and_string_finish_times():
    df = frame(
        trial(trial_id=1, sweep_id="s2", finished_at=datetime(2024, 5, 2, tzinfo=timezone.utc)),
        trial(trial_id=2, sweep_id="s1", finished_at="2024-05-01T23:00:00+00:00"),
    )
    assert list(t.cell_rows(df)["sweep_id"]) == ["s2"]


def test_no_ok_rows_is_an_empty_table():
    df = frame(trial(status="failed"))
    assert t.cell_rows(df).empty
    assert t.device_table(df).empty


# ---------------------------------------------------------------- device table


def test_device_table_paper_columns_and_accuracy_percent():
    table = t.device_table(frame(trial(), trial(device="rpi4")))
    assert list(table.columns) == [
        "Device",
        "Accuracy (%)",
        "Latency (ms)",
        "Power (mW)",
        "Energy (mJ/inf)",
        "Memory (MB)",
        "Model size (MB)",
    ]
    assert table.loc[0, "Accuracy (%)"] == pytest.approx(90.1)
    assert "| 90.1 |" in t.render(table, "markdown").replace("  ", "")


def test_identifying_columns_only_when_varying():
    df = frame(trial(), trial(device="rpi4"), trial(device="rpi4", precision="int8", batch=8))
    table = t.device_table(df)
    assert list(table.columns[:3]) == ["Device", "Precision", "Batch"]
    assert "Model" not in table.columns and "Backend" not in table.columns
    assert list(table["Batch"]) == [1, 1, 8]
    # Filtering to one model still hides Model.
    assert "Model" not in t.device_table(df, model="mobilenet_v2").columns

    two_models = frame(trial(), trial(model="resnet18"))
    assert list(t.device_table(two_models).columns[:2]) == ["Device", "Model"]
    assert list(t.device_table(two_models, model="resnet18")["Device"]) == ["jetson_nano"]


def test_device_table_sorted():
    df = frame(
        trial(device="rpi4"), trial(device="jetson_nano", batch=8), trial(device="jetson_nano", batch=1)
    )
    table = t.device_table(df)
    assert list(zip(table["Device"], table["Batch"])) == [("jetson_nano", 1), ("jetson_nano", 8), ("rpi4", 1)]


# ---------------------------------------------------------------- model table


def test_model_table_params_in_millions_and_columns():
    df = frame(trial(), trial(model="resnet18", params=11_689_512, accuracy=0.697))
    table = t.model_table(df)
    assert list(table.columns) == ["Model", "Accuracy (%)", "Latency (ms)", "Power (mW)", "Params (M)"]
    assert list(table["Model"]) == ["mobilenet_v2", "resnet18"]
    assert table.loc[0, "Params (M)"] == pytest.approx(3.504872)
    md = t.render(table, "markdown")
    assert "3.50" in md and "11.69" in md and "69.7" in md


def test_model_table_device_column_when_varying_and_filter():
    df = frame(trial(), trial(device="rpi4"))
    assert list(t.model_table(df).columns[:2]) == ["Model", "Device"]
    only = t.model_table(df, device="rpi4")
    assert "Device" not in only.columns and len(only) == 1


# ---------------------------------------------------------------- missing values


def test_missing_power_is_dash_in_markdown_and_empty_in_csv():
    table = t.device_table(frame(trial(power_mw=None, energy_mj=None, peak_rss_mb=float("nan"))))
    md = t.render(table, "markdown")
    row = md.splitlines()[2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "\u2013" and cells[4] == "\u2013" and cells[5] == "\u2013"
    assert "0" not in cells[3:6] and "nan" not in [c.lower() for c in cells]

    csv = t.render(table, "csv")
    parsed = pd.read_csv(io.StringIO(csv))
    assert pd.isna(parsed.loc[0, "Power (mW)"]) and pd.isna(parsed.loc[0, "Memory (MB)"])
    assert csv.splitlines()[1] == "jetson_nano,90.1,12.3,,,,13.60,1,,"  # 1 run: no interval

    html = t.render(table, "html")
    assert '<td class="num">\u2013</td>' in html


def test_number_formatting():
    df = frame(
        trial(
            device="a",
            latency_p50_ms=0.41234,
            power_mw=1234.6,
            energy_mj=0.53312,
            peak_rss_mb=210.44,
            model_size_mb=13.6,
        ),
        trial(device="b", latency_p50_ms=209.6),
        trial(device="c", latency_p50_ms=12.34),
    )
    lines = t.render(t.device_table(df), "csv").splitlines()
    assert lines[1] == "a,90.1,0.412,1235,0.533,210.4,13.60,1,,"
    assert lines[2].split(",")[2] == "210"
    assert lines[3].split(",")[2] == "12.3"


# ---------------------------------------------------------------- simulated


def test_simulated_marker_and_footnote():
    df = frame(trial(), trial(device="rpi4", simulated=True))
    table = t.device_table(df)
    assert list(table["Device"]) == ["jetson_nano", "rpi4 (simulated)"]
    for fmt in t.FORMATS:
        out = t.render(table, fmt)
        assert "not real measurements" in out.splitlines()[-1] or (
            fmt == "latex" and "not real measurements" in out.splitlines()[-2]
        )

    mt = t.model_table(df)
    assert list(mt["Model"]) == ["mobilenet_v2", "mobilenet_v2 (simulated)"]
    assert "not real measurements" in t.render(mt, "markdown").splitlines()[-1]


def test_no_footnote_without_simulated_rows():
    out = t.render(t.device_table(frame(trial())), "markdown")
    assert "simulated" not in out


# ---------------------------------------------------------------- latex / misc


def test_latex_booktabs_escaping_and_dash():
    df = frame(trial(power_mw=None), trial(device="rpi4", simulated=True))
    out = t.render(t.device_table(df), "latex", caption="Results for 50% of runs_x")
    for token in (
        r"\begin{table}",
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
        r"\end{table}",
        r"Accuracy (\%)",
        r"jetson\_nano",
        r"\caption{Results for 50\% of runs\_x}",
    ):
        assert token in out
    assert " -- " in out and "\u2013" not in out
    assert "Accuracy (%)" not in out
    default = t.render(t.device_table(df), "latex")
    assert r"\caption{Edge device benchmarking metrics}" in default
    assert r"\caption{Model comparison}" in t.render(t.model_table(df), "latex")


def test_empty_table_renders_message():
    empty = t.device_table(frame(trial(status="failed")))
    for fmt in ("markdown", "latex", "html"):
        assert "no successful trials to report" in t.render(empty, fmt)
    assert t.render(empty, "csv").startswith("Device,")
    assert t.render(pd.DataFrame(), "markdown") == "no successful trials to report"
    assert t.render(t.model_table(pd.DataFrame()), "latex") == "no successful trials to report"


def test_unknown_format_raises():
    with pytest.raises(ValueError):
        t.render(t.device_table(frame(trial())), "pdf")


# ---------------------------------------------------------------- the n behind each figure


def test_the_evaluation_samples_are_said_once_when_shared_and_per_cell_when_not():
    shared = t.device_table(frame(trial(accuracy_n=1797), trial(device="rpi4", accuracy_n=1797)))
    md = t.render(shared, "markdown")
    assert md_cells(md, 0)[1] == "90.1 ± 1.5"
    assert "Accuracy: top-1 on the evaluation set (n = 1,797 samples)" in md
    differ = t.device_table(frame(trial(accuracy_n=1797), trial(device="rpi4", accuracy_n=200)))
    md = t.render(differ, "markdown")
    assert md_cells(md, 0)[1] == "90.1 ± 1.5 (n = 1,797)" and md_cells(md, 1)[1] == "90.1 ± 5.0 (n = 200)"
    assert "Accuracy: top-1 on the evaluation set (n as given in each cell)" in md
    parsed = pd.read_csv(io.StringIO(t.render(differ, "csv")), comment="#").set_index("Device")
    assert list(parsed["Accuracy n"]) == [1797, 200]
    assert (parsed.loc["rpi4", "Accuracy CI95 low (%)"], parsed.loc["rpi4", "Accuracy CI95 high (%)"]) == (
        85.1,
        93.4,
    )


def test_power_measured_in_fewer_runs_than_the_latency_says_how_many():
    df = frame(
        trial(trial_id=1, run=1, latency_p50_ms=10.0, power_mw=4000.0, energy_mj=40.0),
        trial(trial_id=2, run=2, latency_p50_ms=10.2, power_mw=4100.0, energy_mj=41.0),
        trial(trial_id=3, run=3, latency_p50_ms=10.1, power_mw=None, energy_mj=None),
    )
    table = t.device_table(df)
    md = t.render(table, "markdown")
    assert md_cells(md, 0)[2:4] == ["10.1 ± 0.2", "4050 ± 635"]  # t(1 df) 12.71 over two runs
    assert "3 runs per cell" in md
    assert (
        "Power and energy ±: the same over the values of the runs that measured them (2 runs per cell)." in md
    )
    csv = t.render(table, "csv")
    parsed = pd.read_csv(io.StringIO(csv), comment="#")
    assert (parsed.loc[0, "Runs"], parsed.loc[0, "Power runs"], parsed.loc[0, "Energy runs"]) == (3, 2, 2)
    assert "# Power and energy CI95 low, high: the same over the runs' values" in csv


def test_csv_rows_name_the_device_plainly_and_flag_simulated_and_emulated_in_columns():
    df = frame(trial(), trial(device="rpi4", simulated=True), trial(device="pi_qemu", emulated=True))
    parsed = pd.read_csv(io.StringIO(t.render(t.device_table(df), "csv")), comment="#").set_index("Device")
    assert list(parsed.index) == ["jetson_nano", "pi_qemu", "rpi4"]
    assert list(parsed["Simulated"]) == [False, False, True] and list(parsed["Emulated"]) == [
        False,
        True,
        False,
    ]
    assert "Simulated" not in t.render(t.device_table(frame(trial())), "csv")


# ---------------------------------------------------------------- LaTeX ready to paste


def latex_problems(text: str) -> list:
    """What would stop a pasted table from compiling: unbalanced braces or environments, a row
    whose cells do not match the column spec, booktabs rules out of order, a special character
    left unescaped, or a character outside ASCII."""
    problems = []
    body = [line for line in text.splitlines() if not line.startswith("%")]
    joined = "\n".join(body)
    depth = 0
    for i, ch in enumerate(joined):
        escaped = i > 0 and joined[i - 1] == "\\"
        if ch in "{}" and not escaped:
            depth += 1 if ch == "{" else -1
            if depth < 0:
                problems.append("a } closes nothing at %d" % i)
        if ch in "&%$#_^~" and not escaped and ch != "&" and ch != "$":
            problems.append("unescaped %r at %d: %r" % (ch, i, joined[max(0, i - 20) : i + 20]))
        if ord(ch) > 127:
            problems.append("non-ASCII %r at %d" % (ch, i))
    if depth:
        problems.append("braces unbalanced by %d" % depth)
    if len(re.findall(r"(?<!\\)\$", joined)) % 2:
        problems.append("an odd number of unescaped $")
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", joined):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            problems.append("\\end{%s} does not match" % name)
    problems += ["\\begin{%s} never ends" % name for name in stack]
    rules = [line for line in body if line in ("\\toprule", "\\midrule", "\\bottomrule")]
    if rules != ["\\toprule", "\\midrule", "\\bottomrule"]:
        problems.append("booktabs rules out of order: %s" % rules)
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", joined).group(1)
    inside = body[body.index("\\toprule") + 1 : body.index("\\bottomrule")]
    for line in inside:
        if line == "\\midrule":
            continue
        cells = len(re.findall(r"(?<!\\)&", line)) + 1
        if cells != len(spec) or not line.endswith("\\\\"):
            problems.append("row has %d cells for %d columns: %s" % (cells, len(spec), line))
    return problems


def awkward_frame():
    """Names with every LaTeX special character, every mark, simulated and emulated rows, a batch
    above 1 and cells with different numbers of runs."""
    return frame(
        trial(trial_id=1, device="lab_#1 & co", model="net_50%", backend="ort{x}~^", run=1, accuracy_n=500),
        trial(
            trial_id=2, device="lab_#1 & co", model="net_50%", backend="ort{x}~^", run=2, latency_p50_ms=14.9
        ),
        trial(
            trial_id=3,
            device="c:\\pi <b>|",
            model="net_50%",
            backend="ort{x}~^",
            simulated=True,
            batch=8,
            accuracy_n=200,
        ),
        trial(trial_id=4, device="$HOME", model="net_50%", backend="ort{x}~^", emulated=True, throttled=True),
        trial(trial_id=5, device="x", model="net_50%", backend="tvm", energy_reliable=False, unstable=True),
    )


def test_latex_is_well_formed_with_awkward_names_and_every_mark():
    for table in (t.device_table(awkward_frame()), t.model_table(awkward_frame())):
        out = t.render(table, "latex")
        assert latex_problems(out) == []
        names = (r"lab\_\#1 \& co", r"c:\textbackslash{}pi \textless{}b\textgreater{}\textbar{}", r"\$HOME")
        for token in names + (r"ort\{x\}\textasciitilde{}\textasciicircum{}",):
            assert token in out, token
        assert r"net\_50\%" in out or table.attrs["kind"] == "device"  # one model: no Model column
        for token in (r"\dag", r"\ddag", r"\S", r"$\pm$", r"\label{tab:edgebench-", "(n = 500)", "(2 runs)"):
            assert token in out, token
        assert out.splitlines()[0] == "% edgebench table: needs \\usepackage{booktabs} in the preamble"


def test_the_checker_finds_what_breaks_latex():
    good = t.render(t.device_table(awkward_frame()), "latex")
    assert any("unescaped '_'" in p for p in latex_problems(good.replace(r"lab\_", "lab_")))
    assert any(
        "cells for" in p
        for p in latex_problems(good.replace(r" \\" + "\n\\bottomrule", " & x \\\\\n\\bottomrule"))
    )
    assert any("braces" in p for p in latex_problems(good.replace(r"\caption{", r"\caption{{")))
    assert any("non-ASCII" in p for p in latex_problems(good + "\n\u00b1"))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles_in_a_document_with_booktabs(tmp_path):
    tables_tex = "\n\n".join(
        t.render(table, "latex")
        for table in (t.device_table(awkward_frame()), t.model_table(awkward_frame()))
    )
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n%s\n\\end{document}\n"
        % tables_tex
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Missing character" not in log and "Undefined control sequence" not in log
