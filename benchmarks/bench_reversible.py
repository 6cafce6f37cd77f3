"""Benchmark the reversible GNN: memory vs depth, cost vs PyG's GroupAddRev and ResGNN,
float32 reconstruction drift, and grouped convolutions.

Run:  .venv/bin/python benchmarks/bench_reversible.py [--quick] [--device cuda]
          [--out PATH] [--threads 1]

Every number is measured in this run; ratios compare measurements taken side by side.
"Activation memory" is the peak tensor memory of one training step (forward, loss,
backward) above what existed before it; parameters and their gradients are allocated
before the step, so this is the meter's peak minus the parameter and gradient bytes.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from common import add_common_arguments, environment, finish, log, prepare
from torch_geometric.nn import GroupAddRev

from revgnn_edu.complexity import count_parameters as count
from revgnn_edu.complexity import measure_activation_bytes
from revgnn_edu.data import random_graph
from revgnn_edu.memory import format_bytes, measure_peak_bytes
from revgnn_edu.models import ResGNN
from revgnn_edu.models.revgnn import RevGNN

FULL = dict(
    # the main graph: small enough for 1001 layers on a CPU in a few minutes
    num_nodes=2000,
    num_edges=20000,
    in_channels=16,
    hidden=32,
    edge_dim=8,
    classes=8,
    dropout=0.1,
    depths=[8, 32, 128, 1001],
    res_depths=[8, 32, 128, 1001],
    cmp_depth=1001,
    time_depth=64,
    repeats=7,
    # float32 drift: a smaller graph, since the float64 reference keeps every activation
    drift_nodes=100,
    drift_edges=400,
    drift_depths=[1, 4, 16, 64, 256, 1001],
    groups=[2, 4, 8, 16],
    groups_depth=32,
    # folded edge encoder: an edge-heavy graph like an ogbn-proteins part (degree ~100)
    fold_nodes=2000,
    fold_edges=200000,
    fold_hidden=80,
    fold_depth=8,
)
QUICK = dict(
    FULL,
    num_nodes=500,
    num_edges=5000,
    depths=[8, 64],
    res_depths=[8, 32],
    cmp_depth=64,
    time_depth=16,
    repeats=3,
    drift_depths=[1, 8, 64],
    groups=[2, 4, 8],
    groups_depth=8,
    fold_edges=20000,
    fold_depth=4,
)


# -- helpers ---------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model, data, edge_attr=True):
    out = model(data.x, data.edge_index, getattr(data, "edge_attr", None) if edge_attr else None)
    F.cross_entropy(out, data.y).backward()


def activation_bytes(model, data, backend, device, edge_attr=True):
    """Peak bytes of a training step with gradients allocated beforehand
    (:func:`~revgnn_edu.complexity.measure_activation_bytes`; on CUDA, the same step
    measured with ``torch.cuda.max_memory_allocated``)."""
    if not edge_attr:
        data = data.clone()
        del data.edge_attr
    if backend == "tracker":
        peak = measure_activation_bytes(model, data)
    else:
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        peak = measure_peak_bytes(lambda: train_step(model, data), backend=backend, device=device)
    for p in model.parameters():
        p.grad = None
    return peak


def step_times(models: dict, data, device, repeats, edge_attr=True) -> dict:
    """Median seconds per training step, the models interleaved in every repeat."""
    times = {name: [] for name in models}
    for model in models.values():  # warm-up
        train_step(model, data, edge_attr)
    for _ in range(repeats):
        for name, model in models.items():
            for p in model.parameters():
                p.grad = None
            sync(device)
            start = time.perf_counter()
            train_step(model, data, edge_attr)
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def build(cls, cfg, depth, device, seed=0, **kwargs):
    torch.manual_seed(seed)  # the first layers get the same weights at every depth
    kwargs.setdefault("edge_dim", cfg["edge_dim"])
    return cls(
        cfg["in_channels"], cfg["hidden"], cfg["classes"], depth, dropout=cfg["dropout"], **kwargs
    ).to(device)


def make_graph(cfg, num_nodes, num_edges, device, seed):
    """A random graph with the configuration's feature sizes, on ``device``."""
    return random_graph(
        num_nodes,
        num_edges,
        cfg["in_channels"],
        edge_dim=cfg["edge_dim"],
        num_classes=cfg["classes"],
        seed=seed,
    ).to(device)


