"""The ogbn-proteins presets at full size: predicted GPU memory, step and epoch time, levers.

    make bench                                  # runs this, at full size
    python benchmarks/bench_proteins.py --quick # a scaled-down graph: a smoke run (CI)
    python benchmarks/bench_proteins.py --device cuda --full-depth revgnn-deep revgnn-wide

Parts of ogbn-proteins' part size are built in memory (random edges with 8 features, 8
species, 112 tasks: only sizes matter here): a training part of 132,534 / 10 nodes and
79,122,504 / 100 directed edges (the package's random partition into 10 parts keeps an
edge when both ends fall in the same part) and an evaluation part (one of 5 parts).
The partitioning is timed on a 5% graph (quick: 1%) and scaled linearly in the edges.

1. Memory, per preset, exact (``measure_peak_bytes``): one training step on one part at
   full width (Adam, lr 1e-3, gradient clipping 1.0, BCE over the 112 tasks), at a
   small depth l and at 2l (l = 2: the first layer is special, it has no reversible
   layer above it whose edge-feature gradient is still pending). The step is split where
   its peaks are: forward + backward
   (activations; gradients already allocated) and clipping + Adam (its temporaries).
   For reversible, weight-tied and DEQ models the activation peak does not grow with
   depth (checked: 2l / l), so the full-depth prediction is

       data + parameters + gradients + Adam state + max(activations, Adam temporaries)

   with parameters (and what scales with them) counted exactly at full depth. For
   ResGNN the activations grow linearly and are extrapolated from l and 2l. Gradients
   are counted as alive for the whole step (an upper bound by at most one gradient's
   worth when zero_grad sets them to None). The CUDA caching allocator's rounding and
   the CUDA context (a few hundred MB) are not included.
2. Time: the step (and an evaluation forward on a 5-part part) timed at 1 and 2 layers
   (quick: the same), extrapolated linearly to the preset's depth: an EXTRAPOLATION on
   this CPU, labelled
   so everywhere. Epoch = 10 training steps + evaluation on 5 parts + the partitions.
3. Levers, side by side in one run on RevGNN-Deep's layer (D=80) at full part size:
   ordinary autograd (the same model without the reversible trick), the folded edge
   encoder (also at D=224), bf16 autocast, and with ``--compile`` torch.compile of the
   blocks. Every variant is checked to compute the same loss as the baseline.
4. bf16 drift: the reversible stack at 1001 layers (D=80, small graph, dropout 0) under
   bf16 autocast and in float32, against a float64 reference: the rebuilt input and the
   parameter gradients.

With ``--device cuda --full-depth PRESET ...`` the named presets also run real
full-depth training steps on the GPU in float32 and bf16 (time per step and
``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from common import (
    PROTEINS,
    add_common_arguments,
    cpu_seconds,
    environment,
    finish,
    log,
    prepare,
    synthetic_proteins,
    write_json,
)
from torch_geometric.data import Data

from revgnn_edu.data import RandomPartitionLoader, Subgraph, aggregate_edge_features, random_graph
from revgnn_edu.memory import measure_peak_bytes
from revgnn_edu.models.families import family_name
from revgnn_edu.models.presets import PRESETS, build_model
from revgnn_edu.models.revgnn import RevGNN
from revgnn_edu.nn.blocks import GNNBlock
from revgnn_edu.planning import (
    EPOCH_FORMULA,
    EVAL_PARTS,
    GIB,
    PART_EDGES,
    PART_NODES,
    epoch_seconds,
    linear,
    memory_breakdown,
)
from revgnn_edu.train.step import (
    accumulate_gradients,
    clip_and_step,
    make_forward,
    training_step,
)

#: The paper's GPU memory (GiB: the official trainer prints max_memory_allocated / 1024**3)
#: on ogbn-proteins (Deep/Wide and the 112-layer table; the 112-layer figures are an
#: unverified transcription of the paper's table).
PAPER_MEMORY_GIB = {
    "revgnn-deep": 2.86,
    "revgnn-wide": 7.91,
    "resgnn-112-64": 27.1,
    "revgnn-112-64": 2.09,
    "revgnn-112-80": 2.56,
    "revgnn-112-224": 7.30,
    "wt-revgnn-112-64": 1.60,
    "wt-revgnn-112-224": 5.55,
    "deq-gnn-64": 2.22,
    "deq-gnn-224": 7.60,
}
PAPER_EPOCH_S = {"revgnn-deep": 583, "revgnn-wide": 739}  # one V100
PUBLISHED_PARAMETERS = {"revgnn-deep": 20_031_384, "revgnn-wide": 68_471_608}
CONSTANT_ACTIVATIONS = ("RevGNN", "WT-RevGNN", "DEQ-GNN")  # families: flat in depth

FULL = dict(
    scale=1.0,
    depth=2,
    time_depth=1,
    repeats=5,
    partition_scale=0.05,
    presets=list(PRESETS),
    lever_depth=2,
    lever_repeats=5,
    wide_levers=True,
    drift_depth=1001,
    drift_nodes=100,
    drift_edges=400,
)
# one preset per family, a graph of 1% of the edges, no wide levers: a smoke run
QUICK = dict(
    FULL,
    scale=0.01,
    presets=["revgnn-deep", "resgnn-112-64", "wt-revgnn-112-64", "deq-gnn-64"],
    lever_depth=1,
    repeats=2,
    lever_repeats=3,
    partition_scale=0.01,
    wide_levers=False,
    drift_depth=16,
    drift_nodes=60,
    drift_edges=300,
)


# -- the graph and its parts ---------------------------------------------------------
def proteins_graph(scale: float, seed: int = 0, nodes: int | None = None, edges=None) -> Data:
    """:func:`common.synthetic_proteins` (or a random symmetric graph of ``nodes`` nodes
    and about ``edges`` directed edges) with the paper's node inputs ``x`` = [edge
    features summed onto nodes (8), species one-hot (8)] and 112 random 0/1 tasks."""
    if nodes is None:
        data = synthetic_proteins(scale, seed)
    else:
        gen = torch.Generator().manual_seed(seed)
        pairs = torch.randint(0, nodes, (2, max(1, edges // 2)), generator=gen)
        edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)
        edge_attr = torch.rand(edge_index.size(1), PROTEINS["edge_dim"], generator=gen)
        data = Data(edge_index=edge_index, edge_attr=edge_attr, num_nodes=nodes)
    n = data.num_nodes
    gen = torch.Generator().manual_seed(seed + 1)
    species = torch.randint(0, PROTEINS["species"], (n,), generator=gen)
    data.x = torch.cat(
        [
            aggregate_edge_features(data.edge_index, data.edge_attr, n),
            F.one_hot(species, PROTEINS["species"]).float(),
        ],
        dim=1,
    )
    data.y = (torch.rand(n, PROTEINS["tasks"], generator=gen) < 0.3).float()
    return data


def part_data(data: Data, device) -> Data:
    """A part's tensors as a Data on ``device``."""
    return Data(x=data.x, edge_index=data.edge_index, edge_attr=data.edge_attr, y=data.y).to(device)


