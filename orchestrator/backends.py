"""One declaration per backend on the host: what it deploys, its precisions, its options and
its compile step. Deploy, job building, ingest and the command line read from here.

Adding a backend is one agent module (`agent/backends/`, registered in its REGISTRY) and one
`Backend(...)` below, added to `BACKENDS` (plus its compile step, if it has one).
"""

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from . import options as checks
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


@dataclass(frozen=True)
class Artifact:
    """What a backend's trial loads on the device, stored as WORKDIR/models/HASH SUFFIX."""

    what: str  # in words, for messages and help
    suffix: str  # ".onnx"
    digest: Callable[[Any], str] = model_sha256  # ModelInfo -> the hash that names the file

    def relpath(self, model) -> str:
        return posixpath.join("models", self.digest(model) + self.suffix)


# A host-side compile step: (ModelInfo, the backend's options by name, the file to write) ->
# None. It writes the artifact to deploy; the host runs it once per artifact name (the result
# is cached) and sends what it wrote. None: the model file itself is the artifact.
CompileStep = Callable[[Any, Dict[str, Any], Path], None]


@dataclass(frozen=True)
class Backend:
    name: str
    summary: str
    artifact: Optional[Artifact]  # None: runs no model (null)
    precisions: Tuple[str, ...]  # what it can run
    precision: Callable[[Any], Optional[str]]  # ModelInfo (or None) -> the trial's precision
    options: Tuple[Option, ...] = ()
    compile: Optional[CompileStep] = None

    @property
    def needs_model(self) -> bool:
        return self.artifact is not None

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

    def precision_of(self, model) -> Optional[str]:
        return self.precision(model) if model is not None else None


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

ONNXRUNTIME = Backend(
    name="onnxruntime",
    summary="ONNX Runtime",
    artifact=Artifact("the ONNX model file", ".onnx"),
    precisions=("fp32", "fp16", "int8"),
    precision=onnx_precision,
    options=(THREADS, PROVIDERS),
)

NULL = Backend(
    name="null",
    summary="no model: measures the harness itself",
    artifact=None,
    precisions=(),
    precision=lambda model: None,
)

BACKENDS: Dict[str, Backend] = {b.name: b for b in (ONNXRUNTIME, NULL)}


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


def precision_of(backend: str, model) -> Optional[str]:
    """A trial's precision as its backend declares it (a backend this edgebench does not know,
    from an older store: the model's own)."""
    if backend in BACKENDS:
        return BACKENDS[backend].precision_of(model)
    return model.precision if model is not None else None
