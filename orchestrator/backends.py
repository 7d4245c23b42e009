"""One declaration per backend on the host: what it deploys, its precisions, its options and
its compile step. Deploy, job building, ingest and the command line read from here.

Adding a backend is one agent module (`agent/backends/`, registered in its REGISTRY) and one
`Backend(...)` below, added to `BACKENDS` (plus its compile step, if it has one: see
orchestrator/compile/).
"""

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from edgebench.agent.backends import tvm as agent_tvm

from . import options as checks
from .compile import targets, tvm_build
from .compile.cache import compile_key
from .errors import UserError


@dataclass(frozen=True)
class Option:
    """A backend option: a command-line flag of `run` and `sweep`, stored with the sweep under
    `name`, and sent to the agent as `job["backend_options"][job_key]`. Backends may share an
    option (the same `name`, flag, type and default): the command line shows it once."""

    name: str  # key in Settings.backend_options and in the stored settings
    flag: str  # "--threads"
    annotation: Any  # the command line's type: Optional[int], str, ...
    default: Any  # as typed on the command line
    help: str
    job_key: str  # what the agent's backend reads
    parse: Callable[[Any], Any] = lambda value: value  # command-line value -> stored value; UserError
    metavar: Optional[str] = None

    def value(self, given: Any) -> Any:
        return self.parse(given)


def model_sha256(model) -> str:
    return model.sha256


# A compiled artifact's key fields: (ModelInfo, target name or None, the backend's options by
# name) -> everything that decides the artifact's bytes (model sha256, target, precision,
# shapes, compiler version, options that change it). Their compile key names the file.
KeyFields = Callable[[Any, Optional[str], Dict[str, Any]], Dict[str, Any]]


@dataclass(frozen=True)
class Artifact:
    """What a backend's trial loads on the device, stored as WORKDIR/models/HASH SUFFIX."""

    what: str  # in words, for messages and help
    suffix: str  # ".onnx"
    digest: Callable[[Any], str] = model_sha256  # ModelInfo -> the hash that names the file
    # Set for an artifact compiled per target: the file is then named by the compile key.
    key_fields: Optional[KeyFields] = None

    @property
    def per_target(self) -> bool:
        return self.key_fields is not None

    def fields(self, model, target: Optional[str] = None, options: Optional[dict] = None) -> Dict[str, Any]:
        if self.key_fields is None:
            return {"model_sha256": model.sha256, "digest": self.digest(model)}
        return self.key_fields(model, target, options or {})

    def key(self, model, target: Optional[str] = None, options: Optional[dict] = None) -> str:
        """The name of the file without its suffix: the digest, or the compile key."""
        if self.key_fields is None:
            return self.digest(model)
        return compile_key(self.key_fields(model, target, options or {}))

    def relpath(self, model, target: Optional[str] = None, options: Optional[dict] = None) -> str:
        return posixpath.join("models", self.key(model, target, options) + self.suffix)


# A host-side compile step: (ModelInfo, the backend's options by name, the target name or
# None, the file to write) -> None. It writes the artifact to deploy; the host runs it once per
# artifact name (orchestrator/compile/cache.py keeps the result) and sends what it wrote.
# None: the model file itself is the artifact.
CompileStep = Callable[[Any, Dict[str, Any], Optional[str], Path], None]


