"""The ogbn-proteins data path at full size: time and peak memory of each stage.

    make bench-data          # = python benchmarks/bench_data.py (full size; not in CI)
    python benchmarks/bench_data.py --nodes 2000 --edges 20000   # a smoke run

Writes a fake ogbn-proteins with the real sizes (``NUM_NODES`` nodes,
``NUM_UNDIRECTED_EDGES`` undirected edges with 8 features each, from
``revgnn_edu.data.ogbn_proteins_facts``) in ogb's raw format with ``make_fake_ogbn_proteins`` into a
temporary folder, then goes through the stages a user meets, each timed and with the
peak resident memory (RSS) of its process:

1. ``write``: writing the fake raw files (not a user stage; for the record);
2. ``ogb_process``: the first ``load_ogbn_proteins``, in which ogb reads the raw csv.gz
   files and saves its processed file (then our node inputs are built);
3. ``load``: a later ``load_ogbn_proteins``, reading ogb's processed file;
4. ``node_features``: our node inputs (edge features summed onto nodes, species index);
5. ``partition``: a RandomPartitionLoader and one epoch of 10 random-part subgraphs;
6. ``evaluate``: one multi-view evaluation (10 views x 3 parts, as the paper's headline
   numbers) of a tiny untrained model, scored with ogb's evaluator.

Stages 1, 2 and 3-6 run in three separate processes, so each starts from a clean heap;
within the last process, each stage's peak is the process's own high-water mark reset
at the stage's start (so it includes the data already loaded, as a user would see it).
The folder is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import PeakRSS, add_common_arguments, environment, finish, log, prepare

from revgnn_edu.data.ogbn_proteins_facts import (
    NUM_NODES,
    NUM_UNDIRECTED_EDGES,
    TEST_VIEW_PARTS,
    TEST_VIEWS,
    TRAIN_PARTS,
)

#: "fits comfortably in 24 GB" (the machine this course targets); ogb's official
#: pipeline needs about 40 GB for the same data.
BUDGET_BYTES = 16e9


class Stage:
    """Times a ``with`` block and records its peak RSS into ``rows[name]``."""

    def __init__(self, rows: dict, name: str):
        self.rows, self.name = rows, name

    def __enter__(self):
        log(f"-- {self.name} ...")
        self.mem = PeakRSS().__enter__()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, *exc):
        seconds = time.perf_counter() - self.t0
        self.mem.__exit__(exc_type, *exc)
        if exc_type is None:
            self.rows[self.name] = {
                "seconds": seconds,
                "peak_rss_bytes": self.mem.peak,
                "start_rss_bytes": self.mem.start,
                "exact_peak": self.mem.exact,
            }
            log(
                f"   {self.name}: {seconds:.1f} s, peak RSS {self.mem.peak_gb:.2f} GB "
                f"(start {self.mem.start / 1e9:.2f} GB)"
            )
        return False


def stage_write(root: Path, nodes: int, edges: int, rows: dict) -> dict:
    from revgnn_edu.data import make_fake_ogbn_proteins

    with Stage(rows, "write"):
        make_fake_ogbn_proteins(root, num_nodes=nodes, num_edges=edges, seed=0)
    files = {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*.gz"))}
    return {"raw_file_bytes": files}


def stage_process(root: Path, rows: dict) -> dict:
    from revgnn_edu.data import load_ogbn_proteins

    with Stage(rows, "ogb_process"):
        data, _ = load_ogbn_proteins(root, download=False)
    processed = next(root.rglob("geometric_data_processed.pt"))
    return {
        "processed_file_bytes": processed.stat().st_size,
        "num_nodes": int(data.num_nodes),
        "num_edges": int(data.num_edges),
    }


def stage_use(root: Path, rows: dict, views: int, eval_parts: int, train_parts: int) -> dict:
    from revgnn_edu.data import (
        SPECIES_TAXONOMY_IDS,
        RandomPartitionLoader,
        aggregate_edge_features,
        load_ogbn_proteins,
        mean_rocauc,
        multi_view_predict,
        proteins_node_input,
        species_to_index,
    )
    from revgnn_edu.models.presets import build_model

    with Stage(rows, "load"):
        data, split = load_ogbn_proteins(root, download=False)
    n = int(data.num_nodes)
    with Stage(rows, "node_features"):  # what load_ogbn_proteins does after ogb
        x = aggregate_edge_features(data.edge_index, data.edge_attr, n)
        species = species_to_index(torch.tensor(SPECIES_TAXONOMY_IDS)[data.species])
    assert torch.equal(x, data.x) and torch.equal(species, data.species)
    del x, species
    gen = torch.Generator().manual_seed(0)
    with Stage(rows, "partition"):
        loader = RandomPartitionLoader(
            data.edge_index, n, train_parts, data.edge_attr, generator=gen
        )
        parts = loader.sample()
    kept = sum(p.edge_ids.numel() for p in parts)
    largest = max(p.edge_ids.numel() for p in parts)
    del parts, loader

    torch.manual_seed(0)
    model = build_model("revgnn-deep", hidden_channels=16, num_layers=2).eval()
    x = proteins_node_input(data)

    def predict(sub):
        return model(x[sub.node_ids], sub.edge_index, sub.edge_attr)

    with Stage(rows, "evaluate"):
        pred = multi_view_predict(
            predict, data, num_views=views, num_parts=eval_parts, generator=gen
        )
        auc = mean_rocauc(pred, data.y, split["test"])
    return {
        "partition_edges_kept": kept,
        "partition_largest_part_edges": largest,
        "eval_views": views,
        "eval_parts": eval_parts,
        "eval_test_rocauc": auc,
    }


def run_stage(args) -> int:
    """Inside a child process: run one group of stages, write its rows to --stage-out."""
    root, rows = Path(args.root), {}
    if args.stage == "write":
        extra = stage_write(root, args.nodes, args.edges, rows)
    elif args.stage == "process":
        extra = stage_process(root, rows)
    else:
        extra = stage_use(root, rows, args.views, args.eval_parts, args.parts)
    Path(args.stage_out).write_text(json.dumps({"stages": rows, "info": extra}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--nodes",
        type=int,
        default=NUM_NODES,
        help=f"proteins (default: {NUM_NODES:,}, the real number)",
    )
    parser.add_argument(
        "--edges",
        type=int,
        default=NUM_UNDIRECTED_EDGES,
        help=f"undirected edges (default: {NUM_UNDIRECTED_EDGES:,})",
    )
    parser.add_argument(
        "--parts", type=int, default=TRAIN_PARTS, help=f"training parts (default: {TRAIN_PARTS})"
    )
    parser.add_argument(
        "--views", type=int, default=TEST_VIEWS, help=f"evaluation views (default: {TEST_VIEWS})"
    )
    parser.add_argument(
        "--eval-parts",
        type=int,
        default=TEST_VIEW_PARTS,
        help=f"parts per evaluation view (default: {TEST_VIEW_PARTS})",
    )
    parser.add_argument(
        "--root", default=None, help="folder for the fake dataset (default: a new temporary folder)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the dataset folder")
    parser.add_argument("--stage", choices=("write", "process", "use"), help=argparse.SUPPRESS)
    parser.add_argument("--stage-out", help=argparse.SUPPRESS)
    add_common_arguments(parser, "data")
    args = parser.parse_args(argv)
    out = prepare(args, "data")
    if args.nodes < 16 or args.edges < 1:
        raise ValueError(f"--nodes must be >= 16 and --edges >= 1, got {args.nodes}, {args.edges}")
    if args.stage:
        return run_stage(args)

    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="revgnn_bench_data_"))
    full = (args.nodes, args.edges) == (NUM_NODES, NUM_UNDIRECTED_EDGES)
    log(
        f"bench_data: {args.nodes:,} nodes, {args.edges:,} undirected edges "
        f"({'full size' if full else 'NOT full size'}), dataset folder {root}"
    )
    results = {
        "config": dict(
            environment(),
            nodes=args.nodes,
            undirected_edges=args.edges,
            full_size=full,
            parts=args.parts,
            views=args.views,
            eval_parts=args.eval_parts,
            budget_bytes=BUDGET_BYTES,
        ),
        "stages": {},
        "info": {},
    }
    start, failed = time.perf_counter(), []
    try:
        for stage in ("write", "process", "use"):
            stage_out = root.parent / f"{root.name}.{stage}.json"
            cmd = [
                sys.executable,
                __file__,
                "--stage",
                stage,
                "--stage-out",
                str(stage_out),
                "--root",
                str(root),
                "--nodes",
                str(args.nodes),
                "--edges",
                str(args.edges),
                "--parts",
                str(args.parts),
                "--views",
                str(args.views),
                "--eval-parts",
                str(args.eval_parts),
                "--threads",
                str(args.threads),
            ]
            code = subprocess.call(cmd)
            if code:
                failed.append(stage)
                log(f"stage group {stage!r} failed with exit code {code}")
                break
            got = json.loads(stage_out.read_text())
            stage_out.unlink()
            results["stages"].update(got["stages"])
            results["info"].update(got["info"])
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    results["seconds"] = time.perf_counter() - start
    log(f"\n{'stage':14s} {'seconds':>9s} {'peak RSS':>10s}")
    for name, row in results["stages"].items():
        log(f"{name:14s} {row['seconds']:9.1f} {row['peak_rss_bytes'] / 1e9:8.2f} GB")
    peaks = [row["peak_rss_bytes"] for row in results["stages"].values()]
    checks = {
        "every stage ran": not failed and len(results["stages"]) == 6,
        f"every stage's peak RSS below {BUDGET_BYTES / 1e9:.0f} GB": bool(peaks)
        and max(peaks) < BUDGET_BYTES,
    }
    return finish(results, checks, out)


if __name__ == "__main__":
    sys.exit(main())
