"""Early exit: a network cut into separate ONNX pieces (segment 1, exit 1, segment 2, exit 2,
..., final), run in order, each sample stopping at the first exit confident enough.

Why pieces: ONNX Runtime runs a graph whole, so one graph holding every exit computes every
exit on every call and saves no time; here each piece is its own session and the runner
decides between them. The pieces and `manifest.json` come from
`edgebench models build --recipe early-exit` (`pipeline/early_exit.py`).

Confidence: each criterion turns an exit's logits into a score in [0, 1], higher meaning
surer; a sample leaves at the first exit whose score is at least the threshold:
- `max_softmax`: the top class's probability;
- `margin`: the top class's probability minus the runner-up's;
- `entropy`: 1 - H(p) / ln(classes) (1 for a one-hot answer, 0 for a uniform one).
A threshold above 1 is never reached: every sample runs to the final head, which always
answers. Exit indices count the early exits from 0; the final head is `len(exits)`.

Standard library only: the runtime (through the backend seam) is imported when a model is
opened; the stopping rule and the sweep also run on plain lists (the tests' fake pieces).
"""

import json
import math
import os
import time

from .stats import percentile

MANIFEST_FORMAT = "edgebench-early-exit/1"
MANIFEST_NAME = "manifest.json"
CRITERIA = ("max_softmax", "margin", "entropy")
KINDS = ("segment", "exit", "final")
WARMUP_SAMPLES = 20


class EarlyExitError(ValueError):
    """A manifest or a request the runner cannot use; the message names what and where."""


def load_manifest(path):
    """The manifest at `path` (the file, or the folder holding `manifest.json`), checked: its
    format, and pieces that chain (segment, exit, ..., final, each reading the features of the
    segment before it)."""
    if os.path.isdir(path):
        path = os.path.join(path, MANIFEST_NAME)
    try:
        with open(path) as stream:
            manifest = json.load(stream)
    except (IOError, OSError, ValueError) as exc:
        raise EarlyExitError("cannot read early-exit manifest %s: %s" % (path, exc))
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise EarlyExitError("%s: not an early-exit manifest (format must be %s)" % (path, MANIFEST_FORMAT))
    check_pieces(manifest.get("pieces"), path)
    manifest["folder"] = os.path.dirname(os.path.abspath(path))
    return manifest


def check_pieces(pieces, where):
    """Raises EarlyExitError unless `pieces` run in order: a segment first, an exit only after a
    segment, `final` last, and every piece reading the last segment's output."""
    if not isinstance(pieces, list) or not pieces:
        raise EarlyExitError("%s: `pieces` must be a non-empty list" % where)
    features = None
    for index, piece in enumerate(pieces):
        here = "%s: pieces[%d]" % (where, index)
        missing = [
            key for key in ("name", "kind", "file", "input", "output") if not isinstance(piece.get(key), str)
        ]
        if missing:
            raise EarlyExitError("%s lacks %s" % (here, ", ".join(missing)))
        kind = piece["kind"]
        if kind not in KINDS:
            raise EarlyExitError("%s: kind %r is not one of %s" % (here, kind, ", ".join(KINDS)))
        if (kind == "final") != (index == len(pieces) - 1):
            raise EarlyExitError("%s: the last piece, and only it, must be the final head" % here)
        if index == 0 and kind == "exit":
            raise EarlyExitError("%s: an exit needs a segment before it" % here)
        if features is not None and piece["input"] != features:
            raise EarlyExitError(
                "%s (%s) reads %r, but the segment before it gives %r"
                % (here, piece["name"], piece["input"], features)
            )
        if kind == "segment":
            features = piece["output"]


def confidence(logits, criterion):
    """The score in [0, 1] of one sample's logits (a sequence of floats); higher is surer.
    Plain Python: at batch 1, numpy's per-call overhead on ten values cost more than the
    arithmetic (about 0.3 ms per sample here, against 0.2 ms for the whole network)."""
    if criterion not in CRITERIA:
        raise EarlyExitError("unknown exit criterion %r; choose one of %s" % (criterion, ", ".join(CRITERIA)))
    top = max(logits)
    exps = [math.exp(value - top) for value in logits]
    total = sum(exps)  # >= 1: the top class contributes exp(0)
    if criterion == "max_softmax":
        return 1.0 / total
    if criterion == "margin":
        runner_up = sorted(exps)[-2] if len(exps) > 1 else 0.0
        return (1.0 - runner_up) / total
    # H = -sum p log p with log p = (z - top) - log(total)
    entropy = math.log(total) - sum(e * (value - top) for e, value in zip(exps, logits)) / total
    return 1.0 - entropy / math.log(len(logits)) if len(logits) > 1 else 1.0


def check_threshold(threshold):
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(threshold):
        raise EarlyExitError("exit threshold must be a number, got %r" % (threshold,))
    if threshold < 0:
        raise EarlyExitError("exit threshold must be >= 0 (scores are in [0, 1]), got %r" % threshold)


