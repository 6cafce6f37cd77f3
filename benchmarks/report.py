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

from common import RUNS, log

from revgnn_edu.data.ogbn_proteins_facts import NUM_EDGES, NUM_NODES
from revgnn_edu.planning import GIB, memory_breakdown

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
    lines = [
        f"#### {title}",
        "",
        f"Graph: N={c['num_nodes']:,}, E={c['num_edges']:,}, D={c['hidden']}, C=2, "
        f"edge_dim={c['edge_dim']}, dropout {c['dropout']}; device `{c['device']}`, "
        f"memory backend `{c['backend']}`, torch {c['torch']}.",
        "",
        "Activation memory of one training step (peak minus parameters and gradients), "
        "and the time of one step (a single timing after a warm-up):",
        "",
        "| depth | RevGNN memory | ResGNN memory | RevGNN step | ResGNN step | time ratio |",
        "|---|---|---|---|---|---|",
    ]
    rows = r["depth_memory"]["rows"]
    by = {(row["model"], row["depth"]): row for row in rows}
    for depth in sorted({row["depth"] for row in rows}):
        rev, res = by.get(("RevGNN", depth)), by.get(("ResGNN", depth))
        if rev is None or res is None:  # a depth measured for one model only
            memory = [_mib(row["bytes"]) if row else "not run" for row in (rev, res)]
            lines.append(f"| {depth} | {memory[0]} | {memory[1]} | | | |")
            continue
        times = (
            f"{rev['step_s']:.3f} s | {res['step_s']:.3f} s | {rev['step_s'] / res['step_s']:.2f}"
            if "step_s" in rev and "step_s" in res
            else " | | "
        )
        lines.append(f"| {depth} | {_mib(rev['bytes'])} | {_mib(res['bytes'])} | {times} |")
    dm, pyg, st = r["depth_memory"], r["vs_group_add_rev"], r["step_time"]
    lines += [
        "",
        f"- RevGNN activation memory, {max(c['depths'])} / {min(c['depths'])} layers: "
        f"**{dm['rev_ratio']:.3f}** (target <= 1.05)",
        f"- vs PyG `GroupAddRev`, same blocks and weights: peak memory ratio "
        f"**{pyg['memory_ratio']:.3f}** at {pyg['memory_depth']} layers (target <= 1.00), "
        f"step-time ratio **{pyg['time_ratio']:.3f}** at {pyg['time_depth']} layers "
        f"(target <= 1.05)",
        f"- step time at {st['depth']} layers: RevGNN / ResGNN **{st['rev_over_res']:.2f}**, "
        f"RevGNN / the same model with ordinary autograd **{st['rev_over_plain_autograd']:.2f}** "
        f"(one extra block forward per layer: about 1.3 in theory)",
    ]
    if "folded_edge_encoder" in r:
        f = r["folded_edge_encoder"]
        lines.append(
            f"- folded edge encoder (same parameters and function): step time ratio "
            f"**{f['time_ratio']:.3f}**, activation memory ratio **{f['memory_ratio']:.3f}**"
        )
    lines += [
        "",
        "float32 reconstruction drift (relative errors against the float64 reference):",
        "",
        "| depth | rebuilt input | gradients (reversible) | gradients (ordinary autograd) |",
        "|---|---|---|---|",
    ]
    for row in r["float32_drift"]:
        lines.append(
            f"| {row['depth']} | {row['rebuild_rel_err']:.1e} | "
            f"{row['grad_rel_err_rev32']:.1e} | {row['grad_rel_err_plain32']:.1e} |"
        )
    lines += [
        "",
        "Groups (parameters per layer: counted = formula D² + 4D²/C + 10D):",
        "",
        "| C | parameters / layer | formula matches | activation memory |",
        "|---|---|---|---|",
    ]
    for row in r["groups"]:
        lines.append(
            f"| {row['groups']} | {row['params_per_layer']:,} | "
            f"{row['formula_matches']} | {_mib(row['bytes'])} |"
        )
    return lines + [""]


def partition_section(p: dict) -> list[str]:
    g, c = p["graph"], p["config"]
    lines = [
        "#### Random partitioning (`benchmarks/bench_partition.py`)",
        "",
        f"Graph: {g['nodes']:,} nodes, {g['edges']:,} directed edges (scale {c['scale']}), "
        f"{c['parts']} parts, {c['cpus']} CPUs; medians of {c['epochs']} epochs.",
        "",
        "| | one-time preprocessing | one epoch (10 subgraphs), wall | CPU |",
        "|---|---|---|---|",
        f"| ours | {p['ours']['preprocess_s']:.2f} s | {p['ours']['epoch_s']:.3f} s | "
        f"{p['ours']['epoch_cpu_s']:.3f} s |",
    ]
    if "pyg" in p:
        lines += [
            f"| PyG RandomNodeLoader | {p['pyg']['preprocess_s']:.2f} s | "
            f"{p['pyg']['epoch_s']:.3f} s | {p['pyg']['epoch_cpu_s']:.3f} s |",
            "",
            f"Speed-up: **{p['speedup_wall']:.1f}x** wall, {p['speedup_cpu']:.1f}x CPU.",
        ]
    return lines + [""]


