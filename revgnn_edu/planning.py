r"""Plan a full ogbn-proteins run: predicted memory (GiB) and time from measured constants.

``benchmarks/bench_proteins.py`` measures, for every preset at ogbn-proteins part size
(:math:`132{,}534 / 10` nodes, about :math:`79.1\text{M} / 100` edges), one training step's
memory at two small depths and its time at two small depths, and writes them to
``benchmarks/results/proteins_<device>.json``. This module turns such a results file
into a plan for one preset:

.. math::
    \text{memory} = \text{data} + \underbrace{P}_{\text{parameters}}
    + \underbrace{P}_{\text{gradients}} + \underbrace{2P}_{\text{Adam}}
    + \max(\text{activations}, \text{Adam temporaries})

    \text{epoch} = \text{train parts} \times t_\text{step}
    + \text{views} \times \text{eval parts} \times t_\text{eval} + t_\text{partition}

with :math:`P` the parameter bytes at full depth and the step and evaluation times
extrapolated linearly in depth from the two timed depths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .checks import one_of, positive_int
from .data.ogbn_proteins_facts import NUM_EDGES, NUM_NODES, TRAIN_PARTS

__all__ = [
    "GIB",
    "EVAL_PARTS",
    "EPOCH_FORMULA",
    "PART_NODES",
    "PART_EDGES",
    "RESULTS",
    "linear",
    "memory_breakdown",
    "epoch_seconds",
    "load_results",
    "Plan",
    "plan",
]

GIB = 2**30  #: bytes in a GiB (the paper's "G": ``max_memory_allocated / 1024**3``)
EVAL_PARTS = 5  #: parts of the evaluation partition
PART_NODES = round(NUM_NODES / TRAIN_PARTS)  #: nodes of one training part
#: edges of one training part: an edge stays when both ends fall in the same part (1/10)
PART_EDGES = round(NUM_EDGES / TRAIN_PARTS**2)
EPOCH_FORMULA = (
    "epoch = train_parts x step + views x eval_parts x eval + partition "
    "(step, eval: extrapolated linearly in depth from two timed depths)"
)
#: where ``make bench`` writes the results (``proteins_<device>.json``)
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def linear(lo: dict, hi: dict, key: str, depth: int) -> float:
    """``key`` extrapolated linearly in ``"depth"`` from the rows ``lo`` and ``hi``."""
    slope = (hi[key] - lo[key]) / (hi["depth"] - lo["depth"])
    return lo[key] + slope * (depth - lo["depth"])


def memory_breakdown(
    parameter_bytes: float, data_bytes: float, activation_bytes: float, adam_step_bytes: float
) -> dict[str, float]:
    """Bytes of one training step on one part, by what holds them: ``parameters``,
    ``gradients`` (as many), ``optimizer`` (Adam's two moments), ``data`` (the part),
    ``activations`` (the forward + backward peak above those), ``adam_step`` (Adam's
    temporaries), ``working_set`` (the larger of the last two: they never coexist) and
    ``total`` = parameters + gradients + optimizer + data + working set."""
    out = dict(
        parameters=float(parameter_bytes),
        gradients=float(parameter_bytes),
        optimizer=2.0 * parameter_bytes,
        data=float(data_bytes),
        activations=float(activation_bytes),
        adam_step=float(adam_step_bytes),
        working_set=float(max(activation_bytes, adam_step_bytes)),
    )
    out["total"] = sum(out[k] for k in ("parameters", "gradients", "optimizer", "data"))
    out["total"] += out["working_set"]
    return out


def epoch_seconds(
    step_s: float,
    eval_s: float,
    partition_s: float,
    train_parts: int = TRAIN_PARTS,
    eval_parts: int = EVAL_PARTS,
    views: int = 1,
) -> float:
    """Seconds of one epoch (see :data:`EPOCH_FORMULA`): ``train_parts`` training steps,
    an evaluation forward on each of ``eval_parts`` parts for each of ``views`` random
    partitions, and the partitioning itself."""
    return train_parts * step_s + views * eval_parts * eval_s + partition_s


def _count(n) -> str:
    return "?" if n is None else f"{n:,}"


def load_results(device: str = "cpu", path: str | Path | None = None) -> dict:
    """The benchmark's results for ``device`` (``benchmarks/results/proteins_<device>.json``
    unless ``path`` is given); a FileNotFoundError saying how to make them otherwise."""
    path = Path(path) if path is not None else RESULTS / f"proteins_{device}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no benchmark results at {path}: run `python benchmarks/bench_proteins.py "
            f"--device {device}` (or `make bench`) first"
        )
    return json.loads(path.read_text())


@dataclass
class Plan:
    """A preset's predicted memory and time for a run of ``epochs`` epochs."""

    preset: str
    device: str
    epochs: int
    memory: dict[str, float]  #: :func:`memory_breakdown`, bytes
    step_s: float | None
    epoch_s: float | None
    rests_on: list[str] = field(default_factory=list)

    @property
    def memory_gib(self) -> float:
        return self.memory["total"] / GIB

    @property
    def total_s(self) -> float | None:
        return None if self.epoch_s is None else self.epochs * self.epoch_s

    def summary(self) -> str:
        lines = [f"{self.preset} on {self.device}: predicted memory {self.memory_gib:.2f} GiB"]
        lines += [f"  {k:12s} {v / GIB:8.3f} GiB" for k, v in self.memory.items() if k != "total"]
        if self.epoch_s is not None:
            lines.append(
                f"  step {self.step_s:.1f} s, epoch {self.epoch_s:.0f} s, {self.epochs} epochs "
                f"{self.total_s / 3600:.1f} h"
            )
            lines.append(f"  {EPOCH_FORMULA}")
        lines += [f"  rests on: {r}" for r in self.rests_on]
        return "\n".join(lines)