class EarlyExitModel(object):
    """The pieces of one manifest, each a callable `runner(array) -> array` (an ONNX Runtime
    session through the backend seam in `open_model`; any callable in tests)."""

    def __init__(self, manifest, runners):
        check_pieces(manifest.get("pieces"), "early-exit manifest")
        self.pieces = manifest["pieces"]
        absent = [p["name"] for p in self.pieces if p["name"] not in runners]
        if absent:
            raise EarlyExitError("no runner for piece(s) %s" % ", ".join(absent))
        self.runners = runners
        self.exit_names = [p["name"] for p in self.pieces if p["kind"] != "segment"]

    def run(self, x, criterion, threshold):
        """(predicted class per sample, exit index per sample), as lists, for the batch `x`:
        every piece runs on the samples still in, and a sample leaves at the first exit whose
        confidence reaches `threshold`."""
        check_threshold(threshold)
        count = len(x)
        predicted, exited = [None] * count, [None] * count
        alive, features, exit_index = list(range(count)), x, 0
        for piece in self.pieces:
            out = self.runners[piece["name"]](features)
            if piece["kind"] == "segment":
                features = out
                continue
            final = piece["kind"] == "final"
            staying = []
            for position, row in enumerate(_rows(out)):
                if final or confidence(row, criterion) >= threshold:
                    predicted[alive[position]] = _argmax(row)
                    exited[alive[position]] = exit_index
                else:
                    staying.append(position)
            if not staying:
                break
            if len(staying) < len(alive):  # only copy features when someone left
                alive, features = [alive[p] for p in staying], _take(features, staying)
            exit_index += 1
        return predicted, exited

    def run_without_exits(self, x):
        """The final head's logits with the exit heads skipped: the network early exit is
        compared with, run as the same pieces."""
        features = x
        for piece in self.pieces:
            if piece["kind"] != "exit":
                features = self.runners[piece["name"]](features)
        return features

    def every_exit(self, x):
        """Every exit's logits for the batch (early ones first, final last), no one leaving."""
        logits, features = [], x
        for piece in self.pieces:
            out = self.runners[piece["name"]](features)
            if piece["kind"] == "segment":
                features = out
            else:
                logits.append(out)
        return logits


def open_model(manifest, backend="onnxruntime", options=None):
    """An EarlyExitModel whose pieces are sessions of `backend` (the agent's backend seam), and
    {graph name: runner returning every output} for the whole graphs the manifest lists."""
    from .backends import get_backend

    folder = manifest["folder"]
    runners = dict(
        (p["name"], _first_output(_session(get_backend, backend, folder, p["file"], options)))
        for p in manifest["pieces"]
    )
    graphs = dict(
        (name, _session(get_backend, backend, folder, entry["file"], options))
        for name, entry in sorted((manifest.get("graphs") or {}).items())
    )
    return EarlyExitModel(manifest, runners), graphs


def _session(get_backend, backend_name, folder, filename, options):
    path = os.path.join(folder, filename)
    if not os.path.isfile(path):
        raise EarlyExitError("early-exit model file %s is missing (named in its manifest)" % path)
    backend = get_backend(backend_name)
    backend.load(path, dict(options or {}))
    name = backend.inputs()[0][0]
    return lambda array: backend.run({name: array})


def _rows(out):
    """A [batch, classes] output as lists of floats (numpy's, or the lists a test passes)."""
    return out.tolist() if hasattr(out, "tolist") else out


def _argmax(row):
    return max(range(len(row)), key=row.__getitem__)  # the first of equal maxima, as numpy


def _take(array, positions):
    return array[positions] if hasattr(array, "shape") else [array[p] for p in positions]


def _first_output(run_all):
    return lambda array: run_all(array)[0]


def latency_ms(times_s):
    """{mean_ms, p50_ms, p99_ms} of per-sample times; None each without samples."""
    if not times_s:
        return {"mean_ms": None, "p50_ms": None, "p99_ms": None}
    ordered = sorted(t * 1000.0 for t in times_s)
    return {
        "mean_ms": sum(ordered) / len(ordered),
        "p50_ms": percentile(ordered, 0.50),
        "p99_ms": percentile(ordered, 0.99),
    }


