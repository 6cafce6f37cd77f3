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
    python benchmarks/bench_partition.py              # full size, a few minutes, ~9 GB
    python benchmarks/bench_partition.py --scale 0.01 # seconds
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import threading
import time

import torch
from torch_geometric.data import Data
from torch_geometric.loader import RandomNodeLoader

from revgnn_edu.data.partition import RandomPartitionLoader

PROTEINS_NODES = 132_534
PROTEINS_UNDIRECTED_EDGES = 39_561_252
PROTEINS_EDGE_DIM = 8


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


class PeakRSS:
    """Samples the RSS every few milliseconds inside a ``with`` block; keeps the peak."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def extra_gb(self) -> float:
        return (self.peak - self.start) / 1e9


def synthetic_proteins(scale: float, seed: int) -> Data:
    """A random symmetric graph with ogbn-proteins' sizes times ``scale``."""
    num_nodes = max(10, round(PROTEINS_NODES * scale))
    num_pairs = max(1, round(PROTEINS_UNDIRECTED_EDGES * scale))
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.empty(2, 2 * num_pairs, dtype=torch.long)
    # Fill in place, half at a time, to keep the peak memory near the final size.
    edge_index[0, :num_pairs] = torch.randint(0, num_nodes, (num_pairs,), generator=gen)
    edge_index[1, :num_pairs] = torch.randint(0, num_nodes, (num_pairs,), generator=gen)
    edge_index[0, num_pairs:] = edge_index[1, :num_pairs]
    edge_index[1, num_pairs:] = edge_index[0, :num_pairs]
    edge_attr = torch.rand(2 * num_pairs, PROTEINS_EDGE_DIM, generator=gen)
    return Data(edge_index=edge_index, edge_attr=edge_attr, num_nodes=num_nodes)


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_epochs(run_epoch, epochs: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of ``epochs`` calls after one warm-up; kept edges."""
    run_epoch()
    wall, cpu, kept = [], [], 0
    for _ in range(epochs):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        kept = run_epoch()
        wall.append(time.perf_counter() - start)
        cpu.append(cpu_seconds() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), kept


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of ogbn-proteins' nodes and edges (default: 1.0)")
    parser.add_argument("--parts", type=int, default=10, help="parts per epoch (default: 10)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (default: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pyg", action="store_true", help="time only our loader")
    parser.add_argument("--out", default=None,
                        help="write the results as JSON here (e.g. benchmarks/results/partition_cpu.json)")
    args = parser.parse_args(argv)
    results = {"config": {"scale": args.scale, "parts": args.parts, "epochs": args.epochs,
                          "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "cpus": os.cpu_count()}}

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    start = time.perf_counter()
    data = synthetic_proteins(args.scale, args.seed)
    print(f"graph: {data.num_nodes:,} nodes, {data.num_edges:,} directed edges, "
          f"edge_attr {tuple(data.edge_attr.shape)}; built in "
          f"{time.perf_counter() - start:.1f} s, RSS {rss_bytes() / 1e9:.2f} GB")

    # Ours: one-time preprocessing (int32 copy of the edges), then epochs.
    with PeakRSS() as mem:
        start = time.perf_counter()
        ours = RandomPartitionLoader(
            data.edge_index, data.num_nodes, args.parts, data.edge_attr,
            generator=torch.Generator().manual_seed(args.seed),
        )
        ours_pre = time.perf_counter() - start
    print(f"ours: preprocessing {ours_pre:.3f} s, peak extra RSS {mem.extra_gb:.2f} GB")

    def ours_epoch() -> int:
        return sum(sub.edge_ids.numel() for sub in ours)

    with PeakRSS() as mem:
        ours_time, ours_cpu, ours_kept = time_epochs(ours_epoch, args.epochs)
    print(f"ours: epoch of {args.parts} subgraphs {ours_time:.3f} s wall, {ours_cpu:.3f} s CPU "
          f"(medians of {args.epochs}), {ours_kept:,} edges kept, peak extra RSS "
          f"{mem.extra_gb:.2f} GB")
    results["graph"] = {"nodes": data.num_nodes, "edges": data.num_edges}
    results["ours"] = {"preprocess_s": ours_pre, "epoch_s": ours_time, "epoch_cpu_s": ours_cpu,
                       "edges_kept": ours_kept, "epoch_extra_rss_gb": mem.extra_gb}

    if args.skip_pyg:
        _write(results, args.out)
        return
    # PyG: RandomNodeLoader draws a random node order per epoch (shuffle=True) and calls
    # Data.subgraph once per part.
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    pyg = RandomNodeLoader(data, num_parts=args.parts, shuffle=True)
    pyg_pre = time.perf_counter() - start
    print(f"pyg:  preprocessing {pyg_pre:.3f} s")

    def pyg_epoch() -> int:
        return sum(sub.num_edges for sub in pyg)

    pyg_time, pyg_cpu, pyg_kept = time_epochs(pyg_epoch, args.epochs)
    print(f"pyg:  epoch of {len(pyg)} subgraphs {pyg_time:.3f} s wall, {pyg_cpu:.3f} s CPU "
          f"(medians of {args.epochs}), {pyg_kept:,} edges kept")
    print(f"speed-up (pyg / ours, per epoch): {pyg_time / ours_time:.1f}x wall, "
          f"{pyg_cpu / ours_cpu:.1f}x CPU")
    results["pyg"] = {"preprocess_s": pyg_pre, "epoch_s": pyg_time, "epoch_cpu_s": pyg_cpu,
                      "edges_kept": pyg_kept}
    results["speedup_wall"] = pyg_time / ours_time
    results["speedup_cpu"] = pyg_cpu / ours_cpu
    _write(results, args.out)


def _write(results: dict, path) -> None:
    if path:
        import json
        from pathlib import Path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
