"""What every benchmark script shares: where results go, how they are written and checked.

    from common import RESULTS, add_out_argument, finish, log

A benchmark collects its numbers in a dict, names its pass/fail checks in another, and
ends with ``return finish(results, checks, out)``: the checks are stored in the JSON,
printed, and turned into the exit code (0 when all pass), so ``run_all.py`` and CI see
a failed check as a failed run.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import torch
from torch_geometric.data import Data

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

__all__ = [
    "HERE",
    "RESULTS",
    "log",
    "default_out",
    "add_out_argument",
    "environment",
    "write_json",
    "finish",
    "rss_bytes",
    "PeakRSS",
    "cpu_seconds",
    "PROTEINS",
    "synthetic_proteins",
]

#: ogbn-proteins' sizes: nodes, undirected edges (stored in both directions), edge
#: features, species, tasks.
PROTEINS = dict(nodes=132_534, undirected_edges=39_561_252, edge_dim=8, species=8, tasks=112)


def log(msg: str = "") -> None:
    """Print and flush at once (benchmarks run for minutes; output must not lag)."""
    print(msg, flush=True)


def default_out(name: str, device: str = "cpu") -> Path:
    """``benchmarks/results/<name>_<device>.json``."""
    return RESULTS / f"{name}_{device}.json"


def add_out_argument(parser, name: str) -> None:
    """Add ``--out`` (default: ``benchmarks/results/<name>_<device>.json``, chosen later)."""
    parser.add_argument(
        "--out",
        default=None,
        help=f"JSON results path (default: benchmarks/results/{name}_<device>.json)",
    )


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


def synthetic_proteins(scale: float = 1.0, seed: int = 0) -> Data:
    """A random symmetric graph with ogbn-proteins' sizes times ``scale``: uniform
    random node pairs stored in both directions, 8 uniform edge features each.

    Shapes: ``edge_index`` (2, 2 x pairs), ``edge_attr`` (2 x pairs, 8).
    """
    num_nodes = max(10, round(PROTEINS["nodes"] * scale))
    num_pairs = max(1, round(PROTEINS["undirected_edges"] * scale))
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.empty(2, 2 * num_pairs, dtype=torch.long)
    # Fill in place, half at a time, to keep the peak memory near the final size.
    edge_index[0, :num_pairs] = torch.randint(0, num_nodes, (num_pairs,), generator=gen)
    edge_index[1, :num_pairs] = torch.randint(0, num_nodes, (num_pairs,), generator=gen)
    edge_index[0, num_pairs:] = edge_index[1, :num_pairs]
    edge_index[1, num_pairs:] = edge_index[0, :num_pairs]
    edge_attr = torch.rand(2 * num_pairs, PROTEINS["edge_dim"], generator=gen)
    return Data(edge_index=edge_index, edge_attr=edge_attr, num_nodes=num_nodes)


if __name__ == "__main__":
    sys.exit("common.py is a module for the benchmark scripts, not a benchmark")
