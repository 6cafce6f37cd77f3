"""Run every benchmark and regenerate the README's results tables from their JSON files.

    make bench                      # = .venv/bin/python benchmarks/run_all.py
    python benchmarks/run_all.py --quick --results /tmp/bench   # a smoke run

Each benchmark runs in its own process (so memory is returned between them) and writes
benchmarks/results/<name>_<device>.json; benchmarks/report.py then rewrites the block of
README.md between its markers from those files. On a machine with CUDA the reversible
benchmark runs on the GPU as well (`make gpu-check` runs every GPU measurement). The
exit code is 1 when any benchmark's checks failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--results",
        default=str(HERE / "results"),
        help="folder for the JSON results (default: benchmarks/results)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not rewrite README.md")
    args = parser.parse_args(argv)
    out = Path(args.results)
    runs = [
        ["bench_reversible.py", "--out", str(out / "reversible_cpu.json")]
        + (["--quick"] if args.quick else []),
        ["bench_partition.py", "--out", str(out / "partition_cpu.json")]
        + (["--scale", "0.01"] if args.quick else []),
        ["bench_solvers.py", "--out", str(out / "solvers_cpu.json")]
        + (["--repeats", "1"] if args.quick else []),
        ["bench_proteins.py", "--out", str(out / "proteins_cpu.json")]
        + (["--quick"] if args.quick else []),
    ]
    if torch.cuda.is_available():
        runs.append(
            ["bench_reversible.py", "--device", "cuda", "--out", str(out / "reversible_cuda.json")]
            + (["--quick"] if args.quick else [])
        )
    failed = []
    for run in runs:
        print(f"\n=== {' '.join(run)}", flush=True)
        code = subprocess.call([sys.executable, "-W", "ignore", str(HERE / run[0]), *run[1:]])
        if code:
            failed.append(f"{run[0]} (exit {code})")
    if not args.no_report:
        subprocess.check_call([sys.executable, str(HERE / "report.py"), "--results", str(out)])
    if failed:
        print(f"\nchecks failed in: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
