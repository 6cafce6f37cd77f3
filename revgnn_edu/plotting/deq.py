"""Fixed-point (DEQ) figures: residuals, errors against residuals, runs over seeds."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from ._axes import finish_axes, rows_column


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
    return finish_axes(ax, xlabel, ylabel, title, logy=True)


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
    return finish_axes(ax, xlabel, ylabel, title, logx=True, logy=True)


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
                rows_column(history, x, label),
                rows_column(history, y, label),
                color=f"C{i}",
                lw=1.2,
                alpha=0.8,
                label=label if j == 0 else None,
            )
    return finish_axes(ax, xlabel or x, ylabel or y, title, logy=logy)