def data_bytes(part: Data) -> int:
    return sum(t.nbytes for t in (part.x, part.edge_index, part.edge_attr, part.y))


def make_parts(scale: float, partition_scale: float, device) -> tuple[Data, Data, dict]:
    """A training part of ogbn-proteins' part size (:data:`~revgnn_edu.planning.PART_NODES`
    nodes, :data:`~revgnn_edu.planning.PART_EDGES` edges: one part of 10) and an
    evaluation part (one of 5: twice the nodes, four times the edges), both times
    ``scale``; and the partition's time, measured on a ``partition_scale`` graph with the
    package's RandomPartitionLoader and scaled linearly to the full graph."""
    start = time.perf_counter()
    train_n, train_e = round(PART_NODES * scale), round(PART_EDGES * scale)
    train = part_data(proteins_graph(1, 0, max(10, train_n), max(2, train_e)), device)
    evalp = part_data(proteins_graph(1, 1, max(10, 2 * train_n), max(2, 4 * train_e)), device)
    info = dict(build_s=time.perf_counter() - start, partition_scale=partition_scale)
    data = synthetic_proteins(partition_scale)
    loader = RandomPartitionLoader(
        data.edge_index,
        data.num_nodes,
        10,
        data.edge_attr,
        generator=torch.Generator().manual_seed(0),
    )
    for key, n in (("train", 10), ("eval", EVAL_PARTS)):
        wall, cpu = timed("cpu", lambda n=n: loader.sample(n))
        info[f"partition_{key}_s"] = wall / partition_scale  # linear in the edges
        info[f"partition_{key}_cpu_s"] = cpu / partition_scale
    info.update(
        train_part=dict(nodes=train.num_nodes, edges=train.num_edges, bytes=data_bytes(train)),
        eval_part=dict(nodes=evalp.num_nodes, edges=evalp.num_edges),
    )
    return train, evalp, info


