"""Everything that needs a GPU, in one command: `make gpu-check`, within --budget seconds.

    python benchmarks/gpu_check.py [--results benchmarks/results] [--budget 480]

1. the ``gpu``-marked tests (the memory meter against torch.cuda.max_memory_allocated);
2. the CUDA runs of ``common.RUNS``: ``bench_reversible.py --device cuda`` ->
   ``reversible_cuda.json``, and ``bench_proteins.py --device cuda --full-depth
   revgnn-deep revgnn-wide`` -> ``proteins_cuda.json``: the presets at ogbn-proteins
   size, measured with CUDA's allocator, and real full-depth training steps of
   RevGNN-Deep and RevGNN-Wide in float32 and bf16;
then regenerates the README's results block and prints one summary table.

Each step runs in its own process under a time limit (shares of --budget), so one hung
step cannot eat the GPU time of the others. Without CUDA it stops at once with exit
code 2 and says so: it never skips silently. Any failed step makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import HERE, RESULTS, RUNS, log

ROOT = HERE.parent

NO_CUDA = (
    "gpu_check: FAILED -- no CUDA device (torch.cuda.is_available() is False, "
    "torch {version}). This check exists to measure the GPU; run it on a machine "
    "with an NVIDIA GPU and a CUDA build of torch."
)


#: each CUDA run's share of the time budget (the tests get the rest)
SHARES = {"reversible_cuda.json": 0.30, "proteins_cuda.json": 0.55}


def steps(results: Path) -> list[tuple[str, list[str], float]]:
    """(name, command, share of the time budget) of each step."""
    py = sys.executable
    tests = [py, "-m", "pytest", "-m", "gpu", str(ROOT / "tests"), "-q", "-p", "no:cacheprovider"]
    runs = [
        (f"{run.script} {' '.join(run.args)}", run.command(results), SHARES[run.filename])
        for run in RUNS
        if run.device == "cuda"
    ]
    return [("gpu tests", tests, 1 - sum(share for *_, share in runs))] + runs


def run_step(name: str, cmd: list[str], limit: float) -> dict:
    log(f"\n=== {name} (limit {limit:.0f} s): {' '.join(cmd)}")
    start = time.perf_counter()
    try:
        code = subprocess.call(cmd, timeout=limit, cwd=ROOT)
        status = (
            "ok"
            if code == 0
            else ("no gpu tests collected" if code == 5 and "pytest" in cmd else f"exit {code}")
        )
    except subprocess.TimeoutExpired:
        status = f"timed out after {limit:.0f} s"
    return dict(step=name, status=status, seconds=time.perf_counter() - start)


def summary(rows: list[dict], results: Path) -> list[str]:
    """One table: each step's status and time, then the headline numbers it wrote."""
    lines = ["", f"{'step':34s} {'status':28s} {'seconds':>8s}"]
    lines += [f"{r['step']:34s} {r['status']:28s} {r['seconds']:8.0f}" for r in rows]
    rev = results / "reversible_cuda.json"
    if rev.exists():
        r = json.loads(rev.read_text())
        failed = [k for k, ok in r.get("checks", {}).items() if not ok]
        lines.append(
            f"reversible (cuda): activation memory {r['depth_memory']['high']} / "
            f"{r['depth_memory']['low']} layers {r['depth_memory']['rev_ratio']:.3f}; "
            f"failed checks: {failed or 'none'}"
        )
    prot = results / "proteins_cuda.json"
    if prot.exists():
        p = json.loads(prot.read_text())
        for row in p.get("full_depth", []):
            lines.append(
                f"{row['preset']:12s} {'bf16' if row['amp'] else 'fp32'}: step "
                f"{row['step_s']:.2f} s, max_memory_allocated "
                f"{row['max_memory_allocated'] / 1e9:.2f} GB (paper "
                f"{row['paper_gb']} GB)"
            )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument(
        "--budget", type=float, default=480.0, help="seconds for all steps together (default: 480)"
    )
    parser.add_argument("--no-report", action="store_true", help="do not rewrite README.md")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        log(NO_CUDA.format(version=torch.__version__), file=sys.stderr)
        return 2
    log(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    results = Path(args.results)
    rows = [run_step(name, cmd, share * args.budget) for name, cmd, share in steps(results)]
    if not args.no_report:
        subprocess.call([sys.executable, str(HERE / "report.py"), "--results", str(results)])
    for line in summary(rows, results):
        log(line)
    failed = [r["step"] for r in rows if r["status"] != "ok"]
    log(f"\ngpu_check: {'FAILED: ' + ', '.join(failed) if failed else 'all steps ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