def plan(
    preset: str,
    results: dict | None = None,
    device: str = "cpu",
    epochs: int = 2000,
    views: int = 1,
) -> Plan:
    """Predicted memory and time of training ``preset`` for ``epochs`` epochs on
    ``device``, from the benchmark's ``results`` (:func:`load_results` by default).

    Args:
        preset (str): a preset measured by the benchmark, e.g. ``"revgnn-deep"``.
        results (dict, optional): the benchmark's results. (default: :obj:`None`, read
            with :func:`load_results`)
        device (str, optional): the device whose results to read. (default: ``"cpu"``)
        epochs (int, optional): epochs of the run. (default: :obj:`2000`)
        views (int, optional): random partitions evaluated per epoch. (default: :obj:`1`)
    """
    positive_int("epochs", epochs)
    positive_int("views", views)
    results = load_results(device) if results is None else results
    rows = {r["preset"]: r for r in results.get("presets", [])}
    row = rows[one_of("preset", preset, rows, " (the presets in the benchmark results)")]
    memory = memory_breakdown(
        row["parameter_bytes"], row["data_bytes"], row["activation_bytes"], row["adam_step_bytes"]
    )
    cfg, graph = results.get("config", {}), results.get("graph", {})
    step_s = row.get("step_s_extrapolated")
    epoch_s = None
    if step_s is not None:
        partition_s = graph.get("partition_train_s", 0.0) + views * graph.get(
            "partition_eval_s", 0.0
        )
        epoch_s = epoch_seconds(step_s, row["eval_s_extrapolated"], partition_s, views=views)
    part = graph.get("train_part", {})
    rests_on = [
        f"one part of {_count(part.get('nodes'))} nodes and {_count(part.get('edges'))} edges "
        f"(ogbn-proteins: {PART_NODES:,} and {PART_EDGES:,})",
        "activations measured at depths "
        + " and ".join(str(d) for d in row.get("memory_depths", []))
        + (", extrapolated linearly" if row.get("activation_extrapolated") else ", flat in depth"),
        f"measured on the benchmark's machine ({cfg.get('device', device)}, "
        f"{cfg.get('threads', '?')} threads, "
        f"{'scaled-down graph: not a plan' if cfg.get('scale', 1) != 1 else 'full part size'})",
    ]
    if step_s is not None:
        rests_on.append(
            f"step and evaluation timed at depths {row.get('time_depths')}, extrapolated to "
            f"{row['depth']} layers (wall seconds)"
        )
    return Plan(preset, device, epochs, memory, step_s, epoch_s, rests_on)
