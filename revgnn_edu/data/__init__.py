"""Datasets: Planetoid citation graphs, synthetic graphs, ogbn-proteins, partitioning."""
from .ogbn_proteins import (NUM_SPECIES, NUM_TASKS, SPECIES_TAXONOMY_IDS,
                            aggregate_edge_features, load_ogbn_proteins,
                            make_fake_ogbn_proteins, mean_rocauc, ogb_safe_load,
                            species_to_index)
from .partition import (RandomPartitionLoader, Subgraph, induced_subgraphs,
                        multi_view_predict, random_partition)
from .paths import ENV_VAR, data_root
from .planetoid import PLANETOID_NAMES, load_planetoid
from .synthetic import random_graph, toy_graph

__all__ = ["ENV_VAR", "data_root", "PLANETOID_NAMES", "load_planetoid",
           "random_graph", "toy_graph",
           "NUM_SPECIES", "NUM_TASKS", "SPECIES_TAXONOMY_IDS", "aggregate_edge_features",
           "load_ogbn_proteins", "make_fake_ogbn_proteins", "mean_rocauc", "ogb_safe_load",
           "species_to_index",
           "RandomPartitionLoader", "Subgraph", "induced_subgraphs", "multi_view_predict",
           "random_partition"]