# -- one model training on one part ---------------------------------------------------
def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(device, fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``fn()``. On a shared CPU the CPU time is
    the steadier number: other processes' load stretches wall time, not CPU time."""
    sync(device)
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    sync(device)
    return time.perf_counter() - wall, cpu_seconds() - cpu


def compile_blocks(model: torch.nn.Module) -> int:
    """torch.compile every GNNBlock of ``model`` in place; returns how many."""
    blocks = [m for m in model.modules() if isinstance(m, GNNBlock)]
    for block in blocks:
        block.compile(dynamic=False)
    return len(blocks)


def make_model(
    preset: str, depth: int, device, compiled=False, memory_efficient=True, seed=0, **overrides
) -> torch.nn.Module:
    """``build_model(preset, num_layers=depth, **overrides)`` with the levers applied."""
    torch.manual_seed(seed)  # the same weights for every variant of a preset
    model = build_model(preset, num_layers=depth, **overrides)
    if not memory_efficient:
        model.memory_efficient = False
    if compiled:
        compile_blocks(model)
    return model.to(device)


class PartTrainer:
    """The trainer's own step (:func:`revgnn_edu.train.training_step`: Adam, lr 1e-3,
    gradient clipping 1.0, BCE over all tasks) on one part whose nodes all train."""

    def __init__(self, model, part: Data, amp: bool = False):
        self.model, self.part, self.amp = model, part, amp
        self.device = part.x.device
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=1e-3)
        self.sub = self._subgraph(part)
        self.train_mask = torch.ones(part.num_nodes, dtype=torch.bool, device=self.device)
        self.forward = make_forward(model, part.x, self.device, amp)

    @staticmethod
    def _subgraph(part: Data) -> Subgraph:
        nodes = torch.arange(part.num_nodes, device=part.x.device)
        return Subgraph(nodes, part.edge_index, nodes.new_empty(0), part.edge_attr)

    def forward_backward(self) -> float:
        return accumulate_gradients(
            self.forward, [self.sub], self.train_mask, self.part.y, self.device
        )

    def optimizer_step(self) -> None:
        clip_and_step(self.model, self.opt, 1.0)

    def step(self) -> float:
        """One full training step; returns its loss."""
        return training_step(
            self.model,
            self.opt,
            self.forward,
            [self.sub],
            self.train_mask,
            self.part.y,
            1.0,
            self.device,
        )

    def timed_step(self) -> tuple[float, float]:
        """Wall-clock and process CPU seconds (all threads) of one step."""
        return timed(self.device, self.step)

    @torch.no_grad()
    def timed_eval(self, part: Data) -> tuple[float, float]:
        """Wall-clock and CPU seconds of an evaluation forward on ``part``."""
        forward, sub = make_forward(self.model, part.x, self.device, self.amp), self._subgraph(part)
        self.model.eval()
        try:
            return timed(self.device, lambda: forward(sub))
        finally:
            self.model.train()

    def parameter_bytes(self) -> int:
        return sum(p.nbytes for p in self.params)

    def adam_bytes(self) -> int:
        """Adam's exp_avg and exp_avg_sq (its per-tensor step counters are left out:
        on CUDA they live on the CPU unless capturable/fused)."""
        return sum(
            v.nbytes
            for state in self.opt.state.values()
            for k, v in state.items()
            if k != "step" and torch.is_tensor(v)
        )


def measure_memory(preset: str, depth: int, train: Data, device, backend: str) -> dict:
    """Parameters, Adam state, activation peak and Adam's temporaries at ``depth``."""
    model = make_model(preset, depth, device)
    tr = PartTrainer(model, train)
    meter = dict(backend=backend, device=device if backend == "cuda" else None)
    for p in tr.params:  # gradients allocated before the step, as zeros
        p.grad = torch.zeros_like(p)
    activations = measure_peak_bytes(tr.forward_backward, **meter)
    # Adam's first step allocates its state, then works on it: the rest is temporaries
    adam_peak = measure_peak_bytes(tr.optimizer_step, **meter) - tr.adam_bytes()
    return dict(
        depth=depth,
        parameters=sum(p.numel() for p in tr.params),
        parameter_bytes=tr.parameter_bytes(),
        adam_bytes=tr.adam_bytes(),
        activation_bytes=activations,
        adam_step_bytes=adam_peak,
    )


