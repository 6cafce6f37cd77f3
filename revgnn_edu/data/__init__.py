"""Datasets: Planetoid citation graphs, synthetic graphs, ogbn-proteins, partitioning."""

from .fake_ogbn_proteins import make_fake_ogbn_proteins
from .ogbn_proteins import (
    NODE_INPUT_CHANNELS,
    NUM_EDGE_FEATURES,
    NUM_SPECIES,
    NUM_TASKS,
    SPECIES_TAXONOMY_IDS,
    aggregate_edge_features,
    load_ogbn_proteins,
    mean_rocauc,
    ogb_safe_load,
    proteins_node_input,
    species_to_index,
    split_proteins_node_input,
)
from .partition import (
    RandomPartitionLoader,
    Subgraph,
    induced_subgraphs,
    multi_view_predict,
    random_partition,
)
from .paths import ENV_VAR, data_root
from .planetoid import PLANETOID_NAMES, load_planetoid
from .synthetic import random_graph, toy_graph

__all__ = [
    "ENV_VAR",
    "data_root",
    "PLANETOID_NAMES",
    "load_planetoid",
    "random_graph",
    "toy_graph",
    "NUM_EDGE_FEATURES",
    "NUM_SPECIES",
    "NUM_TASKS",
    "NODE_INPUT_CHANNELS",
    "SPECIES_TAXONOMY_IDS",
    "aggregate_edge_features",
    "load_ogbn_proteins",
    "make_fake_ogbn_proteins",
    "mean_rocauc",
    "ogb_safe_load",
    "proteins_node_input",
    "species_to_index",
    "split_proteins_node_input",
    "RandomPartitionLoader",
    "Subgraph",
    "induced_subgraphs",
    "multi_view_predict",
    "random_partition",
]
