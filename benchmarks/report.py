"""Rewrite the README's results block from the benchmark JSON files (never by hand).

    python benchmarks/report.py [--results benchmarks/results] [--check]

The block sits between the markers below in README.md. ``--check`` only compares and
exits 1 when the README is out of date (tests/test_readme.py runs the same comparison).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def _mib(b: float) -> str:
    return f"{b / 2**20:,.2f} MiB"


def _load(results: Path, name: str):
    path = results / name
    return json.loads(path.read_text()) if path.exists() else None


def reversible_section(r: dict, title: str) -> list[str]:
    c = r["config"]
    lines = [f"#### {title}", "",
             f"Graph: N={c['num_nodes']:,}, E={c['num_edges']:,}, D={c['hidden']}, C=2, "
             f"edge_dim={c['edge_dim']}, dropout {c['dropout']}; device `{c['device']}`, "
             f"memory backend `{c['backend']}`, torch {c['torch']}.", "",
             "Activation memory of one training step (peak minus parameters and gradients), "
             "and the time of one step (a single timing after a warm-up):", "",
             "| depth | RevGNN memory | ResGNN memory | RevGNN step | ResGNN step | time ratio |",
             "|---|---|---|---|---|---|"]
    rows = r["depth_memory"]["rows"]
    by = {(row["model"], row["depth"]): row for row in rows}
    for depth in sorted({row["depth"] for row in rows}):
        rev, res = by[("RevGNN", depth)], by.get(("ResGNN", depth))
        if res is None:
            lines.append(f"| {depth} | {_mib(rev['bytes'])} | not run | | | |")
            continue
        times = (f"{rev['step_s']:.3f} s | {res['step_s']:.3f} s | {rev['step_s'] / res['step_s']:.2f}"
                 if "step_s" in rev and "step_s" in res else " | | ")
        lines.append(f"| {depth} | {_mib(rev['bytes'])} | {_mib(res['bytes'])} | {times} |")
    dm, pyg, st = r["depth_memory"], r["vs_group_add_rev"], r["step_time"]
    lines += ["", f"- RevGNN activation memory, {max(c['depths'])} / {min(c['depths'])} layers: "
                  f"**{dm['rev_ratio']:.3f}** (target <= 1.05)",
              f"- vs PyG `GroupAddRev`, same blocks and weights: peak memory ratio "
              f"**{pyg['memory_ratio']:.3f}** at {pyg['memory_depth']} layers (target <= 1.00), "
              f"step-time ratio **{pyg['time_ratio']:.3f}** at {pyg['time_depth']} layers "
              f"(target <= 1.05)",
              f"- step time at {st['depth']} layers: RevGNN / ResGNN **{st['rev_over_res']:.2f}**, "
              f"RevGNN / the same model with ordinary autograd **{st['rev_over_plain_autograd']:.2f}** "
              f"(one extra block forward per layer: about 1.3 in theory)"]
    if "folded_edge_encoder" in r:
        f = r["folded_edge_encoder"]
        lines.append(f"- folded edge encoder (same parameters and function): step time ratio "
                     f"**{f['time_ratio']:.3f}**, activation memory ratio **{f['memory_ratio']:.3f}**")
    lines += ["", "float32 reconstruction drift (relative errors against the float64 reference):",
              "", "| depth | rebuilt input | gradients (reversible) | gradients (ordinary autograd) |",
              "|---|---|---|---|"]
    for row in r["float32_drift"]:
        lines.append(f"| {row['depth']} | {row['rebuild_rel_err']:.1e} | "
                     f"{row['grad_rel_err_rev32']:.1e} | {row['grad_rel_err_plain32']:.1e} |")
    lines += ["", "Groups (parameters per layer: counted = formula D² + 4D²/C + 10D):", "",
              "| C | parameters / layer | formula matches | activation memory |", "|---|---|---|---|"]
    for row in r["groups"]:
        lines.append(f"| {row['groups']} | {row['params_per_layer']:,} | "
                     f"{row['formula_matches']} | {_mib(row['bytes'])} |")
    return lines + [""]


def partition_section(p: dict) -> list[str]:
    g, c = p["graph"], p["config"]
    lines = ["#### Random partitioning (`benchmarks/bench_partition.py`)", "",
             f"Graph: {g['nodes']:,} nodes, {g['edges']:,} directed edges (scale {c['scale']}), "
             f"{c['parts']} parts, {c['cpus']} CPUs; medians of {c['epochs']} epochs.", "",
             "| | one-time preprocessing | one epoch (10 subgraphs), wall | CPU |", "|---|---|---|---|",
             f"| ours | {p['ours']['preprocess_s']:.2f} s | {p['ours']['epoch_s']:.3f} s | "
             f"{p['ours']['epoch_cpu_s']:.3f} s |"]
    if "pyg" in p:
        lines += [f"| PyG RandomNodeLoader | {p['pyg']['preprocess_s']:.2f} s | "
                  f"{p['pyg']['epoch_s']:.3f} s | {p['pyg']['epoch_cpu_s']:.3f} s |", "",
                  f"Speed-up: **{p['speedup_wall']:.1f}x** wall, {p['speedup_cpu']:.1f}x CPU."]
    return lines + [""]


def solvers_section(s: dict) -> list[str]:
    lines = ["#### Fixed-point solvers (`benchmarks/bench_solvers.py`)", ""]
    for key, title in (("linear", "ill-conditioned linear contraction (d=50, spectral radius 0.99, tol 1e-8)"),
                       ("graph", "graph equilibrium tanh(0.99 Â z W + x U), N=2,000 (tol 1e-6, float32)")):
        lines += [f"{title}:", "", "| solver | iterations | converged | time ratio vs iteration |",
                  "|---|---|---|---|"]
        for name, row in s[key].items():
            lines.append(f"| {name} | {row['iterations']} | {row['converged']} | "
                         f"{row['time_ratio']:.2f} |")
        lines.append("")
    return lines


def render(results: Path) -> str:
    lines = [START, "", "*Generated by `benchmarks/report.py` from `benchmarks/results/*.json`; "
             "rerun with `make bench`.*", ""]
    rev = _load(results, "reversible_cpu.json")
    if rev:
        lines += reversible_section(rev, "Reversible GNN on the CPU (`benchmarks/bench_reversible.py`)")
    part = _load(results, "partition_cpu.json")
    if part:
        lines += partition_section(part)
    sol = _load(results, "solvers_cpu.json")
    if sol:
        lines += solvers_section(sol)
    cuda = _load(results, "reversible_cuda.json")
    if cuda:
        lines += reversible_section(cuda, "Reversible GNN on the GPU")
    else:
        lines += ["#### GPU", "", "No GPU measurement has been recorded yet: `make bench` on a "
                  "machine with CUDA adds `reversible_cuda.json` and its table here.", ""]
    return "\n".join(lines + [END])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + render(Path(args.results)) + tail
    if args.check:
        return 0 if new == text else 1
    README.write_text(new)
    print(f"updated the results block of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
