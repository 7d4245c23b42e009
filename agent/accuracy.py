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


def top1(backend, path, batch):
    """(accuracy as a fraction, number of samples evaluated). Runs in chunks of the trial's
    batch; a model with a fixed batch leaves out the last partial chunk."""
    import numpy

    x, y = load_eval_set(path)
    name, _, declared = backend.inputs()[0]
    fixed = isinstance(declared[0], int) and declared[0] > 0
    dtype = {"tensor(float)": "float32", "tensor(float16)": "float16"}.get(backend.inputs()[0][1], "float32")
    correct = seen = 0
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        if fixed and len(chunk) != declared[0]:
            break
        logits = backend.run({name: chunk.astype(dtype)})[0]
        predicted = numpy.asarray(logits).reshape(len(chunk), -1).argmax(axis=1)
        correct += int((predicted == y[start : start + len(chunk)]).sum())
        seen += len(chunk)
    if seen == 0:
        raise EvalSetError("eval set %s: no full batch of %d" % (path, batch))
    return correct / float(seen), seen