def with_group_add_rev(model):
    """The same model and weights, with PyG's GroupAddRev as the reversible layer."""
    pyg = copy.deepcopy(model)
    pyg.layers = torch.nn.ModuleList(GroupAddRev(layer.blocks) for layer in pyg.layers)
    return pyg


# -- 1. activation memory vs depth ----------------------------------------------------
def bench_depth(cfg, data, backend, device):
    log(
        f"\n1. Activation memory of a training step vs depth (N={cfg['num_nodes']}, "
        f"E={cfg['num_edges']}, D={cfg['hidden']}, C=2, edge_dim={cfg['edge_dim']})"
    )
    rows = []
    for cls, depths in ((RevGNN, cfg["depths"]), (ResGNN, cfg["res_depths"])):
        for depth in depths:
            model = build(cls, cfg, depth, device)
            start = time.perf_counter()
            peak = activation_bytes(model, data, backend, device)
            step_s = step_times({"m": model}, data, device, repeats=1)["m"]  # after a warm-up
            rows.append(dict(model=cls.__name__, depth=depth, bytes=peak, step_s=step_s))
            log(
                f"  {cls.__name__:7s} L={depth:5d}: {format_bytes(peak):>12s}, step "
                f"{step_s:.3f} s  ({time.perf_counter() - start:.1f} s)"
            )
            del model
    rev = {r["depth"]: r["bytes"] for r in rows if r["model"] == "RevGNN"}
    res = {r["depth"]: r["bytes"] for r in rows if r["model"] == "ResGNN"}
    lo, hi = min(rev), max(rev)
    # ResGNN grows linearly; fit bytes = a + b * L on the measured depths
    d0, d1 = min(res), max(res)
    per_layer = (res[d1] - res[d0]) / (d1 - d0)
    res_hi = res.get(hi, res[d0] + per_layer * (hi - d0))
    out = dict(
        rows=rows,
        rev_ratio=rev[hi] / rev[lo],
        res_per_layer_bytes=per_layer,
        res_ratio=res_hi / res[lo],
        res_extrapolated=hi not in res,
        low=lo,
        high=hi,
    )
    log(f"  RevGNN activation memory L={hi} / L={lo}: {out['rev_ratio']:.4f}  (must be <= 1.05)")
    log(
        f"  ResGNN L={hi} / L={lo}: {out['res_ratio']:.1f}"
        + (
            f" (extrapolated from L={d0}..{d1}: {format_bytes(per_layer)} per layer; "
            f"{format_bytes(res_hi)} at L={hi})"
            if out["res_extrapolated"]
            else ""
        )
    )
    return out


# -- 2. against PyG's GroupAddRev -----------------------------------------------------
def bench_pyg(cfg, data, backend, device):
    log(
        "\n2. Ours vs torch_geometric.nn.GroupAddRev, same blocks and weights, no edge "
        "features (GroupAddRev would split D-wide edge features into the groups)"
    )
    out = {}
    for depth, what in ((cfg["cmp_depth"], "memory"), (cfg["time_depth"], "time")):
        ours = build(RevGNN, cfg, depth, device, edge_dim=None)
        theirs = with_group_add_rev(ours)
        if what == "memory":
            m_ours = activation_bytes(ours, data, backend, device, edge_attr=False)
            m_theirs = activation_bytes(theirs, data, backend, device, edge_attr=False)
            out.update(
                memory_depth=depth,
                ours_bytes=m_ours,
                theirs_bytes=m_theirs,
                memory_ratio=m_ours / m_theirs,
            )
            log(
                f"  L={depth}: peak ours {format_bytes(m_ours)}, GroupAddRev "
                f"{format_bytes(m_theirs)}, ratio {m_ours / m_theirs:.3f} (must be <= 1.00)"
            )
        else:
            t = step_times(
                {"ours": ours, "GroupAddRev": theirs}, data, device, cfg["repeats"], edge_attr=False
            )
            out.update(
                time_depth=depth,
                ours_s=t["ours"],
                theirs_s=t["GroupAddRev"],
                time_ratio=t["ours"] / t["GroupAddRev"],
            )
            log(
                f"  L={depth}: step ours {t['ours']:.3f} s, GroupAddRev "
                f"{t['GroupAddRev']:.3f} s, ratio {out['time_ratio']:.3f} "
                f"(median of {cfg['repeats']}, interleaved; must be <= 1.05)"
            )
    return out


