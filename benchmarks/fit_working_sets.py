"""Refit the working-set constants of revgnn_edu.complexity on today's code.

:func:`revgnn_edu.complexity.predict_activation_bytes` adds to what the layers keep a
*working set* that does not grow with depth, :math:`W = a\\,ND + b\\,ED + c\\,Ng +
d\\,Eg + n\\,N` numbers, with one row of coefficients per model kind (ResGNN, RevGNN,
DEQ-GNN) and with or without edge features. This script is where those numbers come
from: it measures one training step of each kind with the package's meter
(:func:`~revgnn_edu.complexity.measure_activation_bytes`) on random graphs (300 and 1,000
nodes, 1-15 edges per node, 16-64 channels, 2-8 groups), subtracts the part of the
prediction that is derived rather than fitted, and solves for the coefficients by least
squares, rounded to quarters as in the table. It prints the fit beside the table in
use and the worst relative error of the table's prediction on these graphs.

Checks: the table's prediction stays within the bounds its docstring states (exact for
ResGNN and DEQ-GNN at one iteration; 8% for RevGNN at depth 4), and, on the whole grid,
every fitted coefficient is within 0.5 of the table's.

Usage:
    python benchmarks/fit_working_sets.py            # the whole grid (a few minutes)
    python benchmarks/fit_working_sets.py --quick    # a smaller grid: a smoke run
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from unittest import mock

import torch
from common import add_common_arguments, environment, finish, log, prepare

import revgnn_edu.complexity.activations as activations
from revgnn_edu.complexity import measure_activation_bytes, predict_activation_bytes
from revgnn_edu.data.synthetic import random_graph
from revgnn_edu.explore_families import build_family

# kind -> (the family measured, its depth, the table's columns that are fitted, bound)
KINDS = {
    "res": ("ResGNN", 1, ("ND", "ED", "N"), 0.005),
    "rev": ("RevGNN", 4, ("ND", "ED", "Ng", "Eg"), 0.08),
    "deq": ("DEQ-GNN", 1, ("ND", "ED", "N"), 0.005),
}
COLUMNS = ("ND", "ED", "Ng", "Eg", "N")  # the order of a row of activations._WORK
IN_CHANNELS, OUT_CHANNELS, EDGE_DIM = 16, 4, 8
FULL = dict(nodes=(300, 1000), degrees=(1, 5, 15), widths=(16, 32, 64), groups=(2, 4, 8))
QUICK = dict(nodes=(300,), degrees=(1, 5), widths=(16, 32), groups=(2, 4))


def measure(kind: str, edge: bool, grid: dict) -> list[dict]:
    """One row per graph and model: sizes, measured bytes and the derived part."""
    family, depth, _, _ = KINDS[kind]
    groups = grid["groups"] if kind == "rev" else (2,)
    rows = []
    for N, k, D, C in itertools.product(grid["nodes"], grid["degrees"], grid["widths"], groups):
        if D % C or D // C < 2:
            continue
        data = random_graph(
            N, N * k, IN_CHANNELS, edge_dim=EDGE_DIM if edge else None,
            num_classes=OUT_CHANNELS, seed=0,
        )  # fmt: skip
        torch.manual_seed(0)
        model = build_family(
            family, depth, D, num_groups=C, in_channels=IN_CHANNELS,
            out_channels=OUT_CHANNELS, edge_dim=EDGE_DIM if edge else None,
        )  # fmt: skip
        sizes = dict(num_nodes=N, num_edges=data.num_edges, hidden_channels=D)
        args = dict(**sizes, num_layers=depth, out_channels=OUT_CHANNELS, num_groups=C)
        with mock.patch.dict(activations._WORK, {(kind, edge): (0,) * len(COLUMNS)}):
            derived = predict_activation_bytes(family, **args, edge_features=edge)
        rows.append(
            dict(
                N=N, E=data.num_edges, D=D, g=D // C if kind == "rev" else D, C=C, args=args,
                measured=measure_activation_bytes(model, data), derived=derived,
            )
        )  # fmt: skip
    return rows


def features(row: dict) -> dict[str, float]:
    N, E, D, g = row["N"], row["E"], row["D"], row["g"]
    return {"ND": N * D, "ED": E * D, "Ng": N * g, "Eg": E * g, "N": N}


def fit(kind: str, edge: bool, rows: list[dict]) -> dict:
    """Least-squares coefficients (numbers, rounded to quarters) and the table's error."""
    family, _, columns, bound = KINDS[kind]
    X = torch.tensor([[features(r)[c] for c in columns] for r in rows], dtype=torch.float64)
    y = torch.tensor([(r["measured"] - r["derived"]) / 4 for r in rows], dtype=torch.float64)
    solution = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)
    fitted = {c: round(float(v) * 4) / 4 for c, v in zip(columns, solution)}
    table = dict(zip(COLUMNS, activations._WORK[kind, edge]))
    errors = [
        abs(predict_activation_bytes(family, **r["args"], edge_features=edge) - r["measured"])
        / r["measured"]
        for r in rows
    ]
    return dict(
        kind=kind,
        edge_features=edge,
        graphs=len(rows),
        fitted=fitted,
        table={c: table[c] for c in columns},
        worst_table_error=max(errors),
        bound=bound,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid (a smoke run)")
    add_common_arguments(parser, "working_sets")
    args = parser.parse_args(argv)
    out = prepare(args, "working_sets")
    grid = QUICK if args.quick else FULL
    # DEQ-GNN is measured at one solver iteration, which never converges: expected
    warnings.filterwarnings("ignore", message="DEQFixedPoint .* did not converge")
    fits = []
    for kind, edge in itertools.product(KINDS, (True, False)):
        result = fit(kind, edge, measure(kind, edge, grid))
        fits.append(result)
        columns = KINDS[kind][2]
        log(
            f"{kind:>3s} {'with' if edge else 'without'} edge features ({result['graphs']} "
            f"graphs): fitted "
            + ", ".join(f"{result['fitted'][c]:g} {c}" for c in columns)
            + "; table "
            + ", ".join(f"{result['table'][c]:g} {c}" for c in columns)
            + f"; worst table error {result['worst_table_error']:.2%} "
            f"(bound {result['bound']:.1%})"
        )
    checks = {}
    for r in fits:
        name = f"{r['kind']}, {'with' if r['edge_features'] else 'without'} edge features"
        checks[f"{name}: the table within its bound"] = r["worst_table_error"] <= r["bound"]
        if not args.quick:  # a few graphs do not pin down RevGNN's four coefficients
            checks[f"{name}: the fit within 0.5 of the table"] = all(
                abs(r["fitted"][c] - r["table"][c]) <= 0.5 for c in r["fitted"]
            )
    results = dict(environment=environment(), grid=grid, fits=fits)
    return finish(results, checks, out)


if __name__ == "__main__":
    sys.exit(main())