def solvers_section(s: dict) -> list[str]:
    c = s["config"]
    lines = ["#### Fixed-point solvers (`benchmarks/bench_solvers.py`)", ""]
    for key in ("linear", "graph"):
        p = c[key]
        title = (
            f"ill-conditioned linear contraction (d={p['dim']}, spectral radius "
            f"{p['radius']}, tol {_tol(p['tol'])})"
            if key == "linear"
            else f"graph equilibrium tanh({p['gamma']} Â z W + x U), N={p['nodes']:,}, "
            f"E={p['edges']:,}, D={p['channels']} (tol {_tol(p['tol'])}, float32)"
        )
        lines += [
            f"{title}:",
            "",
            "| solver | iterations | converged | time ratio vs iteration |",
            "|---|---|---|---|",
        ]
        for name, row in s[key].items():
            lines.append(
                f"| {name} | {row['iterations']} | {row['converged']} | {row['time_ratio']:.2f} |"
            )
        lines.append("")
    return lines


def _tol(t: float) -> str:
    return f"{t:.0e}".replace("e-0", "e-")


def _gb(b: float) -> str:
    return f"{b / 1e9:.2f}"


def _gib(b: float) -> str:
    return f"{b / GIB:.3f}"


def _proteins_graph(p: dict, title: str) -> list[str]:
    c, g = p["config"], p["graph"]
    tp, ep = g["train_part"], g["eval_part"]

    def scaled(count: int) -> int:  # the benchmark builds its parts, not the whole graph
        return round(count * c["scale"])

    lines = [f"#### {title}", ""]
    if c["scale"] != 1:
        lines += [
            f"**On a scaled-down graph (scale {c['scale']}): sizes are not ogbn-proteins'.**",
            "",
        ]
    return lines + [
        f"Graph: {g.get('nodes', scaled(NUM_NODES)):,} nodes, "
        f"{g.get('edges', scaled(NUM_EDGES)):,} directed edges (random, "
        f"{'ogbn-proteins sizes' if c['scale'] == 1 else 'scaled'}), random partition into 10 "
        f"parts: training part {tp['nodes']:,} nodes, {tp['edges']:,} edges; 5 parts for "
        f"evaluation: {ep['nodes']:,} nodes, {ep['edges']:,} edges. Device `{c['device']}`, "
        f"memory backend `{c['backend']}`, torch {c['torch']}, {c['threads']} threads.",
        "",
    ]


def proteins_section(p: dict, title: str) -> list[str]:
    lines = _proteins_graph(p, title)
    if "presets" in p:
        lines += presets_lines(p)
    return lines + levers_lines(p)


def presets_lines(p: dict) -> list[str]:
    c = p["config"]
    cpu = c["device"] == "cpu"
    timed = c.get("time", True)
    lines = [
        f"Predicted training memory of one step on one part of ogbn-proteins' part size "
        f"(GiB = 2³⁰ bytes, as the paper's): "
        f"parameters, gradients, Adam state, the part's tensors, and the larger of "
        f"the activation peak (measured exactly at {c['depth']} and {2 * c['depth']} "
        f"layers: flat in depth for reversible, weight-tied and DEQ models; "
        f"extrapolated linearly for ResGNN) and Adam's temporaries. "
        + (
            "Not timed in this run (`--no-time`)"
            if not timed
            else f"Step and epoch "
            f"(10 training steps + evaluation on 5 parts + the partitions) times are "
            f"**extrapolated** linearly in depth from {c['time_depth']} and "
        )
        + (
            ""
            if not timed
            else f"{2 * c['time_depth']} layers, in CPU seconds (all threads) on this CPU "
            f"(load average {c.get('load_average_1min', float('nan')):.0f} when the run "
            f"started)"
            if cpu
            else f"{2 * c['time_depth']} layers, wall seconds on {c.get('gpu', c['device'])}"
        )
        + ("." if not timed else "; the paper's are wall seconds on one V100."),
        "",
        "| preset | L x D | parameters | activations 2l / l | parameters + gradients | Adam "
        "| data | activations (working set) | predicted memory | paper | "
        f"step{', CPU s' if cpu else ''} (extrap.) | epoch{', CPU s' if cpu else ''} "
        "(extrap.) | paper epoch (V100) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    step_key, epoch_key = (
        ("step_cpu_s_extrapolated", "epoch_cpu_s_extrapolated")
        if cpu
        else ("step_s_extrapolated", "epoch_s_extrapolated")
    )
    for r in p["presets"]:
        act = f"{r['activation_ratio_2l_over_l']:.3f}" + (
            " (grows)" if r["activation_extrapolated"] else ""
        )
        paper_gib = r.get("paper_gib", r.get("paper_gb"))  # (older results: paper_gb)
        paper = f"{paper_gib} GiB" if paper_gib else "-"
        b = memory_breakdown(
            r["parameter_bytes"], r["data_bytes"], r["activation_bytes"], r["adam_step_bytes"]
        )
        parts = " | ".join(
            f"{_gib(x)} GiB" for x in (b["parameters"] + b["gradients"], b["optimizer"], b["data"])
        )
        paper_epoch = f"{r['paper_epoch_s']} s" if r["paper_epoch_s"] else "-"
        lines.append(
            f"| {r['preset']} | {r['depth']} x {r['hidden']} | {r['parameters']:,} | {act} | "
            f"{parts} | {_gib(b['working_set'])} GiB | **{_gib(b['total'])} GiB** | {paper} | "
            + (
                f"{r[step_key]:,.1f} s | {r[epoch_key]:,.0f} s"
                if r[step_key] is not None
                else "not timed | not timed"
            )
            + f" | {paper_epoch} |"
        )
    return lines + [""]