def measure_time(preset: str, depth: int, train: Data, evalp: Data, device, repeats: int) -> dict:
    """Seconds of a training step (after a warm-up step) and of an evaluation forward."""
    tr = PartTrainer(make_model(preset, depth, device), train)
    tr.step()  # warm-up
    steps = [tr.timed_step() for _ in range(repeats)]
    evals = [tr.timed_eval(evalp) for _ in range(repeats)]
    return dict(
        depth=depth,
        step_all_s=[w for w, _ in steps],
        step_s=statistics.median(w for w, _ in steps),
        step_cpu_s=statistics.median(c for _, c in steps),
        eval_s=statistics.median(w for w, _ in evals),
        eval_cpu_s=statistics.median(c for _, c in evals),
    )


def predict(
    preset: str, lo: dict, hi: dict, t_lo: dict, t_hi: dict, part_bytes: int, info: dict
) -> dict:
    """Full-depth memory (with its breakdown, :func:`revgnn_edu.planning.memory_breakdown`)
    and time of ``preset`` from its memory measurements at l and 2l (``lo``, ``hi``) and
    its timings at two depths (``t_lo``, ``t_hi``)."""
    spec = PRESETS[preset]
    L = spec.num_layers
    params = round(linear(lo, hi, "parameters", L))  # exact: every layer is the same
    p_bytes = 4 * params
    flat = family_name(spec.family) in CONSTANT_ACTIVATIONS
    act = hi["activation_bytes"] if flat else linear(lo, hi, "activation_bytes", L)
    adam_step = hi["adam_step_bytes"] * p_bytes / hi["parameter_bytes"]  # ~ parameters
    memory = memory_breakdown(p_bytes, part_bytes, act, adam_step)
    times = dict(step_s=None, eval_s=None, epoch_s=None, step_cpu_s=None, epoch_cpu_s=None)
    if t_lo is not None:  # timed (not with --no-time)
        for key in ("step_s", "eval_s", "step_cpu_s", "eval_cpu_s"):
            times[key] = linear(t_lo, t_hi, key, L)
        for unit in ("", "cpu_"):
            partition = info[f"partition_train_{unit}s"] + info[f"partition_eval_{unit}s"]
            times[f"epoch_{unit}s"] = epoch_seconds(
                times[f"step_{unit}s"], times[f"eval_{unit}s"], partition
            )
    return dict(
        preset=preset,
        depth=L,
        hidden=spec.hidden_channels,
        family=spec.family,
        parameters=params,
        parameter_bytes=p_bytes,
        data_bytes=part_bytes,
        activation_bytes=act,
        activation_extrapolated=not flat,
        activation_ratio_2l_over_l=hi["activation_bytes"] / lo["activation_bytes"],
        adam_step_bytes=adam_step,
        predicted_bytes=memory["total"],
        predicted_gib=memory["total"] / GIB,
        breakdown_bytes=memory,
        breakdown_gib={k: v / GIB for k, v in memory.items()},
        memory_depths=[lo["depth"], hi["depth"]],
        paper_gib=PAPER_MEMORY_GIB.get(preset),
        paper_gb=PAPER_MEMORY_GIB.get(preset),  # the same figure (GiB), as notebook 08 reads it
        time_depths=None if t_lo is None else [t_lo["depth"], t_hi["depth"]],
        step_repeats_s=None if t_lo is None else [t_lo["step_all_s"], t_hi["step_all_s"]],
        step_s_extrapolated=times["step_s"],
        eval_s_extrapolated=times["eval_s"],
        epoch_s_extrapolated=times["epoch_s"],
        epochs_2000_h_extrapolated=None if t_lo is None else 2000 * times["epoch_s"] / 3600,
        step_cpu_s_extrapolated=times["step_cpu_s"],
        epoch_cpu_s_extrapolated=times["epoch_cpu_s"],
        paper_epoch_s=PAPER_EPOCH_S.get(preset),
    )


