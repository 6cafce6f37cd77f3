"""Small matplotlib helpers shared by the notebooks and the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

__all__ = ["plot_sweep", "plot_curves", "save_metrics_plot"]


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
