r"""ogbn-proteins' facts: its sizes, tasks, species and the model's node-input columns.

Every number about the dataset is defined here once, in a module that imports nothing
but torch, so that models, :mod:`revgnn_edu.complexity`, the benchmarks and the tests
can use them without loading the dataset code (ogb, pandas).

* 132,534 proteins (nodes) of 8 species;
* 39,561,252 undirected associations, stored in both directions: 79,122,504 directed
  edges, each with 8 association scores in :math:`[0, 1]`;
* 112 binary protein-function labels (tasks) per node.

The paper's node input has :data:`NODE_INPUT_CHANNELS` = 16 columns: the 8 edge
features summed onto each node, then the 8-way species one-hot
(:func:`proteins_node_input`, undone by :func:`split_proteins_node_input`). The paper
trains on :data:`TRAIN_PARTS` random parts per epoch and reports test scores averaged
over :data:`TEST_VIEWS` random partitions into :data:`TEST_VIEW_PARTS` parts.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_features

__all__ = [
    "NAME",
    "NUM_NODES",
    "NUM_UNDIRECTED_EDGES",
    "NUM_EDGES",
    "NUM_TASKS",
    "NUM_EDGE_FEATURES",
    "SPECIES_TAXONOMY_IDS",
    "NUM_SPECIES",
    "NODE_INPUT_CHANNELS",
    "TRAIN_PARTS",
    "TEST_VIEWS",
    "TEST_VIEW_PARTS",
    "proteins_node_input",
    "split_proteins_node_input",
]

NAME = "ogbn-proteins"
NUM_NODES = 132_534
#: undirected associations; ogb stores each in both directions
NUM_UNDIRECTED_EDGES = 39_561_252
#: directed edges, as loaded: 79,122,504
NUM_EDGES = 2 * NUM_UNDIRECTED_EDGES
NUM_TASKS = 112
NUM_EDGE_FEATURES = 8

#: NCBI taxonomy ids of the 8 species in ogbn-proteins, in ascending order; a node's
#: species index is the position of its id here: A. thaliana (3702), S. cerevisiae
#: (4932), C. elegans (6239), D. melanogaster (7227), D. rerio (7955), H. sapiens
#: (9606), M. musculus (10090), E. coli (511145).
SPECIES_TAXONOMY_IDS = (3702, 4932, 6239, 7227, 7955, 9606, 10090, 511145)
NUM_SPECIES = len(SPECIES_TAXONOMY_IDS)
#: Columns of the model input: the aggregated edge features, then the species one-hot.
NODE_INPUT_CHANNELS = NUM_EDGE_FEATURES + NUM_SPECIES

#: random parts per training epoch (one optimizer step each)
TRAIN_PARTS = 10
#: the paper's headline test scores: predictions averaged over 10 random partitions
#: ("views") into 3 parts each
TEST_VIEWS = 10
TEST_VIEW_PARTS = 3


def proteins_node_input(data) -> Tensor:
    r"""The model input: aggregated edge features next to the species one-hot.

    .. math::
        \mathbf{x}'_i = \mathbf{x}_i \,\|\, \mathrm{onehot}(s_i)

    Args:
        data (torch_geometric.data.Data): as returned by
            :func:`~revgnn_edu.data.load_ogbn_proteins`, with ``x`` (aggregated edge
            features) and ``species`` (index in 0..7).

    Shapes:
        - **input:** ``data.x`` :math:`(N, 8)`, ``data.species`` :math:`(N)`
        - **output:** :math:`(N, 16)`
    """
    check_features(data.x, NUM_EDGE_FEATURES, "data.x")
    species = torch.nn.functional.one_hot(data.species.long(), NUM_SPECIES).to(data.x.dtype)
    return torch.cat([data.x, species], dim=-1)


def split_proteins_node_input(x: Tensor) -> tuple[Tensor, Tensor]:
    r"""The inverse of :func:`proteins_node_input`: ``(edge_features, species_onehot)``.

    Shapes:
        - **input:** :math:`(N, 16)`
        - **output:** :math:`(N, 8)` and :math:`(N, 8)`
    """
    check_features(x, NODE_INPUT_CHANNELS)
    return x[:, :NUM_EDGE_FEATURES], x[:, NUM_EDGE_FEATURES:]
