"""Datasets: Planetoid citation graphs, synthetic graphs, ogbn-proteins, partitioning.

Every name below is imported from its module on first use (PEP 562), so that
``import revgnn_edu.data`` and the modules that only need a fact such as
:data:`NUM_TASKS` load neither ogb nor pandas.
"""

from __future__ import annotations

import importlib

#: public name -> the module of this package that defines it
_EXPORTS = {
    "ENV_VAR": "paths",
    "data_root": "paths",
    "PLANETOID_NAMES": "planetoid",
    "load_planetoid": "planetoid",
    "random_graph": "synthetic",
    "toy_graph": "synthetic",
    "k_hop_transfer": "synthetic",
    "NUM_EDGE_FEATURES": "ogbn_proteins_facts",
    "NUM_SPECIES": "ogbn_proteins_facts",
    "NUM_TASKS": "ogbn_proteins_facts",
    "NODE_INPUT_CHANNELS": "ogbn_proteins_facts",
    "SPECIES_TAXONOMY_IDS": "ogbn_proteins_facts",
    "proteins_node_input": "ogbn_proteins_facts",
    "split_proteins_node_input": "ogbn_proteins_facts",
    "aggregate_edge_features": "ogbn_proteins",
    "load_ogbn_proteins": "ogbn_proteins",
    "mean_rocauc": "ogbn_proteins",
    "ogb_safe_load": "ogbn_proteins",
    "species_to_index": "ogbn_proteins",
    "make_fake_ogbn_proteins": "fake_ogbn_proteins",
    "RandomPartitionLoader": "partition",
    "Subgraph": "partition",
    "induced_subgraphs": "partition",
    "multi_view_predict": "partition",
    "random_partition": "partition",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