def levers_lines(p: dict) -> list[str]:
    c, lines = p["config"], []
    if "levers" in p:
        lv = p["levers"]
        unit = "CPU seconds" if c["device"] == "cpu" else "wall seconds"
        lines += [
            f"Speed levers on the training part, {lv['depth']} layers, measured side by side "
            f"(median of {c['lever_repeats']} step times in {unit}, interleaved; every "
            "variant computes the same loss as the baseline). Memory is exact; the time "
            f"ratios are rough on a shared machine (load average "
            f"{c.get('load_average_1min', float('nan')):.0f} at the start):",
            "",
            "| variant | step | time ratio | activation memory | memory ratio |",
            "|---|---|---|---|---|",
        ]
        for name, row in lv["variants"].items():
            lines.append(
                f"| {name} | {row['step_s']:.3f} s | {row['time_ratio']:.2f} | "
                f"{_mib(row['activation_bytes'])} | {row['memory_ratio']:.2f} |"
            )
        lines += [
            "",
            f"Reversible over ordinary autograd (same model): "
            f"**{lv['reversible_over_ordinary']:.2f}** (theory about 1.33).",
            "",
        ]
    if "bf16_drift" in p:
        d = p["bf16_drift"]
        lines += [
            f"Reconstruction drift of the reversible stack at {d['depth']} layers "
            f"(D={d['hidden']}, N={d['nodes']}, E={d['edges']}), relative to float64:",
            "",
            "| precision | rebuilt input | gradients |",
            "|---|---|---|",
        ]
        for name, row in d["rows"].items():
            rebuilt = f"{row['rebuild_rel_err']:.1e}" if "rebuild_rel_err" in row else "-"
            lines.append(f"| {name} | {rebuilt} | {row['grad_rel_err']:.1e} |")
        lines.append("")
    if "full_depth" in p:
        lines += [
            "Full-depth training steps on the GPU:",
            "",
            "| preset | precision | step | max_memory_allocated | paper |",
            "|---|---|---|---|---|",
        ]
        for r in p["full_depth"]:
            lines.append(
                f"| {r['preset']} | {'bf16' if r['amp'] else 'fp32'} | {r['step_s']:.2f} s | "
                f"{_gib(r['max_memory_allocated'])} GiB | "
                f"{r.get('paper_gib', r.get('paper_gb')) or '-'} GiB |"
            )
        lines.append("")
    return lines


def data_section(d: dict) -> list[str]:
    c = d["config"]
    lines = [
        "#### The ogbn-proteins loader at full size (`benchmarks/bench_data.py`, "
        "`make bench-data`)",
        "",
        f"A fake ogbn-proteins in ogb's raw format with {c['nodes']:,} nodes and "
        f"{c['undirected_edges']:,} undirected edges"
        + ("" if c["full_size"] else " (**not** the full size)")
        + "; each stage in its own or a fresh process, peak resident memory:",
        "",
        "| stage | time | peak RSS |",
        "|---|---|---|",
    ]
    for name, row in d["stages"].items():
        lines.append(f"| {name} | {row['seconds']:,.1f} s | {_gb(row['peak_rss_bytes'])} GB |")
    return lines + [""]


