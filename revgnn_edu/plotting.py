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


# -- notebook 01: a small graph, per-layer measurements, depth against memory ---------------
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
