"""The five model families side by side (notebook 07): build any of them at any size,
measure their memory and parameters over a sweep, draw measured against predicted, and
explore the predictions interactively. :func:`build_family` and :func:`family_sweep`
live in :mod:`revgnn_edu.explore_families` (no matplotlib) and are re-exported here.

Example::

    from revgnn_edu.data import random_graph
    from revgnn_edu.explore import build_family, family_sweep, plot_memory_sweeps

    graph = random_graph(1000, 5000, 16, edge_dim=8, num_classes=4, seed=0)
    rows = family_sweep(lambda name, d: build_family(name, d, 32), [1, 2, 4], graph)
    plot_memory_sweeps(rows)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from torch_geometric.data import Data

from .checks import one_of, positive_int
from .complexity import MODELS, measure_activation_bytes, predict_activation_bytes
from .data import random_graph
from .explore_families import build_family, family_sweep
from .solvers import ConvergenceWarning

__all__ = [
    "FAMILY_STYLE",
    "build_family",
    "family_sweep",
    "plain_log_axis",
    "plot_memory_sweeps",
    "explore_points",
    "plot_explorer",
    "MemoryExplorer",
]

#: one look per family in every plot: each tied variant hollow and dashed, in its
#: untied twin's colour
FAMILY_STYLE: dict[str, dict[str, Any]] = {
    "ResGNN": dict(color="C0", marker="o"),
    "WT-ResGNN": dict(color="C0", marker="s", mfc="none", ls="--"),
    "RevGNN": dict(color="C1", marker="o"),
    "WT-RevGNN": dict(color="C1", marker="s", mfc="none", ls="--"),
    "DEQ-GNN": dict(color="C2", marker="^"),
}

_MIB = 2**20


def plain_log_axis(ax, axis: str = "y") -> None:
    """Put a log scale on ``axis`` (``"x"`` or ``"y"``) of ``ax`` with plain tick labels
    1, 2, 5, 10, 20, ... (``1,000`` rather than :math:`10^3`)."""
    one_of("axis", axis, ("x", "y"))
    getattr(ax, f"set_{axis}scale")("log")
    scale = getattr(ax, f"{axis}axis")
    scale.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    scale.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))
    scale.set_minor_formatter(NullFormatter())


def _log2_x(ax) -> None:
    # log2 x axis with plain labels 1, 2, 4, ... rather than 2^0, 2^1, 2^2
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))


def plot_memory_sweeps(
    sweeps: Mapping[str, Sequence[dict]],
    x: str = "depth",
    predicted: Mapping[str, Sequence[float]] | None = None,
    parameters: bool = True,
    styles: Mapping[str, dict] | None = None,
    xlabel: str | None = None,
    title: str = "",
):
    """Measured peak memory (MiB, log scale) against ``x`` (log scale), with the
    parameter counts and, given predictions, the predictions as black crosses and a
    measured / predicted ratio panel. Tied variants (names starting with ``WT-``) are
    drawn slightly right of their untied twins, which they would otherwise hide.

    Args:
        sweeps (mapping): label -> rows of :func:`family_sweep` (``x``, ``peak_bytes``,
            ``peak_mib``, ``parameters``).
        x (str, optional): the swept column. (default: ``"depth"``)
        predicted (mapping, optional): label -> predicted bytes, one per row.
            (default: :obj:`None`, no predictions)
        parameters (bool, optional): add the parameter panel. (default: :obj:`True`)
        styles (mapping, optional): label -> matplotlib line style.
            (default: :data:`FAMILY_STYLE`)
        xlabel (str, optional): the x-axis label. (default: ``x``)
        title (str, optional): the figure's title. (default: ``""``, none)

    Returns:
        matplotlib.figure.Figure: the figure (one row of 1 to 3 panels).
    """
    styles = FAMILY_STYLE if styles is None else styles
    for label, rows in sweeps.items():
        if label not in styles:
            one_of("sweep label", label, styles, " (pass styles= for other labels)")
        if predicted is not None and len(predicted.get(label, ())) != len(rows):
            raise ValueError(
                f"predicted[{label!r}] needs {len(rows)} values, one per measured row, "
                f"got {len(predicted.get(label, ()))}"
            )
    panels = 1 + parameters + (predicted is not None)
    fig, axes = plt.subplots(
        1, panels, figsize=(5 * panels, 4), layout="constrained", squeeze=False
    )
    axes = list(axes[0])
    ax_mem = axes[0]
    ax_par = axes[1] if parameters else None
    ax_ratio = axes[-1] if predicted is not None else None
    for label, rows in sweeps.items():
        xs = np.array([r[x] for r in rows], dtype=float) * (1.07 if label.startswith("WT-") else 1)
        style = styles[label]
        ax_mem.plot(xs, [r["peak_mib"] for r in rows], label=label, **style)
        if ax_par is not None:
            ax_par.plot(xs, [r["parameters"] for r in rows], label=label, **style)
        if predicted is not None:
            pred = np.asarray(predicted[label], dtype=float)
            ax_mem.plot(xs, pred / _MIB, "x", color="k", ms=5)
            measured = np.array([r["peak_bytes"] for r in rows], dtype=float)
            ax_ratio.plot(xs, measured / pred, label=label, **style)
    if predicted is not None:
        ax_mem.plot([], [], "x", color="k", label="predicted")
        ax_ratio.axhline(1.0, color="k", lw=0.8)
        ax_ratio.set(ylabel="measured / predicted memory", title="measured / predicted")
    ax_mem.set(ylabel="peak training memory (MiB)", title="memory")
    plain_log_axis(ax_mem)
    if ax_par is not None:
        ax_par.set(ylabel="parameters (count)", title="parameters")
        plain_log_axis(ax_par)
    for ax in axes:
        _log2_x(ax)
        ax.set_xlabel(x if xlabel is None else xlabel)
        ax.grid(alpha=0.3, which="both")
    ax_mem.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


#: depths the explorer measures (its markers); its lines go to 1024 layers
EXPLORE_DEPTHS = (1, 2, 4)


def explore_points(
    width: int,
    num_groups: int,
    degree: int,
    depths: Sequence[int] = EXPLORE_DEPTHS,
    num_nodes: int = 100,
) -> tuple[Data, dict[str, list[int]]]:
    """The measured peak bytes of each family at a few depths on a small random graph
    with ``degree`` edges per node (16 node features, 8 edge features, 4 classes).

    Args:
        width (int): hidden channels :math:`D`.
        num_groups (int): groups :math:`C` of the reversible families.
        degree (int): directed edges per node.
        depths (sequence of int, optional): the depths. (default: ``(1, 2, 4)``)
        num_nodes (int, optional): nodes of the graph. (default: :obj:`100`)

    Returns:
        tuple: the graph and ``{family: [peak bytes per depth]}``.
    """
    n = positive_int("num_nodes", num_nodes)
    data = random_graph(
        n, n * positive_int("degree", degree), 16, edge_dim=8, num_classes=4, seed=0
    )
    points = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in MODELS:
            points[name] = []
            for d in depths:
                torch.manual_seed(0)
                model = build_family(name, d, width, num_groups=num_groups)
                points[name].append(measure_activation_bytes(model, data))
    return data, points


def plot_explorer(
    width: int,
    num_groups: int,
    degree: int,
    depths: Sequence[int] = EXPLORE_DEPTHS,
    num_nodes: int = 100,
    max_depth: int = 1024,
    ax=None,
) -> tuple[Any, dict[str, list[int]]]:
    """Predicted peak memory of the five families against depth (lines, 1 to
    ``max_depth`` layers) and the memory measured by :func:`explore_points` (markers).

    Args:
        width (int): hidden channels :math:`D`.
        num_groups (int): groups :math:`C` of the reversible families.
        degree (int): directed edges per node.
        depths (sequence of int, optional): the measured depths. (default: ``(1, 2, 4)``)
        num_nodes (int, optional): nodes of the graph. (default: :obj:`100`)
        max_depth (int, optional): the deepest predicted depth. (default: :obj:`1024`)
        ax (matplotlib.axes.Axes, optional): where to draw. (default: a new figure)

    Returns:
        tuple: the axes and the measured points, ``{family: [bytes per depth]}``.
    """
    data, points = explore_points(width, num_groups, degree, depths, num_nodes)
    depth_axis = 2 ** np.arange(int(np.log2(positive_int("max_depth", max_depth))) + 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    for name in MODELS:
        style = FAMILY_STYLE[name]
        pred = [
            predict_activation_bytes(
                name, data.num_nodes, data.num_edges, width, int(d), 4, num_groups=num_groups
            )
            / _MIB
            for d in depth_axis
        ]
        ax.plot(depth_axis, pred, color=style["color"], ls=style.get("ls", "-"), label=name)
        marker = {k: v for k, v in style.items() if k != "ls"}
        ax.plot(list(depths), [b / _MIB for b in points[name]], ls="none", **marker)
    ax.set(
        xlabel="depth L (DEQ-GNN: solver iterations)",
        ylabel="peak training memory (MiB)",
        title=f"N = {data.num_nodes}, E = {data.num_edges:,}, D = {width}, C = {num_groups}: "
        "predicted (lines), measured (markers)",
    )
    _log2_x(ax)
    plain_log_axis(ax)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax, points


@dataclass
class MemoryExplorer:
    """Three sliders (width, groups, edges per node) driving :func:`plot_explorer`; the
    figure is redrawn when a slider is released. Needs ``ipywidgets`` and a running
    kernel; show it with ``display(explorer.widget)``.

    Args:
        widths (tuple of int, optional): the width slider's values.
            (default: ``(16, 32, 64, 128)``)
        groups (tuple of int, optional): the groups slider's values. (default: ``(2, 4, 8)``)
        degrees (tuple of int, optional): the edges-per-node slider's values.
            (default: ``(1, 5, 15, 50)``)
        initial (tuple of int, optional): the first setting (width, groups, degree).
            (default: ``(32, 2, 5)``)
        depths (tuple of int, optional): the measured depths. (default: ``(1, 2, 4)``)
        num_nodes (int, optional): nodes of the graph. (default: :obj:`100`)

    Attributes:
        widget: the ``ipywidgets.VBox`` to display.
        sliders (dict): ``"width"``, ``"groups"``, ``"degree"`` -> slider.
        drawn (list[dict]): one entry per figure drawn: the setting and the measured
            points.
    """

    widths: tuple[int, ...] = (16, 32, 64, 128)
    groups: tuple[int, ...] = (2, 4, 8)
    degrees: tuple[int, ...] = (1, 5, 15, 50)
    initial: tuple[int, int, int] = (32, 2, 5)
    depths: tuple[int, ...] = EXPLORE_DEPTHS
    num_nodes: int = 100
    drawn: list[dict] = field(default_factory=list, init=False)

    def __post_init__(self):
        import ipywidgets as widgets

        options = {"width": self.widths, "groups": self.groups, "degree": self.degrees}
        labels = {"width": "width", "groups": "groups", "degree": "edges/node"}
        self.sliders = {}
        for (key, values), start in zip(options.items(), self.initial):
            one_of(f"initial {key}", start, values)
            self.sliders[key] = widgets.SelectionSlider(
                options=list(values), value=start, description=labels[key], continuous_update=False
            )
        output = widgets.interactive_output(self._draw, self.sliders)
        self.widget = widgets.VBox([widgets.HBox(list(self.sliders.values())), output])

    def _draw(self, width: int, groups: int, degree: int) -> None:
        _, points = plot_explorer(width, groups, degree, self.depths, self.num_nodes)
        plt.show()
        self.drawn.append({"width": width, "groups": groups, "degree": degree, "points": points})
