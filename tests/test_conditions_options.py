"""--cooldown-c, --cooldown-timeout, --pin-clocks and --nvpmodel: from the command line to the
job dict the agent receives, and into the settings stored with the sweep (provenance)."""

import pytest
from typer.testing import CliRunner

from edgebench.orchestrator import cli
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.sweep import Cell, Settings, make_job, resume_plan, trial_timeout

from .conftest import MODELS

KEYS = ("cooldown_c", "cooldown_timeout_s", "pin_clocks", "nvpmodel_mode")


@pytest.fixture
def captured(workspace, monkeypatch):
    """Runs the CLI in-process up to the point where it would start the sweep."""
    seen = {}

    def fake_execute(cells, settings, fleet, db, context, **kwargs):
        seen.update(cells=cells, settings=settings)

    monkeypatch.setattr(cli, "_execute", fake_execute)

    def invoke(*args):
        result = CliRunner().invoke(cli.app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return seen

    return invoke


@pytest.mark.parametrize("command", [("run", "--backend", "null"), ("sweep", MODELS)])
def test_options_reach_the_job_dict(captured, command):
    seen = captured(
        *command,
        "--quick",
        "--cooldown-c",
        "45.5",
        "--cooldown-timeout",
        "90",
        "--pin-clocks",
        "--nvpmodel",
        "0",
    )
    settings, cell = seen["settings"], seen["cells"][0]
    job = make_job("t1", cell, "models/x.onnx", settings)
    assert {k: job[k] for k in KEYS} == {
        "cooldown_c": 45.5,
        "cooldown_timeout_s": 90.0,
        "pin_clocks": True,
        "nvpmodel_mode": 0,
    }
    assert {k: settings.as_dict()[k] for k in KEYS} == {k: job[k] for k in KEYS}  # stored with the sweep


@pytest.mark.parametrize("command", [("run", "--backend", "null"), ("sweep", MODELS)])
def test_defaults_ask_for_nothing(captured, command):
    seen = captured(*command, "--quick")
    job = make_job("t1", seen["cells"][0], None, seen["settings"])
    assert {k: job[k] for k in KEYS} == {
        "cooldown_c": None,
        "cooldown_timeout_s": 600.0,
        "pin_clocks": False,
        "nvpmodel_mode": None,
    }


def test_a_cooldown_wait_lengthens_the_hosts_patience():
    cell = Cell(Device(name="local", connection="local"), None, "null", 1)
    plain = trial_timeout(make_job("t", cell, None, Settings()))
    waiting = trial_timeout(make_job("t", cell, None, Settings(cooldown_c=50.0, cooldown_timeout_s=300.0)))
    assert waiting >= plain + 300.0


class _Inventory:
    def device(self, name):
        return Device(name=name, connection="local", backends=("null",))


def test_a_resumed_sweep_keeps_its_conditions(tmp_path):
    store = Store("sqlite:///%s" % (tmp_path / "r.db"))
    settings = Settings(cooldown_c=40.0, cooldown_timeout_s=120.0, pin_clocks=True, nvpmodel_mode=2)
    cell = Cell(_Inventory().device("local"), None, "null", 1)
    sweep_id = store.create_sweep(dict(settings.as_dict(), plan=[cell.to_plan()]))
    cells, restored = resume_plan(store, store.sweep(sweep_id), _Inventory(), None)
    assert len(cells) == 1 and restored.as_dict() == settings.as_dict()
    store.close()


def test_a_resumed_trial_waits_as_long_as_its_cool_down_may_last():
    from edgebench.orchestrator.sweep.plan import stored_trial_timeout

    plain = stored_trial_timeout({"timing": {"max_s": 10}})
    cooled = stored_trial_timeout({"timing": {"max_s": 10}, "cooldown_c": 50.0, "cooldown_timeout_s": 900.0})
    assert cooled - plain == 900.0


def test_a_resumed_tensorrt_trial_is_allowed_its_engine_build_on_the_device():
    from edgebench.agent.serve import BUILD_ALLOWANCE_S, LOAD_ALLOWANCE_S
    from edgebench.orchestrator.sweep.plan import stored_trial_timeout

    plain = stored_trial_timeout({"timing": {"max_s": 10}}, "onnxruntime")
    building = stored_trial_timeout({"timing": {"max_s": 10}}, "tensorrt")
    assert building - plain == BUILD_ALLOWANCE_S["tensorrt"] - LOAD_ALLOWANCE_S > 0
