"""Small matplotlib helpers shared by the notebooks and the benchmarks, by job:

- :mod:`~revgnn_edu.plotting.sweeps`: sweeps, training curves, the ratio of two sweeps;
- :mod:`~revgnn_edu.plotting.diagrams`: the grouped coupling, small directed graphs;
- :mod:`~revgnn_edu.plotting.memory`: memory over a training step, memory against a budget;
- :mod:`~revgnn_edu.plotting.deq`: fixed-point residuals, errors, runs over seeds;
- :mod:`~revgnn_edu.plotting.layers`: per-layer quantities, accuracy against receptive field.
"""

from .deq import plot_error_against_residual, plot_residuals, plot_runs
from .diagrams import draw_coupling, draw_directed_graph
from .layers import plot_accuracy_against_receptive_field, plot_per_layer
from .memory import plot_memory_budget, plot_memory_timeline
from .sweeps import plot_curves, plot_sweep, plot_sweep_with_ratio, save_metrics_plot

__all__ = [
    "plot_sweep",
    "plot_curves",
    "save_metrics_plot",
    "draw_coupling",
    "plot_memory_timeline",
    "plot_sweep_with_ratio",
    "plot_residuals",
    "plot_error_against_residual",
    "plot_runs",
    "draw_directed_graph",
    "plot_per_layer",
    "plot_accuracy_against_receptive_field",
    "plot_memory_budget",
]
