import warnings

import matplotlib
import pytest

from revgnn_edu.complexity import predict_parameters
from revgnn_edu.data.multihop import multihop_data
from revgnn_edu.figure1 import figure1_point, figure1_sweep, figure1_table, plot_figure1
from revgnn_edu.models import FAMILIES
from revgnn_edu.solvers import ConvergenceWarning

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def graph():
    return multihop_data(200, 600, seed=0, module_size=3, hops=3)


def point(graph, family, depth=2, width=8, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return figure1_point(family, depth, width, *graph, epochs=2, **kwargs)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_point_params_are_exact_and_memory_covers_the_optimizer(graph, family):
    data, _ = graph
    p = point(graph, family.lower())  # any spelling
    assert p["family"] == family and (p["depth"], p["width"], p["seed"]) == (2, 8, 0)
    assert p["params"] == predict_parameters(family, 16, 8, 112, 2, edge_dim=8)
    # weights, gradients and Adam's two moments are float32 and live at the peak
    assert p["peak_bytes"] >= 4 * 4 * p["params"]
    assert 0.0 <= p["score"] <= 1.0


def test_peak_is_the_meter_on_the_first_two_steps(graph):
    # the meter covers building and two steps only: seed and epochs do not change it
    a = point(graph, "ResGNN", seed=0)
    b = figure1_point("ResGNN", 2, 8, *graph, epochs=3, seed=1)
    assert a["peak_bytes"] == b["peak_bytes"] and a["params"] == b["params"]
    assert point(graph, "ResGNN", depth=4)["peak_bytes"] > a["peak_bytes"]


def test_reversible_peak_does_not_grow_with_depth_like_the_residual(graph):
    res = [point(graph, "ResGNN", depth=d)["peak_bytes"] for d in (2, 6)]
    rev = [point(graph, "RevGNN", depth=d)["peak_bytes"] for d in (2, 6)]
    assert rev[1] - rev[0] < (res[1] - res[0]) / 2
    assert rev[1] < res[1]


def test_same_seed_same_score(graph):
    assert point(graph, "RevGNN")["score"] == point(graph, "RevGNN")["score"]


def test_bad_arguments_are_named(graph):
    with pytest.raises(ValueError, match="GCNII"):
        figure1_point("GCNII", 2, 8, *graph, epochs=2)
    with pytest.raises(ValueError, match="epochs=1"):
        figure1_point("ResGNN", 2, 8, *graph, epochs=1)


def test_sweep_and_table(graph):
    points = figure1_sweep(
        [("ResGNN", 1, 8), ("WT-RevGNN", 2, 8)], *graph, seeds=(0, 1), progress=False, epochs=2
    )
    assert [(p["family"], p["seed"]) for p in points] == [
        ("ResGNN", 0),
        ("ResGNN", 1),
        ("WT-RevGNN", 0),
        ("WT-RevGNN", 1),
    ]
    rows = figure1_table(points)
    assert [(r["family"], r["depth"], r["seeds"]) for r in rows] == [
        ("ResGNN", 1, 2),
        ("WT-RevGNN", 2, 2),
    ]
    scores = [p["score"] for p in points[:2]]
    assert rows[0]["score"] == pytest.approx(sum(scores) / 2)
    assert rows[0]["score_std"] == pytest.approx(abs(scores[0] - scores[1]) / 2**0.5)
    assert rows[1]["params"] == points[2]["params"]


def test_table_refuses_points_whose_memory_differs_between_seeds():
    a = dict(family="ResGNN", depth=1, width=8, params=10, peak_bytes=100, score=0.5)
    with pytest.raises(ValueError, match="peak_bytes of ResGNN depth 1 width 8"):
        figure1_table([a, {**a, "peak_bytes": 101}])
    assert figure1_table([a])[0]["score_std"] == 0.0


def test_plot_has_a_panel_for_the_paper():
    rows = [
        dict(family="ResGNN", depth=4, width=32, peak_bytes=2**21, score=0.7, score_std=0.01),
        dict(family="RevGNN", depth=4, width=32, peak_bytes=2**20, score=0.69),
    ]
    paper = [dict(family="RevGNN", label="RevGNN-64", memory_gib=2.09, score=85.48)]
    fig = plot_figure1(rows, paper)
    left, right = fig.axes
    assert left.get_xscale() == "log" and "MiB" in left.get_xlabel()
    assert "GiB" in right.get_xlabel() and "paper" in right.get_title()
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["ResGNN", "RevGNN"]
    assert len(plot_figure1(rows).axes) == 1
    matplotlib.pyplot.close("all")


def test_paper_points_name_known_families_and_quote_gib():
    from revgnn_edu.figure1 import PAPER_POINTS

    assert {p["family"] for p in PAPER_POINTS} == set(FAMILIES)
    deep = next(p for p in PAPER_POINTS if p["label"] == "RevGNN-Deep")
    assert (deep["score"], deep["memory_gib"]) == (87.74, 2.86)
