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


# --------------------------------------------------------------------------- #
# Figures of notebooks 05 (weight tying) and 06 (deep equilibrium GNNs)
# --------------------------------------------------------------------------- #

__all__ += [
    "plot_sweep_with_ratio",
    "plot_residuals",
    "plot_error_against_residual",
    "plot_runs",
]


def _rows_column(rows: Sequence[dict], key: str, label: str) -> list:
    missing = [i for i, row in enumerate(rows) if key not in row]
    if missing:
        raise ValueError(f"rows of {label!r} have no key {key!r} (rows {missing[:5]})")
    return [row[key] for row in rows]


def plot_sweep_with_ratio(
    series: dict[str, Sequence[dict]],
    pairs: dict[str, tuple[str, str]],
    x: str,
    y: str = "peak_mib",
    xlabel: str | None = None,
    ylabel: str = "peak memory (MiB)",
    ratio_label: str = "ratio",
    title: str | None = None,
    logx: bool = True,
    logy: bool = True,
):
    r"""Plot a sweep (one line per series) above a panel with the ratio
    :math:`y_a / y_b` of each pair of series, so that two series that overlap in the
    top panel stay readable in the bottom one. The second series of each pair is drawn
    dashed with hollow markers, so that it shows under the first.

    Args:
        series (dict): label -> rows; each row is a dict holding keys ``x`` and ``y``.
        pairs (dict): ratio label -> ``(a, b)``, two labels of ``series`` with the same
            ``x`` values; the bottom panel shows :math:`y_a / y_b`.
        x (str): the row key on the x axis (e.g. ``"depth"``).
        y (str, optional): the row key on the y axis. (default: ``"peak_mib"``)
        xlabel (str, optional): x-axis label. (default: :obj:`None`, ``x``)
        ylabel (str, optional): y-axis label of the top panel.
            (default: ``"peak memory (MiB)"``)
        ratio_label (str, optional): y-axis label of the bottom panel.
            (default: ``"ratio"``)
        title (str, optional): the figure's title. (default: :obj:`None`)
        logx (bool, optional): logarithmic x axis. (default: :obj:`True`)
        logy (bool, optional): logarithmic y axis in the top panel. (default: :obj:`True`)

    Returns:
        (Axes, Axes): the sweep panel and the ratio panel.
    """
    if not series:
        raise ValueError("series is empty: give at least one label -> rows")
    for name, (a, b) in pairs.items():
        for label in (a, b):
            if label not in series:
                raise ValueError(
                    f"pair {name!r} names {label!r}, which is not a series ({sorted(series)})"
                )
        if _rows_column(series[a], x, a) != _rows_column(series[b], x, b):
            raise ValueError(f"pair {name!r}: {a!r} and {b!r} have different {x!r} values")
    references = {b for _, b in pairs.values()}
    _, (ax, ax_ratio) = plt.subplots(
        2, 1, figsize=(6, 5.5), sharex=True, height_ratios=(3, 1.4), layout="constrained"
    )
    for label, rows in series.items():
        xs, ys = _rows_column(rows, x, label), _rows_column(rows, y, label)
        if label in references:  # under another line: dashed, hollow, larger markers
            ax.plot(xs, ys, ls="--", marker="s", ms=8, mfc="none", label=label)
        else:
            ax.plot(xs, ys, marker="o", ms=4, label=label)
    ratios = []
    for name, (a, b) in pairs.items():
        ya, yb = _rows_column(series[a], y, a), _rows_column(series[b], y, b)
        ratio = [p / q for p, q in zip(ya, yb)]
        ax_ratio.plot(_rows_column(series[a], x, a), ratio, marker="o", label=name)
        ratios += ratio
    ax_ratio.axhline(1.0, color="gray", lw=1, ls=":")
    if ratios:  # at least 1 +- 0.05 in view, so that rounding noise is not magnified
        lo, hi = min(*ratios, 1.0), max(*ratios, 1.0)
        margin = max(0.05, 0.1 * (hi - lo))
        ax_ratio.set_ylim(lo - margin, hi + margin)
    ax.set_ylabel(ylabel)
    ax_ratio.set_ylabel(ratio_label)
    ax_ratio.set_xlabel(xlabel or x)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    for axis in (ax, ax_ratio):
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    return ax, ax_ratio


def _curves(value, label: str) -> list[list[float]]:
    """One curve (a list of numbers) or several (a list of lists), as a list of curves."""
    curves = [value] if value and not isinstance(value[0], (list, tuple)) else list(value)
    if not curves or any(len(c) == 0 for c in curves):
        raise ValueError(f"{label!r}: give a non-empty list of residuals, or a list of them")
    return curves


