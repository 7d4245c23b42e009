"""The TVM compile step: ONNX -> Relax (`from_onnx`) -> `tvm.compile` for a named target ->
a shared library (cross-linked for an Arm board), which the agent's `tvm` backend loads into
the Relax VM.

TVM (the `tvm` extra) is imported only inside `compile_model`; the compile key reads its
version from the package metadata. The library carries a small Relax function, `edgebench_io`,
returning JSON (inputs with their ONNX Runtime-style types and declared shapes, target, TVM
version): the agent builds its inputs from it, so the `.so` is the only artifact sent.
Dynamic dimensions stay symbolic (TVM compiles one library for every batch size), so the
batch is not part of the key.
"""

import json
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from edgebench.agent.backends.tvm import last_line

from ..errors import UserError
from . import targets
from .cache import package_version

TVM_DISTRIBUTION = "apache-tvm"
IO_FUNCTION = "edgebench_io"  # read by agent/backends/tvm.py
# How edgebench builds the library (from_onnx's arguments, the edgebench_io layout the agent
# reads): bump it when that changes, so no cached library built the old way is reused.
RECIPE = 1
INSTALL_TVM = "pip install -e '.[tvm]'"
CROSS_PACKAGES = {
    targets.AARCH64_CROSS: "g++-aarch64-linux-gnu",
    targets.X86_64_CROSS: "g++-x86-64-linux-gnu",
}
LIBRARY_NAME = "model.so"  # export_library picks the format from the suffix


def key_fields(model, target: Optional[str], options: Dict[str, Any]) -> Dict[str, Any]:
    """Everything that decides the library's bytes (hashed into its cache key and file name)."""
    if target is None:
        raise UserError(
            "backend 'tvm' compiles for a target; none was given (see `target:` in the inventory)"
        )
    chosen = targets.get(target)
    fields = {
        "model_sha256": model.sha256,
        "backend": "tvm",
        "recipe": RECIPE,
        "target": chosen.name,
        "target_spec": chosen.spec,
        "precision": model.precision,
        "input_shapes": [[name, list(dims)] for name, dims in model.inputs],
        "compiler": {"name": TVM_DISTRIBUTION, "version": package_version(TVM_DISTRIBUTION)},
        "onnx": package_version("onnx"),  # the model as from_onnx reads it
        "linker": chosen.linker(),
        # No tvm option changes the library: threads are the runtime's (TVM_NUM_THREADS).
        "options": {},
    }
    if chosen.name == targets.NATIVE:
        fields["host_cpu"] = host_cpu()  # `native` is built for this CPU's mcpu
    return fields


def host_cpu() -> str:
    """This host's CPU model and feature flags, as /proc/cpuinfo gives them (a cheap stand-in
    for LLVM's host CPU name, which would need TVM imported)."""
    model, flags = "", ""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "CPU part") and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return "%s|%s|%s" % (platform.machine(), model, flags)


def compile_model(model, options: Dict[str, Any], target: Optional[str], out: Path) -> None:
    """Writes the library of `model` for `target` to `out` (the cache renames it)."""
    chosen = targets.get(target)
    linker = chosen.linker()
    if linker is not None and shutil.which(linker) is None:
        raise UserError(
            "compiling for %s needs the cross compiler %s, which is not installed "
            "(apt-get install %s)" % (chosen.name, linker, CROSS_PACKAGES.get(linker, linker))
        )
    tvm = _import_tvm()
    onnx_model = _load_onnx(model)
    mod = _relax_module(tvm, onnx_model, model)
    spec = _resolved_spec(tvm, chosen)
    mod[IO_FUNCTION] = _io_function(tvm, _io_description(onnx_model, chosen, spec))
    try:
        executable = tvm.compile(mod, target=tvm.target.Target(spec))
    except Exception as exc:  # TVM raises its own error types, one per failing pass
        raise UserError("TVM cannot compile %s for %s: %s" % (model.path, chosen.name, last_line(exc)))
    _export(tvm, executable, linker, Path(out))
    found = targets.elf_machine(out)
    if found != chosen.e_machine:
        raise UserError(
            "the library TVM built for %s has ELF machine %s, expected %d (check the cross compiler %s)"
            % (chosen.name, found, chosen.e_machine, linker or "g++")
        )


def _import_tvm():
    try:
        import tvm
        from tvm.relax.frontend import onnx as _frontend  # noqa: F401 (the importer is needed)
    except ImportError as exc:
        raise UserError("the tvm backend needs TVM on this host (%s): %s" % (exc, INSTALL_TVM)) from None
    return tvm


def _load_onnx(model):
    import onnx

    try:
        return onnx.load(str(model.path))
    except Exception as exc:  # protobuf's DecodeError, OSError: the file, not TVM
        raise UserError("TVM cannot import %s: not a readable ONNX model (%s)" % (model.path, last_line(exc)))


def _relax_module(tvm, onnx_model, model):
    from tvm.relax.frontend.onnx import from_onnx

    try:
        # No shape_dict: the model's own shapes, its named dimensions (the batch) symbolic.
        return from_onnx(onnx_model, keep_params_in_input=False)
    except Exception as exc:  # an operator TVM's importer does not know, ...
        raise UserError("TVM cannot import %s: %s" % (model.path, last_line(exc)))


def _resolved_spec(tvm, chosen: targets.Target) -> Dict[str, Any]:
    """The target as built: `native` gets this host's CPU (LLVM has no `-mcpu=native`)."""
    if chosen.name != targets.NATIVE:
        return dict(chosen.spec)
    return dict(chosen.spec, mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))


def _onnx_inputs(onnx_model) -> List[list]:
    """[name, ONNX Runtime type string, declared shape] of each graph input that is not a
    weight, in the order of the Relax function's parameters."""
    import onnx

    weights = {init.name for init in onnx_model.graph.initializer}
    found = []
    for value in onnx_model.graph.input:
        if value.name in weights:
            continue
        tensor = value.type.tensor_type
        kind = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
        found.append([value.name, "tensor(%s)" % kind, dims])
    return found


def _io_description(onnx_model, chosen: targets.Target, spec: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "inputs": _onnx_inputs(onnx_model),
        "outputs": [value.name for value in onnx_model.graph.output],
        "target": chosen.name,
        "target_spec": spec,
        "tvm_version": package_version(TVM_DISTRIBUTION),
    }


def _io_function(tvm, description: Dict[str, Any]):
    """A Relax function of no arguments returning `description` as a JSON string."""
    from tvm import relax

    builder = relax.BlockBuilder()
    with builder.function(IO_FUNCTION, []):
        builder.emit_func_output(tvm.ir.StringImm(json.dumps(description, sort_keys=True)))
    return builder.get()[IO_FUNCTION]


def _export(tvm, executable, linker: Optional[str], out: Path) -> None:
    """export_library into a temporary folder beside `out` (it needs a `.so` name), then moved."""
    with tempfile.TemporaryDirectory(dir=str(out.parent), prefix=".tvm-export-") as folder:
        library = Path(folder) / LIBRARY_NAME
        if linker is None:
            executable.export_library(str(library))
        else:
            executable.export_library(str(library), fcompile=tvm.support.cc.cross_compiler(linker))
        library.replace(out)