# -- 3. reversible vs residual step time ---------------------------------------------
def bench_time(cfg, data, device):
    depth = cfg["time_depth"]
    log(
        f"\n3. Step time at L={depth}, RevGNN vs ResGNN (same D; a RevGNN layer has C "
        f"blocks of width D/C) and vs itself with ordinary autograd"
    )
    models = {
        "RevGNN": build(RevGNN, cfg, depth, device),
        "RevGNN(memory_efficient=False)": build(RevGNN, cfg, depth, device, memory_efficient=False),
        "ResGNN": build(ResGNN, cfg, depth, device),
        "RevGNN, no edge features": build(RevGNN, cfg, depth, device, edge_dim=None),
        "ResGNN, no edge features": build(ResGNN, cfg, depth, device, edge_dim=None),
    }
    t = {}
    for group in (list(models)[:3], list(models)[3:]):
        t.update(
            step_times(
                {k: models[k] for k in group},
                data,
                device,
                cfg["repeats"],
                edge_attr="no edge" not in group[0],
            )
        )
    for name, sec in t.items():
        log(f"  {name:32s} {sec:.3f} s")
    out = dict(
        depth=depth,
        seconds=t,
        rev_over_res=t["RevGNN"] / t["ResGNN"],
        rev_over_res_no_edges=t["RevGNN, no edge features"] / t["ResGNN, no edge features"],
        rev_over_plain_autograd=t["RevGNN"] / t["RevGNN(memory_efficient=False)"],
    )
    log(
        f"  RevGNN / ResGNN: {out['rev_over_res']:.2f} with edge features (each RevGNN "
        f"block projects the D-wide edge features to D/C: E D^2 more work per layer; "
        f"ResGNN's GENConv needs no projection), {out['rev_over_res_no_edges']:.2f} "
        f"without"
    )
    log(
        f"  RevGNN / the same model with ordinary autograd: "
        f"{out['rev_over_plain_autograd']:.2f} (theory ~1.33: backward evaluates every "
        f"block once more; forward + backward ~ 1 + 2)"
    )
    return out


# -- 4. float32 reconstruction drift --------------------------------------------------
# Why the error grows with depth: a float32 forward rounds every X'_i = f_i(X'_{i-1}) + X_i
# to 24 bits, and that rounding cannot be undone: the inverse subtracts f_i again and
# lands on X_i plus the rounding error of X'_i. Every layer adds such an error (of size
# eps * |H|), the blocks below pass the errors already made on to the next
# reconstruction, and |H| itself grows with depth (each layer adds a block output), so
# the rebuilt input drifts roughly linearly in L (the |H_L| and rebuild columns below).
# The gradients inherit the drift, but they do not grow smoothly with it: the blocks are
# piecewise smooth (ReLU, max aggregation), and where a rebuilt activation lands on the
# other side of a kink -- a ReLU input near 0, two messages into a node nearly tied for
# the max -- the gradient is routed differently: a jump, not a small error. Deeper
# stacks drift further and cross more kinks, so the gradient error leaves float32
# roundoff once the drift is large enough; mean aggregation removes the arg-max kinks
# and postpones the jump (the last column). Ordinary float32 autograd never rebuilds
# anything and stays near roundoff.


