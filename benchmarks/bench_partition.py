"""Time one epoch of random-partition subgraphs on a graph of ogbn-proteins' size.

Compares revgnn_edu's RandomPartitionLoader with PyG's RandomNodeLoader (the loader of
PyG's ogbn-proteins DeeperGCN example) in the same run, on the same synthetic graph:
132,534 nodes and 79,122,504 directed edges (39,561,252 random node pairs, stored in
both directions) with 8 float edge features, like ogbn-proteins. The edges are uniform
at random, not the real protein graph; both loaders do work proportional to the number
of edges, so only the sizes matter.

One epoch = one fresh random partition into --parts parts (10, as in the paper's
training) and all its subgraphs: node ids, local edge_index and edge_attr. Each loader
runs one untimed warm-up epoch (the first touch of fresh memory is slow on some
machines), then --epochs timed epochs; the medians of wall-clock and CPU time (user +
system, all threads) are reported. On a shared machine, CPU time is the steadier number.

Usage:
    python benchmarks/bench_partition.py              # ogbn-proteins' size
    python benchmarks/bench_partition.py --scale 0.01 # 1% of it: a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from common import (
    PeakRSS,
    add_common_arguments,
    environment,
    finish,
    log,
    prepare,
    rss_bytes,
    synthetic_proteins,
    timed,
)
from torch_geometric.loader import RandomNodeLoader

from revgnn_edu.data.partition import RandomPartitionLoader


def time_epochs(run_epoch, epochs: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of ``epochs`` calls after one warm-up; kept edges."""
    run_epoch()
    wall, cpu, kept = zip(*(timed(run_epoch) for _ in range(epochs)))
    return statistics.median(wall), statistics.median(cpu), kept[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of ogbn-proteins' nodes and edges (default: 1.0)",
    )
    parser.add_argument("--parts", type=int, default=10, help="parts per epoch (default: 10)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (default: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pyg", action="store_true", help="time only our loader")
    add_common_arguments(parser, "partition")
    args = parser.parse_args(argv)
    out = prepare(args, "partition")
    results = {
        "config": dict(environment(), scale=args.scale, parts=args.parts, epochs=args.epochs)
    }

    log(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{results['config']['cpus']} CPUs"
    )
    start = time.perf_counter()
    data = synthetic_proteins(args.scale, args.seed)
    log(
        f"graph: {data.num_nodes:,} nodes, {data.num_edges:,} directed edges, "
        f"edge_attr {tuple(data.edge_attr.shape)}; built in "
        f"{time.perf_counter() - start:.1f} s, RSS {rss_bytes() / 1e9:.2f} GB"
    )

    # Ours: one-time preprocessing (int32 copy of the edges), then epochs.
    with PeakRSS() as mem:
        start = time.perf_counter()
        ours = RandomPartitionLoader(
            data.edge_index,
            data.num_nodes,
            args.parts,
            data.edge_attr,
            generator=torch.Generator().manual_seed(args.seed),
        )
        ours_pre = time.perf_counter() - start
    log(f"ours: preprocessing {ours_pre:.3f} s, peak extra RSS {mem.extra_gb:.2f} GB")

    def ours_epoch() -> int:
        return sum(sub.edge_ids.numel() for sub in ours)

    with PeakRSS() as mem:
        ours_time, ours_cpu, ours_kept = time_epochs(ours_epoch, args.epochs)
    log(
        f"ours: epoch of {args.parts} subgraphs {ours_time:.3f} s wall, {ours_cpu:.3f} s CPU "
        f"(medians of {args.epochs}), {ours_kept:,} edges kept, peak extra RSS "
        f"{mem.extra_gb:.2f} GB"
    )
    results["graph"] = {"nodes": data.num_nodes, "edges": data.num_edges}
    results["ours"] = {
        "preprocess_s": ours_pre,
        "epoch_s": ours_time,
        "epoch_cpu_s": ours_cpu,
        "edges_kept": ours_kept,
        "epoch_extra_rss_gb": mem.extra_gb,
    }

    # A random partition into P parts keeps an edge with probability 1/P.
    expected = data.num_edges / args.parts
    checks = {
        f"ours keeps about 1/{args.parts} of the edges (within 10%)": abs(ours_kept - expected)
        <= 0.1 * expected + 10
    }
    if args.skip_pyg:
        return finish(results, checks, out)
    # PyG: RandomNodeLoader draws a random node order per epoch (shuffle=True) and calls
    # Data.subgraph once per part.
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    pyg = RandomNodeLoader(data, num_parts=args.parts, shuffle=True)
    pyg_pre = time.perf_counter() - start
    log(f"pyg:  preprocessing {pyg_pre:.3f} s")

    def pyg_epoch() -> int:
        return sum(sub.num_edges for sub in pyg)

    pyg_time, pyg_cpu, pyg_kept = time_epochs(pyg_epoch, args.epochs)
    log(
        f"pyg:  epoch of {len(pyg)} subgraphs {pyg_time:.3f} s wall, {pyg_cpu:.3f} s CPU "
        f"(medians of {args.epochs}), {pyg_kept:,} edges kept"
    )
    log(
        f"speed-up (pyg / ours, per epoch): {pyg_time / ours_time:.1f}x wall, "
        f"{pyg_cpu / ours_cpu:.1f}x CPU"
    )
    results["pyg"] = {
        "preprocess_s": pyg_pre,
        "epoch_s": pyg_time,
        "epoch_cpu_s": pyg_cpu,
        "edges_kept": pyg_kept,
    }
    results["speedup_wall"] = pyg_time / ours_time
    results["speedup_cpu"] = pyg_cpu / ours_cpu
    checks["both loaders keep the same number of edges (within 10%)"] = (
        abs(ours_kept - pyg_kept) <= 0.1 * expected + 10
    )
    checks["ours is faster than PyG's RandomNodeLoader (CPU time)"] = ours_cpu < pyg_cpu
    return finish(results, checks, out)


if __name__ == "__main__":
    sys.exit(main())
