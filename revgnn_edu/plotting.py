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


__all__ += [
    "draw_directed_graph",
    "plot_per_layer",
    "plot_accuracy_against_receptive_field",
    "plot_memory_budget",
]


def draw_directed_graph(
    edge_index,
    num_nodes: int | None = None,
    node_labels: Sequence[str] | None = None,
    edge_labels: Sequence[str] | None = None,
    pos=None,
    ax=None,
    title: str | None = None,
):
    """Draw a small directed graph from its ``edge_index``: nodes as labelled circles
    (on a circle unless ``pos`` is given), each edge :math:`j \\to i` as an arrow from
    :math:`j` to :math:`i`, slightly bent so that :math:`j \\to i` and :math:`i \\to j` do
    not overlap.

    Args:
        edge_index (Tensor or array): :math:`(2, E)` integer node indices, row 0 the
            sources, row 1 the targets.
        num_nodes (int, optional): :math:`N`; :obj:`None` for ``edge_index.max() + 1``.
        node_labels (sequence of str, optional): one label per node; default the index.
        edge_labels (sequence of str, optional): one label per edge, drawn at the
            middle of its arrow. (default: :obj:`None`, no edge labels)
        pos (array, optional): :math:`(N, 2)` node positions. (default: a circle)
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.
        title (str, optional): the axes title.

    Returns:
        the matplotlib Axes (one annotation arrow per edge in ``ax.texts``, after the
        node labels).
    """
    import numpy as np

    ei = np.asarray(edge_index)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(ei.shape)}")
    if ei.size and (not np.issubdtype(ei.dtype, np.integer) or ei.min() < 0):
        raise ValueError("edge_index must hold non-negative integer node indices")
    n = int(ei.max()) + 1 if num_nodes is None and ei.size else int(num_nodes or 0)
    if n < 1 or (ei.size and ei.max() >= n):
        raise ValueError(
            f"num_nodes={num_nodes!r} must be positive and above every index in edge_index"
        )
    E = ei.shape[1]
    if node_labels is not None and len(node_labels) != n:
        raise ValueError(
            f"node_labels must have {n} entries (one per node), got {len(node_labels)}"
        )
    if edge_labels is not None and len(edge_labels) != E:
        raise ValueError(
            f"edge_labels must have {E} entries (one per edge), got {len(edge_labels)}"
        )
    if pos is None:
        angle = np.pi / 2 - 2 * np.pi * np.arange(n) / n  # node 0 on top, clockwise
        pos = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    pos = np.asarray(pos, dtype=float)
    if pos.shape != (n, 2):
        raise ValueError(f"pos must have shape ({n}, 2), got {tuple(pos.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    radius = 16  # node radius in points
    ax.scatter(pos[:, 0], pos[:, 1], s=(2 * radius) ** 2, c="white", edgecolors="black", zorder=3)
    for i, (x, y) in enumerate(pos):
        label = str(i) if node_labels is None else node_labels[i]
        ax.text(x, y, label, ha="center", va="center", fontsize=8, zorder=4)
    rad = 0.15  # bend every arrow a little to its right
    for k, (j, i) in enumerate(ei.T):
        ax.annotate(
            "",
            xy=pos[i],
            xytext=pos[j],
            zorder=2,
            arrowprops=dict(
                arrowstyle="-|>",
                color="black",
                shrinkA=radius + 1,
                shrinkB=radius + 1,
                mutation_scale=14,
                connectionstyle=f"arc3,rad={rad}",
            ),
        )
        if edge_labels is not None:
            # the arrow is a quadratic Bezier curve from pos[j] to pos[i] whose control
            # point is the chord's middle moved by rad x the chord, to the right; the
            # label sits on the curve at t = 0.6, nearer the target than the middle
            d = pos[i] - pos[j]
            control = (pos[i] + pos[j]) / 2 + rad * np.array([d[1], -d[0]])
            t = 0.6
            at = (1 - t) ** 2 * pos[j] + 2 * t * (1 - t) * control + t**2 * pos[i]
            ax.text(
                *at,
                edge_labels[k],
                ha="center",
                va="center",
                fontsize=8,
                color="tab:blue",
                zorder=4,
                bbox=dict(facecolor="white", edgecolor="none", pad=0.5),
            )
    pad = 0.35
    ax.set_xlim(pos[:, 0].min() - pad, pos[:, 0].max() + pad)
    ax.set_ylim(pos[:, 1].min() - pad, pos[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def plot_per_layer(
    curves: dict,
    ax=None,
    references: dict | None = None,
    xlabel: str = "layer $l$",
    ylabel: str = "",
    title: str | None = None,
    logx: bool = False,
    logy: bool = False,
):
    """Plot a quantity measured after every layer: for each label, the mean over runs
    (seeds) as a line with markers and the range over runs as a shaded band; reference
    curves (one run, e.g. a deterministic operator) as dashed lines.

    Args:
        curves (dict): label -> values of shape (runs, layers) or (layers,); layer
            :math:`l = 1, 2, \\ldots` on the x axis.
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.
        references (dict, optional): label -> values of shape (layers,).
        xlabel, ylabel, title (str, optional): axis labels and title.
        logx, logy (bool, optional): logarithmic axes (base 2 for x). (default: :obj:`False`)

    Returns:
        the matplotlib Axes.
    """
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, values in curves.items():
        v = np.atleast_2d(np.asarray(values, dtype=float))
        if v.ndim != 2 or v.shape[1] == 0:
            raise ValueError(f"curves[{label!r}] must be (runs, layers) or (layers,)")
        layers = np.arange(1, v.shape[1] + 1)
        n = v.shape[0]
        (line,) = ax.plot(
            layers,
            v.mean(0),
            marker="o",
            ms=3,
            label=label + (f" (mean of {n}, range shaded)" if n > 1 else ""),
        )
        if n > 1:
            ax.fill_between(layers, v.min(0), v.max(0), color=line.get_color(), alpha=0.2)
    for label, values in (references or {}).items():
        v = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(v) + 1), v, ls="--", color="black", lw=1, label=label)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_accuracy_against_receptive_field(
    series: dict,
    k: int,
    chance: float,
    ax=None,
    title: str | None = None,
):
    """Test accuracy against receptive field on a task that needs :math:`k` hops: one
    line of markers per label, the needed receptive field :math:`k` as a vertical line
    and chance as a horizontal one.

    Args:
        series (dict): label -> list of (receptive field, accuracy) pairs; a label that
            starts with ``"default"`` is drawn dotted with open markers (a contrast).
        k (int): the receptive field the task needs.
        chance (float): the accuracy of a constant prediction, :math:`1/C`.
        ax (matplotlib Axes, optional): where to draw; a new figure when :obj:`None`.
        title (str, optional): the axes title.

    Returns:
        the matplotlib Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    markers = "os^vD<>"
    for n, (label, points) in enumerate(series.items()):
        points = sorted(points)
        if not points:
            raise ValueError(f"series[{label!r}] has no (receptive field, accuracy) pairs")
        contrast = label.startswith("default")
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker=markers[n % 7],
            ms=max(10 - 3 * n, 4) if not contrast else 9,  # later series smaller: overlaps show
            ls=":" if contrast else "-",
            mfc="none" if contrast else None,
            mew=1.5,
            label=label,
        )
    ax.axvline(k, color="gray", lw=1)
    ax.text(k, 0.02, f" needed: k = {k} hops", color="gray", fontsize=8)
    ax.axhline(chance, color="gray", lw=1, ls="--")
    ax.text(  # x in axes coordinates, y in data coordinates
        0.01,
        chance + 0.02,
        f"chance = {chance:g}",
        color="gray",
        fontsize=8,
        transform=ax.get_yaxis_transform(),
    )
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("receptive field (hops a target can see)")
    ax.set_ylabel("test accuracy (fraction of targets)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    return ax


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
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("distance k (hops the task needs)")
    ax.set_ylabel("peak memory of a training step (MiB)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    return ax