def bench_drift(cfg, device):
    log(
        f"\n4. float32 drift vs the float64 reference with ordinary autograd "
        f"(N={cfg['drift_nodes']}, E={cfg['drift_edges']}, D={cfg['hidden']}, dropout 0)"
    )
    data32 = make_graph(cfg, cfg["drift_nodes"], cfg["drift_edges"], device, seed=1)
    data64 = copy.copy(data32)
    data64.x, data64.edge_attr = data32.x.double(), data32.edge_attr.double()
    dcfg = dict(cfg, dropout=0.0)

    def grad_error(model, reference):
        """Relative 2-norm error of all parameter gradients of a float32 model."""
        grads = []
        for m, data in ((model, data32), (reference, data64)):
            m.zero_grad(set_to_none=True)
            train_step(m, data)
            grads.append(torch.cat([p.grad.double().flatten() for p in m.parameters()]))
        return ((grads[0] - grads[1]).norm() / grads[1].norm()).item()

    rows = []
    log(
        f"  {'L':>5s} {'|H_L|max':>9s} {'rebuild err':>12s} {'grad err rev32':>15s} "
        f"{'grad err plain32':>17s} {'rev32, mean aggr':>17s}"
    )
    for depth in cfg["drift_depths"]:
        rev32 = build(RevGNN, dcfg, depth, device)
        plain32 = copy.deepcopy(rev32)
        plain32.memory_efficient = False
        ref64 = copy.deepcopy(plain32).double()
        # rebuilt input: run the stack forward in float32, then invert it layer by layer
        with torch.no_grad():
            h0 = rev32.node_encoder(data32.x)
            e = rev32.edge_encoder(data32.edge_attr)
            h = h0
            for layer in rev32.layers:
                h = layer(h, data32.edge_index, e)
            h_max = h.abs().max().item()
            for layer in reversed(rev32.layers):
                h = layer.inverse(h, data32.edge_index, e)
            rebuild = ((h - h0).norm() / h0.norm()).item()
        row = dict(
            depth=depth,
            h_max=h_max,
            rebuild_rel_err=rebuild,
            grad_rel_err_rev32=grad_error(rev32, ref64),
            grad_rel_err_plain32=grad_error(plain32, ref64),
        )
        del rev32, plain32, ref64
        mean32 = build(RevGNN, dcfg, depth, device, aggr="mean")
        mean64 = copy.deepcopy(mean32).double()
        mean64.memory_efficient = False
        row["grad_rel_err_rev32_mean_aggr"] = grad_error(mean32, mean64)
        del mean32, mean64
        rows.append(row)
        log(
            f"  {depth:5d} {h_max:9.2f} {rebuild:12.2e} {row['grad_rel_err_rev32']:15.2e} "
            f"{row['grad_rel_err_plain32']:17.2e} {row['grad_rel_err_rev32_mean_aggr']:17.2e}"
        )
    log(
        "  (relative 2-norm errors: rebuilt H^(0) vs the true H^(0); all parameter "
        "gradients in float32 vs float64 with ordinary autograd: reversible, ordinary "
        "autograd, and reversible with mean instead of max aggregation)"
    )
    return rows


# -- 5. group convolutions ------------------------------------------------------------
def bench_groups(cfg, data, backend, device):
    D, depth = cfg["hidden"], cfg["groups_depth"]
    log(f"\n5. Groups: parameters per layer and activation memory (D={D}, L={depth})")
    rows = []
    for C in cfg["groups"]:
        one, two = (build(RevGNN, cfg, L, device, num_groups=C) for L in (1, 2))
        per_layer = count(two) - count(one)
        g = D // C
        # per group: LayerNorm 2g + edge projection (D g + g) + MLP [g, 2g, g] (4g^2 + 7g)
        formula = C * (2 * g + D * g + g + 4 * g * g + 7 * g)  # = D^2 + 4 D^2 / C + 10 D
        peak = activation_bytes(
            build(RevGNN, cfg, depth, device, num_groups=C), data, backend, device
        )
        rows.append(
            dict(
                groups=C,
                params_per_layer=per_layer,
                formula=formula,
                formula_matches=per_layer == formula,
                bytes=peak,
            )
        )
        log(
            f"  C={C:2d} g={g:2d}: {per_layer:6d} params/layer (formula D^2 + 4D^2/C + 10D = "
            f"{formula}, {'ok' if per_layer == formula else 'MISMATCH'}), activation "
            f"memory {format_bytes(peak)}"
        )
    log(
        "  (the GENConv MLP scales as D^2/C; each group's edge projection D -> D/C adds "
        "D^2 per layer whatever C is)"
    )
    return rows


