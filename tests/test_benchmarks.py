"""Smoke tests of the benchmark scripts, and the speed levers computing the same function.

The benchmarks themselves measure speed and memory; these tests only check that each
script runs, checks its results and reports failure through its exit code, and that
every lever it times (folded edge encoder, torch.compile, bf16 autocast, ordinary
autograd) computes what the baseline computes.
"""

import copy
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from revgnn_edu.planning import plan

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_cora  # noqa: E402
import bench_data  # noqa: E402
import bench_partition  # noqa: E402
import bench_proteins  # noqa: E402
import bench_reversible  # noqa: E402
import bench_solvers  # noqa: E402
import common  # noqa: E402
import fit_working_sets  # noqa: E402
import gpu_check  # noqa: E402
import report  # noqa: E402

from revgnn_edu.data import random_graph  # noqa: E402
from revgnn_edu.data.ogbn_proteins_facts import NUM_UNDIRECTED_EDGES  # noqa: E402
from revgnn_edu.memory import measure_peak_bytes  # noqa: E402
from revgnn_edu.models.revgnn import RevGNN  # noqa: E402
from revgnn_edu.nn.blocks import GNNBlock  # noqa: E402


# -- the shared module -------------------------------------------------------------------
def test_finish_writes_the_checks_and_turns_them_into_the_exit_code(tmp_path):
    out = tmp_path / "sub" / "x_cpu.json"
    assert common.finish({"a": 1}, {"fine": True}, out) == 0
    assert json.loads(out.read_text()) == {"a": 1, "checks": {"fine": True}}
    assert common.finish({"a": 1}, {"fine": True, "broken": False}, out) == 1
    assert json.loads(out.read_text())["checks"] == {"fine": True, "broken": False}


def test_make_bench_writes_every_file_the_readme_renders(tmp_path):
    assert set(report.SECTIONS) == {run.filename for run in common.RUNS}
    for run in common.RUNS:
        command = run.command(tmp_path, quick=True)
        assert Path(command[1]).exists() and command[-2:] == ["--out", str(tmp_path / run.filename)]
    cuda = [name for name, _, _ in gpu_check.steps(tmp_path)[1:]]
    assert len(cuda) == sum(run.device == "cuda" for run in common.RUNS) == 2


@pytest.mark.parametrize(
    "script",
    [
        bench_cora,
        bench_data,
        bench_partition,
        bench_proteins,
        bench_reversible,
        bench_solvers,
        fit_working_sets,
    ],
)
def test_every_benchmark_takes_out_and_threads_with_one_default(script, capsys):
    with pytest.raises(SystemExit) as exit_:
        script.main(["--help"])
    assert exit_.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "--out OUT" in usage and "--threads THREADS torch CPU threads (default: 1," in usage


@pytest.mark.parametrize("threads", ["0", "-1", "two"])
def test_threads_must_be_a_positive_integer(threads, capsys):
    with pytest.raises(SystemExit) as exit_:
        fit_working_sets.main(["--threads", threads])
    assert exit_.value.code == 2
    assert f"--threads: must be a positive integer, got '{threads}'" in capsys.readouterr().err


def test_peak_rss_sees_a_large_allocation():
    with common.PeakRSS() as mem:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    assert mem.peak - mem.start >= 60 * 2**20


