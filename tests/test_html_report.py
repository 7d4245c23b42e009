"""`edgebench report --html OUT/`: the page, its figures and each row's provenance.

The fast tests write the page from trials stored through the real ingest path, with a stand-in
for the figures. The integration tests sweep a test fleet (simulated boards over real sshd) with
models that carry an evaluation set, write the report with the real figures and open it in
headless Chromium (tests/chromium.py) as a reader would: every image loads, nothing fails, the
tables and figures are there. Outside CI they are skipped where chromium or sshd is missing;
in CI (CI=true) a missing one fails them.
"""

import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from edgebench.agent.protocol import make_record
from edgebench.orchestrator import testfleet
from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.records import validate
from edgebench.orchestrator.report.figures import ReportFigure
from edgebench.orchestrator.report.html import write_html_report
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.sweep import Cell

from .chromium import Chromium, find_chromium
from .conftest import MODELS

IN_CI = os.environ.get("CI") == "true"
needs_chromium = pytest.mark.skipif(not find_chromium() and not IN_CI, reason="chromium not installed")
needs_sshd = pytest.mark.skipif(
    not shutil.which("sshd") and not Path(testfleet.SSHD).exists() and not IN_CI,
    reason="OpenSSH server not installed",
)
# A 1x1 PNG: what the stand-in for the figures writes.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf000000030101005cc5d68a0000000049454e44ae426082"
)
FACTS = {
    "arch": "aarch64",
    "cpu_model": "ARMv8 Processor rev 1 (v8l)",
    "cpus": 4,
    "memory_total_mb": 3956.0,
    "os": "Ubuntu 18.04.6 LTS",
    "kernel": "4.9.253-tegra",
    "board": "NVIDIA Jetson Nano Developer Kit",
    "python": "3.6.9",
    "python_implementation": "CPython",
    "power_sensor": "ina3221x_iio",
    "simulated": True,
}
ENV = {
    "runtime": "onnxruntime",
    "version": "1.10.0",
    "providers": ["CPUExecutionProvider"],
    "intra_op_threads": 4,
}


