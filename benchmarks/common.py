"""What every benchmark script shares: its runs, where results go, how they are logged,
written and checked.

    from common import add_common_arguments, finish, log, prepare

Every script takes ``--out`` (default ``benchmarks/results/<name>_<device>.json``) and
``--threads`` (default 1: steadier timings on a shared machine; every speed claim is a
ratio of two measurements taken side by side in one run) through
:func:`add_common_arguments`, applies them with :func:`prepare`, prints through
:func:`log`, collects its numbers in a dict, names its pass/fail checks in another, and
ends with ``return finish(results, checks, out)``: the checks are stored in the JSON
(written atomically), printed, and turned into the exit code (0 when all pass), so
``run_all.py`` and CI see a failed check as a failed run. :data:`RUNS` lists every run
whose results file the README's block renders.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch_geometric.data import Data

from revgnn_edu.checks import positive_int
from revgnn_edu.data.ogbn_proteins_facts import (
    NUM_EDGE_FEATURES,
    NUM_NODES,
    NUM_SPECIES,
    NUM_TASKS,
    NUM_UNDIRECTED_EDGES,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

__all__ = [
    "HERE",
    "RESULTS",
    "Run",
    "RUNS",
    "log",
    "default_out",
    "add_common_arguments",
    "prepare",
    "environment",
    "write_json",
    "finish",
    "rss_bytes",
    "PeakRSS",
    "cpu_seconds",
    "timed",
    "PROTEINS",
    "synthetic_proteins",
]

#: ogbn-proteins' sizes, from :mod:`revgnn_edu.data.ogbn_proteins_facts`, by the keys
#: bench_proteins.py reads
PROTEINS = dict(
    nodes=NUM_NODES,
    undirected_edges=NUM_UNDIRECTED_EDGES,
    edge_dim=NUM_EDGE_FEATURES,
    species=NUM_SPECIES,
    tasks=NUM_TASKS,
)


@dataclass(frozen=True)
class Run:
    """One benchmark run: ``script`` with ``args`` (and ``quick`` added for a smoke
    run) writes ``results/<name>_<device>.json``."""

    name: str
    script: str
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    device: str = "cpu"

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.device}.json"

    def command(self, results: Path, quick: bool = False) -> list[str]:
        """The command line that runs it and writes its file into ``results``."""
        extra = list(self.quick) if quick else []
        out = ["--out", str(Path(results) / self.filename)]
        return [sys.executable, str(HERE / self.script), *self.args, *extra, *out]


#: Every run whose results file benchmarks/report.py renders into the README; the CUDA
#: ones need a GPU (``make gpu-check``, or ``make bench`` on a machine with CUDA).
RUNS = (
    Run("reversible", "bench_reversible.py", quick=("--quick",)),
    Run("partition", "bench_partition.py", quick=("--scale", "0.01")),
    Run("solvers", "bench_solvers.py", quick=("--repeats", "1")),
    Run("proteins", "bench_proteins.py", ("--no-levers",), quick=("--quick",)),
    Run("proteins_levers", "bench_proteins.py", ("--no-presets",), quick=("--quick",)),
    Run("data", "bench_data.py", quick=("--nodes", "2000", "--edges", "20000")),
    Run("cora", "bench_cora.py", quick=("--quick",)),
    Run("working_sets", "fit_working_sets.py", quick=("--quick",)),
    Run(
        "reversible",
        "bench_reversible.py",
        ("--device", "cuda"),
        quick=("--quick",),
        device="cuda",
    ),
    Run(
        "proteins",
        "bench_proteins.py",
        ("--device", "cuda", "--full-depth", "revgnn-deep", "revgnn-wide"),
        quick=("--quick",),
        device="cuda",
    ),
)


def log(msg: str = "", file=None) -> None:
    """Print and flush at once (benchmarks run for minutes; output must not lag)."""
    print(msg, file=file, flush=True)


def default_out(name: str, device: str = "cpu") -> Path:
    """``benchmarks/results/<name>_<device>.json``."""
    return RESULTS / f"{name}_{device}.json"


def _thread_count(text: str) -> int:
    """``--threads``: a positive integer (argparse turns the error into a usage line)."""
    try:
        return positive_int("--threads", int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from error


def add_common_arguments(parser, name: str) -> None:
    """Add the arguments every benchmark takes: ``--out`` (default:
    ``benchmarks/results/<name>_<device>.json``) and ``--threads`` (default 1)."""
    parser.add_argument(
        "--out",
        default=None,
        help=f"JSON results path (default: benchmarks/results/{name}_<device>.json)",
    )
    parser.add_argument(
        "--threads",
        type=_thread_count,
        default=1,
        help="torch CPU threads (default: 1, steadier timings on a shared machine)",
    )


def prepare(args, name: str, device: str = "cpu") -> Path:
    """Apply ``--threads`` and return the results path (``--out`` or the default)."""
    torch.set_num_threads(args.threads)
    return Path(args.out) if args.out else default_out(name, torch.device(device).type)


def environment(device: str = "cpu") -> dict:
    """The facts every result file records about where it was measured."""
    env = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    if hasattr(os, "getloadavg"):  # how busy the machine was: wall times depend on it
        env["load_average_1min"] = os.getloadavg()[0]
    if str(device).startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def write_json(path, obj: dict) -> Path:
    """Write ``obj`` as indented JSON, atomically (a stopped run leaves the old file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def finish(results: dict, checks: dict, out) -> int:
    """Store ``checks`` (name -> bool) in ``results``, write the JSON, print the checks,
    and return the exit code: 0 if every check passed, else 1."""
    checks = {name: bool(ok) for name, ok in checks.items()}
    results["checks"] = checks
    path = write_json(out, results)
    log("\nchecks:")
    for name, ok in checks.items():
        log(f"  {'ok    ' if ok else 'FAILED'} {name}")
    log(f"wrote {path}")
    return 0 if all(checks.values()) else 1


# -- process memory and CPU time -------------------------------------------------------
def rss_bytes() -> int:
    """Resident set size of this process, from /proc (0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _hwm_bytes() -> int | None:
    """The kernel's peak RSS of this process (VmHWM), or None where unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Peak resident memory of this process inside a ``with`` block.

    On Linux the kernel's own high-water mark (VmHWM) is reset on entry and read on
    exit, which is exact; elsewhere a thread samples the RSS every few milliseconds.

    Attributes:
        start (int): RSS on entry, in bytes.
        peak (int): the largest RSS inside the block, in bytes.
        exact (bool): whether the kernel's high-water mark was used.
    """

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.start = self.peak = 0
        self.exact = False
        self._stop = threading.Event()
        self._thread = None

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self.exact = _reset_hwm() and _hwm_bytes() is not None
        if not self.exact:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        hwm = _hwm_bytes() if self.exact else None
        self.peak = max(self.peak, rss_bytes(), hwm or 0)

    @property
    def extra_gb(self) -> float:
        return (self.peak - self.start) / 1e9

    @property
    def peak_gb(self) -> float:
        return self.peak / 1e9


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    """``(wall seconds, CPU seconds, fn())`` of one call of ``fn`` (on a shared machine
    the CPU time is the steadier of the two)."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def synthetic_proteins(scale: float = 1.0, seed: int = 0) -> Data:
    """A random symmetric graph with ogbn-proteins' sizes times ``scale``: uniform
    random node pairs stored in both directions, 8 uniform edge features each.

    Shapes: ``edge_index`` (2, 2 x pairs), ``edge_attr`` (2 x pairs, 8).
    """
    num_nodes = max(10, round(NUM_NODES * scale))
    num_pairs = max(1, round(NUM_UNDIRECTED_EDGES * scale))
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.empty(2, 2 * num_pairs, dtype=torch.long)
    # Fill in place, half at a time, to keep the peak memory near the final size.
    edge_index[0, :num_pairs] = torch.randint(0, num_nodes, (num_pairs,), generator=gen)
    edge_index[1, :num_pairs] = torch.randint(0, num_nodes, (num_pairs,), generator=gen)
    edge_index[0, num_pairs:] = edge_index[1, :num_pairs]
    edge_index[1, num_pairs:] = edge_index[0, :num_pairs]
    edge_attr = torch.rand(2 * num_pairs, NUM_EDGE_FEATURES, generator=gen)
    return Data(edge_index=edge_index, edge_attr=edge_attr, num_nodes=num_nodes)


if __name__ == "__main__":
    sys.exit("common.py is a module for the benchmark scripts, not a benchmark")
