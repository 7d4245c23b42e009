"""Do a device's outputs match ONNX Runtime fp32 on this host?

The agent runs the trial's seeded input once more after timing and sends the outputs back
(`output_check` in its result record: the input's sha256, the output shapes and values). Here
the same seeded input is rebuilt with the agent's own `make_feed` from the model as ONNX
Runtime on the host reads it, the model is run on the host's CPU, and the two are compared.
The result goes into the trial's metrics:

    output_max_abs_error   max |device - host|
    output_max_rel_error   max |device - host| / max |host|   (relative to the output's scale,
                           so an output near zero does not blow it up)
    outputs_match          every value within atol + rtol * |host| (numpy.allclose's rule) for
                           the trial's precision; None when not compared
    output_check_note      why nothing was compared, when it was not

The tolerances are the precision's, in TOLERANCES: an int8 or fp16 artifact is not expected to
agree with fp32 to the last bit.
"""

from typing import Any, Dict, Optional, Tuple

# precision -> (atol, rtol). fp32: runtimes reorder sums, so not bit-exact; fp16 keeps ~3
# decimal digits; int8 is one quantization step of a logit or so.
TOLERANCES = {"fp32": (1e-4, 1e-3), "fp16": (1e-2, 1e-2), "int8": (0.1, 0.1)}
DEFAULT_TOLERANCE = TOLERANCES["fp32"]


def tolerance(precision: Optional[str]) -> Tuple[float, float]:
    return TOLERANCES.get(precision or "fp32", DEFAULT_TOLERANCE)


class HostReference:
    """ONNX Runtime fp32 on this host, one session per model file, outputs cached per input."""

    def __init__(self):
        self._sessions: Dict[str, Any] = {}
        self._outputs: Dict[tuple, tuple] = {}

    def _session(self, path: str):
        if path not in self._sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # the sweep's own trials may share this host
            self._sessions[path] = ort.InferenceSession(
                path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[path]

    def outputs(self, path: str, batch: int, shapes: dict, seed: int) -> tuple:
        """(sha256 of the seeded input, [output arrays]) for the model at `path`."""
        from edgebench.agent.inputs import feed_sha256, make_feed

        key = (path, batch, tuple(sorted((k, tuple(v)) for k, v in (shapes or {}).items())), seed)
        if key not in self._outputs:
            session = self._session(path)
            specs = [(i.name, i.type, list(i.shape)) for i in session.get_inputs()]
            feed = make_feed(specs, batch, shapes or {}, seed)
            self._outputs[key] = (feed_sha256(feed), session.run(None, feed))
        return self._outputs[key]


def not_compared(why: str) -> dict:
    return {
        "output_max_abs_error": None,
        "output_max_rel_error": None,
        "outputs_match": None,
        "output_check_note": why,
    }


def compare(check: Optional[dict], expected: tuple, precision: Optional[str]) -> dict:
    """The metrics above from the agent's `output_check` and the host's (input sha256, outputs)."""
    import numpy

    if not check:
        return not_compared("the agent sent no outputs")
    if check.get("not_sent"):
        return not_compared(check["not_sent"])
    input_sha256, host_outputs = expected
    if check.get("input_sha256") != input_sha256:
        return not_compared("the device's input differs from the host's (another input layout)")
    device_outputs = check.get("values") or []
    shapes = check.get("shapes") or []
    if len(device_outputs) != len(host_outputs) or len(shapes) != len(host_outputs):
        return not_compared("%d outputs on the device, %d on the host" % (len(shapes), len(host_outputs)))
    atol, rtol = tolerance(precision)
    worst_abs, scale, match = 0.0, 0.0, True
    for values, shape, host in zip(device_outputs, shapes, host_outputs):
        host = numpy.asarray(host, dtype="float64")
        if list(host.shape) != list(shape) or len(values) != host.size:
            return not_compared("output shape %s on the device, %s on the host" % (shape, list(host.shape)))
        device = numpy.array([numpy.nan if v is None else v for v in values], dtype="float64").reshape(
            host.shape
        )
        difference = numpy.abs(device - host)
        worst_abs = max(worst_abs, float(numpy.nanmax(difference)) if difference.size else 0.0)
        scale = max(scale, float(numpy.max(numpy.abs(host))) if host.size else 0.0)
        match = match and bool(numpy.allclose(device, host, atol=atol, rtol=rtol, equal_nan=False))
    return {
        "output_max_abs_error": worst_abs,
        "output_max_rel_error": worst_abs / scale if scale > 0 else None,
        "outputs_match": match,
        "output_check_note": None if match else "outputs differ beyond atol %g, rtol %g" % (atol, rtol),
    }


class OutputChecker:
    """For the sweep: turns a result record's `output_check` into the comparison metrics."""

    def __init__(self, reference: Optional[HostReference] = None):
        self.reference = reference or HostReference()

    def checked(self, record: dict, model, batch: int, shapes: dict, seed: int, precision) -> dict:
        """The record with the comparison in its metrics and the raw outputs left out."""
        if record.get("type") != "result" or model is None:
            return record
        record = dict(record)
        check = record.pop("output_check", None)
        if not check or check.get("not_sent"):  # nothing to compare: no need to run the host's
            record["metrics"] = dict(record.get("metrics") or {}, **compare(check, None, None))
            return record
        try:
            expected = self.reference.outputs(str(model.path), batch, shapes, seed)
            found = compare(check, expected, precision)
        except Exception as exc:  # the host cannot run the model (an op its runtime lacks)
            found = not_compared("ONNX Runtime on the host could not run the model: %s" % _first_line(exc))
        record["metrics"] = dict(record.get("metrics") or {}, **found)
        return record


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
