"""Small matplotlib helpers shared by the notebooks and the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

__all__ = [
    "plot_sweep",
    "plot_curves",
    "save_metrics_plot",
    "draw_coupling",
    "plot_memory_timeline",
]


def plot_sweep(
    series: dict[str, Sequence[dict]],
    x: str,
    y: str = "peak_mib",
    ax=None,
    xlabel: str | None = None,
    ylabel: str = "peak memory (MiB)",
    title: str | None = None,
    logx: bool = False,
):
    """Plot one line per named list of rows (e.g. from :func:`revgnn_edu.memory.sweep`).

    Args:
        series (dict): label -> rows; each row is a dict holding keys ``x`` and ``y``.
        x (str): the row key on the x axis (e.g. ``"depth"``).
        y (str, optional): the row key on the y axis. (default: ``"peak_mib"``)
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.

    Returns:
        the matplotlib Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, rows in series.items():
        ax.plot([r[x] for r in rows], [r[y] for r in rows], marker="o", label=label)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_curves(
    history: Sequence[dict],
    keys: Sequence[str],
    x: str = "epoch",
    ax=None,
    title: str | None = None,
    ylabel: str | None = None,
):
    """Plot training curves: one line per key of the per-epoch rows in ``history``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        ax.plot([r[x] for r in history], [r[key] for r in history], label=key)
    ax.set_xlabel(x)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def save_metrics_plot(rows: Sequence[dict], path) -> None:
    """Save the loss and ROC-AUC curves of a training run (rows of ``metrics.jsonl``)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot_curves(rows, ["loss"], ax=axes[0], title="training loss")
    scored = [r for r in rows if "valid_rocauc" in r]
    if scored:
        plot_curves(
            scored, ["train_rocauc", "valid_rocauc", "test_rocauc"], ax=axes[1], title="ROC-AUC"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_coupling(groups: int = 3, inverse: bool = False, ax=None):
    r"""Draw the grouped reversible coupling of :class:`~revgnn_edu.nn.GroupReversible`
    as boxes and arrows: the forward pass

    .. math::
        X'_0 = \sum_{i=2}^{C} X_i, \qquad X'_i = X_i + f_i(X'_{i-1}) \quad (i = 1..C),

    or, with ``inverse=True``, its inverse :math:`X_i = X'_i - f_i(X'_{i-1})`
    (:math:`i = C..2`, then :math:`X'_0` and :math:`X_1`).

    Input groups :math:`X_i` are drawn on top, output groups :math:`X'_i` at the bottom,
    the chain of blocks :math:`f_i` in between; the gray arrows feed
    :math:`X_2, \ldots, X_C` into the sum :math:`X'_0`.

    Args:
        groups (int, optional): the number of groups :math:`C \ge 2`. (default: :obj:`3`)
        inverse (bool, optional): draw the inverse instead of the forward pass.
            (default: :obj:`False`)
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.

    Returns:
        the matplotlib Axes: :math:`4C + 1` boxes and :math:`5C - 1` arrows.
    """
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
        raise ValueError(f"groups must be an integer >= 2, got {groups!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(2 * groups + 1.5, 3.6))
    chain_y, top_y, bottom_y = 1.0, 2.2, -0.2

    def box(x, y, text, color):
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=11,
            bbox=dict(boxstyle="round,pad=0.35", fc=color, ec="black"),
        )

    def arrow(p, q, rad=0.0, color="black"):
        style = dict(arrowstyle="-|>", color=color, shrinkA=13, shrinkB=13)
        ax.annotate("", xy=q, xytext=p, arrowprops=dict(style, connectionstyle=f"arc3,rad={rad}"))

    op = "\N{MINUS SIGN}" if inverse else "+"
    box(0, chain_y, "\N{GREEK CAPITAL LETTER SIGMA}", "lightyellow")  # X'_0 = X_2 + ... + X_C
    for i in range(1, groups + 1):
        xi, xf = 2 * i, 2 * i - 1
        box(xi, top_y, f"$X_{{{i}}}$", "lightblue")  # input group i
        box(xi, bottom_y, f"$X'_{{{i}}}$", "lightgreen")  # output group i
        box(xf, chain_y, f"$f_{{{i}}}$", "white")  # block f_i
        box(xi, chain_y, op, "white")
        # f_i reads X'_{i-1}: the sum for i = 1; else the previous output (a known output
        # in the inverse, the chain itself in the forward pass)
        if i == 1:
            source = (0, chain_y)
        else:
            source = (xi - 2, bottom_y) if inverse else (xi - 2, chain_y)
        arrow(source, (xf, chain_y))
        arrow((xf, chain_y), (xi, chain_y))
        if inverse:  # X_i = X'_i - f_i(X'_{i-1})
            arrow((xi, bottom_y), (xi, chain_y))
            arrow((xi, chain_y), (xi, top_y))
        else:  # X'_i = X_i + f_i(X'_{i-1})
            arrow((xi, top_y), (xi, chain_y))
            arrow((xi, chain_y), (xi, bottom_y))
        if i >= 2:  # X_2, ..., X_C feed X'_0
            arrow((xi, top_y), (0, chain_y), rad=0.25, color="gray")
    ax.set_xlim(-0.7, 2 * groups + 0.7)
    ax.set_ylim(-0.8, 2.9)
    ax.axis("off")
    if inverse:
        ax.set_title("inverse: $X_i = X'_i - f_i(X'_{i-1})$, $i = C, \\ldots, 1$")
    else:
        ax.set_title("forward: $X'_i = X_i + f_i(X'_{i-1})$, $i = 1, \\ldots, C$")
    return ax


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
