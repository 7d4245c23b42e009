"""Top-1 accuracy on the device, with the trial's own backend, session and precision: that is
where quantization errors show. The eval set is a numpy .npz with `x` (inputs, NCHW) and `y`
(integer labels), sent beside the model by the host."""


class EvalSetError(ValueError):
    pass


def load_eval_set(path):
    import numpy  # present wherever a real backend (onnxruntime) is

    try:
        with numpy.load(path) as data:
            x, y = data["x"], data["y"]
    except (IOError, OSError, KeyError, ValueError) as exc:
        raise EvalSetError("cannot read eval set %s: %s" % (path, exc))
    if len(x) != len(y) or len(x) == 0:
        raise EvalSetError("eval set %s: %d inputs for %d labels" % (path, len(x), len(y)))
    return x, y


# A confusion matrix is sent for at most this many classes (65,536 counts, the output check's
# bound): ImageNet's 1000 would be a million numbers per trial, and unreadable as a figure.
CONFUSION_MAX_CLASSES = 256


def top1(backend, path, batch):
    """(accuracy as a fraction, number of samples evaluated, confusion metrics). Runs in chunks
    of the trial's batch; a model with a fixed batch leaves out the last partial chunk. The
    confusion metrics (`confusion_metrics`) come from the same predictions."""
    import numpy

    x, y = load_eval_set(path)
    name, _, declared = backend.inputs()[0]
    fixed = isinstance(declared[0], int) and declared[0] > 0
    dtype = {"tensor(float)": "float32", "tensor(float16)": "float16"}.get(backend.inputs()[0][1], "float32")
    correct = seen = width = 0
    predictions = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        if fixed and len(chunk) != declared[0]:
            break
        logits = numpy.asarray(backend.run({name: chunk.astype(dtype)})[0]).reshape(len(chunk), -1)
        predicted = logits.argmax(axis=1)
        correct += int((predicted == y[start : start + len(chunk)]).sum())
        seen += len(chunk)
        width = max(width, logits.shape[1])
        predictions.extend(int(p) for p in predicted)
    if seen == 0:
        raise EvalSetError("eval set %s: no full batch of %d" % (path, batch))
    return correct / float(seen), seen, confusion_metrics(y[:seen].tolist(), predictions, width)


def confusion_metrics(labels, predicted, width):
    """{"accuracy_confusion": counts} for the trial's metrics (`confusion_counts`, over as many
    classes as the model has outputs or the labels name), or {"accuracy_confusion_note": why}
    when the labels are not class indices or the classes are too many to send."""
    if not all(_is_class_index(v) for v in labels):
        return {"accuracy_confusion_note": "the eval set's labels are not class indices"}
    classes = max([width] + [int(v) + 1 for v in labels] + [p + 1 for p in predicted])
    if classes > CONFUSION_MAX_CLASSES:
        return {
            "accuracy_confusion_note": "%d classes, more than the %d a confusion matrix is sent for"
            % (classes, CONFUSION_MAX_CLASSES)
        }
    return {"accuracy_confusion": confusion_counts(labels, predicted, classes)}


def _is_class_index(label):
    """A whole number >= 0 (3 or 3.0); not a bool, NaN, a list (one-hot labels) or a string."""
    if isinstance(label, bool) or not isinstance(label, (int, float)):
        return False
    return float(label).is_integer() and label >= 0


def confusion_counts(labels, predicted, classes):
    """Counts as a list of `classes` rows of `classes` ints: row the true class, column the
    predicted one. Their sum is the number of samples, their diagonal the correct ones."""
    counts = [[0] * classes for _ in range(classes)]
    for truth, guess in zip(labels, predicted):
        counts[int(truth)][int(guess)] += 1
    return counts