def cora_section(c: dict) -> list[str]:
    cfg, rule = c["config"], c["config"]["rule"]
    lines = [
        "#### Cora: a deep reversible GCNII against the 2-layer GCN (`benchmarks/bench_cora.py`)",
        "",
        f"{cfg['dataset']}, seeds {cfg['seeds'][0]}-{cfg['seeds'][-1]}; one rule for both: "
        f"Adam, up to {rule['epochs']} epochs, the epoch with the lowest validation loss "
        f"kept, stop after {rule['patience']} epochs without a new lowest. Accuracy mean "
        "± std over seeds:",
        "",
        "| model | validation | test | CPU s / epoch |",
        "|---|---|---|---|",
    ]
    for m in c["models"].values():
        v, t = m["val_acc"], m["test_acc"]
        lines.append(
            f"| {m['name']} | {v['mean']:.3f} ± {v['std']:.3f} | {t['mean']:.3f} ± "
            f"{t['std']:.3f} | {m['cpu_s_per_epoch']:.3f} |"
        )
    goal = c["goal"]
    lines += [
        "",
        f"Mean test accuracy, RevGCNII - GCN: {c['test_gap'] * 100:+.1f} points; the goal "
        f"(at least {goal['margin'] * 100:+.0f}) was "
        + ("reached." if goal["reached"] else "**not** reached."),
        "",
    ]
    return lines


def working_sets_section(w: dict) -> list[str]:
    lines = [
        "#### Working-set constants refitted (`benchmarks/fit_working_sets.py`)",
        "",
        "The depth-independent working set of `complexity.predict_activation_bytes`, in "
        "numbers per term, refitted by least squares on the package's meter over random "
        "graphs (nodes "
        + ", ".join(f"{n:,}" for n in w["grid"]["nodes"])
        + f"; {'/'.join(map(str, w['grid']['degrees']))} edges per node; "
        f"{'/'.join(map(str, w['grid']['widths']))} channels; RevGNN at depth 4 with "
        f"{'/'.join(map(str, w['grid']['groups']))} groups), beside the table in use and "
        "the worst error of the table's prediction on those graphs:",
        "",
        "| model | edge features | graphs | fitted | table | worst error (bound) |",
        "|---|---|---|---|---|---|",
    ]
    names = {"res": "ResGNN", "rev": "RevGNN", "deq": "DEQ-GNN (1 iteration)"}
    for f in w["fits"]:

        def terms(row: dict) -> str:
            return " + ".join(f"{v:g} {k}" for k, v in row.items())

        lines.append(
            f"| {names[f['kind']]} | {'yes' if f['edge_features'] else 'no'} | {f['graphs']} | "
            f"{terms(f['fitted'])} | {terms(f['table'])} | "
            f"{f['worst_table_error']:.1%} ({f['bound']:.1%}) |"
        )
    return lines + [""]


#: results file -> how its section is drawn, in the README's order; the same files as
#: ``common.RUNS`` writes (tests/test_benchmarks.py checks it)
SECTIONS = {
    "reversible_cpu.json": lambda r: reversible_section(
        r, "Reversible GNN on the CPU (`benchmarks/bench_reversible.py`)"
    ),
    "partition_cpu.json": partition_section,
    "solvers_cpu.json": solvers_section,
    "proteins_cpu.json": lambda r: proteins_section(
        r, "The presets at ogbn-proteins size (`benchmarks/bench_proteins.py`)"
    ),
    "proteins_levers_cpu.json": lambda r: proteins_section(
        r, "Speed levers and bf16 drift (`benchmarks/bench_proteins.py --no-presets`)"
    ),
    "data_cpu.json": data_section,
    "cora_cpu.json": cora_section,
    "working_sets_cpu.json": working_sets_section,
    "proteins_cuda.json": lambda r: proteins_section(
        r, "The presets on the GPU (`make gpu-check`)"
    ),
    "reversible_cuda.json": lambda r: reversible_section(r, "Reversible GNN on the GPU"),
}


def render(results: Path) -> str:
    lines = [
        START,
        "",
        "*Generated by `benchmarks/report.py` from `benchmarks/results/*.json`; "
        "rerun with `make bench`.*",
        "",
    ]
    for name, section in SECTIONS.items():
        result = _load(results, name)
        if result:
            lines += section(result)
    cuda = [run.filename for run in RUNS if run.device == "cuda"]
    if not any((results / name).exists() for name in cuda):
        lines += [
            "#### GPU",
            "",
            "No GPU measurement has been recorded yet: `make gpu-check` on a "
            f"machine with CUDA writes {' and '.join(f'`{n}`' for n in cuda)} "
            "and their tables appear here.",
            "",
        ]
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
    log(f"updated the results block of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
