"""The early-exit student as separate ONNX pieces: chained in ONNX Runtime they give the torch
model's logits at every exit, the agent's runner reads their manifest, and
`build_models(recipe="early-exit")` writes pieces, whole graphs, eval set and manifest."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
np = pytest.importorskip("numpy")

from edgebench.agent.earlyexit import MANIFEST_FORMAT, load_manifest, open_model  # noqa: E402
from edgebench.pipeline.architectures import build_student  # noqa: E402
from edgebench.pipeline.build import build_models  # noqa: E402
from edgebench.pipeline.early_exit import (  # noqa: E402
    GRAPH_ALL_EXITS,
    GRAPH_FINAL,
    chain_pieces,
    export_pieces,
    torch_exit_logits,
)
from edgebench.pipeline.onnx_eval import open_session  # noqa: E402

from .conftest import TORCH_THREADS  # noqa: E402

TOLERANCE = 1e-4


def student_with_exits(exits=(0, 1)):
    """A digits-sized student whose BatchNorm statistics are not the identity they start as,
    so a piece that skipped or repeated a layer would show."""
    torch.manual_seed(0)
    model = build_student(1, 10, 8, 0.25, dropout=0.2, early_exits=exits)
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
    return model.eval()


def samples(count=16):
    return np.random.default_rng(0).standard_normal((count, 1, 8, 8)).astype(np.float32)


def test_pieces_chain_to_the_torch_models_logits_at_every_exit(tmp_path):
    model = student_with_exits()
    entries = export_pieces(model, tmp_path, (1, 8, 8), opset=13)
    assert [p["name"] for p in entries["pieces"]] == ["segment_1", "exit_1", "segment_2", "exit_2", "final"]
    assert not model.training  # left as it was
    x = samples()
    expected = torch_exit_logits(model, x)
    chained = chain_pieces(tmp_path, entries["pieces"], x)
    assert len(chained) == len(expected) == 3
    for got, want in zip(chained, expected):
        np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)
    # The whole graphs hold the same network: every exit, and the final head alone.
    all_exits = open_session(tmp_path / entries["graphs"][GRAPH_ALL_EXITS]["file"], TORCH_THREADS).run(
        None, {"input": x}
    )
    for got, want in zip(all_exits, expected):
        np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)
    final = open_session(tmp_path / entries["graphs"][GRAPH_FINAL]["file"], TORCH_THREADS).run(
        None, {"input": x}
    )[0]
    np.testing.assert_allclose(final, expected[-1], atol=TOLERANCE, rtol=0)


def test_the_agents_runner_follows_the_exported_pieces(tmp_path):
    model = student_with_exits()
    entries = export_pieces(model, tmp_path, (1, 8, 8), opset=13)
    (tmp_path / "manifest.json").write_text(json.dumps(dict(entries, format=MANIFEST_FORMAT)))
    runner, graphs = open_model(load_manifest(str(tmp_path)), options={"intra_op_threads": 1})
    assert sorted(graphs) == [GRAPH_ALL_EXITS, GRAPH_FINAL]
    x = samples()
    expected = torch_exit_logits(model, x)
    predicted, exited = runner.run(x, "max_softmax", 1.5)  # above 1: the final head answers all
    assert exited == [2] * len(x)
    assert predicted == expected[-1].argmax(axis=1).tolist()
    predicted, exited = runner.run(x, "entropy", 0.0)  # 0: the first exit answers all
    assert exited == [0] * len(x)
    assert predicted == expected[0].argmax(axis=1).tolist()


def test_one_exit_gives_three_pieces(tmp_path):
    entries = export_pieces(student_with_exits(exits=(1,)), tmp_path, (1, 8, 8), opset=13)
    assert [p["kind"] for p in entries["pieces"]] == ["segment", "exit", "final"]


def test_build_writes_pieces_graphs_eval_set_and_manifest(tmp_path):
    written = build_models(
        recipe="early-exit",
        dataset="digits",
        out=tmp_path,
        seed=0,
        progress=False,
        threads=TORCH_THREADS,
        student_width=0.125,
        student_epochs=1,
    )
    folder = tmp_path / "digits_early_exit"
    assert written[0] == folder / "manifest.json"
    assert all(path.is_file() and path.parent == folder for path in written)
    assert not list(tmp_path.glob("*.onnx"))  # nothing a `sweep` of the folder would take for a model
    manifest = load_manifest(str(folder))
    assert manifest["dataset"] == "digits" and manifest["recipe"] == "early-exit"
    assert [p["kind"] for p in manifest["pieces"]] == ["segment", "exit", "segment", "exit", "final"]
    assert manifest["eval_set"]["file"] == "eval.npz" and manifest["eval_set"]["samples"] > 100
    assert manifest["pieces_max_abs_error"] < 1e-3
    assert set(manifest["host_top1"]) == {"exit_1", "exit_2", "final"}
    assert "student_epochs=1" in manifest["built_by"]