def bench_presets(cfg, train, evalp, info, device, backend, save=None) -> tuple[list, dict]:
    """Measure each distinct (family, width, dropout) once at l and 2l; predict every
    preset from its configuration's measurements."""
    configs: dict[tuple, list[str]] = {}
    for name in cfg["presets"]:
        spec = PRESETS[name]
        configs.setdefault((spec.family, spec.hidden_channels, spec.dropout), []).append(name)
    l, t = cfg["depth"], cfg["time_depth"]
    measured, rows = {}, []
    log(
        f"\n1-2. Presets at full width, one training step on one part: memory at depth "
        f"l={l} and 2l={2 * l}, time at {t} and {2 * t} layers"
    )
    for key, names in configs.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DEQ at a tiny iteration budget warns
            lo, hi = (measure_memory(names[0], d, train, device, backend) for d in (l, 2 * l))
            t_lo = t_hi = None
            if cfg["time"]:
                t_lo, t_hi = (
                    measure_time(names[0], d, train, evalp, device, cfg["repeats"])
                    for d in (t, 2 * t)
                )
        measured["/".join(map(str, key))] = dict(memory=[lo, hi], time=[t_lo, t_hi])
        log(
            f"  {'/'.join(map(str, key)):22s} activations {lo['activation_bytes'] / 2**20:9.1f}"
            f" -> {hi['activation_bytes'] / 2**20:9.1f} MiB, Adam step "
            f"{hi['adam_step_bytes'] / 2**20:7.1f} MiB  ({time.perf_counter() - start:.0f} s)"
        )
        for name in names:
            rows.append(predict(name, lo, hi, t_lo, t_hi, info["train_part"]["bytes"], info))
        if save is not None:  # a stopped run keeps what it measured
            save(rows, measured)
    rows.sort(key=lambda r: list(PRESETS).index(r["preset"]))
    return rows, measured


def show_presets(rows: list, scale: float) -> None:
    log(
        f"\nPredicted training memory of one step on one part (GiB = 2**30 bytes)"
        f"{'' if scale == 1 else f' -- SCALED-DOWN PART (scale {scale}): not comparable'}"
    )
    log(
        f"  {'preset':18s} {'L x D':>9s} {'params':>11s} {'act 2l/l':>8s} {'param+grad':>10s} "
        f"{'Adam':>6s} {'data':>6s} {'act':>6s} {'predicted':>9s} {'paper':>6s} "
        f"{'step*':>7s} {'epoch*':>7s} {'paper':>6s}"
    )
    for r in rows:
        b = r["breakdown_gib"]
        paper = f"{r['paper_gib']:.2f}" if r["paper_gib"] else "-"
        paper_t = f"{r['paper_epoch_s']}" if r["paper_epoch_s"] else "-"
        log(
            f"  {r['preset']:18s} {r['depth']:>4d} x {r['hidden']:<3d} {r['parameters']:>11,d} "
            f"{r['activation_ratio_2l_over_l']:8.3f} {b['parameters'] + b['gradients']:10.3f} "
            f"{b['optimizer']:6.3f} {b['data']:6.3f} {b['working_set']:6.3f} "
            f"{r['predicted_gib']:9.3f} {paper:>6s} "
            f"{r['step_s_extrapolated'] or float('nan'):6.1f}s "
            f"{r['epoch_s_extrapolated'] or float('nan'):6.0f}s {paper_t:>6s}"
        )
    log(
        f"  act = max(activations, Adam temporaries). * step and epoch: wall seconds on this "
        f"machine ({torch.get_num_threads()} threads), EXTRAPOLATED in depth from two timed "
        f"depths; {EPOCH_FORMULA}, with train_parts = 10, eval_parts = {EVAL_PARTS}, "
        f"views = 1 (the paper: wall seconds on one V100)"
    )


