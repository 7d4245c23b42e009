"""The five digits variants in models/: what each card says is true of its file, and the README's
main job (a sweep of models/ on `local`) prints their table with accuracy, latency and params."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

MODELS = Path(__file__).resolve().parent.parent / "models"
VARIANTS = [
    "digits_teacher",
    "digits_student",
    "digits_student_pruned",
    "digits_student_pruned_int8sym",
    "digits_student_pruned_int8u8s8",
]


def card_field(card: str, name: str) -> str:
    found = re.search(r"^\| %s \| (.+?) \|$" % re.escape(name), card, re.MULTILINE)
    assert found, "the card has no %r row" % name
    return found.group(1)


@pytest.mark.parametrize("name", VARIANTS)
def test_each_card_names_its_file_and_its_accuracy_on_the_eval_set_holds(name):
    model, card = MODELS / (name + ".onnx"), (MODELS / (name + ".md")).read_text()
    assert card_field(card, "sha256").strip("`") == hashlib.sha256(model.read_bytes()).hexdigest()
    with np.load(MODELS / (name + ".eval.npz")) as data:
        x, y = data["x"], data["y"]
    assert x.shape == (450, 1, 8, 8) and sorted(set(y.tolist())) == list(range(10))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0].argmax(axis=1)
    stated = float(re.match(r"([\d.]+)%", card_field(card, "host accuracy")).group(1))
    assert 100.0 * (predicted == y).mean() == pytest.approx(stated, abs=0.01)


@pytest.mark.integration
def test_the_main_job_prints_the_five_variants_with_measured_accuracy_latency_and_params(workspace):
    proc = workspace.edgebench("sweep", MODELS, "--device", "local", "--quick", "--repeats", "1", check=True)
    rows = {
        line.split("|")[1].strip(): line for line in proc.stdout.splitlines() if line.startswith("| digits_")
    }
    assert sorted(rows) == sorted(VARIANTS)
    for line in rows.values():
        accuracy, latency, params = (line.split("|")[i].strip() for i in (3, 4, 6))
        assert re.match(r"9\d\.\d ± \d\.\d$", accuracy), line  # measured on the device, with its interval
        assert re.match(r"[\d.]+", latency) and params not in ("", "\u2013"), line
