"""Datasets: Planetoid citation graphs, synthetic graphs, ogbn-proteins, partitioning."""
from .paths import ENV_VAR, data_root
from .planetoid import PLANETOID_NAMES, load_planetoid
from .synthetic import random_graph, toy_graph

__all__ = ["ENV_VAR", "data_root", "PLANETOID_NAMES", "load_planetoid",
           "random_graph", "toy_graph"]
