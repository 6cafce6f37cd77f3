"""The finishing touches every single-Axes figure of :mod:`revgnn_edu.plotting` shares."""

from __future__ import annotations

from collections.abc import Sequence


def rows_column(rows: Sequence[dict], key: str, label: str) -> list:
    """The value under ``key`` in every row, with an error naming the rows that lack it."""
    missing = [i for i, row in enumerate(rows) if key not in row]
    if missing:
        raise ValueError(f"rows of {label!r} have no key {key!r} (rows {missing[:5]})")
    return [row[key] for row in rows]


def finish_axes(
    ax,
    xlabel: str,
    ylabel: str | None,
    title: str | None = None,
    logx: bool | int = False,
    logy: bool = False,
    grid_which: str = "major",
    legend: dict | None = None,
):
    """Label, scale, title, grid and legend an Axes.

    Args:
        ax (matplotlib Axes): the Axes to finish.
        xlabel (str): x-axis label.
        ylabel (str, optional): y-axis label; left as it is when :obj:`None`.
        title (str, optional): the title; none when empty. (default: :obj:`None`)
        logx (bool or int, optional): logarithmic x axis, base 10 for :obj:`True` or the
            given base. (default: :obj:`False`)
        logy (bool, optional): logarithmic y axis. (default: :obj:`False`)
        grid_which (str, optional): the ticks the grid follows. (default: ``"major"``)
        legend (dict, optional): keyword arguments of ``ax.legend``. (default: :obj:`None`)

    Returns:
        the matplotlib Axes.
    """
    if logx:
        ax.set_xscale("log", base=10 if logx is True else logx)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which=grid_which)
    ax.legend(**(legend or {}))
    return ax