# -- each script runs and reports its checks ----------------------------------------------
def test_bench_partition_returns_its_checks_as_exit_code(tmp_path):
    out = tmp_path / "partition.json"
    code = bench_partition.main(["--scale", "0.0005", "--epochs", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    assert code == 0 and result["checks"] and all(result["checks"].values())
    assert result["graph"]["edges"] == 2 * round(NUM_UNDIRECTED_EDGES * 0.0005)
    assert result["config"]["threads"] == 1


def test_fit_working_sets_recovers_the_exact_constants(tmp_path):
    """ResGNN's and DEQ-GNN's working sets are exact on every graph, so even the quick
    grid refits their table rows; RevGNN's is approximate and only bounded."""
    out = tmp_path / "working_sets.json"
    assert fit_working_sets.main(["--quick", "--out", str(out)]) == 0
    fits = json.loads(out.read_text())["fits"]
    assert len(fits) == 6
    for fit in fits:
        if fit["kind"] != "rev":
            assert fit["fitted"] == fit["table"] and fit["worst_table_error"] < 1e-3
        assert fit["worst_table_error"] <= fit["bound"]


def test_bench_cora_quick_trains_both_models_and_renders(tmp_path):
    """Cora comes from revgnn_edu.data's root, as in the notebooks."""
    out = tmp_path / "cora_cpu.json"
    assert bench_cora.main(["--quick", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["checks"] and all(result["checks"].values())
    assert [m["name"] for m in result["models"].values()] == ["2-layer GCN", "4-layer RevGCNII"]
    assert all(len(m["seeds"]) == 2 for m in result["models"].values())
    text = "\n".join(report.cora_section(result))
    assert "| 4-layer RevGCNII |" in text and "| 2-layer GCN |" in text


def test_report_takes_benchmark_parameters_from_the_json():
    row = {"iterations": 3, "converged": True, "time_ratio": 1.0}
    solvers = {
        "config": {
            "linear": {"dim": 7, "radius": 0.5, "tol": 1e-3},
            "graph": {"nodes": 11, "edges": 13, "channels": 4, "gamma": 0.9, "tol": 1e-2},
        },
        "linear": {"anderson": row},
        "graph": {"anderson": row},
    }
    text = "\n".join(report.solvers_section(solvers))
    assert "d=7, spectral radius 0.5, tol 1e-3" in text
    assert "N=11, E=13, D=4" in text and "0.9" in text


def test_report_renders_depths_measured_for_one_model_only():
    """--quick measures RevGNN at 8 and 64 layers, ResGNN at 8 and 32."""
    rows = [
        {"model": m, "depth": d, "bytes": 2**20 * d, "step_s": 0.1}
        for m, depths in (("RevGNN", (8, 64)), ("ResGNN", (8, 32)))
        for d in depths
    ]
    result = {
        "config": {k: 1 for k in ("num_nodes", "num_edges", "hidden", "edge_dim", "dropout")}
        | {"device": "cpu", "backend": "tracker", "torch": "x", "depths": [8, 64]},
        "depth_memory": {"rows": rows, "rev_ratio": 1.0},
        "vs_group_add_rev": {k: 1 for k in ("memory_ratio", "memory_depth", "time_ratio")}
        | {"time_depth": 16},
        "step_time": {"depth": 16, "rev_over_res": 1.0, "rev_over_plain_autograd": 1.0},
        "float32_drift": [],
        "groups": [],
    }
    text = "\n".join(report.reversible_section(result, "title"))
    assert "| 32 | not run | 32.00 MiB | | | |" in text
    assert "| 64 | 64.00 MiB | not run | | | |" in text


def test_bench_proteins_quick_preset_prediction():
    """measure() and predict() on a tiny part: activations flat, exact parameter count."""
    data = bench_proteins.proteins_graph(0.001)
    assert data.x.shape == (133, 16) and data.y.shape == (133, 112)
    part = bench_proteins.Data(
        x=data.x, edge_index=data.edge_index, edge_attr=data.edge_attr, y=data.y
    )
    cpu = torch.device("cpu")
    lo, hi = (bench_proteins.measure_memory("revgnn-deep", d, part, cpu, "tracker") for d in (2, 4))
    t_lo, t_hi = (
        bench_proteins.measure_time("revgnn-deep", d, part, part, cpu, repeats=1) for d in (1, 2)
    )
    info = {f"partition_{k}_{u}": 0.0 for k in ("train", "eval") for u in ("s", "cpu_s")}
    row = bench_proteins.predict("revgnn-deep", lo, hi, t_lo, t_hi, 1000, info)
    assert row["parameters"] == 20_031_384  # the published count, from depths 2 and 4
    assert row["activation_ratio_2l_over_l"] <= 1.05
    assert row["predicted_bytes"] >= 1000 + 4 * 4 * 20_031_384
    # RevGNN's activations are flat in depth: taken at 2l, not extrapolated to 1001 layers
    assert row["activation_extrapolated"] is False
    assert row["activation_bytes"] == hi["activation_bytes"]
    assert row["breakdown_bytes"]["total"] == row["predicted_bytes"]
    assert row["predicted_gib"] == row["predicted_bytes"] / 2**30
    p = plan("revgnn-deep", dict(presets=[row], graph=info))
    assert p.memory["total"] == row["predicted_bytes"] and p.epoch_s == row["epoch_s_extrapolated"]
    res = bench_proteins.predict("resgnn-112-64", lo, hi, t_lo, t_hi, 1000, info)
    assert res["activation_extrapolated"] is True  # ResGNN: linear in depth


def test_bench_proteins_rejects_bad_arguments():
    with pytest.raises(SystemExit, match="unknown presets"):
        bench_proteins.main(
            ["--device", "cuda", "--full-depth", "no-such-preset"]
            if torch.cuda.is_available()
            else ["--full-depth", "no-such-preset"]
        )


@pytest.mark.slow
def test_bench_data_runs_every_stage(tmp_path):
    import bench_data

    out = tmp_path / "data.json"
    code = bench_data.main(
        [
            "--nodes",
            "200",
            "--edges",
            "1500",
            "--parts",
            "2",
            "--views",
            "1",
            "--eval-parts",
            "2",
            "--out",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert code == 0
    assert list(result["stages"]) == [
        "write",
        "ogb_process",
        "load",
        "node_features",
        "partition",
        "evaluate",
    ]
    assert all(row["peak_rss_bytes"] > 0 for row in result["stages"].values())


# -- make gpu-check fails loudly without CUDA -----------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the machine without CUDA")
def test_gpu_check_fails_loudly_without_cuda(capsys):
    assert gpu_check.main(["--no-report"]) == 2
    err = capsys.readouterr().err
    assert "FAILED" in err and "no CUDA device" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_memory_meter_matches_cuda_max_memory_allocated():
    """The tracker's exact storage count against CUDA's allocator, within 10%."""
    data = random_graph(20_000, 200_000, 16, edge_dim=8, num_classes=8, seed=0).to("cuda")
    model = RevGNN(16, 128, 8, 8, edge_dim=8, dropout=0.1).cuda()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)

    def step():
        F.cross_entropy(model(data.x, data.edge_index, data.edge_attr), data.y).backward()

    step()  # warm-up: cuBLAS workspaces and caching-allocator pools
    tracker = measure_peak_bytes(step)
    cuda = measure_peak_bytes(step, backend="cuda")
    assert abs(tracker - cuda) <= 0.1 * cuda


# -- the levers compute the same function ---------------------------------------------------
def _grads(model, data, amp=False):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same dropout mask
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        out = model(data.x, data.edge_index, data.edge_attr)
    loss = F.cross_entropy(out.float(), data.y)
    loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.fixture
def small_graph():
    return random_graph(60, 400, 16, edge_dim=8, num_classes=4, seed=0)


def _pair(**kwargs):
    torch.manual_seed(0)
    base = RevGNN(16, 16, 4, 3, edge_dim=8, dropout=0.1)
    torch.manual_seed(0)
    other = RevGNN(16, 16, 4, 3, edge_dim=8, dropout=0.1, **kwargs)
    return base, other


def test_lever_folded_edge_encoder_same_function(small_graph):
    base, folded = _pair(fold_edge_encoder=True)
    (l0, g0), (l1, g1) = _grads(base, small_graph), _grads(folded, small_graph)
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-6)


def test_lever_ordinary_autograd_same_gradients(small_graph):
    base, plain = _pair(memory_efficient=False)
    (l0, g0), (l1, g1) = _grads(base, small_graph), _grads(plain, small_graph)
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-6)


def test_lever_bf16_autocast_close_to_float32(small_graph):
    base, _ = _pair()
    (l0, g0), (l1, g1) = (
        _grads(base, small_graph),
        _grads(copy.deepcopy(base), small_graph, amp=True),
    )
    # bf16 keeps 8 bits of mantissa: about 0.4% per rounding, a few % after the stack
    torch.testing.assert_close(l1, l0, rtol=2e-2, atol=0.0)
    assert ((g1 - g0).norm() / g0.norm()).item() < 0.1


@pytest.mark.slow
def test_lever_compiled_block_same_function(small_graph):
    torch.manual_seed(0)
    block = GNNBlock(8, edge_dim=16, dropout=0.0)
    compiled = copy.deepcopy(block)
    assert bench_proteins.compile_blocks(torch.nn.ModuleList([compiled])) == 1
    x = torch.randn(small_graph.num_nodes, 8, requires_grad=True)
    e = torch.randn(small_graph.num_edges, 16)
    outs, grads = [], []
    for m in (block, compiled):
        out = m(x, small_graph.edge_index, e)
        grads.append(torch.autograd.grad(out.square().sum(), [x, *m.parameters()]))
        outs.append(out.detach())
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    for a, b in zip(grads[1], grads[0]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
