"""Sweeps and training curves: one line per label, and the ratio of two of them."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from ._axes import finish_axes, rows_column


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
    return finish_axes(ax, xlabel or x, ylabel, title, logx=logx)


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
    return finish_axes(ax, x, ylabel or None, title)


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
        if rows_column(series[a], x, a) != rows_column(series[b], x, b):
            raise ValueError(f"pair {name!r}: {a!r} and {b!r} have different {x!r} values")
    references = {b for _, b in pairs.values()}
    _, (ax, ax_ratio) = plt.subplots(
        2, 1, figsize=(6, 5.5), sharex=True, height_ratios=(3, 1.4), layout="constrained"
    )
    for label, rows in series.items():
        xs, ys = rows_column(rows, x, label), rows_column(rows, y, label)
        if label in references:  # under another line: dashed, hollow, larger markers
            ax.plot(xs, ys, ls="--", marker="s", ms=8, mfc="none", label=label)
        else:
            ax.plot(xs, ys, marker="o", ms=4, label=label)
    ratios = []
    for name, (a, b) in pairs.items():
        ya, yb = rows_column(series[a], y, a), rows_column(series[b], y, b)
        ratio = [p / q for p, q in zip(ya, yb)]
        ax_ratio.plot(rows_column(series[a], x, a), ratio, marker="o", label=name)
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
