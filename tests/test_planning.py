"""revgnn_edu.planning: the memory and time plan of a full ogbn-proteins run."""

import json

import pytest

from revgnn_edu.data.ogbn_proteins_facts import NUM_EDGES, NUM_NODES
from revgnn_edu.planning import (
    GIB,
    PART_EDGES,
    PART_NODES,
    epoch_seconds,
    linear,
    load_results,
    memory_breakdown,
    plan,
)

ROW = dict(
    preset="revgnn-deep",
    depth=1001,
    parameter_bytes=80_000_000,
    data_bytes=1_000_000,
    activation_bytes=300_000_000,
    adam_step_bytes=100_000_000,
    activation_extrapolated=False,
    memory_depths=[2, 4],
    time_depths=[1, 2],
    step_s_extrapolated=50.0,
    eval_s_extrapolated=20.0,
)
RESULTS = dict(
    presets=[ROW],
    config=dict(device="cpu", threads=1, scale=1),
    graph=dict(
        partition_train_s=3.0,
        partition_eval_s=2.0,
        train_part=dict(nodes=PART_NODES, edges=PART_EDGES),
    ),
)


def test_part_size_is_one_of_ten_parts_of_ogbn_proteins():
    assert PART_NODES == 13_253 and abs(PART_NODES - NUM_NODES / 10) < 1
    assert PART_EDGES == 791_225 and abs(PART_EDGES - NUM_EDGES / 100) < 1


def test_memory_breakdown_adds_up_with_the_larger_working_set():
    m = memory_breakdown(100, 7, 50, 80)
    assert (m["parameters"], m["gradients"], m["optimizer"], m["data"]) == (100, 100, 200, 7)
    assert m["working_set"] == 80  # Adam's temporaries exceed the activations here
    assert m["total"] == 100 + 100 + 200 + 7 + 80
    assert memory_breakdown(100, 7, 90, 80)["working_set"] == 90


def test_epoch_seconds_formula():
    assert epoch_seconds(2.0, 1.0, 0.5) == 10 * 2.0 + 5 * 1.0 + 0.5
    assert epoch_seconds(2.0, 1.0, 0.5, train_parts=4, eval_parts=3, views=2) == 8 + 6 + 0.5


def test_linear_extrapolates_in_depth():
    lo, hi = dict(depth=2, x=10.0), dict(depth=4, x=14.0)
    assert linear(lo, hi, "x", 1001) == 10.0 + 2.0 * 999


def test_plan_from_results():
    p = plan("revgnn-deep", RESULTS, epochs=2000)
    total = 80e6 * 4 + 1e6 + 300e6
    assert p.memory["total"] == total and p.memory_gib == total / GIB
    assert p.epoch_s == 10 * 50 + 5 * 20 + 3 + 2
    assert p.total_s == 2000 * p.epoch_s
    assert plan("revgnn-deep", RESULTS, views=3).epoch_s == 500 + 3 * 5 * 20 + 3 + 3 * 2
    text = p.summary()
    assert "revgnn-deep on cpu" in text and "flat in depth" in text and "1 threads" in text


def test_plan_without_timings_has_memory_only():
    results = dict(RESULTS, presets=[dict(ROW, step_s_extrapolated=None)])
    p = plan("revgnn-deep", results)
    assert p.epoch_s is None and p.total_s is None and p.memory_gib > 0


def test_plan_names_bad_input(tmp_path):
    with pytest.raises(ValueError, match="revgnn-wide"):
        plan("revgnn-wide", RESULTS)  # not in these results
    with pytest.raises(ValueError, match="epochs"):
        plan("revgnn-deep", RESULTS, epochs=0)
    with pytest.raises(FileNotFoundError, match="bench_proteins.py --device cuda"):
        load_results("cuda", tmp_path / "missing.json")
    path = tmp_path / "proteins_cpu.json"
    path.write_text(json.dumps(RESULTS))
    assert load_results(path=path) == RESULTS
