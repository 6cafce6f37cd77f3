"""Diagrams: the grouped reversible coupling and small directed graphs."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt


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