# -- 3. levers --------------------------------------------------------------------------
def bench_levers(cfg, train, device, backend, compiled: bool) -> dict:
    depth = cfg["lever_depth"]
    variants = {
        "reversible": ("revgnn-deep", {}),
        "ordinary autograd": ("revgnn-deep", {"memory_efficient": False}),
        "PyG GENConv (unfused)": ("revgnn-deep", {"conv": "gen"}),
        "unfolded edge encoder": ("revgnn-deep", {"fold_edge_encoder": False}),
        "unfused and unfolded": ("revgnn-deep", {"conv": "gen", "fold_edge_encoder": False}),
        "bf16 autocast": ("revgnn-deep", {"amp": True}),
    }
    if cfg["wide_levers"]:
        variants["wide: reversible"] = ("revgnn-wide", {})
        variants["wide: PyG GENConv (unfused)"] = ("revgnn-wide", {"conv": "gen"})
        variants["wide: unfolded edge encoder"] = ("revgnn-wide", {"fold_edge_encoder": False})
    if compiled:
        variants["compiled blocks"] = ("revgnn-deep", {"compiled": True})
        variants["compiled + unfolded"] = (
            "revgnn-deep",
            {"compiled": True, "fold_edge_encoder": False},
        )
    log(
        f"\n3. Levers at part size, depth {depth}: step time (median of "
        f"{cfg['lever_repeats']}, interleaved), activation memory, loss vs the baseline"
    )
    trainers, rows = {}, {}
    for name, (preset, kw) in variants.items():
        kw = dict(kw)
        amp = kw.pop("amp", False)
        start = time.perf_counter()
        tr = PartTrainer(make_model(preset, depth, device, **kw), train, amp)
        torch.manual_seed(1)  # the same dropout mask for every variant
        loss = tr.step()  # warm-up (and compilation)
        first_s = time.perf_counter() - start
        tr.opt.zero_grad(set_to_none=False)
        act = measure_peak_bytes(
            tr.forward_backward, backend=backend, device=device if backend == "cuda" else None
        )
        trainers[name] = tr
        rows[name] = dict(
            preset=preset, loss=loss, activation_bytes=act, first_step_s=first_s, times=[]
        )
        log(f"  built {name}: first step {first_s:.1f} s")
    for _ in range(cfg["lever_repeats"]):
        for name, tr in trainers.items():
            rows[name]["times"].append(tr.timed_step())
    for name, row in rows.items():
        times = row.pop("times")
        row["step_wall_s"] = statistics.median(w for w, _ in times)
        # CPU time: steadier than wall time on a shared machine; wall time on a GPU
        row["step_all_s"] = [c if device.type == "cpu" else w for w, c in times]
        row["step_s"] = statistics.median(row["step_all_s"])
        base = rows["wide: reversible" if name.startswith("wide") else "reversible"]
        row["time_ratio"] = row["step_s"] / base["step_s"]
        row["memory_ratio"] = row["activation_bytes"] / base["activation_bytes"]
        row["loss_rel_diff"] = abs(row["loss"] - base["loss"]) / abs(base["loss"])
        log(
            f"  {name:28s} step {row['step_s']:7.3f} s ({min(row['step_all_s']):.3f}-"
            f"{max(row['step_all_s']):.3f})  x{row['time_ratio']:.2f}   "
            f"activations {row['activation_bytes'] / 2**20:8.1f} MiB  x{row['memory_ratio']:.2f}"
            f"   loss rel. diff {row['loss_rel_diff']:.1e}"
        )
    # the ratio per interleaved round (the same load for both), then its median
    paired = [
        r / o
        for r, o in zip(rows["reversible"]["step_all_s"], rows["ordinary autograd"]["step_all_s"])
    ]
    out = dict(
        depth=depth,
        threads=torch.get_num_threads(),
        variants=rows,
        reversible_over_ordinary=statistics.median(paired),
        reversible_over_ordinary_rounds=paired,
    )
    log(
        f"  reversible / ordinary autograd: {out['reversible_over_ordinary']:.2f} (median of "
        f"{len(paired)} interleaved rounds, {min(paired):.2f}-{max(paired):.2f}; "
        f"{out['threads']} threads; theory ~1.33: one extra block forward per layer)"
    )
    return out


