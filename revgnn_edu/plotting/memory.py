"""Memory figures: live tensor memory over a training step, peak memory against a budget."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from ._axes import finish_axes

_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def _phase_runs(events: Sequence) -> list[tuple[str, int, int]]:
    """``(phase, start, end)`` for each run of consecutive events with the same
    non-empty phase label: from its first event to the first event of the next run (to
    the last event, for the last run), so that the runs tile the step."""
    runs: list[list] = []
    for index, _, phase in events:
        if runs and runs[-1][0] == phase:
            runs[-1][2] = index
        else:
            if runs:
                runs[-1][2] = index  # the previous run ends where this one starts
            runs.append([phase, index, index])
    return [(phase, start, end) for phase, start, end in runs if phase]


def plot_memory_timeline(
    timelines: dict[str, Sequence],
    unit: str = "MiB",
    title: str | None = None,
    sharey: bool = True,
):
    """Plot the live tensor memory over one training step, one panel per model, with
    each phase (forward, backward, optimizer, ...) shaded and named, and the peak marked.

    Args:
        timelines (dict): label -> the events of :func:`revgnn_edu.memory.measure_timeline`
            (``(index, live_bytes, phase)`` tuples).
        unit (str, optional): ``"B"``, ``"KiB"``, ``"MiB"`` or ``"GiB"`` (powers of
            1024) for the y axis. (default: ``"MiB"``)
        title (str, optional): the figure's title. (default: :obj:`None`)
        sharey (bool, optional): one y scale for all panels. (default: :obj:`True`)

    Returns:
        the matplotlib Figure.
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {sorted(_UNITS)}, got {unit!r}")
    if not timelines:
        raise ValueError("timelines is empty: give at least one label -> events")
    for label, events in timelines.items():
        if len(events) == 0:
            raise ValueError(f"the timeline of {label!r} has no events")
    scale = _UNITS[unit]
    phases = list(dict.fromkeys(r[0] for ev in timelines.values() for r in _phase_runs(ev)))
    colors = {phase: f"C{k + 1}" for k, phase in enumerate(phases)}  # C0 is the line
    top = max(e[1] for ev in timelines.values() for e in ev) / scale
    n = len(timelines)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), sharey=sharey, squeeze=False)
    for ax, (label, events) in zip(axes[0], timelines.items()):
        xs = [e[0] for e in events]
        ys = [e[1] / scale for e in events]
        ax.step(xs, ys, where="post", color="C0", linewidth=1.2)
        for phase, start, end in _phase_runs(events):
            ax.axvspan(start, end, color=colors[phase], alpha=0.18, linewidth=0)
            ax.text(
                (start + end) / 2,
                0.97,
                phase,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=9,
            )
        peak = max(ys)
        ax.axhline(peak, color="gray", linestyle=":", linewidth=1)
        ax.annotate(
            f"peak {peak:.2f} {unit}",
            xy=(xs[ys.index(peak)], peak),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=9,
        )
        ax.set_xlabel("memory events in order (allocations, releases)")
        ax.set_title(label)
        ax.set_ylim(0, 1.3 * (top if sharey else peak) or 1)  # room for the phase names
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"live tensor memory ({unit})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_memory_budget(
    series: dict,
    budget_bytes: int,
    ax=None,
    solved: dict | None = None,
    title: str | None = None,
):
    """Peak training-step memory against the distance :math:`k` the task needs, on log
    axes, with a fixed budget: points above the budget are drawn as crosses (the model
    does not fit), and the runs trained and solved are ringed.

    Args:
        series (dict): label -> list of (k, peak bytes) pairs.
        budget_bytes (int): the memory budget, drawn as a horizontal line.
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.
        solved (dict, optional): label -> list of k at which that model was trained and
            solved the task; each gets a ring. (default: :obj:`None`)
        title (str, optional): the axes title.

    Returns:
        the matplotlib Axes.
    """
    if budget_bytes <= 0:
        raise ValueError(f"budget_bytes must be positive, got {budget_bytes!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    mib = 2**20
    for label, points in series.items():
        points = sorted(points)
        if not points:
            raise ValueError(f"series[{label!r}] has no (k, peak bytes) pairs")
        ks, peaks = [p[0] for p in points], [p[1] / mib for p in points]
        (line,) = ax.plot(ks, peaks, label=label)
        color = line.get_color()
        fits = [(x, y) for x, y in zip(ks, peaks) if y * mib <= budget_bytes]
        over = [(x, y) for x, y in zip(ks, peaks) if y * mib > budget_bytes]
        if fits:
            ax.plot(*zip(*fits), "o", color=color)
        if over:
            ax.plot(*zip(*over), "x", color=color, ms=9, mew=2)
        for x in (solved or {}).get(label, []):
            if x not in ks:
                raise ValueError(f"solved[{label!r}] names k={x}, which series has no point for")
            y = peaks[ks.index(x)]
            ax.plot([x], [y], "o", ms=14, mfc="none", color=color)
    ax.axhline(budget_bytes / mib, color="black", ls="--", lw=1)
    ax.text(  # x in axes coordinates, y in data coordinates
        0.99,
        budget_bytes / mib * 1.08,
        f"budget {budget_bytes / mib:g} MiB",
        fontsize=8,
        ha="right",
        transform=ax.get_yaxis_transform(),
    )
    ax.plot([], [], "x", color="gray", ms=9, mew=2, label="over the budget: does not fit")
    if solved:
        ax.plot([], [], "o", ms=14, mfc="none", color="gray", label="trained here: solved")
    return finish_axes(
        ax,
        "distance k (hops the task needs)",
        "peak memory of a training step (MiB)",
        title,
        logx=2,
        logy=True,
        grid_which="both",
        legend={"fontsize": 8, "loc": "upper left"},
    )
