"""Per-layer quantities and accuracy against the receptive field."""

from __future__ import annotations

import matplotlib.pyplot as plt

from ._axes import finish_axes


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
    return finish_axes(
        ax, xlabel, ylabel, title, logx=2 if logx else False, logy=logy, legend={"fontsize": 8}
    )


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
    return finish_axes(
        ax,
        "receptive field (hops a target can see)",
        "test accuracy (fraction of targets)",
        title,
        legend={"fontsize": 8, "loc": "center right"},
    )
