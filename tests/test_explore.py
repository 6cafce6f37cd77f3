"""revgnn_edu.explore: the five families built, swept, drawn and explored (notebook 07)."""

import gc

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from revgnn_edu.complexity import (  # noqa: E402
    MODELS,
    activation_sweep,
    count_parameters,
    measure_activation_bytes,
    predict_parameters,
)
from revgnn_edu.data import random_graph  # noqa: E402
from revgnn_edu.explore import (  # noqa: E402
    FAMILY_STYLE,
    MemoryExplorer,
    build_family,
    explore_points,
    family_sweep,
    plain_log_axis,
    plot_explorer,
    plot_memory_sweeps,
)
from revgnn_edu.models import DEQGNN, ResGNN, RevGNN, WTResGNN, WTRevGNN  # noqa: E402
from revgnn_edu.solvers import ConvergenceWarning  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module", autouse=True)
def _frozen_gc():
    # the meter collects garbage before each measurement: skip the long-lived objects
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def graph():
    return random_graph(60, 240, 16, edge_dim=8, num_classes=4, seed=0)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("ResGNN", ResGNN),
        ("rev-gnn", RevGNN),
        ("WTResGNN", WTResGNN),
        ("wt-revgnn", WTRevGNN),
        ("DEQ-GNN", DEQGNN),
    ],
)
def test_build_family_sizes_and_parameters(name, cls):
    model = build_family(name, 3, 16, num_groups=4)
    assert type(model) is cls
    assert (model.in_channels, model.hidden_channels, model.out_channels, model.num_layers) == (
        16,
        16,
        4,
        3,
    )
    assert count_parameters(model) == predict_parameters(
        cls.family, 16, 16, 4, 3, num_groups=4, edge_dim=8
    )


def test_build_family_deq_runs_every_iteration(graph):
    model = build_family("DEQ-GNN", 6, 8)
    torch.manual_seed(0)
    with pytest.warns(ConvergenceWarning):  # tolerance 1e-30 is never met: all 6 run
        model(graph.x, graph.edge_index, graph.edge_attr)
    assert model.last_forward_info.iterations == 6


def test_build_family_bad_input():
    with pytest.raises(ValueError, match="Gnn"):
        build_family("Gnn", 2, 8)
    with pytest.raises(ValueError, match="DEQ-GNN only, not ResGNN"):
        build_family("ResGNN", 2, 8, solver_options={"solver": "broyden"})


@pytest.mark.filterwarnings("ignore::revgnn_edu.solvers.ConvergenceWarning")
def test_family_sweep_equals_the_meter(graph):
    sweeps = family_sweep(lambda name, d: build_family(name, d, 8), [1, 2], graph, progress=False)
    assert list(sweeps) == list(MODELS)
    for name, rows in sweeps.items():
        assert [r["depth"] for r in rows] == [1, 2]
        for r in rows:
            torch.manual_seed(0)
            assert r["peak_bytes"] == measure_activation_bytes(
                build_family(name, r["depth"], 8), graph
            )
            assert r["parameters"] == count_parameters(build_family(name, r["depth"], 8))
    by_width = family_sweep(
        lambda name, w: build_family(name, 2, w),
        [8, 16],
        graph,
        name="width",
        families=["resgnn"],
        progress=False,
    )
    direct = activation_sweep(lambda w: build_family("ResGNN", 2, w), [8, 16], graph, name="width")
    assert list(by_width) == ["ResGNN"] and by_width["ResGNN"] == direct


def test_family_sweep_needs_values(graph):
    with pytest.raises(ValueError, match="at least one value"):
        family_sweep(lambda name, d: build_family(name, d, 8), [], graph)


def test_plain_log_axis():
    _, ax = plt.subplots()
    ax.plot([1, 1000], [1, 1000])
    plain_log_axis(ax)
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.yaxis.get_major_formatter()(1000, 0) == "1,000"
    with pytest.raises(ValueError, match="'z'"):
        plain_log_axis(ax, "z")


def _rows(values, peaks, params, x="depth"):
    return [
        {x: v, "peak_bytes": b, "peak_mib": b / 2**20, "parameters": p}
        for v, b, p in zip(values, peaks, params)
    ]


