"""The paper's figures drawn (`edgebench plot KIND`, report/figures.py) from a store filled
through Store.ingest: real agent trials on this machine (ONNX Runtime, the example models with an
eval set, so accuracy and the confusion counts come from the device's own predictions) and the
records of a simulated Jetson with a power sensor. Integration: matplotlib takes about a second
a figure."""

import math

import pytest

pytest.importorskip("matplotlib")

from matplotlib.text import Annotation  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from edgebench.agent.trial import run_trial  # noqa: E402
from edgebench.orchestrator import cli  # noqa: E402
from edgebench.orchestrator.inventory import Device  # noqa: E402
from edgebench.orchestrator.modelinfo import inspect_model  # noqa: E402
from edgebench.orchestrator.report import figures  # noqa: E402
from edgebench.orchestrator.report.plots import SIMULATED_LABEL  # noqa: E402
from edgebench.orchestrator.store import Store  # noqa: E402
from edgebench.orchestrator.store.queries import confusion_rows  # noqa: E402
from edgebench.orchestrator.sweep import Cell  # noqa: E402

from .conftest import MODELS  # noqa: E402
from .test_figures import (  # noqa: E402
    PNG_SIGNATURE,
    SHORT,
    ingest,
    models_with_eval_sets,
    real_trial,
    simulated_trial,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """`local`: the two example models at batch 1 (2 runs) and 4 (1 run), measured for real;
    `nano01`: simulated, with power, the two models at batch 1 in 2 runs."""
    folder = tmp_path_factory.mktemp("figures")
    models = models_with_eval_sets(folder)
    s = Store("sqlite:///%s" % (folder / "r.db"))
    local, nano = Device(name="local", connection="local"), Device(name="nano01", connection="local")
    for device in (local, nano):
        s.upsert_device(device)
    for model in models.values():
        s.upsert_model(model)
    sweep_id = s.create_sweep({"quick": True})
    for model in models.values():
        for run in (1, 2):
            real_trial(s, sweep_id, local, model, 1, run, 2)
        real_trial(s, sweep_id, local, model, 4, 1, 1)
    for run, jitter in ((1, 1.0), (2, 1.04)):
        simulated_trial(s, sweep_id, nano, models["dws_cnn"], run, 4.0 * jitter, 0.9, 2100.0)
        simulated_trial(s, sweep_id, nano, models["baseline_cnn"], run, 30.0 * jitter, 0.95, 3900.0)
    yield s
    s.close()


def texts(fig):
    """Every text a figure shows: titles, labels, tick labels, annotations, legends, notes."""
    found = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        found += [t.get_text() for t in ax.texts]
        found += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            found += [t.get_text() for t in legend.get_texts()]
    return found


def one(kind, store, **options):
    return figures.build(kind, store, **options)[0]


@pytest.mark.parametrize("kind", figures.KINDS)
def test_each_kind_writes_a_valid_png_and_svg(store, tmp_path, kind):
    png = figures.draw(kind, store, tmp_path / (kind + ".png"))
    svg = figures.draw(kind, store, tmp_path / (kind + ".svg"))
    assert png.read_bytes().startswith(PNG_SIGNATURE) and len(png.read_bytes()) > 10_000
    assert b"<svg" in svg.read_bytes()[:2000]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kind + ".png", kind + ".svg"])


def test_the_report_draws_every_kind_and_a_confusion_matrix_per_model_and_device(store, tmp_path):
    drawn = figures.draw_report_figures(store, tmp_path / "figs")
    kinds = [f.kind for f in drawn]
    assert set(kinds) == set(figures.KINDS) and not any(f.skipped for f in drawn)
    assert kinds.count("confusion") == 6  # 2 models at batch 1 and 4 on local, at batch 1 on nano01
    for figure in drawn:
        assert set(figure.paths) == {"png", "svg"} and all(p.is_file() for p in figure.paths.values())
    assert len({p for f in drawn for p in f.paths.values()}) == 2 * len(drawn)  # no file drawn over
    radar = [f for f in drawn if f.kind == "radar"][0]
    assert "simulated data" in radar.note


def test_the_report_skips_a_kind_without_data_and_says_why(tmp_path):
    s = Store("sqlite:///%s" % (tmp_path / "r.db"))
    model = inspect_model(MODELS / "dws_cnn.onnx")  # no eval set: no accuracy, no confusion
    device = Device(name="local", connection="local")
    s.upsert_device(device)
    s.upsert_model(model)
    sweep_id = s.create_sweep({"quick": True})
    trial_id = s.create_trial(sweep_id, Cell(device, model, "onnxruntime", 1), {})
    records = []
    run_trial(dict(SHORT, trial_id=trial_id, model=str(model.path)), records.append)
    ingest(s, records)
    drawn = {f.kind: f for f in figures.draw_report_figures(s, tmp_path / "figs", formats=("svg",))}
    for kind in ("tradeoff", "confusion", "batch", "power"):
        assert drawn[kind].skipped and drawn[kind].paths == {}
        assert drawn[kind].note.startswith("nothing to draw")
    assert "accuracy" in drawn["tradeoff"].note and "--batch 1,2,4,8" in drawn["batch"].note
    for kind in ("radar", "platform", "latency"):
        assert not drawn[kind].skipped and set(drawn[kind].paths) == {"svg"}
    assert "no eval set" in drawn["radar"].note and "no power sensor" in drawn["radar"].note
    s.close()


