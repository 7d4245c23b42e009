"""The order of a sweep's runs (--repeats K): rounds of every cell, shuffled by a seed, so each
cell's runs spread over the whole sweep and drift falls on every cell alike."""

from collections import Counter

from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.sweep import plan
from edgebench.orchestrator.sweep.plan import Cell, interleave


def _cells(n_devices=2, batches=(1, 2, 4, 8)):
    devices = [Device(name="d%d" % i, connection="local", backends=("null",)) for i in range(n_devices)]
    return plan(devices, [], ["null"], list(batches))


def _order(cells):
    return [(c.device.name, c.batch, c.run) for c in cells]


def test_every_cell_gets_k_runs_numbered_1_to_k():
    runs = interleave(_cells(), 5, seed=3)
    per_cell = Counter((c.device.name, c.batch) for c in runs)
    assert len(runs) == 40 and set(per_cell.values()) == {5}
    for key in per_cell:
        assert sorted(c.run for c in runs if (c.device.name, c.batch) == key) == [1, 2, 3, 4, 5]
    assert {c.runs for c in runs} == {5}


def test_each_cells_runs_spread_over_the_sweep_one_per_round_on_each_device():
    runs = interleave(_cells(), 5, seed=11)
    for device in ("d0", "d1"):
        queue = [c for c in runs if c.device.name == device]  # a device runs its queue in this order
        rounds = [queue[i : i + 4] for i in range(0, len(queue), 4)]
        for number, round_ in enumerate(rounds, start=1):
            assert sorted(c.batch for c in round_) == [1, 2, 4, 8] and {c.run for c in round_} == {number}


def test_the_order_is_shuffled_and_the_same_for_the_same_seed():
    cells = _cells()
    assert _order(interleave(cells, 5, seed=42)) == _order(interleave(cells, 5, seed=42))
    assert _order(interleave(cells, 5, seed=42)) != _order(interleave(cells, 5, seed=43))
    rounds = [_order(interleave(cells, 5, seed=42))[i : i + 8] for i in range(0, 40, 8)]
    # Not the same order in every round: a fixed order would always put one cell last.
    assert len({tuple((d, b) for d, b, _ in r) for r in rounds}) > 1


def test_one_run_keeps_the_plan_order_and_plain_labels():
    cells = _cells()
    assert interleave(cells, 1, seed=5) == cells
    assert cells[0].label == "null b1"
    assert Cell(cells[0].device, None, "null", 1, run=2, runs=5).label == "null b1 run 2/5"


def test_the_run_is_part_of_the_key_and_the_stored_plan():
    a, b = interleave(_cells(1, (1,)), 2, seed=0)
    assert a.key != b.key and a.key[:4] == b.key[:4]
    assert {a.to_plan()["run"], b.to_plan()["run"]} == {1, 2} and a.to_plan()["runs"] == 2
