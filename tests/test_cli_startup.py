"""The command line answers at once: `--help`, `devices` and an argument error import none of
the heavy libraries (pandas, SQLAlchemy, numpy, onnx, matplotlib, torch, fabric/paramiko, nor
pydantic, which typer would use to check option values). A behaviour test, not a timing one:
benchmarks/cli_startup.py prints the times."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import List

import pytest

HEAVY = (
    "pandas",
    "sqlalchemy",
    "numpy",
    "onnx",
    "onnxruntime",
    "matplotlib",
    "torch",
    "tvm",
    "fabric",
    "paramiko",
    "pydantic",
)

# Runs the CLI as the `edgebench` script does, then writes which heavy modules were imported.
PROBE = """
import json, sys
sys.argv = ["edgebench"] + json.loads(sys.argv[1])
from edgebench.orchestrator.cli import main
try:
    main()
except SystemExit as exc:
    status = exc.code
with open({out!r}, "w") as f:
    json.dump({{"status": status, "heavy": [m for m in {heavy!r} if m in sys.modules]}}, f)
"""


def imported_by(args, tmp_path: Path, inventory: Path) -> dict:
    out = tmp_path / "probe.json"
    subprocess.run(
        [sys.executable, "-c", PROBE.format(out=str(out), heavy=HEAVY), json.dumps(args)],
        env=dict(os.environ, EDGEBENCH_INVENTORY=str(inventory), COLUMNS="200"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    return json.loads(out.read_text())


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text("version: 1\ndevices:\n  local: {connection: local, workdir: %s}\n" % (tmp_path / "dev"))
    return path


@pytest.mark.parametrize(
    "args, status",
    [
        (["--help"], 0),
        (["devices"], 0),
        (["run", "--batch", "abc"], 2),  # an argument error
        (["sweep", "--parallel", "x"], 2),
        (["devices", "--from-ansible", "tests/fixtures/ansible/lab.ini"], 0),
    ],
)
def test_quick_commands_import_no_heavy_library(args, status, tmp_path, inventory):
    args = [str(Path(__file__).parent.parent / a) if a.startswith("tests/") else a for a in args]
    seen = imported_by(args, tmp_path, inventory)
    assert seen["status"] == status
    assert seen["heavy"] == []


# -- quickparams: typer's checks without pydantic give what pydantic gives ---------------------

INPUTS = {
    int: ["5", "007", " 5", "5 ", "+5", "-5", "1_000", "5.0", "1.5", "1e3", "abc", "", "x1", "٣", "0x10", 7],
    float: [
        "1",
        "1.5",
        ".5",
        "1.",
        "1e3",
        "-2E-3",
        "inf",
        "NaN",
        "-Infinity",
        "abc",
        "",
        "1_0",
        " 2 ",
        "x",
        3,
    ],
    str: ["x", "", "a b"],
    Path: ["a/b", "", "~", Path("c")],
    List[str]: [["a", "b"], ()],
    List[Path]: [["a", "b/c"]],
}


def outcome(runtime, annotation, value):
    """The value typer hands the command, or the one-line error the user sees."""
    from edgebench.orchestrator import usage
    from typer._click.exceptions import BadParameter

    param = SimpleNamespace(multiple=annotation in (List[str], List[Path]), nargs=1)
    try:
        result = runtime.coerce(value, param=param, ctx=None)
    except BadParameter as exc:
        return ("error", usage._bad_value(exc))
    return ("value", type(result), repr(result))  # repr: nan equals nan


@pytest.mark.parametrize("annotation", list(INPUTS), ids=lambda a: getattr(a, "__name__", str(a)))
def test_plain_checks_give_what_pydantic_gives(annotation):
    from typer import core
    from typer._coercion import build_runtime_param as typers_own
    from typer._coercion import resolve_type_descriptor
    from typer.models import OptionInfo

    from edgebench.orchestrator import quickparams

    assert quickparams.install(), "typer's internals changed: quickparams no longer applies"
    descriptor = resolve_type_descriptor(annotation, OptionInfo())
    plain = core.build_runtime_param(descriptor)
    assert type(plain).__name__ == "PlainRuntimeParam"
    for value in INPUTS[annotation]:
        assert outcome(plain, annotation, value) == outcome(typers_own(descriptor), annotation, value), value


def test_options_with_constraints_are_left_to_typer():
    from typer import core
    from typer._coercion import resolve_type_descriptor
    from typer.models import OptionInfo

    from edgebench.orchestrator import quickparams

    quickparams.install()
    descriptor = resolve_type_descriptor(int, OptionInfo(min=1))
    assert type(core.build_runtime_param(descriptor)).__name__ != "PlainRuntimeParam"