# -- 4. bf16 drift ----------------------------------------------------------------------
def bench_drift(cfg, device) -> dict:
    """Rebuilt-input and gradient errors at ``drift_depth`` layers, bf16 and float32,
    relative to float64 with ordinary autograd."""
    depth, n, e = cfg["drift_depth"], cfg["drift_nodes"], cfg["drift_edges"]
    log(f"\n4. Reconstruction drift at {depth} layers (D=80, N={n}, E={e}, dropout 0)")
    data = random_graph(n, e, 16, edge_dim=8, num_classes=8, seed=1).to(device)
    torch.manual_seed(0)
    model = RevGNN(16, 80, 8, depth, edge_dim=8, dropout=0.0).to(device)
    ref = copy.deepcopy(model).double()
    ref.memory_efficient = False
    x64, e64 = data.x.double(), data.edge_attr.double()

    def grads(m, x, ea, amp):
        m.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = m(x, data.edge_index, ea)
        F.cross_entropy(out.float() if out.dtype != torch.float64 else out, data.y).backward()
        return torch.cat([p.grad.double().flatten() for p in m.parameters()])

    def rebuild(amp):
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            h0 = model.node_encoder(data.x)
            u = model.edge_encoder(data.edge_attr)
            h = h0
            for layer in model.layers:
                h = layer(h, data.edge_index, u)
            for layer in reversed(model.layers):
                h = layer.inverse(h, data.edge_index, u)
            return ((h.float() - h0.float()).norm() / h0.float().norm()).item()

    g64 = grads(ref, x64, e64, False)
    rows = {}
    for name, amp in (("float32", False), ("bf16", True)):
        g = grads(model, data.x, data.edge_attr, amp)
        rows[name] = dict(
            rebuild_rel_err=rebuild(amp), grad_rel_err=((g - g64).norm() / g64.norm()).item()
        )
        log(
            f"  {name:8s} rebuilt input {rows[name]['rebuild_rel_err']:.1e}, "
            f"gradients {rows[name]['grad_rel_err']:.1e} (relative to float64)"
        )
    plain = copy.deepcopy(model)
    plain.memory_efficient = False
    g = grads(plain, data.x, data.edge_attr, True)
    rows["bf16, ordinary autograd"] = dict(grad_rel_err=((g - g64).norm() / g64.norm()).item())
    log(
        f"  bf16 with ordinary autograd (no rebuilding): gradients "
        f"{rows['bf16, ordinary autograd']['grad_rel_err']:.1e}"
    )
    return dict(depth=depth, hidden=80, nodes=n, edges=e, rows=rows)


