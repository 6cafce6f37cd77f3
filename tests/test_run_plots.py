"""revgnn_edu.run_plots: what each figure holds (no image comparison)."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from revgnn_edu.planning import Plan, memory_breakdown  # noqa: E402
from revgnn_edu.run_plots import (  # noqa: E402
    MEMORY_PARTS,
    PAPER_GPU_GIB,
    PAPER_TEST_ROCAUC,
    plot_memory_breakdown,
    plot_progress,
    plot_resumed_against_uninterrupted,
)
from revgnn_edu.train import read_progress  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _rows(n):
    rows = []
    for e in range(1, n + 1):
        row = {"epoch": e, "loss": 1.0 / e, "epoch_seconds": 1.0}
        if e % 2 == 0:
            row.update(valid_rocauc=0.5 + e / 100, test_rocauc=0.5 + e / 200)
        rows.append(row)
    return rows


def test_paper_milestones_are_the_reference_numbers():
    assert PAPER_TEST_ROCAUC["revgnn-deep"] == {
        "1 view x 5 parts": 87.06,
        "10 views x 3 parts": 87.74,
    }
    assert PAPER_TEST_ROCAUC["revgnn-wide"]["10 views x 3 parts"] == 88.24


def test_plot_progress_draws_scores_milestones_and_the_epoch_range(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(6)))
    ax = plot_progress(read_progress(tmp_path, epochs=2000), stand_in=True)
    lines = {line.get_label(): line for line in ax.get_lines()}
    valid = lines["this run, validation"]
    assert list(valid.get_xdata()) == [2, 4, 6]
    assert list(valid.get_ydata()) == pytest.approx([52.0, 54.0, 56.0])  # percent
    assert lines["paper, test, 1 view x 5 parts: 87.06"].get_ydata()[0] == 87.06
    assert lines["paper, test, 10 views x 3 parts: 87.74"].get_ydata()[0] == 87.74
    assert ax.get_xlim() == (0, 2000)
    assert "epoch 6 of 2000, stopped" in ax.get_title() and "not comparable" in ax.get_title()
    assert ax.get_xlabel() == "epoch" and "%" in ax.get_ylabel()
    ax = plot_progress(read_progress(tmp_path), preset="resgnn-112-64")
    assert not [line for line in ax.get_lines() if line.get_label().startswith("paper")]


def test_plot_resumed_against_uninterrupted_draws_both_runs_and_the_stop():
    rows = _rows(6)
    loss_ax, valid_ax = plot_resumed_against_uninterrupted(rows, rows, stopped_after=3)
    for ax, n in ((loss_ax, 6), (valid_ax, 3)):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert len(lines["uninterrupted"].get_xdata()) == n
        assert lines["stopped and resumed"].get_marker() == "x"
        assert lines["stopped and resumed"].get_linestyle() == "None"
        assert lines["stopped, then resumed"].get_xdata()[0] == 3.5
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
    assert list(lines["uninterrupted"].get_ydata()) == pytest.approx([52.0, 54.0, 56.0])


def test_plot_memory_breakdown_stacks_the_parts_in_gib_with_the_paper_marked():
    assert PAPER_GPU_GIB == {"revgnn-deep": 2.86, "revgnn-wide": 7.91}
    gib = 2**30
    deep = Plan(
        "revgnn-deep", "cpu", 2000, memory_breakdown(gib, gib / 2, gib / 4, gib / 8), 1.0, 2.0
    )
    wide = Plan("revgnn-wide", "cpu", 2000, memory_breakdown(2 * gib, gib, gib / 8, gib), 1.0, 2.0)
    ax = plot_memory_breakdown([deep, wide])
    bars = ax.patches
    assert len(bars) == 2 * len(MEMORY_PARTS)
    # per part, one bar per preset: parameters + gradients, Adam, data, working set
    heights = [round(b.get_height(), 6) for b in bars]
    assert heights == [2.0, 4.0, 2.0, 4.0, 0.5, 1.0, 0.25, 1.0]
    tops = [b.get_y() + b.get_height() for b in bars[-2:]]
    assert tops == pytest.approx([deep.memory_gib, wide.memory_gib])
    labels = [c.get_label() for c in ax.containers]
    assert labels == [label for label, _ in MEMORY_PARTS]
    paper = [line for line in ax.get_lines() if line.get_label() == "paper, one V100"][0]
    assert list(paper.get_ydata()) == [2.86, 7.91]
    assert "GiB" in ax.get_ylabel() and ax.get_xlabel() == "preset"