@dataclass(frozen=True)
class Backend:
    name: str
    summary: str
    artifact: Optional[Artifact]  # None: runs no model (null)
    precisions: Tuple[str, ...]  # what it can run
    precision: Callable[[Any], Optional[str]]  # ModelInfo (or None) -> the trial's precision
    options: Tuple[Option, ...] = ()
    compile: Optional[CompileStep] = None
    # The runtime the device must have, as the agent's probe names it (agent/probe.py
    # RUNTIME_MODULES), and how to install it there; None: needs nothing (null).
    runtime: Optional[str] = None
    install: str = ""
    # The option that chooses the precision the device builds (TensorRT), else None: the
    # model file's own precision is the trial's.
    precision_option: Optional[str] = None

    @property
    def needs_model(self) -> bool:
        return self.artifact is not None

    @property
    def needs_target(self) -> bool:
        return self.artifact is not None and self.artifact.per_target

    def target_for(self, device) -> Optional[str]:
        """The device's compile target when this backend compiles per target (else None); a
        device without one is refused, naming where to set it."""
        if not self.needs_target:
            return None
        if device.target is None:
            raise UserError(
                "device '%s' has no compile target, which backend '%s' needs: add `target:` to it in %s "
                "(one of %s)"
                % (device.name, self.name, device.source or "the inventory", ", ".join(targets.NAMES))
            )
        return device.target

    def defaults(self) -> Dict[str, Any]:
        return {o.name: o.value(o.default) for o in self.options}

    def own_options(self, stored: Dict[str, Any]) -> Dict[str, Any]:
        """This backend's options by name: the stored values, else the defaults."""
        defaults = self.defaults()
        return dict(defaults, **{k: v for k, v in (stored or {}).items() if k in defaults})

    def job_options(self, stored: Dict[str, Any]) -> Dict[str, Any]:
        """The job's backend_options: this backend's own options, under the agent's keys."""
        values = self.own_options(stored)
        return {o.job_key: values[o.name] for o in self.options}

    def precision_of(self, model, options: Optional[Dict[str, Any]] = None) -> Optional[str]:
        """The trial's precision: the option that chooses it, where one does, else the model's."""
        if model is None:
            return None
        if self.precision_option is not None:
            return self.own_options(options or {})[self.precision_option]
        return self.precision(model)


def onnx_precision(model) -> Optional[str]:
    """From the ONNX file: its `edgebench.precision` metadata, else its operators and weights
    (see modelinfo.inspect_model)."""
    return model.precision


THREADS = Option(
    "threads",
    "--threads",
    Optional[int],
    None,
    "Intra-op threads (default: the runtime's own).",
    "intra_op_threads",
    parse=checks.check_threads,
)
PROVIDERS = Option(
    "providers",
    "--providers",
    str,
    "",
    "ONNX Runtime execution providers in order, comma-separated (default: CPUExecutionProvider).",
    "providers",
    parse=checks.parse_optional_list,
)

PROVIDER_OPTIONS = Option(
    "provider_options",
    "--provider-options",
    str,
    "",
    "ONNX Runtime provider options, comma-separated PROVIDER.KEY=VALUE (strings), e.g. "
    "TensorrtExecutionProvider.trt_engine_cache_enable=True.",
    "provider_options",
    parse=checks.parse_provider_options,
)

ONNXRUNTIME = Backend(
    name="onnxruntime",
    summary="ONNX Runtime",
    artifact=Artifact("the ONNX model file", ".onnx"),
    precisions=("fp32", "fp16", "int8"),
    precision=onnx_precision,
    options=(THREADS, PROVIDERS, PROVIDER_OPTIONS),
    runtime="onnxruntime",
    install="pip3 install onnxruntime (on a Jetson, the onnxruntime-gpu wheel for its JetPack)",
)

TVM = Backend(
    name="tvm",
    summary="Apache TVM: compiled on the host for the device's target, run in the Relax VM",
    artifact=Artifact("a TVM shared library", ".so", key_fields=tvm_build.key_fields),
    precisions=("fp32",),
    precision=onnx_precision,
    options=(THREADS,),  # the agent sets TVM_NUM_THREADS from it
    compile=tvm_build.compile_model,
    runtime="tvm",
    install=agent_tvm.INSTALL,
)