def plot_residuals(
    series: dict[str, Sequence],
    tol: float | None = None,
    ax=None,
    title: str | None = None,
    xlabel: str = "evaluations of f",
    ylabel: str = "relative residual",
):
    r"""Residuals of fixed-point solves against the iteration, on a logarithmic y axis:
    one color per label, one line per solve (e.g. the :math:`r_k` of
    :attr:`SolverInfo.residuals <revgnn_edu.solvers.SolverInfo>`).

    Args:
        series (dict): label -> one list of residuals, or a list of such lists (several
            solves drawn in the same color, e.g. from several starting points).
        tol (float, optional): draw the tolerance as a dashed line. (default: :obj:`None`)
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.
        title (str, optional): the title. (default: :obj:`None`)
        xlabel (str, optional): x-axis label. (default: ``"evaluations of f"``)
        ylabel (str, optional): y-axis label. (default: ``"relative residual"``)

    Returns:
        the matplotlib Axes.
    """
    if not series:
        raise ValueError("series is empty: give at least one label -> residuals")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for i, (label, value) in enumerate(series.items()):
        for j, curve in enumerate(_curves(value, label)):
            ax.plot(
                range(1, len(curve) + 1),
                curve,
                color=f"C{i}",
                marker=".",
                ms=3,
                lw=1,
                label=label if j == 0 else None,
            )
    if tol is not None:
        ax.axhline(tol, color="gray", ls="--", lw=1, label="tol")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_error_against_residual(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    ax=None,
    title: str | None = None,
    xlabel: str = "relative residual where the solve stopped",
    ylabel: str = "relative gradient error",
):
    r"""An error against the residual that caused it, on log-log axes, with the line
    error = residual for reference.

    Args:
        series (dict): label -> ``(residuals, errors)``, two sequences of positive
            numbers of the same length.
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.
        title (str, optional): the title. (default: :obj:`None`)
        xlabel (str, optional): x-axis label.
            (default: ``"relative residual where the solve stopped"``)
        ylabel (str, optional): y-axis label. (default: ``"relative gradient error"``)

    Returns:
        the matplotlib Axes.
    """
    if not series:
        raise ValueError("series is empty: give at least one label -> (residuals, errors)")
    lo, hi = float("inf"), 0.0
    for label, (residuals, errors) in series.items():
        if len(residuals) != len(errors) or not len(residuals):
            raise ValueError(
                f"{label!r}: residuals and errors must be non-empty and of one length, "
                f"got {len(residuals)} and {len(errors)}"
            )
        if min(residuals) <= 0 or min(errors) <= 0:
            raise ValueError(f"{label!r}: residuals and errors must be > 0 on log axes")
        lo, hi = min(lo, *residuals, *errors), max(hi, *residuals, *errors)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    for label, (residuals, errors) in series.items():
        ax.plot(residuals, errors, marker="o", ls="none", label=label)
    ax.plot([lo, hi], [lo, hi], color="gray", ls=":", lw=1, label="error = residual")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_runs(
    runs: dict[str, Sequence[Sequence[dict]]],
    x: str,
    y: str,
    ax=None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    logy: bool = False,
):
    """Several runs per label (e.g. one per seed): one color per label, one thin line per
    run, one legend entry per label.

    Args:
        runs (dict): label -> list of histories; a history is a list of per-epoch
            dicts holding keys ``x`` and ``y``.
        x (str): the row key on the x axis (e.g. ``"epoch"``).
        y (str): the row key on the y axis (e.g. ``"loss"``).
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.
        xlabel (str, optional): x-axis label. (default: :obj:`None`, ``x``)
        ylabel (str, optional): y-axis label. (default: :obj:`None`, ``y``)
        title (str, optional): the title. (default: :obj:`None`)
        logy (bool, optional): logarithmic y axis. (default: :obj:`False`)

    Returns:
        the matplotlib Axes.
    """
    if not runs or any(not histories for histories in runs.values()):
        raise ValueError("runs must map each label to a non-empty list of histories")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for i, (label, histories) in enumerate(runs.items()):
        for j, history in enumerate(histories):
            ax.plot(
                _rows_column(history, x, label),
                _rows_column(history, y, label),
                color=f"C{i}",
                lw=1.2,
                alpha=0.8,
                label=label if j == 0 else None,
            )
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax
