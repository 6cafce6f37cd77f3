"""Notebook 01's drawing helpers in revgnn_edu.plotting: what each figure holds."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from revgnn_edu.data import toy_graph  # noqa: E402
from revgnn_edu.plotting import (  # noqa: E402
    draw_directed_graph,
    plot_accuracy_against_receptive_field,
    plot_memory_budget,
    plot_per_layer,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- draw_directed_graph ------------------------------------------------------------------
def test_draw_directed_graph_draws_one_arrow_per_edge_from_source_to_target():
    data = toy_graph()
    ax = draw_directed_graph(data.edge_index, edge_labels=[f"e{k}" for k in range(6)])
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    nodes = [t.get_text() for t in ax.texts if not isinstance(t, Annotation)][:4]
    assert nodes == ["0", "1", "2", "3"]
    assert len(arrows) == data.edge_index.size(1)
    labels = [t.get_text() for t in ax.texts if t.get_text().startswith("e")]
    assert labels == [f"e{k}" for k in range(6)]
    # default layout: node 0 on top, then clockwise on the unit circle
    pos = {t.get_text(): t.get_position() for t in ax.texts[:4]}
    assert np.allclose(pos["0"], (0, 1)) and np.allclose(pos["1"], (1, 0), atol=1e-12)
    for (j, i), arrow in zip(data.edge_index.t().tolist(), arrows):
        assert np.allclose(arrow.xyann, pos[str(j)]) and np.allclose(arrow.xy, pos[str(i)])


def test_draw_directed_graph_takes_positions_labels_and_an_axes():
    _, ax0 = plt.subplots()
    pos = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]])
    ax = draw_directed_graph(
        torch.tensor([[0, 1], [1, 2]]), node_labels=["a", "b", "c"], pos=pos, ax=ax0, title="t"
    )
    assert ax is ax0 and ax.get_title() == "t"
    assert [t.get_text() for t in ax.texts[:3]] == ["a", "b", "c"]
    assert tuple(ax.texts[2].get_position()) == (2.0, 1.0)
    # an isolated node is drawn when num_nodes says it exists
    ax = draw_directed_graph(torch.tensor([[0], [1]]), num_nodes=3)
    assert [t.get_text() for t in ax.texts if not isinstance(t, Annotation)] == ["0", "1", "2"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(edge_index=torch.tensor([0, 1, 2])), r"shape \(2, E\)"),
        (dict(edge_index=torch.tensor([[0.0], [1.0]])), "non-negative integer"),
        (dict(edge_index=torch.tensor([[0], [-1]])), "non-negative integer"),
        (dict(edge_index=torch.tensor([[0], [3]]), num_nodes=2), "num_nodes=2"),
        (dict(edge_index=torch.tensor([[0], [1]]), node_labels=["a"]), "node_labels must have 2"),
        (dict(edge_index=torch.tensor([[0], [1]]), edge_labels=[]), "edge_labels must have 1"),
        (
            dict(edge_index=torch.tensor([[0], [1]]), pos=np.zeros((3, 2))),
            r"pos must have shape \(2, 2\)",
        ),
    ],
)
def test_draw_directed_graph_names_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        draw_directed_graph(**kwargs)


# -- plot_per_layer -----------------------------------------------------------------------
def test_plot_per_layer_draws_the_mean_a_band_over_runs_and_references():
    runs = np.array([[1.0, 2.0, 4.0], [3.0, 4.0, 8.0]])
    ax = plot_per_layer(
        {"stack": runs, "single": [1.0, 0.5, 0.25]},
        references={"operator": [0.9, 0.8, 0.7]},
        ylabel="energy",
        logx=True,
        logy=True,
    )
    stack, single, ref = ax.lines
    assert list(stack.get_xdata()) == [1, 2, 3] and list(stack.get_ydata()) == [2.0, 3.0, 6.0]
    assert list(single.get_ydata()) == [1.0, 0.5, 0.25]
    assert ref.get_linestyle() == "--" and list(ref.get_ydata()) == [0.9, 0.8, 0.7]
    assert len(ax.collections) == 1  # one band: only "stack" has several runs
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 1.0 and band[:, 1].max() == 8.0
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "energy" and ax.get_xlabel() == "layer $l$"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["stack (mean of 2, range shaded)", "single", "operator"]


def test_plot_per_layer_names_a_bad_curve():
    with pytest.raises(ValueError, match="curves\\['x'\\]"):
        plot_per_layer({"x": np.zeros((2, 2, 2))})


# -- plot_accuracy_against_receptive_field ------------------------------------------------
def test_accuracy_plot_marks_k_and_chance_and_draws_contrasts_dotted():
    ax = plot_accuracy_against_receptive_field(
        {"ResGNN": [(16, 1.0), (8, 0.25)], "default blocks": [(16, 0.25)]}, k=16, chance=0.25
    )
    res, default, vline, hline = ax.lines
    assert list(res.get_xdata()) == [8, 16]  # sorted by receptive field
    assert default.get_linestyle() == ":" and res.get_linestyle() == "-"
    assert list(vline.get_xdata()) == [16, 16] and list(hline.get_ydata()) == [0.25, 0.25]
    assert "receptive field" in ax.get_xlabel() and "accuracy" in ax.get_ylabel()
    assert ax.get_ylim() == (0, 1.05)
    with pytest.raises(ValueError, match="no \\(receptive field"):
        plot_accuracy_against_receptive_field({"x": []}, k=4, chance=0.5)


# -- plot_memory_budget -------------------------------------------------------------------
def test_memory_budget_marks_points_over_the_budget_and_the_solved_runs():
    mib = 2**20
    series = {
        "ResGNN": [(8, 10 * mib), (16, 20 * mib), (64, 80 * mib)],
        "RevGNN": [(8, 5 * mib), (64, 5 * mib)],
    }
    ax = plot_memory_budget(series, budget_bytes=32 * mib, solved={"RevGNN": [64]})
    by_marker = {}
    for line in ax.lines:
        by_marker.setdefault(line.get_marker(), []).append(line)
    crosses = [line for line in by_marker["x"] if len(line.get_xdata())]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [64]  # only ResGNN at k=64
    assert list(crosses[0].get_ydata()) == [80.0]
    rings = [
        line for line in by_marker["o"] if line.get_markersize() == 14 and len(line.get_xdata())
    ]
    assert [(list(r.get_xdata()), list(r.get_ydata())) for r in rings] == [([64], [5.0])]
    budget = [line for line in ax.lines if list(line.get_ydata()) == [32.0, 32.0]]
    assert len(budget) == 1 and budget[0].get_linestyle() == "--"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "MiB" in ax.get_ylabel() and "k" in ax.get_xlabel()
    # the budget's label sits inside the axes (x in axes coordinates) at the budget's height
    (label,) = [t for t in ax.texts if t.get_text() == "budget 32 MiB"]
    x, y = label.get_transform().transform(label.get_position())
    x0, y0, x1, y1 = ax.get_window_extent().extents
    assert x0 < x < x1 and np.isclose(y, ax.transData.transform((8, 32 * 1.08))[1])


@pytest.mark.parametrize(
    "series, budget, solved, match",
    [
        ({"a": [(8, 1)]}, 0, None, "budget_bytes must be positive"),
        ({"a": []}, 1, None, "no \\(k, peak bytes\\)"),
        ({"a": [(8, 1)]}, 1, {"a": [16]}, "k=16"),
    ],
)
def test_memory_budget_names_bad_input(series, budget, solved, match):
    with pytest.raises(ValueError, match=match):
        plot_memory_budget(series, budget, solved=solved)
