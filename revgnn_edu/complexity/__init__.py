"""Predicted parameters and training memory of the five model families (paper, Table 1).

The paper states the complexities in big-O form,

=========== ============================ ==================
model       activation memory            parameters
=========== ============================ ==================
ResGNN      :math:`O(LND)`               :math:`O(LD^2)`
RevGNN      :math:`O(ND)`                :math:`O(LD^2)`
WT-ResGNN   :math:`O(LND)`               :math:`O(D^2)`
WT-RevGNN   :math:`O(ND)`                :math:`O(D^2)`
DEQ-GNN     :math:`O(ND)`                :math:`O(D^2)`
=========== ============================ ==================

This module puts numbers on them for the models of this package.

* :mod:`~revgnn_edu.complexity.parameters`: :func:`predict_parameters` is **exact**: it
  adds up the weights of the encoders, the blocks and the head;
  :func:`count_parameters` counts them on a model.
* :mod:`~revgnn_edu.complexity.activations`: :func:`predict_activation_bytes` is an
  **estimate** of the peak tensor memory of one training step, as
  :func:`measure_activation_bytes` measures it; where each of its constants comes from
  is listed there.

Held-out checks, on shapes no fit saw, are in ``tests/test_complexity.py`` (other node
counts, widths and edge feature sizes, every solver) and notebook 07 (width 128, and a
graph with about 50 edges per node without edge features).

All counts are numbers of elements; times ``dtype_bytes`` (4 for float32) gives bytes.
"""

from __future__ import annotations

from ..models.families import FAMILIES
from .activations import activation_sweep, measure_activation_bytes, predict_activation_bytes
from .parameters import (
    block_parameters,
    count_parameters,
    predict_parameters,
    predict_preset_parameters,
)

__all__ = [
    "MODELS",
    "COMPLEXITY",
    "count_parameters",
    "block_parameters",
    "predict_parameters",
    "predict_preset_parameters",
    "predict_activation_bytes",
    "measure_activation_bytes",
    "activation_sweep",
]


#: The five model families, in the order of the paper's Table 1 (names defined once,
#: on the classes: see :mod:`revgnn_edu.models.families`).
MODELS = tuple(FAMILIES)

#: The paper's Table 1: model -> (activation memory, parameters), in big-O notation.
COMPLEXITY = {name: cls.complexity for name, cls in FAMILIES.items()}
