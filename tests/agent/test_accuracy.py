"""Top-1 accuracy and its confusion counts on the device (agent/accuracy.py). The counting is
pure Python (runs under 3.6 without numpy); top1 itself needs numpy, a trial onnxruntime."""

import os
import shutil
import tempfile
import unittest

from agent.accuracy import CONFUSION_MAX_CLASSES, confusion_counts, confusion_metrics, top1
from agent.trial import run_trial

from .helpers import DWS_CNN, HAVE_NUMPY, HAVE_ORT, Collector


class ConfusionCountsTest(unittest.TestCase):
    def test_rows_are_the_true_class_and_columns_the_prediction(self):
        counts = confusion_counts([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
        self.assertEqual(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])

    def test_counts_sum_to_n_and_the_diagonal_is_the_correct_ones(self):
        labels = [i % 4 for i in range(50)]
        predicted = [(i * 7) % 4 for i in range(50)]
        counts = confusion_counts(labels, predicted, 4)
        self.assertEqual(sum(map(sum, counts)), 50)
        correct = sum(1 for t, p in zip(labels, predicted) if t == p)
        self.assertEqual(sum(counts[i][i] for i in range(4)), correct)

    def test_classes_cover_the_outputs_and_the_labels(self):
        by_outputs = confusion_metrics([0, 1], [1, 1], width=10)["accuracy_confusion"]
        self.assertEqual(len(by_outputs), 10)
        self.assertTrue(all(len(row) == 10 for row in by_outputs))
        by_labels = confusion_metrics([0, 5], [0, 1], width=2)["accuracy_confusion"]
        self.assertEqual(len(by_labels), 6)  # a label beyond the outputs still has its row
        self.assertEqual(by_labels[5][1], 1)

    def test_float_labels_that_are_whole_numbers_count(self):
        found = confusion_metrics([0.0, 1.0, 1.0], [0, 1, 0], width=2)
        self.assertEqual(found, {"accuracy_confusion": [[1, 0], [1, 1]]})

    def test_labels_that_are_not_class_indices_send_a_note_instead(self):
        for labels in ([0, -1], [0.5, 1], [float("nan"), 1], [True, False], [[0, 1], [1, 0]], ["a", "b"]):
            found = confusion_metrics(labels, [0, 1], width=2)
            self.assertNotIn("accuracy_confusion", found)
            self.assertIn("not class indices", found["accuracy_confusion_note"])

    def test_too_many_classes_send_a_note_not_a_huge_matrix(self):
        found = confusion_metrics([0, 1], [0, 1], width=CONFUSION_MAX_CLASSES + 1)
        self.assertNotIn("accuracy_confusion", found)
        self.assertIn("%d classes" % (CONFUSION_MAX_CLASSES + 1), found["accuracy_confusion_note"])
        self.assertEqual(
            len(confusion_metrics([0], [0], width=CONFUSION_MAX_CLASSES)["accuracy_confusion"]), 256
        )


class ScriptedClassifier(object):
    """A backend whose logits pick a scripted class per input: the input's first value."""

    def __init__(self, batch_dim="batch", classes=3):
        self.batch_dim, self.classes = batch_dim, classes

    def inputs(self):
        return [("x", "tensor(float)", [self.batch_dim, 1])]

    def run(self, feed):
        import numpy

        chosen = feed["x"][:, 0].astype(int)
        logits = numpy.zeros((len(chosen), self.classes), dtype="float32")
        logits[numpy.arange(len(chosen)), chosen] = 1.0
        return [logits]


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed")
class Top1Test(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def eval_set(self, predicted, labels):
        import numpy

        path = os.path.join(self.folder, "eval.npz")
        numpy.savez(path, x=numpy.array(predicted, dtype="float32").reshape(-1, 1), y=numpy.array(labels))
        return path

    def test_confusion_agrees_with_the_accuracy(self):
        path = self.eval_set([0, 1, 2, 2, 1, 0, 0], [0, 1, 2, 1, 1, 2, 0])
        accuracy, n, confusion = top1(ScriptedClassifier(), path, batch=2)
        counts = confusion["accuracy_confusion"]
        self.assertEqual(n, 7)
        self.assertEqual(sum(map(sum, counts)), n)
        self.assertAlmostEqual(sum(counts[i][i] for i in range(3)) / float(n), accuracy)
        self.assertEqual(counts, [[2, 0, 0], [0, 2, 1], [1, 0, 1]])

    def test_a_fixed_batch_counts_only_the_samples_evaluated(self):
        path = self.eval_set([0, 1, 2, 2, 1], [0, 1, 2, 2, 0])
        accuracy, n, confusion = top1(ScriptedClassifier(batch_dim=2), path, batch=2)
        self.assertEqual(n, 4)  # the last partial chunk is left out, from both
        self.assertEqual(sum(map(sum, confusion["accuracy_confusion"])), 4)
        self.assertEqual(accuracy, 1.0)


@unittest.skipUnless(HAVE_ORT and HAVE_NUMPY, "onnxruntime is not installed")
@unittest.skipUnless(os.path.isfile(DWS_CNN), "models/examples/dws_cnn.onnx is missing")
class TrialConfusionTest(unittest.TestCase):
    def test_a_trial_with_an_eval_set_returns_the_confusion_counts(self):
        import numpy

        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        path = os.path.join(folder, "eval.npz")
        rng = numpy.random.RandomState(0)
        numpy.savez(path, x=rng.rand(12, 3, 32, 32).astype("float32"), y=rng.randint(0, 10, 12))
        job = {
            "trial_id": "confusion1",
            "backend": "onnxruntime",
            "model": DWS_CNN,
            "eval_set": path,
            "quick": True,
            "backend_options": {"intra_op_threads": 1},
        }
        emit = Collector()
        self.assertEqual(run_trial(job, emit), "ok")
        metrics = [r for r in emit.records if r["type"] == "result"][0]["metrics"]
        counts = metrics["accuracy_confusion"]
        self.assertEqual(metrics["accuracy_samples"], 12)
        self.assertEqual(sum(map(sum, counts)), 12)
        self.assertAlmostEqual(sum(counts[i][i] for i in range(len(counts))) / 12.0, metrics["accuracy"])

    def test_a_trial_without_an_eval_set_has_no_confusion(self):
        emit = Collector()
        job = {"trial_id": "noeval", "backend": "onnxruntime", "model": DWS_CNN, "quick": True}
        self.assertEqual(run_trial(job, emit), "ok")
        metrics = [r for r in emit.records if r["type"] == "result"][0]["metrics"]
        self.assertIsNone(metrics["accuracy"])
        self.assertNotIn("accuracy_confusion", metrics)


if __name__ == "__main__":
    unittest.main()
