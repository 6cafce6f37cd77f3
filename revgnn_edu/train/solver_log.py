"""DEQ solver logging for the trainer: every fixed-point solve counted, per epoch.

Kept in the trainer (the DEQ layer itself only records ``last_forward_info`` and
``last_backward_info`` on the model); :class:`SolverLog` turns those into the ``deq_*``
columns of ``metrics.jsonl`` and the totals of the run's summary.
"""

from __future__ import annotations

import math

__all__ = ["SolverLog"]


class SolverLog:
    """Counts the DEQ solves of a model: iterations, residuals and non-converged ones.

    Python's warning filter shows each distinct warning once; this counts every solve.
    Call :meth:`record` after each forward (and backward) pass; models without
    ``last_forward_info`` are ignored.
    """

    def __init__(self, model):
        self.model = model
        self.enabled = hasattr(model, "last_forward_info")
        self.unconverged_total = 0
        self.solves_total = 0
        self._seen: dict[str, object] = {}
        self.reset()

    def reset(self) -> None:
        self.infos: dict[str, list] = {"forward": [], "backward": [], "eval": []}

    def record(self, kind: str, attr: str | None = None) -> None:
        if not self.enabled:
            return
        attr = attr or kind
        info = getattr(self.model, f"last_{attr}_info", None)
        if info is None or self._seen.get(attr) is info:  # no new solve since last time
            return
        self._seen[attr] = info
        self.infos[kind].append((int(info.iterations), float(info.residual), bool(info.converged)))
        self.solves_total += 1
        self.unconverged_total += not info.converged

    def row(self, gathered: list[dict] | None = None) -> dict:
        """Per-kind statistics of the solves since :meth:`reset`."""
        infos = gathered or [self.infos]
        row = {}
        for kind in ("forward", "backward", "eval"):
            items = [i for rank in infos for i in rank[kind]]
            if not items:
                continue
            its = [i[0] for i in items]
            res = [i[1] for i in items if math.isfinite(i[1])]
            row.update(
                {
                    f"deq_{kind}_solves": len(items),
                    f"deq_{kind}_iterations_mean": sum(its) / len(its),
                    f"deq_{kind}_iterations_max": max(its),
                    f"deq_{kind}_residual_max": max(res) if res else math.nan,
                    f"deq_{kind}_unconverged": sum(not i[2] for i in items),
                }
            )
        return row
