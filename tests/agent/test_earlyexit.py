"""Early exit on separate pieces (agent/earlyexit.py): the stopping rule per criterion, exit
shares, a threshold above 1 running every sample to the final head, the sweep's figures on a
fake clock (standard library only), and real ONNX pieces in ONNX Runtime (skipped without it)."""

import importlib.util
import json
import math
import os
import shutil
import tempfile
import unittest

from agent.earlyexit import (
    CRITERIA,
    MANIFEST_FORMAT,
    EarlyExitError,
    EarlyExitModel,
    confidence,
    load_manifest,
    open_model,
    sweep,
)

from .helpers import HAVE_NUMPY, HAVE_ORT

HAVE_ONNX = importlib.util.find_spec("onnx") is not None

# Piece costs on the fake clock (ms): what the sweep's latencies must add up to.
SEGMENT_MS, EXIT_MS, FINAL_MS, GRAPH_MS = 1.0, 0.1, 2.0, 4.5

PIECES = [
    {
        "name": "segment_1",
        "kind": "segment",
        "file": "segment_1.onnx",
        "input": "input",
        "output": "features_1",
    },
    {
        "name": "exit_1",
        "kind": "exit",
        "file": "exit_1.onnx",
        "input": "features_1",
        "output": "exit_1_logits",
    },
    {
        "name": "segment_2",
        "kind": "segment",
        "file": "segment_2.onnx",
        "input": "features_1",
        "output": "features_2",
    },
    {
        "name": "exit_2",
        "kind": "exit",
        "file": "exit_2.onnx",
        "input": "features_2",
        "output": "exit_2_logits",
    },
    {"name": "final", "kind": "final", "file": "final.onnx", "input": "features_2", "output": "logits"},
]


def manifest():
    return {"format": MANIFEST_FORMAT, "pieces": [dict(p) for p in PIECES]}


# A sample is (exit 1's logits, exit 2's logits, the final head's logits); 4 classes.
SURE = [8.0, 0.0, 0.0, 0.0]  # every criterion: confident
TIE = [3.0, 3.0, 0.0, 0.0]  # max softmax 0.48, margin 0, entropy score 0.36
UNIFORM = [0.0, 0.0, 0.0, 0.0]  # every score at its lowest
LEANING = [2.0, 0.0, 0.0, 0.0]  # max softmax 0.711, margin 0.615, entropy score 0.338
SAMPLES = [
    (SURE, UNIFORM, [0.0, 0.0, 1.0, 0.0]),  # leaves at exit 1, says 0
    (TIE, [0.0, 10.0, 0.0, 0.0], UNIFORM),  # leaves at exit 2, says 1
    (UNIFORM, UNIFORM, [0.0, 0.0, 0.0, 5.0]),  # runs to the final head, says 3
    (LEANING, UNIFORM, [0.0, 0.0, 4.0, 0.0]),  # leaves at exit 1 only by max softmax above 0.62
]


