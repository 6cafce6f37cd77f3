"""Benchmark the fixed-point solvers: iterations and time to a tolerance.

Run:  .venv/bin/python benchmarks/bench_solvers.py [--repeats 3] [--out PATH] [--threads 1]

Two maps, each solved by the three solvers side by side in one run:
1. an ill-conditioned contraction z -> A z + b (symmetric A, eigenvalues spread over
   [-0.5, 0.99]), whose fixed point (I - A)^{-1} b is known in closed form;
2. a graph equilibrium z -> tanh(0.99 A_hat z W + x U), with A_hat the GCN-normalised
   adjacency of a random graph (the kind of map a DEQ-GNN solves).
Times are medians of several repeats; ratios are against plain fixed-point iteration.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch
from common import add_common_arguments, environment, finish, log, prepare
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from revgnn_edu.data import random_graph
from revgnn_edu.solvers import ConvergenceWarning, anderson, broyden, fixed_point_iteration

SOLVERS = {"fixed_point_iteration": fixed_point_iteration, "anderson": anderson, "broyden": broyden}


def linear_map(dim: int = 50, radius: float = 0.99, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(-0.5, radius, dim, dtype=torch.float64)) @ q.t()
    b = torch.randn(dim, generator=gen, dtype=torch.float64)
    z_star = torch.linalg.solve(torch.eye(dim, dtype=torch.float64) - a, b)
    return (lambda z: a @ z + b), torch.zeros(dim, dtype=torch.float64), z_star


def graph_map(
    num_nodes: int = 2000,
    num_edges: int = 20000,
    channels: int = 32,
    gamma: float = 0.99,
    seed: int = 0,
):
    data = random_graph(num_nodes, num_edges, channels, seed=seed)
    edge_index, weight = gcn_norm(data.edge_index, num_nodes=num_nodes, add_self_loops=True)
    adj = torch.sparse_coo_tensor(edge_index, weight, (num_nodes, num_nodes)).coalesce()
    adj = adj.to_sparse_csr()
    gen = torch.Generator().manual_seed(seed + 1)
    w = torch.randn(channels, channels, generator=gen)
    w = w / torch.linalg.matrix_norm(w, ord=2)  # ||W||_2 = 1, so the map contracts by gamma
    inj = 0.1 * data.x @ (torch.randn(channels, channels, generator=gen) / channels**0.5)
    return (lambda z: torch.tanh(gamma * (adj @ (z @ w)) + inj)), torch.zeros_like(inj), None


def run(f, z0, z_star, tol, max_iter, repeats):
    rows = {}
    for name, solver in SOLVERS.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                z, info = solver(f, z0, tol=tol, max_iter=max_iter)
            times.append(time.perf_counter() - start)
        row = dict(
            iterations=info.iterations,
            converged=info.converged,
            residual=info.residual,
            seconds=statistics.median(times),
        )
        if z_star is not None:
            row["error"] = float(
                torch.linalg.vector_norm(z - z_star) / torch.linalg.vector_norm(z_star)
            )
        rows[name] = row
    base = rows["fixed_point_iteration"]
    for row in rows.values():
        row["iteration_ratio"] = row["iterations"] / base["iterations"]
        row["time_ratio"] = row["seconds"] / base["seconds"]
    return rows


def show(title, rows):
    log(f"\n{title}")
    log(
        f"  {'solver':24}{'iterations':>11}{'converged':>11}{'residual':>11}"
        f"{'seconds':>9}{'iter ratio':>11}{'time ratio':>11}"
    )
    for name, r in rows.items():
        log(
            f"  {name:24}{r['iterations']:>11}{str(r['converged']):>11}"
            f"{r['residual']:>11.1e}{r['seconds']:>9.3f}{r['iteration_ratio']:>11.3f}"
            f"{r['time_ratio']:>11.3f}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    add_common_arguments(parser, "solvers")
    args = parser.parse_args(argv)
    out = prepare(args, "solvers")
    linear = dict(dim=50, radius=0.99, tol=1e-8, max_iter=3000)
    graph = dict(nodes=2000, edges=20000, channels=32, gamma=0.99, tol=1e-6, max_iter=1000)
    results = {"config": dict(environment(), repeats=args.repeats, linear=linear, graph=graph)}
    problems = {
        "linear": (
            linear_map(linear["dim"], linear["radius"]),
            linear,
            f"1. ill-conditioned linear contraction (d={linear['dim']}, spectral radius "
            f"{linear['radius']}, tol {linear['tol']:g})",
        ),
        "graph": (
            graph_map(graph["nodes"], graph["edges"], graph["channels"], graph["gamma"]),
            graph,
            f"2. graph equilibrium tanh({graph['gamma']} A_hat z W + x U) (N={graph['nodes']}, "
            f"E={graph['edges']}, D={graph['channels']}, tol {graph['tol']:g})",
        ),
    }
    for key, ((f, z0, z_star), options, title) in problems.items():
        results[key] = run(
            f, z0, z_star, tol=options["tol"], max_iter=options["max_iter"], repeats=args.repeats
        )
        show(title, results[key])
    checks = {
        "all converged": all(
            r["converged"] for part in ("linear", "graph") for r in results[part].values()
        ),
        "anderson and broyden need fewer iterations on the linear map": all(
            results["linear"][s]["iteration_ratio"] < 1 for s in ("anderson", "broyden")
        ),
    }
    return finish(results, checks, out)


if __name__ == "__main__":
    sys.exit(main())