class Page(HTMLParser):
    """The parts of a page the tests look at: sections, images, links, scripts, text."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.images, self.links, self.tags, self.figures = [], [], [], [], []
        self.text = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "img":
            self.images.append(attrs.get("src"))
        elif tag in ("a", "link"):
            self.links.append(attrs.get("href"))
        elif tag == "figure":
            self.figures.append(attrs.get("data-kind"))

    def handle_data(self, data):
        self.text.append(data)


def read_page(folder: Path) -> Page:
    return Page((folder / "index.html").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the page, from stored trials


def store_run(store, device, sweep_id, run, p50, facts=FACTS, env=ENV, settings=None, scenario=None, **extra):
    dev = Device(name=device, connection="local", platform="jetson-nano")
    store.upsert_device(dev, facts)
    model = inspect_model(MODELS / "dws_cnn.onnx")
    store.upsert_model(model)
    given = dict(settings or {"threads": 4}, device_facts=facts)
    cell = Cell(dev, model, "onnxruntime", 1, run=run, runs=2, **({"scenario": scenario} if scenario else {}))
    trial_id = store.create_trial(sweep_id, cell, given)
    metrics = dict(extra, iterations=100, latency_p50_ms=p50, accuracy=0.9, accuracy_samples=200)
    for record in (
        make_record("trial_start", trial_id=trial_id, agent_version="0.1.0"),
        make_record("result", trial_id=trial_id, metrics=metrics, env=env, samples_ms=[p50] * 100),
        make_record("trial_end", trial_id=trial_id, status="ok", agent_s=1.0),
    ):
        store.ingest(validate(record))
    return trial_id


@pytest.fixture
def store(tmp_path):
    s = Store("sqlite:///%s" % (tmp_path / "r.db"))
    sweep_id = s.create_sweep({"repeats": 2, "quick": True})
    for run, p50 in ((1, 2.0), (2, 2.1)):
        store_run(s, "nano01", sweep_id, run, p50)
    s.sweep_id = sweep_id
    yield s
    s.close()


def fake_figures(store, out_dir, sweep_id=None):
    out_dir = Path(out_dir)
    (out_dir / "tradeoff.png").write_bytes(PNG)
    (out_dir / "tradeoff.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')
    return [
        ReportFigure(
            "tradeoff",
            "Latency vs accuracy",
            {"png": out_dir / "tradeoff.png", "svg": out_dir / "tradeoff.svg"},
            "simulated data",
        ),
        ReportFigure("batch", "Batch-size scaling", note="nothing to draw: one batch size", skipped=True),
    ]


def test_the_page_holds_both_tables_the_figures_and_each_rows_provenance(store, tmp_path):
    written = write_html_report(store, tmp_path / "report", draw_figures=fake_figures)
    assert written.page == tmp_path / "report" / "index.html" and (written.figures, written.skipped) == (1, 1)
    page = read_page(tmp_path / "report")
    assert page.sections == ["table2", "table3", "figures", "provenance"]  # no scenario cells
    assert page.images == ["tradeoff.png"] and page.figures == ["tradeoff"]
    text = " ".join(page.text)
    assert "2.05 ± 0.64" in text and "90.0 ± 4.9" in text  # two runs: mean 2.05, t(1) 12.71
    assert "Batch-size scaling: nothing to draw: one batch size" in text
    # Provenance: the device as probed, the runtime, the settings, the versions, the sweep.
    for needle in (
        "NVIDIA Jetson Nano Developer Kit",
        "aarch64",
        "ARMv8 Processor rev 1 (v8l) (4 cores)",
        "3956 MB",
        "Ubuntu 18.04.6 LTS 4.9.253-tegra",
        "simulated",
        "onnxruntime 1.10.0",
        "CPUExecutionProvider",
        "intra-op 4",
        "threads=4",
        "0.1.0",
        store.sweep_id,
        "nano01 \u00b7 dws_cnn \u00b7 onnxruntime \u00b7 fp32 \u00b7 batch 1",
    ):
        assert needle in text, needle
    assert "edgebench report" in text and " UTC" in text


def test_scenario_cells_get_their_table_and_their_provenance(store, tmp_path):
    stream = dict(scenario_setting="15 fps, drop on overrun", sustained_fps=14.9, deadline_miss_rate=0.01)
    store_run(store, "nano01", store.sweep_id, 1, 3.0, scenario="stream", **stream)
    write_html_report(store, tmp_path / "report", draw_figures=fake_figures)
    page = read_page(tmp_path / "report")
    assert page.sections == ["table2", "table3", "scenarios", "figures", "provenance"]
    text = " ".join(page.text)
    assert "15 fps, drop on overrun" in text and "14.9" in text
    assert "nano01 \u00b7 dws_cnn \u00b7 onnxruntime \u00b7 fp32 \u00b7 batch 1 \u00b7 stream" in text


def test_everything_from_the_store_is_escaped(store, tmp_path):
    sneaky = dict(ENV, providers=["<script>alert(1)</script>"])
    store_run(store, "nano02", store.sweep_id, 1, 2.0, env=sneaky, settings={"note": "<b>bold</b>"})
    write_html_report(store, tmp_path / "report", draw_figures=fake_figures)
    text = (tmp_path / "report" / "index.html").read_text()
    assert "<script>" not in text and "<b>bold</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;b&gt;bold&lt;/b&gt;" in text


def test_the_page_links_only_to_files_beside_it(store, tmp_path):
    write_html_report(store, tmp_path / "report", draw_figures=fake_figures)
    page = read_page(tmp_path / "report")
    assert "script" not in page.tags and "link" not in page.tags  # no script, no external style
    for target in page.images + [h for h in page.links if not h.startswith("#")]:
        assert "://" not in target and not target.startswith("/")
        assert (tmp_path / "report" / target).is_file(), target


def test_a_failed_report_leaves_the_earlier_one_as_it_was(store, tmp_path):
    out = tmp_path / "report"
    write_html_report(store, out, draw_figures=fake_figures)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(store, out_dir, sweep_id=None):
        (Path(out_dir) / "half.png").write_bytes(b"\x89PNG")
        raise RuntimeError("matplotlib fell over")

    with pytest.raises(RuntimeError):
        write_html_report(store, out, draw_figures=broken)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no hidden leftovers


def test_a_new_report_replaces_an_earlier_one_whole(store, tmp_path):
    out = tmp_path / "report"
    write_html_report(store, out, draw_figures=fake_figures)
    (out / "confusion-old_model.png").write_bytes(PNG)  # a figure the new report does not draw
    write_html_report(store, out, draw_figures=fake_figures)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "tradeoff.png", "tradeoff.svg"]


def test_a_folder_of_other_files_is_refused_untouched(store, tmp_path):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious")
    with pytest.raises(UserError, match="holds other files"):
        write_html_report(store, out, draw_figures=fake_figures)
    assert [p.name for p in out.iterdir()] == ["chapter1.tex"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        write_html_report(store, tmp_path / "afile", draw_figures=fake_figures)


def test_html_and_out_together_is_one_line_error(workspace):
    Store(workspace.db_url).close()
    proc = workspace.edgebench("report", "--html", "site", "--out", "t.md")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "give one of them" in proc.stderr


# ---------------------------------------------------------------- the checker itself


@pytest.mark.integration
@needs_chromium
def test_the_checker_reports_what_a_broken_page_does(tmp_path):
    (tmp_path / "good.png").write_bytes(PNG)
    (tmp_path / "fine.html").write_text('<!DOCTYPE html><title>t</title><img src="good.png" alt="">')
    (tmp_path / "broken.html").write_text(
        "<!DOCTYPE html><title>t</title>"
        '<img src="missing.png" alt="">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/style.css">'  # off the page's folder
        '<script>console.error("boom"); undefinedFunction();</script>'
    )
    with Chromium() as browser:
        fine = browser.open(tmp_path / "fine.html")
        broken = browser.open(tmp_path / "broken.html")
    assert fine.problems == [] and fine.checks["images"][0]["width"] == 1
    problems = "\n".join(broken.problems)
    assert "image did not load: missing.png" in problems
    assert "console error: boom" in problems
    assert "exception: ReferenceError: undefinedFunction is not defined" in problems
    assert "request off this machine: http://127.0.0.1:9/style.css" in problems
    assert "ERR_FILE_NOT_FOUND" in problems


# ---------------------------------------------------------------- a real sweep, in Chromium


def edgebench(env: dict, *args):
    return subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )


def models_with_eval_sets(folder: Path) -> Path:
    """The example models, each with a small evaluation set beside it (NAME.eval.npz): random
    images and labels, so accuracy and the confusion matrix are measured (untrained: ~10%)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.standard_normal((40, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, size=40)
    for name in ("dws_cnn", "baseline_cnn"):
        shutil.copy(MODELS / (name + ".onnx"), folder / (name + ".onnx"))
        np.savez(folder / (name + ".eval.npz"), x=images, y=labels)
    return folder


@pytest.fixture(scope="module")
def swept_report(tmp_path_factory):
    """Two simulated boards over real sshd, both models, two quick runs each: the report."""
    root = tmp_path_factory.mktemp("html_report")
    models = models_with_eval_sets(root / "models")
    fleet = root / "fleet"
    testfleet.start(fleet, 2, boards=["jetson-nano", "rpi4"])
    env = dict(
        os.environ,
        EDGEBENCH_INVENTORY=str(fleet / "inventory.yaml"),
        EDGEBENCH_KNOWN_HOSTS=str(fleet / "known_hosts"),
        EDGEBENCH_DB="sqlite:///%s" % (root / "results.db"),
        XDG_CACHE_HOME=str(root / "cache"),
    )
    try:
        swept = edgebench(env, "sweep", models, "--group", "fleet", "--quick", "--repeats", "2")
        assert swept.returncode == 0, swept.stderr
        written = edgebench(env, "report", "--html", root / "report")
        assert written.returncode == 0, written.stderr
        assert "wrote %s" % (root / "report" / "index.html") in written.stderr
    finally:
        testfleet.stop(fleet)
    return root / "report"


@pytest.mark.integration
@needs_chromium
@needs_sshd
def test_the_report_of_a_fleet_sweep_renders_in_headless_chromium(swept_report):
    with Chromium() as browser:
        page = browser.open(swept_report / "index.html")
    assert page.problems == []
    checks = page.checks
    sections = {t["section"]: t for t in checks["tables"]}
    assert sections["table2"]["rows"] == 4 and sections["table3"]["rows"] == 4  # 2 devices x 2 models
    assert sections["table2"]["caption"] == "Edge device benchmarking metrics"
    assert sections["table3"]["caption"] == "Model comparison"
    assert {"tradeoff", "radar", "confusion", "latency"} <= set(checks["figures"])
    assert len(checks["images"]) == len(checks["figures"]) >= 4
    assert all(image["width"] > 0 for image in checks["images"])


@pytest.mark.integration
@needs_sshd
def test_the_report_of_a_fleet_sweep_says_where_each_row_came_from(swept_report):
    page = read_page(swept_report)
    text = " ".join(page.text)
    for needle in (
        "sim01 (simulated)",
        "sim02 (simulated)",
        "onnxruntime ",
        "CPUExecutionProvider",
        "quick=True",
    ):
        assert needle in text, needle
    assert "repeats=2" in text and "simulated" in text
    for target in page.images:
        assert (swept_report / target).stat().st_size > 1000