def sweep(model, x, y, thresholds, criterion="max_softmax", rounds=3, graphs=None, clock=time.perf_counter):
    """The accuracy-latency curve on an eval set (x, y), each sample run alone (batch 1).

    For each threshold: overall accuracy, each exit's share of the samples and its accuracy on
    the samples that left there (None where none did), and per-sample latency (mean, p50, p99)
    with the speed-up of the mean over the network without exits run as the same pieces
    (`full`). Besides: `full`; each piece timed alone on its real input (`pieces_ms`) and their
    total; every whole graph given in `graphs` ({name: runner}); each exit head's own accuracy
    on every sample (`exit_accuracy`).

    Every configuration runs each sample in turn before the next sample, their order rotated
    from sample to sample and round to round: load from other processes and drift then fall on
    all configurations alike instead of on whichever pass they struck. A warm-up over the first
    samples comes first (a session's first calls allocate).
    """
    if criterion not in CRITERIA:
        raise EarlyExitError("unknown exit criterion %r; choose one of %s" % (criterion, ", ".join(CRITERIA)))
    for threshold in thresholds:
        check_threshold(threshold)
    if rounds < 1:
        raise EarlyExitError("rounds must be at least 1, got %r" % rounds)
    if len(x) == 0 or len(x) != len(y):
        raise EarlyExitError(
            "the eval set needs as many labels as inputs, and some: %d and %d" % (len(x), len(y))
        )
    samples = [x[i : i + 1] for i in range(len(x))]
    labels = [int(label) for label in y]
    jobs = _jobs(model, samples, thresholds, criterion, graphs or {})
    for i in range(min(WARMUP_SAMPLES, len(samples))):
        for _, run_one in jobs:
            run_one(i)
    times = dict((key, []) for key, _ in jobs)
    results = dict((key, []) for key, _ in jobs)
    for number in range(rounds):
        for i in range(len(samples)):
            shift = (number + i) % len(jobs)
            for key, run_one in jobs[shift:] + jobs[:shift]:
                start = clock()
                result = run_one(i)
                times[key].append(clock() - start)
                if number == 0:
                    results[key].append(result)
    return _curve(model, x, labels, thresholds, criterion, times, results, rounds)


def _jobs(model, samples, thresholds, criterion, graphs):
    """(key, run sample i) for every configuration the sweep times."""

    def early_exit(threshold):
        return lambda i: model.run(samples[i], criterion, threshold)

    def plain(run):
        return lambda i: run(samples[i])

    def on_own_input(runner, inputs):
        return lambda i: runner(inputs[i])

    jobs = [(("threshold", t), early_exit(t)) for t in thresholds]
    jobs.append((("full",), plain(model.run_without_exits)))
    for name in sorted(graphs):
        jobs.append((("graph", name), plain(graphs[name])))
    for piece, inputs in _piece_inputs(model, samples):
        jobs.append((("piece", piece["name"]), on_own_input(model.runners[piece["name"]], inputs)))
    return jobs


def _piece_inputs(model, samples):
    """Each piece with the input it gets for each sample when every piece runs."""
    inputs = dict((p["name"], []) for p in model.pieces)
    for sample in samples:
        features = sample
        for piece in model.pieces:
            inputs[piece["name"]].append(features)
            if piece["kind"] == "segment":
                features = model.runners[piece["name"]](features)
    return [(piece, inputs[piece["name"]]) for piece in model.pieces]


def _curve(model, x, labels, thresholds, criterion, times, results, rounds):
    exits = len(model.exit_names)
    full = latency_ms(times[("full",)])
    rows = []
    for threshold in thresholds:
        key = ("threshold", threshold)
        predicted = [result[0][0] for result in results[key]]
        exited = [result[1][0] for result in results[key]]
        row = {
            "threshold": threshold,
            "accuracy": _accuracy(predicted, labels),
            "exit_shares": [exited.count(i) / float(len(labels)) for i in range(exits)],
            "exit_accuracy": [
                _accuracy(*_where(predicted, labels, [e == i for e in exited])) for i in range(exits)
            ],
        }
        row.update(latency_ms(times[key]))
        row["speedup"] = (full["mean_ms"] / row["mean_ms"]) if row["mean_ms"] else None
        rows.append(row)
    pieces = dict((p["name"], latency_ms(times[("piece", p["name"])])) for p in model.pieces)
    every = model.every_exit(x)  # untimed, one batch: each head's own accuracy on every sample
    full["accuracy"] = _accuracy([_argmax(_rows(out)[0]) for out in results[("full",)]], labels)
    return {
        "criterion": criterion,
        "samples": len(labels),
        "rounds": rounds,
        "batch": 1,
        "exits": list(model.exit_names),
        "exit_accuracy": [_accuracy([_argmax(row) for row in _rows(out)], labels) for out in every],
        "rows": rows,
        "full": full,
        "pieces": pieces,
        "pieces_total": dict((k, sum(p[k] for p in pieces.values())) for k in ("mean_ms", "p50_ms")),
        "graphs": dict((key[1], latency_ms(times[key])) for key in times if key[0] == "graph"),
    }


def _where(predicted, labels, mask):
    return [p for p, m in zip(predicted, mask) if m], [t for t, m in zip(labels, mask) if m]


def _accuracy(predicted, labels):
    """The share of right answers; None without samples (nothing measured, not 0)."""
    if not labels:
        return None
    return sum(1 for p, t in zip(predicted, labels) if p == t) / float(len(labels))
