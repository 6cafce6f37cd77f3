"""The drawing helpers of revgnn_edu.plotting: what each figure holds (no image comparison)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from revgnn_edu.memory import TimelineEvent, mark_phase, measure_timeline  # noqa: E402
from revgnn_edu.plotting import draw_coupling, plot_memory_timeline  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _boxes_and_arrows(ax):
    boxes = [t for t in ax.texts if not isinstance(t, Annotation)]
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    return boxes, arrows


# -- draw_coupling ------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [2, 3, 5])
@pytest.mark.parametrize("inverse", [False, True])
def test_draw_coupling_has_one_box_per_group_input_output_block_and_operator(groups, inverse):
    ax = draw_coupling(groups=groups, inverse=inverse)
    boxes, arrows = _boxes_and_arrows(ax)
    labels = [t.get_text() for t in boxes]
    op = "\N{MINUS SIGN}" if inverse else "+"
    expected = ["\N{GREEK CAPITAL LETTER SIGMA}"]
    for i in range(1, groups + 1):
        expected += [f"$X_{{{i}}}$", f"$X'_{{{i}}}$", f"$f_{{{i}}}$", op]
    assert labels == expected
    # per group: into f_i, f_i into the operator, two through the operator; the gray
    # arrows of X_2, ..., X_C into the sum
    assert len(arrows) == 5 * groups - 1
    gray = [a for a in arrows if a.arrow_patch.get_edgecolor()[:3] != (0.0, 0.0, 0.0)]
    assert len(gray) == groups - 1
    assert ax.get_title().startswith("inverse" if inverse else "forward")


def test_draw_coupling_arrows_follow_the_direction_of_the_pass():
    """Forward: X_i flows down into the operator and on to X'_i; inverse: X'_i flows up."""
    top_y, bottom_y = 2.2, -0.2
    for inverse in (False, True):
        _, arrows = _boxes_and_arrows(draw_coupling(groups=2, inverse=inverse))
        vertical = [a for a in arrows if a.xyann[0] == a.xy[0] and a.xy[0] in (2, 4)]
        # forward: from the top to the chain, then from the chain to the bottom
        starts = sorted(a.xyann[1] for a in vertical)
        ends = sorted(a.xy[1] for a in vertical)
        if inverse:
            assert starts == [bottom_y, bottom_y, 1.0, 1.0] and ends == [1.0, 1.0, top_y, top_y]
        else:
            assert starts == [1.0, 1.0, top_y, top_y] and ends == [bottom_y, bottom_y, 1.0, 1.0]


def test_draw_coupling_draws_into_a_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert draw_coupling(ax=axes[1]) is axes[1]
    assert len(axes[0].texts) == 0 and len(axes[1].texts) > 0


@pytest.mark.parametrize("groups", [1, 0, 2.5, True])
def test_draw_coupling_refuses_fewer_than_two_groups(groups):
    with pytest.raises(ValueError, match=f"groups must be an integer >= 2, got {groups!r}"):
        draw_coupling(groups=groups)


# -- plot_memory_timeline -----------------------------------------------------------------
def _events(*rows):
    return [TimelineEvent(i, b, p) for i, (b, p) in enumerate(rows)]


def test_memory_timeline_one_panel_per_model_with_its_bytes_phases_and_peak():
    a = _events(
        (0, ""), (0, "forward"), (2**20, "forward"), (3 * 2**20, "backward"), (0, "backward")
    )
    b = _events((0, ""), (0, "forward"), (2**19, "forward"), (2**19, "optimizer"))
    fig = plot_memory_timeline({"model A": a, "model B": b}, title="one step")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["model A", "model B"]
    assert fig.get_suptitle() == "one step"
    assert axes[0].get_ylabel() == "live tensor memory (MiB)"
    for ax, events in zip(axes, (a, b)):
        (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() != ":"]  # the step line
        assert list(line.get_xdata()) == [e.index for e in events]
        assert list(line.get_ydata()) == [e.live_bytes / 2**20 for e in events]
        assert ax.get_xlabel().startswith("memory events")
    # one shaded span per run of a phase, named in the panel
    spans = [[p for p in ax.patches if isinstance(p, (Polygon, Rectangle))] for ax in axes]
    assert [len(s) for s in spans] == [2, 2]
    names = [[t.get_text() for t in ax.texts if not isinstance(t, Annotation)] for ax in axes]
    assert names == [["forward", "backward"], ["forward", "optimizer"]]
    # the same phase has the same colour in every panel
    assert spans[0][0].get_facecolor() == spans[1][0].get_facecolor()
    assert spans[0][1].get_facecolor() != spans[1][1].get_facecolor()
    peaks = [[t.get_text() for t in ax.texts if isinstance(t, Annotation)] for ax in axes]
    assert peaks == [["peak 3.00 MiB"], ["peak 0.50 MiB"]]


def test_memory_timeline_of_a_measured_step():
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(16, 8)

    def step():
        mark_phase("forward")
        loss = lin(x).relu().sum()
        mark_phase("backward")
        loss.backward()

    events = measure_timeline(step)
    fig = plot_memory_timeline({"linear": events}, unit="KiB")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "live tensor memory (KiB)"
    peak = max(e.live_bytes for e in events)
    assert [t.get_text() for t in ax.texts if isinstance(t, Annotation)] == [
        f"peak {peak / 1024:.2f} KiB"
    ]


def test_memory_timeline_refuses_bad_input():
    with pytest.raises(ValueError, match="unit must be one of"):
        plot_memory_timeline({"a": _events((0, ""))}, unit="MB")
    with pytest.raises(ValueError, match="timelines is empty"):
        plot_memory_timeline({})
    with pytest.raises(ValueError, match="the timeline of 'a' has no events"):
        plot_memory_timeline({"a": []})