def test_tradeoff_names_the_front_and_draws_latency_against_accuracy(store):
    drawn = one("tradeoff", store, device="nano01")
    found = texts(drawn.fig)
    ax = drawn.fig.axes[0]
    assert "top-1 accuracy (%)" in ax.get_ylabel() and "latency per call (ms)" in ax.get_xlabel()
    names = [t for t in ax.texts if isinstance(t, Annotation)]
    bold = [t.get_text() for t in names if t.get_fontweight() == "bold"]
    assert sorted(bold) == ["baseline_cnn", "dws_cnn"]  # faster-worse and slower-better: both on it
    assert any(t.startswith("Pareto front on nano01 (bold): dws_cnn, baseline_cnn") for t in found)
    assert "batch 1 only" not in " ".join(found)  # nano01 ran batch 1 only


def test_tradeoff_uses_one_batch_and_the_measured_accuracy(store):
    drawn = one("tradeoff", store, device="local")
    assert any(n.startswith("batch 1 only: cells at batch 4 left out") for n in drawn.notes)
    points = drawn.fig.axes[0].lines[0].get_xydata()  # the errorbar's points
    frame = {r["model"]: r for r in confusion_rows(store) if r["device"] == "local" and r["batch"] == 1}
    assert len(points) == 2
    assert sorted(points[:, 1]) == pytest.approx(sorted(100 * r["accuracy"] for r in frame.values()))
    assert one("tradeoff", store, device="local", batch=4).title == "Latency vs accuracy on local (batch 4)"


def test_simulated_data_is_tagged_on_the_figure(store):
    for kind in ("tradeoff", "radar", "platform", "latency", "confusion", "power"):
        found = texts(one(kind, store, device="nano01").fig)
        assert sum(SIMULATED_LABEL in t for t in found) >= 2, kind  # title and on the axes
    for kind in ("tradeoff", "radar", "platform", "latency", "confusion"):
        found = texts(one(kind, store, device="local").fig)
        assert not any(SIMULATED_LABEL in t for t in found), kind


def test_missing_power_is_not_drawn_as_zero(store):
    drawn = one("platform", store)
    power_ax = drawn.fig.axes[1]
    heights = [p.get_height() for p in power_ax.patches]
    assert len(heights) == 2 and all(h > 1000 for h in heights)  # nano01's two models only
    assert [t.get_text() for t in power_ax.texts].count("no sensor") == 2  # local's two models
    assert any("power absent" in n and "local" in n for n in drawn.notes)
    radar = one("radar", store, device="local")
    polar = radar.fig.axes[0]
    assert "power (mW)\nno data" in [t.get_text() for t in polar.get_xticklabels()]
    for line in polar.lines:
        radii = list(line.get_ydata())
        assert math.isnan(radii[2])  # the power axis: a gap, not 0
    assert any("power on local: absent for every cell (no power sensor)" in n for n in radar.notes)


def test_confusion_figure_shows_counts_recall_and_what_was_measured(store):
    drawn = one("confusion", store, device="nano01", model="dws_cnn")
    found = texts(drawn.fig)
    assert (
        drawn.title == "Confusion matrix: dws_cnn on nano01\nonnxruntime, fp32, batch 1; n = 40, top-1 90.0%"
    )
    assert drawn.simulated
    ax = drawn.fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    cells = [t for t in ax.texts if t.get_text().isdigit()]
    assert sum(int(t.get_text()) for t in cells) == 40
    assert "recall" in found and found.count("100%") == 6 and found.count("75%") == 4  # 36 of 40 right


def test_latency_violins_come_from_every_runs_raw_samples(store):
    drawn = one("latency", store, device="nano01")
    ax = drawn.fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["baseline_cnn\nn=400, 2 runs", "dws_cnn\nn=400, 2 runs"]
    assert ax.get_ylabel() == "latency per call (ms)"
    local = one("latency", store, device="local")
    assert [t.get_text().split("\n")[0] for t in local.fig.axes[0].get_xticklabels()] == [
        "baseline_cnn b1",
        "baseline_cnn b4",
        "dws_cnn b1",
        "dws_cnn b4",
    ]


def test_batch_scaling_per_call_per_sample_and_throughput(store):
    drawn = one("batch", store)
    call_ax, sample_ax, throughput_ax = drawn.fig.axes
    assert call_ax.get_ylabel() == "latency per call (ms)"
    assert throughput_ax.get_ylabel() == "throughput (inferences/s)"
    per_call = {bars.get_label(): bars.lines[0].get_xydata() for bars in call_ax.containers}
    assert sorted(per_call) == ["baseline_cnn", "dws_cnn"]
    per_sample = [bars.lines[0].get_xydata() for bars in sample_ax.containers]
    for calls, samples in zip(per_call.values(), per_sample):
        assert list(calls[:, 0]) == [1, 4]
        assert samples[:, 1] == pytest.approx(calls[:, 1] / calls[:, 0])
    assert any("one batch size only" in n and "nano01" in n for n in drawn.notes)


def test_plot_commands_write_the_figure_and_name_what_is_missing(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    db = str(store.engine.url)
    result = runner.invoke(cli.app, ["plot", "tradeoff", "--db", db])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "figures" / "tradeoff.png").read_bytes().startswith(PNG_SIGNATURE)
    out = tmp_path / "c.svg"
    result = runner.invoke(
        cli.app,
        ["plot", "confusion", "--db", db, "--model", "dws_cnn", "--device", "local", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert b"<svg" in out.read_bytes()[:2000]
    result = runner.invoke(
        cli.app, ["plot", "radar", "--db", db, "--device", "pi9", "--out", str(tmp_path / "r.png")]
    )
    assert result.exit_code == 2 and "no device 'pi9'" in result.output
    assert not (tmp_path / "r.png").exists()