class FakeClock(object):
    """Time moves only when a fake piece works."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def spend(self, ms):
        self.now += ms / 1000.0


def fake_runners(clock=None, calls=None):
    """Pieces on lists of samples: segments pass the batch on, an exit reads its slot."""

    def piece(name, cost_ms, slot=None):
        def run(batch):
            if calls is not None:
                calls.append((name, len(batch)))
            if clock is not None:
                clock.spend(cost_ms)
            return list(batch) if slot is None else [list(sample[slot]) for sample in batch]

        return run

    return {
        "segment_1": piece("segment_1", SEGMENT_MS),
        "exit_1": piece("exit_1", EXIT_MS, 0),
        "segment_2": piece("segment_2", SEGMENT_MS),
        "exit_2": piece("exit_2", EXIT_MS, 1),
        "final": piece("final", FINAL_MS, 2),
    }


def entropy_score(logits):
    p = [math.exp(v) for v in logits]
    p = [v / sum(p) for v in p]
    return 1.0 - (-sum(v * math.log(v) for v in p)) / math.log(len(p))


class ConfidenceTest(unittest.TestCase):
    def test_each_criterion_scores_as_defined(self):
        e2 = math.exp(2.0)
        self.assertAlmostEqual(confidence(LEANING, "max_softmax"), e2 / (e2 + 3))
        self.assertAlmostEqual(confidence(LEANING, "margin"), (e2 - 1) / (e2 + 3))
        self.assertAlmostEqual(confidence(LEANING, "entropy"), entropy_score(LEANING))
        for criterion in CRITERIA:
            self.assertAlmostEqual(
                confidence(UNIFORM, criterion), 0.25 if criterion == "max_softmax" else 0.0
            )
            self.assertGreater(confidence(SURE, criterion), 0.99)
        self.assertEqual(confidence(TIE, "margin"), 0.0)

    def test_large_logits_do_not_overflow(self):
        self.assertAlmostEqual(confidence([1000.0, 0.0], "max_softmax"), 1.0)
        self.assertAlmostEqual(confidence([1000.0, 1000.0], "entropy"), 0.0)

    def test_unknown_criterion_is_named(self):
        with self.assertRaises(EarlyExitError) as caught:
            confidence(SURE, "vibes")
        self.assertIn("max_softmax", str(caught.exception))


class StoppingRuleTest(unittest.TestCase):
    def setUp(self):
        self.calls = []
        self.model = EarlyExitModel(manifest(), fake_runners(calls=self.calls))

    def test_each_sample_leaves_at_its_first_confident_exit(self):
        for criterion in CRITERIA:
            predicted, exited = self.model.run(SAMPLES[:3], criterion, 0.9)
            self.assertEqual(exited, [0, 1, 2], criterion)
            self.assertEqual(predicted, [0, 1, 3], criterion)

    def test_criteria_disagree_where_they_should(self):
        # LEANING scores 0.711 by max softmax, 0.615 by margin, 0.338 by entropy.
        def exit_of_leaning(criterion, threshold):
            return self.model.run([SAMPLES[3]], criterion, threshold)[1][0]

        self.assertEqual(exit_of_leaning("max_softmax", 0.65), 0)
        self.assertEqual(exit_of_leaning("margin", 0.65), 2)
        self.assertEqual(exit_of_leaning("margin", 0.6), 0)
        self.assertEqual(exit_of_leaning("entropy", 0.6), 2)
        self.assertEqual(exit_of_leaning("entropy", 0.3), 0)

    def test_later_pieces_run_only_on_the_samples_still_in(self):
        self.model.run(SAMPLES[:3], "max_softmax", 0.9)
        self.assertEqual(
            self.calls, [("segment_1", 3), ("exit_1", 3), ("segment_2", 2), ("exit_2", 2), ("final", 1)]
        )

    def test_no_piece_runs_after_every_sample_has_left(self):
        self.model.run([SAMPLES[0]], "max_softmax", 0.9)
        self.assertEqual(self.calls, [("segment_1", 1), ("exit_1", 1)])

    def test_a_threshold_above_1_runs_every_sample_to_the_final_head(self):
        for criterion in CRITERIA:
            predicted, exited = self.model.run(SAMPLES, criterion, 1.0001)
            self.assertEqual(exited, [2, 2, 2, 2])
            self.assertEqual(predicted, [2, 0, 3, 2])

    def test_threshold_0_answers_everything_at_the_first_exit(self):
        self.assertEqual(self.model.run(SAMPLES, "entropy", 0.0)[1], [0, 0, 0, 0])

    def test_bad_thresholds_are_refused(self):
        for bad in (-0.1, float("nan"), "0.9", None, True):
            with self.assertRaises(EarlyExitError):
                self.model.run(SAMPLES, "max_softmax", bad)


class ManifestTest(unittest.TestCase):
    def test_pieces_that_do_not_chain_are_refused_with_the_piece_named(self):
        broken = manifest()
        broken["pieces"][3]["input"] = "features_1"
        with self.assertRaises(EarlyExitError) as caught:
            EarlyExitModel(broken, fake_runners())
        self.assertIn("pieces[3] (exit_2)", str(caught.exception))
        no_final = manifest()
        no_final["pieces"] = no_final["pieces"][:4]
        with self.assertRaises(EarlyExitError):
            EarlyExitModel(no_final, fake_runners())

    def test_load_manifest_reads_a_folder_and_refuses_other_json(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        path = os.path.join(folder, "manifest.json")
        with open(path, "w") as stream:
            json.dump(manifest(), stream)
        loaded = load_manifest(folder)
        self.assertEqual([p["name"] for p in loaded["pieces"]], [p["name"] for p in PIECES])
        self.assertEqual(loaded["folder"], folder)
        with open(path, "w") as stream:
            json.dump({"format": "something/else"}, stream)
        with self.assertRaises(EarlyExitError) as caught:
            load_manifest(folder)
        self.assertIn(path, str(caught.exception))


class SweepTest(unittest.TestCase):
    """The sweep on fake pieces whose costs move a fake clock: every figure is exact."""

    def setUp(self):
        self.clock = FakeClock()
        self.model = EarlyExitModel(manifest(), fake_runners(self.clock))
        self.labels = [0, 1, 3, 0]  # the final head says [2, 0, 3, 2]: right once

        def graph(batch):
            self.clock.spend(GRAPH_MS)
            return [[sample[2] for sample in batch]]

        self.curve = sweep(
            self.model, SAMPLES, self.labels, [0.0, 0.65, 1.5], "max_softmax", 2, {"one": graph}, self.clock
        )

    def row(self, threshold):
        return [r for r in self.curve["rows"] if r["threshold"] == threshold][0]

    def test_exit_shares_and_accuracy_per_threshold(self):
        everything_early = self.row(0.0)
        self.assertEqual(everything_early["exit_shares"], [1.0, 0.0, 0.0])
        self.assertEqual(everything_early["exit_accuracy"], [0.5, None, None])  # none left there: None
        middle = self.row(0.65)  # SURE and LEANING at exit 1, TIE at exit 2, UNIFORM at the end
        self.assertEqual(middle["exit_shares"], [0.5, 0.25, 0.25])
        self.assertEqual(middle["accuracy"], 1.0)
        never = self.row(1.5)
        self.assertEqual(never["exit_shares"], [0.0, 0.0, 1.0])
        self.assertEqual(never["accuracy"], 0.25)
        for row in self.curve["rows"]:
            self.assertAlmostEqual(sum(row["exit_shares"]), 1.0)
        self.assertEqual(self.curve["exit_accuracy"], [0.5, 0.75, 0.25])  # each head on every sample

    def test_latencies_and_speed_up_follow_the_pieces_run(self):
        full = SEGMENT_MS * 2 + FINAL_MS
        self.assertAlmostEqual(self.curve["full"]["mean_ms"], full)
        self.assertAlmostEqual(self.row(1.5)["mean_ms"], full + 2 * EXIT_MS)
        self.assertAlmostEqual(self.row(0.0)["mean_ms"], SEGMENT_MS + EXIT_MS)
        self.assertAlmostEqual(self.row(0.0)["speedup"], full / (SEGMENT_MS + EXIT_MS))
        middle_ms = [
            SEGMENT_MS + EXIT_MS,
            2 * (SEGMENT_MS + EXIT_MS),
            full + 2 * EXIT_MS,
            SEGMENT_MS + EXIT_MS,
        ]
        self.assertAlmostEqual(self.row(0.65)["mean_ms"], sum(middle_ms) / 4)
        self.assertAlmostEqual(self.row(0.65)["p99_ms"], full + 2 * EXIT_MS)  # 2 rounds: 2 slowest alike
        self.assertAlmostEqual(self.curve["pieces_total"]["mean_ms"], full + 2 * EXIT_MS)
        self.assertAlmostEqual(self.curve["pieces"]["exit_1"]["p50_ms"], EXIT_MS)
        self.assertAlmostEqual(self.curve["graphs"]["one"]["mean_ms"], GRAPH_MS)
        self.assertEqual(self.curve["full"]["accuracy"], 0.25)

    def test_bad_sweep_settings_are_refused(self):
        for kwargs in ({"criterion": "vibes"}, {"rounds": 0}, {"thresholds": [-1.0]}):
            settings = dict(thresholds=[0.5], criterion="max_softmax", rounds=1)
            settings.update(kwargs)
            with self.assertRaises(EarlyExitError):
                sweep(self.model, SAMPLES, self.labels, **settings)
        with self.assertRaises(EarlyExitError):
            sweep(self.model, SAMPLES, self.labels[:2], [0.5])


def write_gather_pieces(folder):
    """Real ONNX pieces for SAMPLES: the input is [batch, 3, 4] (each exit's logits in a row);
    segments are Identity, exit N and the final head Gather row N."""
    from onnx import TensorProto, helper, save

    def model(name, input_name, output_name, row):
        x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 3, 4])
        if row is None:
            y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", 3, 4])
            nodes, inits = [helper.make_node("Identity", [input_name], [output_name])], []
        else:
            y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", 4])
            index = helper.make_tensor("row", TensorProto.INT64, [], [row])
            nodes, inits = [helper.make_node("Gather", [input_name, "row"], [output_name], axis=1)], [index]
        graph = helper.make_graph(nodes, name, [x], [y], inits)
        onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx_model.ir_version = 7
        save(onnx_model, os.path.join(folder, name + ".onnx"))

    rows = {"exit_1": 0, "exit_2": 1, "final": 2}
    for piece in PIECES:
        model(piece["name"], piece["input"], piece["output"], rows.get(piece["name"]))
    with open(os.path.join(folder, "manifest.json"), "w") as stream:
        json.dump(manifest(), stream)


@unittest.skipUnless(HAVE_ORT and HAVE_NUMPY and HAVE_ONNX, "onnxruntime, numpy or onnx is not installed")
class OnnxPiecesTest(unittest.TestCase):
    def test_onnx_pieces_stop_as_the_rule_says(self):
        import numpy

        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        write_gather_pieces(folder)
        model, graphs = open_model(load_manifest(folder), options={"intra_op_threads": 1})
        self.assertEqual(graphs, {})
        x = numpy.array(SAMPLES, dtype=numpy.float32)
        self.assertEqual(model.run(x, "max_softmax", 0.9), ([0, 1, 3, 2], [0, 1, 2, 2]))
        self.assertEqual(model.run(x, "max_softmax", 1.1)[1], [2, 2, 2, 2])
        curve = sweep(model, x, [0, 1, 3, 0], [0.65, 2.0], "max_softmax", rounds=1)
        self.assertEqual([r["exit_shares"] for r in curve["rows"]], [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
        self.assertGreater(curve["full"]["mean_ms"], 0)

    def test_a_missing_piece_file_is_named(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        write_gather_pieces(folder)
        os.remove(os.path.join(folder, "exit_2.onnx"))
        with self.assertRaises(EarlyExitError) as caught:
            open_model(load_manifest(folder))
        self.assertIn("exit_2.onnx", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
