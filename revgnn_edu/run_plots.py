"""Pictures of a training run read from its folder: progress against the paper's
milestones, an interrupted-and-resumed run against an uninterrupted one, and a planned
run's memory by what holds it."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

__all__ = [
    "MEMORY_PARTS",
    "PAPER_GPU_GIB",
    "PAPER_TEST_ROCAUC",
    "plot_memory_breakdown",
    "plot_progress",
    "plot_resumed_against_uninterrupted",
]

#: The paper's test ROC-AUC (%) on ogbn-proteins: 1 view x 5 parts and 10 views x 3 parts.
PAPER_TEST_ROCAUC = {
    "revgnn-deep": {"1 view x 5 parts": 87.06, "10 views x 3 parts": 87.74},
    "revgnn-wide": {"1 view x 5 parts": 87.62, "10 views x 3 parts": 88.24},
}

#: The paper's GPU memory (GiB) of a full ogbn-proteins training run on one V100.
PAPER_GPU_GIB = {"revgnn-deep": 2.86, "revgnn-wide": 7.91}

#: The stacked segments of :func:`plot_memory_breakdown`: label and the
#: :func:`revgnn_edu.planning.memory_breakdown` keys each one sums.
MEMORY_PARTS = (
    ("parameters + gradients", ("parameters", "gradients")),
    ("Adam's two moments", ("optimizer",)),
    ("data (one part)", ("data",)),
    ("working set (activations or Adam's step)", ("working_set",)),
)


def _axes(ax, ncols=1, figsize=(6.5, 4)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    return plt.subplots(1, ncols, figsize=figsize)[1]


def plot_progress(progress, preset: str = "revgnn-deep", stand_in: bool = False, ax=None):
    """Validation and test ROC-AUC (%) of a run against the epoch, with the paper's test
    ROC-AUC of ``preset`` as horizontal lines, the run's total epochs as the x range and
    the expected finish in the title.

    Args:
        progress (RunProgress): from :func:`revgnn_edu.train.read_progress`.
        preset (str, optional): whose milestones to draw (none for a preset the paper
            does not report). (default: :obj:`"revgnn-deep"`)
        stand_in (bool, optional): say in the title that the scores are not comparable
            with the paper's. (default: :obj:`False`)
        ax (matplotlib.axes.Axes, optional): where to draw. (default: a new figure)

    Returns:
        matplotlib.axes.Axes
    """
    ax = _axes(ax)
    scored = progress.scored
    epochs = [r["epoch"] for r in scored]
    for key, label, marker in (("valid_rocauc", "validation", "o"), ("test_rocauc", "test", "s")):
        ax.plot(epochs, [100 * r[key] for r in scored], marker=marker, label=f"this run, {label}")
    for (views, value), style in zip(PAPER_TEST_ROCAUC.get(preset, {}).items(), ("--", ":")):
        ax.axhline(value, color="black", linestyle=style, label=f"paper, test, {views}: {value}")
    if progress.epochs:
        ax.set_xlim(0, progress.epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean ROC-AUC over the tasks (%)")
    state = "running" if progress.running else ("finished" if progress.finished else "stopped")
    title = f"{preset}: epoch {progress.epochs_done}" + (
        f" of {progress.epochs}" if progress.epochs else ""
    )
    title += f", {state}"
    if progress.expected_finish is not None:
        when = _dt.datetime.fromtimestamp(progress.expected_finish, _dt.timezone.utc)
        title += f"\nexpected finish {when:%Y-%m-%d %H:%M} UTC"
    if stand_in:
        title += "\n(stand-in data: not comparable with the paper)"
    ax.set_title(title)
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_resumed_against_uninterrupted(
    uninterrupted: Sequence[dict], resumed: Sequence[dict], stopped_after: int, axes=None
):
    """Training loss and validation ROC-AUC (%) against the epoch: the uninterrupted run
    as a line, the interrupted-and-resumed run as markers on it, and a vertical line
    after the epoch where it was stopped.

    Args:
        uninterrupted (list[dict]): ``metrics.jsonl`` rows of the run trained in one go.
        resumed (list[dict]): the rows of the run stopped and resumed.
        stopped_after (int): the last epoch before the stop.
        axes (two matplotlib.axes.Axes, optional): where to draw. (default: a new figure)

    Returns:
        the two axes.
    """
    axes = _axes(axes, ncols=2, figsize=(11, 4))
    panels = (
        ("loss", "training loss (binary cross-entropy, per label)", 1),
        ("valid_rocauc", "validation mean ROC-AUC (%)", 100),
    )
    for ax, (key, ylabel, scale) in zip(axes, panels):
        for rows, label, style in (
            (uninterrupted, "uninterrupted", dict(linestyle="-", color="tab:blue")),
            (resumed, "stopped and resumed", dict(linestyle="", marker="x", color="tab:red")),
        ):
            have = [r for r in rows if key in r]
            ax.plot(
                [r["epoch"] for r in have], [scale * r[key] for r in have], label=label, **style
            )
        ax.axvline(stopped_after + 0.5, color="grey", linestyle=":", label="stopped, then resumed")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    axes[0].set_title("the same loss, epoch by epoch")
    axes[1].set_title("the same validation score")
    return axes


def plot_memory_breakdown(plans: Sequence, ax=None):
    """One stacked bar per plan: its predicted training memory (GiB, 2**30 bytes) split
    into :data:`MEMORY_PARTS`, with the paper's GPU memory (:data:`PAPER_GPU_GIB`) as a
    marker where the paper reports the preset.

    Args:
        plans (Sequence[Plan]): :class:`revgnn_edu.planning.Plan` objects (anything with
            ``preset`` and a ``memory`` dict of bytes).
        ax (matplotlib.axes.Axes, optional): where to draw. (default: :obj:`None`, a new
            figure)
    """
    ax = _axes(ax, figsize=(8, 4))
    names = [p.preset for p in plans]
    bottom = [0.0] * len(plans)
    for label, keys in MEMORY_PARTS:
        gib = [sum(p.memory[k] for k in keys) / 2**30 for p in plans]
        ax.bar(names, gib, width=0.5, bottom=bottom, label=label)
        bottom = [b + g for b, g in zip(bottom, gib)]
    paper = [(i, PAPER_GPU_GIB[n]) for i, n in enumerate(names) if n in PAPER_GPU_GIB]
    if paper:
        ax.plot(*zip(*paper), "k_", markersize=30, mew=2, label="paper, one V100")
    ax.set_xlabel("preset")
    ax.set_ylabel("predicted training memory (GiB)")
    ax.set_title("Predicted memory of one training step, by what holds it")
    ax.set_ylim(0, 1.1 * max(bottom + [g for _, g in paper]))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    return ax