TRT_PRECISIONS = ("fp32", "fp16", "int8")
TRT_PRECISION = Option(
    "trt_precision",
    "--trt-precision",
    str,
    "fp32",
    "TensorRT engine precision: fp32, fp16 (GPUs with fast fp16) or int8 (GPUs with an int8 path, "
    "with a calibration cache or a Q/DQ model; a Jetson Nano has none).",
    "precision",
    parse=lambda value: checks.check_choice(value, TRT_PRECISIONS, "--trt-precision"),
    metavar="fp32|fp16|int8",
)
TRT_WORKSPACE = Option(
    "trt_workspace_mib",
    "--trt-workspace-mib",
    int,
    256,
    "TensorRT builder workspace in MiB.",
    "workspace_mib",
    parse=lambda value: checks.check_int(value, "--trt-workspace-mib", 1),
)
TRT_BUILDER = Option(
    "trt_builder",
    "--trt-builder",
    str,
    "api",
    "How the device builds the TensorRT engine: api (TensorRT's Python API) or trtexec "
    "(/usr/src/tensorrt/bin/trtexec; its own report is stored beside edgebench's figures).",
    "builder",
    parse=lambda value: checks.check_choice(value, ("api", "trtexec"), "--trt-builder"),
    metavar="api|trtexec",
)

TENSORRT = Backend(
    name="tensorrt",
    summary="NVIDIA TensorRT: the engine is built on the device from the ONNX file and cached there",
    artifact=Artifact("the ONNX model file", ".onnx"),  # the engine is the device's to build
    precisions=TRT_PRECISIONS,
    precision=onnx_precision,
    options=(TRT_PRECISION, TRT_WORKSPACE, TRT_BUILDER),
    runtime="tensorrt",
    install="TensorRT's Python bindings come with JetPack (sudo apt install python3-libnvinfer), "
    "plus pycuda, cuda-python or libcudart on the library path",
    precision_option="trt_precision",
)

NULL = Backend(
    name="null",
    summary="no model: measures the harness itself",
    artifact=None,
    precisions=(),
    precision=lambda model: None,
)

BACKENDS: Dict[str, Backend] = {b.name: b for b in (ONNXRUNTIME, TVM, TENSORRT, NULL)}


def names() -> list:
    return sorted(BACKENDS)


def get(name: str) -> Backend:
    if name not in BACKENDS:
        raise UserError("unknown backend '%s'; this edgebench knows: %s" % (name, ", ".join(names())))
    return BACKENDS[name]


def all_options() -> Tuple[Option, ...]:
    """Every backend's options, each name once; a shared name must mean the same flag."""
    seen: Dict[str, Option] = {}
    for backend in BACKENDS.values():
        for option in backend.options:
            first = seen.setdefault(option.name, option)
            same = (first.flag, first.annotation, first.default) == (
                option.flag,
                option.annotation,
                option.default,
            )
            if not same:
                raise ValueError("backend option %r is declared twice, differently" % option.name)
    return tuple(seen.values())


def option_defaults() -> Dict[str, Any]:
    return {o.name: o.value(o.default) for o in all_options()}


def parse_options(given: Dict[str, Any]) -> Dict[str, Any]:
    """Command-line values (by option name) -> stored values; UserError on a bad one."""
    return {o.name: o.value(given[o.name]) if o.name in given else o.value(o.default) for o in all_options()}


def missing_runtime(backend: str, device: str, facts: Optional[dict]) -> Optional[str]:
    """Why `device` cannot run `backend`, from its probed facts (None: it can, or unknown)."""
    declared = BACKENDS.get(backend)
    runtimes = (facts or {}).get("runtimes")
    if declared is None or declared.runtime is None or not isinstance(runtimes, dict):
        return None
    found = runtimes.get(declared.runtime)
    if isinstance(found, dict) and found.get("version") is not None:
        return None
    what = (
        "cannot be imported (%s)" % (found.get("error") or "no version found")
        if isinstance(found, dict)
        else "is not installed"
    )
    has = sorted(
        "%s %s" % (name, info["version"])
        for name, info in runtimes.items()
        if isinstance(info, dict) and info.get("version")
    )
    return "%s cannot run backend %s: %s %s there (it has: %s); install it on the device: %s" % (
        device,
        backend,
        declared.runtime,
        what,
        ", ".join(has) or "no runtime edgebench knows",
        declared.install,
    )


def precision_of(backend: str, model, options: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """A trial's precision as its backend declares it, from the backend's options by name where
    one chooses it (a backend this edgebench does not know, from an older store: the model's)."""
    if backend in BACKENDS:
        return BACKENDS[backend].precision_of(model, options)
    return model.precision if model is not None else None
