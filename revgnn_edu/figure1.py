r"""The paper's Figure 1 at CPU scale: score against peak training memory.

Figure 1 of the paper plots the test ROC-AUC on ogbn-proteins against the GPU memory of
training for ResGNN, RevGNN, WT-ResGNN, WT-RevGNN and DEQ-GNN. :func:`figure1_point`
measures one such point on a small graph (e.g. :func:`~revgnn_edu.data.multihop_data`):
it trains one model full batch and reports its test score, its exact peak training
memory (:func:`~revgnn_edu.memory.measure_peak_bytes`) and its parameter count;
:func:`figure1_table` averages the points over seeds and :func:`plot_figure1` draws them,
beside the paper's own points when given.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from .data import mean_rocauc, proteins_node_input
from .explore_families import build_family
from .memory import measure_peak_bytes
from .models import family_name

__all__ = ["PAPER_POINTS", "figure1_point", "figure1_sweep", "figure1_table", "plot_figure1"]

#: The paper's ogbn-proteins points that Figure 1 compares, as transcribed (unverified) in
#: the project's reference notes: the 112-layer comparison of the five families at 64, 80
#: and 224 channels, and the headline RevGNN-Deep (1001 x 80) and RevGNN-Wide (448 x 224).
#: ``score``: test ROC-AUC (%); ``memory_gib``: GPU memory as quoted (GiB).
PAPER_POINTS = [
    dict(family=f, label=label, score=score, memory_gib=gib)
    for f, label, score, gib in [
        ("ResGNN", "ResGNN-64", 85.94, 27.1),
        ("RevGNN", "RevGNN-64", 85.48, 2.09),
        ("RevGNN", "RevGNN-80", 85.97, 2.56),
        ("RevGNN", "RevGNN-224", 87.02, 7.30),
        ("RevGNN", "RevGNN-Deep", 87.74, 2.86),
        ("RevGNN", "RevGNN-Wide", 88.24, 7.91),
        ("WT-ResGNN", "WT-ResGNN-64", 83.30, 27.4),
        ("WT-RevGNN", "WT-RevGNN-64", 82.89, 1.60),
        ("WT-RevGNN", "WT-RevGNN-224", 85.28, 5.55),
        ("DEQ-GNN", "DEQ-GNN-64", 83.17, 2.22),
        ("DEQ-GNN", "DEQ-GNN-224", 85.84, 7.60),
    ]
]

#: where the label of a point goes (points): tied families below their untied twins
LABEL_OFFSETS = {
    "ResGNN": (6, 4),
    "RevGNN": (6, 4),
    "WT-ResGNN": (6, -12),
    "WT-RevGNN": (6, -12),
    "DEQ-GNN": (6, -12),
}

#: how each family is drawn: colour and marker
FAMILY_LOOKS = {
    "ResGNN": dict(color="C0", marker="o"),
    "RevGNN": dict(color="C1", marker="s"),
    "WT-ResGNN": dict(color="C2", marker="^"),
    "WT-RevGNN": dict(color="C3", marker="D"),
    "DEQ-GNN": dict(color="C4", marker="P"),
}


def figure1_point(
    family: str,
    depth: int,
    width: int,
    data: Data,
    split: dict,
    *,
    epochs: int = 100,
    lr: float = 0.01,
    seed: int = 0,
    num_groups: int = 2,
    **kwargs,
) -> dict:
    r"""Train one model full batch and return its Figure 1 point.

    The model reads :func:`~revgnn_edu.data.proteins_node_input` and is trained with Adam,
    binary cross-entropy over all tasks and gradient-norm clipping 1.0 (the official
    recipe, full batch). The peak memory covers building the model and its optimizer and
    the first two training steps (weights, gradients, Adam's moments, activations); the
    graph's own tensors exist before and are not counted.

    .. math::
        \text{score} = \frac{1}{T} \sum_{t=1}^{T} \mathrm{ROC\text{-}AUC}_t
        (\text{test nodes, after the last epoch})

    Args:
        family (str): one of :data:`~revgnn_edu.models.FAMILIES`, any spelling.
        depth (int): layers :math:`L` (DEQ-GNN: solver iterations).
        width (int): hidden channels :math:`D`.
        data (torch_geometric.data.Data): a proteins-shaped graph with ``x``,
            ``species``, ``edge_index``, ``edge_attr`` (8 features) and float ``y``.
        split (dict): node ids under ``"train"`` and ``"test"``.
        epochs (int, optional): full-batch training steps, at least 2. (default: :obj:`100`)
        lr (float, optional): Adam's learning rate. (default: :obj:`0.01`)
        seed (int, optional): seeds the weights. (default: :obj:`0`)
        num_groups (int, optional): groups of RevGNN and WT-RevGNN. (default: :obj:`2`)
        **kwargs: other arguments of :func:`~revgnn_edu.explore.build_family`.

    Returns:
        dict: ``family`` (canonical name), ``depth``, ``width``, ``seed``, ``params``,
        ``peak_bytes`` and ``score`` (mean test ROC-AUC).
    """
    family = family_name(family)
    if not isinstance(epochs, int) or epochs < 2:
        raise ValueError(f"epochs={epochs!r} must be an integer >= 2 (two are measured)")
    x, y, train = proteins_node_input(data), data.y, split["train"]
    held = {}

    def step(model, opt):
        opt.zero_grad(set_to_none=True)
        out = model(x, data.edge_index, data.edge_attr)
        F.binary_cross_entropy_with_logits(out[train], y[train]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def build_and_two_steps():
        torch.manual_seed(seed)
        groups = {"num_groups": num_groups} if "Rev" in family else {}
        model = build_family(
            family, depth, width, in_channels=x.size(1), out_channels=y.size(1), **groups, **kwargs
        )
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        held.update(model=model, opt=opt)
        step(model, opt)
        step(model, opt)

    peak = measure_peak_bytes(build_and_two_steps)
    model, opt = held["model"], held["opt"]
    for _ in range(epochs - 2):
        step(model, opt)
    model.eval()
    with torch.no_grad():
        out = model(x, data.edge_index, data.edge_attr)
    return dict(
        family=family,
        depth=depth,
        width=width,
        seed=seed,
        params=sum(p.numel() for p in model.parameters()),
        peak_bytes=peak,
        score=mean_rocauc(out, y, split["test"]),
    )


def figure1_sweep(
    configs: Iterable[tuple[str, int, int]],
    data: Data,
    split: dict,
    seeds: Sequence[int] = (0,),
    progress: bool = True,
    **kwargs,
) -> list[dict]:
    r"""One :func:`figure1_point` per configuration and seed, with a tqdm bar.

    Args:
        configs (iterable): ``(family, depth, width)`` triples.
        data, split: as :func:`figure1_point`.
        seeds (sequence of int, optional): the seeds of every configuration.
            (default: ``(0,)``)
        progress (bool, optional): show a progress bar. (default: :obj:`True`)
        **kwargs: other arguments of :func:`figure1_point`.

    Returns:
        list of dict: the points, configuration by configuration, seed by seed.
    """
    from tqdm.auto import tqdm

    runs = [(*c, s) for c in configs for s in seeds]
    bar = tqdm(runs, desc="Figure 1 points", disable=not progress)
    return [figure1_point(f, d, w, data, split, seed=s, **kwargs) for f, d, w, s in bar]


def figure1_table(points: Iterable[dict]) -> list[dict]:
    r"""Points averaged over seeds: one row per ``(family, depth, width)``.

    Args:
        points (iterable of dict): results of :func:`figure1_point`.

    Returns:
        list of dict: ``family``, ``depth``, ``width``, ``params``, ``peak_bytes``,
        ``score`` (mean), ``score_std`` (sample standard deviation, 0 for one seed) and
        ``seeds``, in order of first appearance. ``params`` and ``peak_bytes`` do not
        depend on the seed (a ValueError says which configuration they differ for).
    """
    groups: dict[tuple, list[dict]] = {}
    for p in points:
        groups.setdefault((p["family"], p["depth"], p["width"]), []).append(p)
    rows = []
    for (family, depth, width), runs in groups.items():
        for key in ("params", "peak_bytes"):
            if len({r[key] for r in runs}) != 1:
                raise ValueError(
                    f"{key} of {family} depth {depth} width {width} differs "
                    f"between seeds: {sorted({r[key] for r in runs})}"
                )
        scores = [r["score"] for r in runs]
        rows.append(
            dict(
                family=family,
                depth=depth,
                width=width,
                params=runs[0]["params"],
                peak_bytes=runs[0]["peak_bytes"],
                score=statistics.fmean(scores),
                score_std=statistics.stdev(scores) if len(scores) > 1 else 0.0,
                seeds=len(runs),
            )
        )
    return rows


def plot_figure1(rows: Iterable[dict], paper_points: Iterable[dict] | None = None):
    r"""Score against peak training memory, one marker per model, as in Figure 1.

    Args:
        rows (iterable of dict): rows of :func:`figure1_table` (or single points):
            ``family``, ``depth``, ``width``, ``peak_bytes``, ``score`` and optionally
            ``score_std`` (drawn as an error bar).
        paper_points (iterable of dict, optional): the paper's points, each with
            ``family``, ``label``, ``memory_gib`` and ``score`` (ROC-AUC in percent),
            drawn in a second panel. (default: :obj:`None`)

    Returns:
        matplotlib.figure.Figure: the figure (log memory axes, MiB here, GiB for the
        paper's points).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    rows, paper = list(rows), list(paper_points or [])
    panels = 2 if paper else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.4), squeeze=False)
    cpu = [
        (
            r["family"],
            r["peak_bytes"] / 2**20,
            r["score"],
            r.get("score_std", 0.0),
            f"{r['depth']}x{r['width']}",
        )
        for r in rows
    ]
    labels = ("peak training memory (MiB, measured)", "mean test ROC-AUC")
    _draw_panel(axes[0, 0], cpu, (*labels, "CPU scale (labels: layers x channels)"), capsize=3)
    if paper:
        quoted = [(p["family"], p["memory_gib"], p["score"], None, p["label"]) for p in paper]
        labels = ("GPU memory (GiB, as quoted)", "test ROC-AUC (%)")
        _draw_panel(axes[0, 1], quoted, (*labels, "the paper's points (ogbn-proteins)"))
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 20 rather than 2 x 10^1
    for ax in axes.flat:
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="minor", labelsize=7)
    fig.tight_layout()
    return fig


def _draw_panel(ax, points, labels: tuple[str, str, str], **errorbar) -> None:
    """One marker per ``(family, x, y, yerr, text)`` point, in the family's look, with
    its text beside it; each family named once in the legend; ``labels`` are the x and
    y labels and the title (log memory axis)."""
    from .plotting._axes import finish_axes

    seen = set()
    for family, x, y, yerr, text in points:
        family = family_name(family)
        ax.errorbar(
            x,
            y,
            yerr=yerr,
            linestyle="none",
            markersize=8,
            label=family if family not in seen else None,
            **errorbar,
            **FAMILY_LOOKS[family],
        )
        seen.add(family)
        ax.annotate(
            text, (x, y), textcoords="offset points", xytext=LABEL_OFFSETS[family], fontsize=8
        )
    finish_axes(ax, *labels, logx=True, legend=dict(fontsize=8, loc="best"))
