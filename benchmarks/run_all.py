"""Run every benchmark and regenerate the README's results tables from their JSON files.

    make bench                      # = .venv/bin/python benchmarks/run_all.py
    python benchmarks/run_all.py --quick --results /tmp/bench   # a smoke run

Each run of :data:`common.RUNS` runs in its own process (so memory is returned between
them) and writes ``<results>/<name>_<device>.json``; benchmarks/report.py then rewrites
the block of README.md between its markers from those files. The CUDA runs need a GPU:
without one they are listed as not run (``make gpu-check`` runs them with the GPU
tests). The exit code is 1 when any benchmark's checks failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
from common import HERE, RESULTS, RUNS, log


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--results",
        default=str(RESULTS),
        help="folder for the JSON results (default: benchmarks/results)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not rewrite README.md")
    args = parser.parse_args(argv)
    results = Path(args.results)
    failed, skipped = [], []
    for run in RUNS:
        if run.device == "cuda" and not torch.cuda.is_available():
            skipped.append(run.filename)
            continue
        command = run.command(results, quick=args.quick)
        log(f"\n=== {' '.join(command[1:])}")
        code = subprocess.call([command[0], "-W", "ignore", *command[1:]])
        if code:
            failed.append(f"{run.filename} (exit {code})")
    if skipped:
        log(f"\nnot run without CUDA: {', '.join(skipped)}")
    if not args.no_report:
        subprocess.check_call([sys.executable, str(HERE / "report.py"), "--results", str(results)])
    if failed:
        log(f"\nchecks failed in: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
