"""ONNX Runtime backend. CPU provider unless told otherwise; the providers, their options and
the threads are recorded as the session reports them, not as asked.

Execution providers on a Jetson: CUDAExecutionProvider, TensorrtExecutionProvider (whose
engine cache goes to WORKDIR/engines/onnxruntime-trt unless `trt_engine_cache_path` is given).
Provider options are strings, as ONNX Runtime takes them: {provider: {key: value}}.
"""

import importlib
import os

TRT_EP = "TensorrtExecutionProvider"


class Backend(object):
    name = "onnxruntime"
    needs_model = True

    def __init__(self):
        self._ort = None
        self._session = None
        self._options = {}
        self._import_error = None

    def _runtime(self):
        if self._ort is None and self._import_error is None:
            try:
                self._ort = importlib.import_module("onnxruntime")
            except ImportError as exc:
                self._import_error = str(exc)
        return self._ort

    def available(self):
        return self._runtime() is not None

    def why_unavailable(self):
        return "onnxruntime cannot be imported (%s)" % self._import_error

    def load(self, artifact, options):
        from . import BackendError

        ort = self._runtime()
        providers = options.get("providers") or ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            raise BackendError(
                "provider(s) %s not available; this onnxruntime has %s"
                % (", ".join(missing), ", ".join(ort.get_available_providers()))
            )
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if options.get("intra_op_threads"):
            so.intra_op_num_threads = int(options["intra_op_threads"])
        if options.get("inter_op_threads"):
            so.inter_op_num_threads = int(options["inter_op_threads"])
        asked = provider_options(providers, options.get("provider_options") or {}, artifact)
        try:
            self._session = ort.InferenceSession(
                artifact, sess_options=so, providers=providers, provider_options=asked
            )
        except Exception as exc:  # onnxruntime raises its own exception types per version
            raise BackendError("onnxruntime cannot load %s: %s" % (artifact, str(exc).splitlines()[0]))
        # None: the runtime's default was used (onnxruntime stores that as 0).
        self._options = {
            "providers": self._session.get_providers(),
            "provider_options": used_provider_options(self._session),
            "intra_op_threads": so.intra_op_num_threads or None,
            "inter_op_threads": so.inter_op_num_threads or None,
            "graph_optimization_level": "ORT_ENABLE_ALL",
        }

    def inputs(self):
        return [(i.name, i.type, list(i.shape)) for i in self._session.get_inputs()]

    def run(self, feed):
        return self._session.run(None, feed)

    def info(self):
        info = {"runtime": "onnxruntime", "version": self._ort.__version__}
        info.update(self._options)
        return info


def provider_options(providers, given, artifact):
    """One dict of string options per provider, in the providers' order. An option for a
    provider not in the list is refused: it would be silently ignored."""
    from . import BackendError

    stray = sorted(set(given) - set(providers))
    if stray:
        raise BackendError(
            "provider options given for %s, which is not among the providers (%s)"
            % (", ".join(stray), ", ".join(providers))
        )
    chosen = [dict((str(k), str(v)) for k, v in (given.get(p) or {}).items()) for p in providers]
    for provider, options in zip(providers, chosen):
        if provider == TRT_EP and options.get("trt_engine_cache_enable", "").lower() in ("1", "true"):
            # Beside the workdir's models, not in the current directory of the agent.
            workdir = os.path.dirname(os.path.dirname(os.path.abspath(artifact)))
            options.setdefault("trt_engine_cache_path", os.path.join(workdir, "engines", "onnxruntime-trt"))
    return chosen


def used_provider_options(session):
    """The options of the providers the session uses, as it reports them (strings)."""
    getter = getattr(session, "get_provider_options", None)  # ONNX Runtime >= 1.6
    if getter is None:
        return None
    reported = getter()
    return dict((p, dict(reported.get(p) or {})) for p in session.get_providers())
