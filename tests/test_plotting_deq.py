"""The figures of notebooks 05 (weight tying) and 06 (deep equilibrium GNNs)."""

import matplotlib
import pytest

from revgnn_edu.plotting import (
    plot_error_against_residual,
    plot_residuals,
    plot_runs,
    plot_sweep_with_ratio,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _sweep(scale):
    return [{"depth": d, "peak_mib": scale * d} for d in (1, 2, 4)]


def test_sweep_with_ratio_draws_every_series_and_each_ratio():
    series = {"tied": _sweep(2.0), "untied": _sweep(2.0), "flat": _sweep(1.0)}
    ax, ax_ratio = plot_sweep_with_ratio(
        series, {"tied / untied": ("tied", "untied")}, x="depth", title="t", xlabel="depth L"
    )
    assert [line.get_label() for line in ax.lines] == ["tied", "untied", "flat"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_title() == "t" and ax_ratio.get_xlabel() == "depth L"
    # the reference of a pair is dashed with hollow markers, so it shows under its twin
    assert ax.lines[1].get_linestyle() == "--" and ax.lines[1].get_markerfacecolor() == "none"
    assert ax.lines[0].get_linestyle() == "-"
    ratio = ax_ratio.lines[0]
    assert list(ratio.get_xdata()) == [1, 2, 4] and list(ratio.get_ydata()) == [1.0, 1.0, 1.0]


def test_sweep_with_ratio_divides_the_first_by_the_second():
    series = {"a": _sweep(3.0), "b": _sweep(1.5)}
    _, ax_ratio = plot_sweep_with_ratio(series, {"a / b": ("a", "b")}, x="depth", logy=False)
    assert list(ax_ratio.lines[0].get_ydata()) == [2.0, 2.0, 2.0]
    assert ax_ratio.get_ylim()[0] < 1.0 < 2.0 < ax_ratio.get_ylim()[1]  # 1 stays in view


def test_sweep_with_ratio_does_not_magnify_rounding_noise():
    nearly = [{"depth": d, "peak_mib": 2.0 * d * 1.001} for d in (1, 2, 4)]
    _, ax_ratio = plot_sweep_with_ratio(
        {"a": nearly, "b": _sweep(2.0)}, {"a / b": ("a", "b")}, x="depth"
    )
    low, high = ax_ratio.get_ylim()
    assert low <= 0.95 and high >= 1.05  # a 0.1 % difference stays a flat line at 1


def test_sweep_with_ratio_names_what_is_wrong():
    with pytest.raises(ValueError, match="'c', which is not a series"):
        plot_sweep_with_ratio({"a": _sweep(1.0)}, {"a / c": ("a", "c")}, x="depth")
    other = [{"depth": d, "peak_mib": 1.0} for d in (1, 2, 8)]
    with pytest.raises(ValueError, match="different 'depth' values"):
        plot_sweep_with_ratio({"a": _sweep(1.0), "b": other}, {"r": ("a", "b")}, x="depth")
    with pytest.raises(ValueError, match="no key 'width'"):
        plot_sweep_with_ratio({"a": _sweep(1.0)}, {}, x="width")
    with pytest.raises(ValueError, match="series is empty"):
        plot_sweep_with_ratio({}, {}, x="depth")


def test_residuals_one_color_per_label_one_line_per_solve():
    ax = plot_residuals(
        {"one solve": [1.0, 0.1, 0.01], "two solves": [[1.0, 0.5], [1.0, 0.2, 0.05, 0.01]]},
        tol=1e-2,
        title="t",
    )
    solves = ax.lines[:3]
    assert [list(line.get_xdata()) for line in solves] == [[1, 2, 3], [1, 2], [1, 2, 3, 4]]
    assert solves[1].get_color() == solves[2].get_color() != solves[0].get_color()
    assert list(ax.lines[3].get_ydata()) == [1e-2, 1e-2]  # the tolerance
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "evaluations of f"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["one solve", "two solves", "tol"]


def test_residuals_refuse_an_empty_solve():
    with pytest.raises(ValueError, match="'a': give a non-empty list"):
        plot_residuals({"a": []})
    with pytest.raises(ValueError, match="'a': give a non-empty list"):
        plot_residuals({"a": [[1.0], []]})


def test_error_against_residual_is_log_log_with_the_identity():
    ax = plot_error_against_residual({"forward": ([1e-1, 1e-3], [2e-1, 3e-3])})
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    points, identity = ax.lines
    assert list(points.get_xdata()) == [1e-1, 1e-3] and points.get_linestyle() == "None"
    assert list(identity.get_xdata()) == list(identity.get_ydata()) == [1e-3, 2e-1]


def test_error_against_residual_names_what_is_wrong():
    with pytest.raises(ValueError, match="of one length, got 2 and 1"):
        plot_error_against_residual({"f": ([1e-1, 1e-2], [1e-1])})
    with pytest.raises(ValueError, match="must be > 0 on log axes"):
        plot_error_against_residual({"f": ([1e-1, 0.0], [1e-1, 1e-2])})


def test_runs_one_color_per_label_one_legend_entry_each():
    history = [{"epoch": e, "loss": 1.0 / (e + 1)} for e in range(3)]
    ax = plot_runs({"a": [history, history], "b": [history]}, x="epoch", y="loss", logy=True)
    assert len(ax.lines) == 3
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "loss"
    with pytest.raises(ValueError, match="non-empty list of histories"):
        plot_runs({"a": []}, x="epoch", y="loss")
    with pytest.raises(ValueError, match="no key 'cost'"):
        plot_runs({"a": [history]}, x="cost", y="loss")