def test_plot_memory_sweeps_panels_and_ratio():
    sweeps = {
        "ResGNN": _rows([1, 2, 4], [2**20, 2**21, 2**22], [10, 20, 40]),
        "WT-ResGNN": _rows([1, 2, 4], [2**20, 2**21, 2**22], [10, 10, 10]),
    }
    predicted = {"ResGNN": [2**20, 2**20, 2**22], "WT-ResGNN": [2**21, 2**21, 2**22]}
    fig = plot_memory_sweeps(sweeps, predicted=predicted, xlabel="depth L", title="t")
    ax_mem, ax_par, ax_ratio = fig.axes
    assert ax_mem.get_ylabel() == "peak training memory (MiB)"
    assert fig._suptitle.get_text() == "t" and ax_ratio.get_title() == "measured / predicted"
    assert ax_par.get_ylabel() == "parameters (count)"
    assert ax_ratio.get_ylabel() == "measured / predicted memory"
    assert all(ax.get_xlabel() == "depth L" and ax.get_xscale() == "log" for ax in fig.axes)
    assert ax_mem.xaxis.get_major_formatter()(1024, 0) == "1,024"
    assert ax_mem.get_yscale() == "log" and ax_par.get_yscale() == "log"
    ratio_lines = {line.get_label(): line for line in ax_ratio.get_lines()}
    np.testing.assert_allclose(ratio_lines["ResGNN"].get_ydata(), [1, 2, 1])
    np.testing.assert_allclose(ratio_lines["WT-ResGNN"].get_ydata(), [0.5, 1, 1])
    np.testing.assert_allclose(ratio_lines["WT-ResGNN"].get_xdata(), [1.07, 2.14, 4.28])
    crosses = [line for line in ax_mem.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 3  # one per sweep, one for the legend
    np.testing.assert_allclose(crosses[0].get_ydata(), [1, 1, 4])  # MiB
    legend = [t.get_text() for t in ax_mem.get_legend().get_texts()]
    assert legend == ["ResGNN", "WT-ResGNN", "predicted"]


def test_plot_memory_sweeps_without_predictions_and_bad_input():
    sweeps = {"a": _rows([16, 32], [2**20, 2**21], [5, 9], x="width")}
    fig = plot_memory_sweeps(sweeps, x="width", parameters=False, styles={"a": {"marker": "o"}})
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "width"
    with pytest.raises(ValueError, match="sweep label"):
        plot_memory_sweeps(sweeps)
    with pytest.raises(ValueError, match=r"predicted\['a'\] needs 2 values"):
        plot_memory_sweeps(sweeps, x="width", predicted={"a": [1.0]}, styles={"a": {}})


def test_explore_points_measures_every_family():
    data, points = explore_points(16, 2, 3, depths=(1, 2, 4), num_nodes=30)
    assert (data.num_nodes, data.num_edges) == (30, 90)
    assert list(points) == list(MODELS) and all(len(p) == 3 for p in points.values())
    torch.manual_seed(0)
    assert points["ResGNN"][1] == measure_activation_bytes(build_family("ResGNN", 2, 16), data)
    assert points["ResGNN"][0] < points["ResGNN"][1] < points["ResGNN"][2]
    assert points["RevGNN"][1] == points["RevGNN"][2]  # flat in depth


def test_plot_explorer_lines_and_markers():
    ax, points = plot_explorer(16, 2, 1, depths=(1, 2), num_nodes=20, max_depth=64)
    lines = ax.get_lines()
    assert len(lines) == 2 * len(MODELS)
    predicted = [line for line in lines if line.get_linestyle() != "None"]
    assert all(list(line.get_xdata()) == [1, 2, 4, 8, 16, 32, 64] for line in predicted)
    assert ax.get_ylabel() == "peak training memory (MiB)"
    assert [line.get_color() for line in predicted] == [FAMILY_STYLE[n]["color"] for n in MODELS]


def test_memory_explorer_redraws_on_release():
    pytest.importorskip("ipywidgets")
    explorer = MemoryExplorer(
        widths=(8, 16),
        groups=(2, 4),
        degrees=(1, 2),
        initial=(8, 2, 1),
        depths=(1, 2),
        num_nodes=20,
    )
    assert [(d["width"], d["groups"], d["degree"]) for d in explorer.drawn] == [(8, 2, 1)]
    explorer.sliders["groups"].value = 4
    assert [(d["width"], d["groups"], d["degree"]) for d in explorer.drawn] == [
        (8, 2, 1),
        (8, 4, 1),
    ]
    assert explorer.drawn[1]["points"] == explore_points(8, 4, 1, (1, 2), 20)[1]
    assert explorer.sliders["width"].continuous_update is False
    with pytest.raises(ValueError, match="initial groups"):
        MemoryExplorer(initial=(32, 3, 5))