# -- 6. the folded edge encoder ------------------------------------------------------
def bench_fold(cfg, backend, device):
    """Each block's edge projection W_p (D -> D/C) after the shared encoder W_e (F_e -> D)
    is one linear map of the raw edge features: fold_edge_encoder=True applies W_p W_e
    directly, reading E x F_e numbers instead of E x D."""
    n, e, d, depth = cfg["fold_nodes"], cfg["fold_edges"], cfg["fold_hidden"], cfg["fold_depth"]
    log(f"\n6. Folded edge encoder (N={n}, E={e}, D={d}, L={depth}, edge_dim={cfg['edge_dim']})")
    data = make_graph(cfg, n, e, device, seed=1)
    models = {}
    for fold in (False, True):
        torch.manual_seed(0)
        models[fold] = RevGNN(
            cfg["in_channels"],
            d,
            cfg["classes"],
            depth,
            edge_dim=cfg["edge_dim"],
            dropout=cfg["dropout"],
            fold_edge_encoder=fold,
        ).to(device)
    assert count(models[True]) == count(models[False])
    times = step_times(
        {"plain": models[False], "folded": models[True]}, data, device, cfg["repeats"]
    )
    memory = {
        name: activation_bytes(models[fold], data, backend, device)
        for name, fold in (("plain", False), ("folded", True))
    }
    row = dict(
        plain_s=times["plain"],
        folded_s=times["folded"],
        time_ratio=times["folded"] / times["plain"],
        plain_bytes=memory["plain"],
        folded_bytes=memory["folded"],
        memory_ratio=memory["folded"] / memory["plain"],
        parameters=count(models[True]),
    )
    log(
        f"  step time: plain {row['plain_s']:.3f} s, folded {row['folded_s']:.3f} s, "
        f"ratio folded/plain {row['time_ratio']:.3f}"
    )
    log(
        f"  activation memory: plain {format_bytes(row['plain_bytes'])}, folded "
        f"{format_bytes(row['folded_bytes'])}, ratio {row['memory_ratio']:.3f}"
    )
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    add_common_arguments(parser, "reversible")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    backend = "cuda" if device.type == "cuda" else "tracker"
    out_path = prepare(args, "reversible", device)
    cfg = QUICK if args.quick else FULL
    log(
        f"bench_reversible: device={device}, memory backend={backend}, threads="
        f"{torch.get_num_threads()}, {'quick' if args.quick else 'full'} sizes, torch "
        f"{torch.__version__}"
    )
    data = make_graph(cfg, cfg["num_nodes"], cfg["num_edges"], device, seed=0)
    start = time.perf_counter()
    results = dict(config=dict(cfg, **environment(str(device)), backend=backend, quick=args.quick))
    results["depth_memory"] = bench_depth(cfg, data, backend, device)
    results["vs_group_add_rev"] = bench_pyg(cfg, data, backend, device)
    results["step_time"] = bench_time(cfg, data, device)
    results["float32_drift"] = bench_drift(cfg, device)
    results["groups"] = bench_groups(cfg, data, backend, device)
    results["folded_edge_encoder"] = bench_fold(cfg, backend, device)
    results["seconds"] = time.perf_counter() - start
    checks = {
        "rev_memory_ratio<=1.05": results["depth_memory"]["rev_ratio"] <= 1.05,
        "memory_vs_pyg<=1.00": results["vs_group_add_rev"]["memory_ratio"] <= 1.00,
        "time_vs_pyg<=1.05": results["vs_group_add_rev"]["time_ratio"] <= 1.05,
        "param_formula": all(r["formula_matches"] for r in results["groups"]),
    }
    log(f"\ntotal {results['seconds']:.0f} s")
    return finish(results, checks, out_path)


if __name__ == "__main__":
    sys.exit(main())