# -- GPU: real full-depth steps -------------------------------------------------------
def bench_full_depth(presets, train, device, repeats: int) -> list:
    log(f"\nFull-depth training steps on {device} (float32 and bf16 autocast)")
    rows = []
    for preset in presets:
        for amp in (False, True):
            model = make_model(preset, PRESETS[preset].num_layers, device)
            tr = PartTrainer(model, train, amp)
            tr.step()  # warm-up and Adam state
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            times = [tr.timed_step()[0] for _ in range(repeats)]  # wall seconds
            row = dict(
                preset=preset,
                amp=amp,
                step_s=statistics.median(times),
                max_memory_allocated=torch.cuda.max_memory_allocated(device),
                paper_gib=PAPER_MEMORY_GIB.get(preset),
                paper_gb=PAPER_MEMORY_GIB.get(preset),  # (the same, GiB: notebook 08's key)
            )
            rows.append(row)
            log(
                f"  {preset:12s} {'bf16' if amp else 'fp32'}: step {row['step_s']:.2f} s, "
                f"max_memory_allocated {row['max_memory_allocated'] / GIB:.2f} GiB "
                f"(paper {row['paper_gib']} GiB)"
            )
            del tr, model
            torch.cuda.empty_cache()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a scaled-down graph (1%% of the edges) and tiny drift: a smoke run",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also measure torch.compile of the blocks (slow to compile)",
    )
    parser.add_argument(
        "--full-depth",
        nargs="*",
        default=[],
        metavar="PRESET",
        help="CUDA only: run real full-depth steps of these presets",
    )
    parser.add_argument(
        "--no-presets",
        action="store_true",
        help="skip section 1-2 (default --out: benchmarks/results/proteins_levers_<device>.json)",
    )
    parser.add_argument(
        "--presets",
        nargs="+",
        default=None,
        metavar="PRESET",
        help="measure only these presets (default: all; --quick: one per family)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="fraction of ogbn-proteins' nodes and edges (default: 1; --quick: 0.01)",
    )
    parser.add_argument(
        "--drift-depth",
        type=int,
        default=None,
        help="layers of the drift test (default: 1001; --quick: 16)",
    )
    parser.add_argument(
        "--lever-depth",
        type=int,
        default=None,
        help="layers of the lever comparison (default: 2; --quick: 1)",
    )
    parser.add_argument(
        "--no-time", action="store_true", help="memory only: skip the timed steps of section 1-2"
    )
    parser.add_argument("--no-levers", action="store_true", help="skip sections 3-4")
    add_common_arguments(parser, "proteins")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_proteins: --device cuda but torch.cuda.is_available() is False")
    bad = [p for p in args.full_depth + (args.presets or []) if p not in PRESETS]
    if bad:
        raise SystemExit(f"bench_proteins: unknown presets {bad}; valid: {', '.join(PRESETS)}")
    if args.full_depth and device.type != "cuda":
        raise SystemExit(
            "bench_proteins: --full-depth needs --device cuda (a full-depth "
            "step of RevGNN-Deep takes minutes on a CPU)"
        )
    backend = "cuda" if device.type == "cuda" else "tracker"
    cfg = dict(QUICK if args.quick else FULL, time=not args.no_time)
    if args.presets:
        cfg["presets"] = args.presets
    for key in ("scale", "drift_depth", "lever_depth"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    # the levers alone are another results file: never overwrite the presets' one
    out = prepare(args, "proteins_levers" if args.no_presets else "proteins", device)
    start = time.perf_counter()
    log(
        f"bench_proteins: device {device}, memory backend {backend}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
        + (
            f"a SCALED-DOWN graph (scale {cfg['scale']}), numbers NOT comparable to the paper"
            if cfg["scale"] != 1
            else "full size"
        )
    )
    train, evalp, info = make_parts(cfg["scale"], cfg["partition_scale"], device)
    log(
        f"training part {info['train_part']['nodes']:,} nodes, "
        f"{info['train_part']['edges']:,} edges; evaluation part "
        f"{info['eval_part']['nodes']:,} nodes, {info['eval_part']['edges']:,} edges; "
        f"(built in {info['build_s']:.1f} s); partitions of the full graph "
        f"{info['partition_train_s']:.1f} s (10 parts), {info['partition_eval_s']:.1f} s "
        f"(5 parts), scaled from a {info['partition_scale']} graph"
    )
    results = dict(
        config=dict(
            environment(str(device)), **cfg, quick=args.quick, backend=backend, compile=args.compile
        ),
        graph=info,
    )
    checks = {}
    if not args.no_presets:
        rows, measured = bench_presets(
            cfg,
            train,
            evalp,
            info,
            device,
            backend,
            save=lambda rows, measured: write_json(
                out, dict(results, presets=rows, measured=measured)
            ),
        )
        show_presets(rows, cfg["scale"])
        results.update(presets=rows, measured=measured)
        write_json(out, results)  # a stopped run keeps what it measured
        for r in rows:
            if family_name(r["family"]) in CONSTANT_ACTIVATIONS:
                checks[f"{r['preset']}: activations flat in depth (2l/l <= 1.05)"] = (
                    r["activation_ratio_2l_over_l"] <= 1.05
                )
        for r in rows:
            if r["preset"] in PUBLISHED_PARAMETERS:
                count = PUBLISHED_PARAMETERS[r["preset"]]
                checks[f"{r['preset']}: {count:,} parameters (published)"] = (
                    r["parameters"] == count
                )
        if cfg["scale"] == 1:
            for r in rows:
                if family_name(r["family"]) != "ResGNN" and r["paper_gib"]:
                    checks[f"{r['preset']}: predicted memory below the paper's"] = (
                        r["predicted_bytes"] < r["paper_gib"] * GIB
                    )
    if not args.no_levers:
        levers = bench_levers(cfg, train, device, backend, args.compile)
        results["levers"] = levers
        write_json(out, results)
        for name, row in levers["variants"].items():
            tol = 5e-2 if "bf16" in name else 1e-4
            checks[f"lever {name!r}: same loss as the baseline (rel. {tol:g})"] = (
                row["loss_rel_diff"] <= tol
            )
        results["bf16_drift"] = bench_drift(cfg, device)
    if args.full_depth:
        results["full_depth"] = bench_full_depth(args.full_depth, train, device, repeats=3)
    results["seconds"] = time.perf_counter() - start
    log(f"\ntotal {results['seconds']:.0f} s")
    return finish(results, checks, out)


if __name__ == "__main__":
    sys.exit(main())
