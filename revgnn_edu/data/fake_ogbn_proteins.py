r"""A small ogbn-proteins look-alike written in ogb's own raw file format.

:func:`make_fake_ogbn_proteins` writes the files ogb downloads, so that
:func:`~revgnn_edu.data.load_ogbn_proteins` and ogb's ``PygNodePropPredDataset`` read it
like the real dataset, without a network. Tests, notebooks and the trainer's examples use
it as a stand-in.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import scatter

from .ogbn_proteins import (
    _FAKE_MARKER,
    _RELEASE_FILE,
    NUM_EDGE_FEATURES,
    NUM_SPECIES,
    NUM_TASKS,
    SPECIES_TAXONOMY_IDS,
    aggregate_edge_features,
)

__all__ = ["make_fake_ogbn_proteins"]


# Species of the fake split: whole species are held out, as in the real split (about
# 65% / 16% / 19% of the nodes). This choice is ours, not a claim about the real split.
_FAKE_VALID_SPECIES = (7955,)
_FAKE_TEST_SPECIES = (10090,)
# Chance that an edge carries each of the 8 association types.
_FAKE_FEATURE_RATE = (0.10, 0.05, 0.02, 0.05, 0.40, 0.20, 0.10, 0.60)


def _write_csv_gz(path: Path, values, decimals: int = 0) -> None:
    """Write a 2-D array of non-negative numbers as ogb's headerless CSV, gzipped.

    Each number is written fixed-width by numpy (integers zero-padded, which ogb's
    ``read_csv`` parses as the same integers; floats with ``decimals`` places), a block
    of rows at a time: a Python string per value (pandas' ``to_csv``) takes about 18
    CPU-minutes for the 316M edge features of a full-size dataset."""
    arr = values.numpy() if isinstance(values, Tensor) else np.asarray(values)
    arr = arr.reshape(arr.shape[0], -1)
    if decimals:  # 0.123 -> 123, written as 0.123
        arr = np.rint(arr.astype(np.float64) * 10**decimals)
    ints = arr.astype(np.int64)
    if not np.array_equal(ints, arr):
        raise ValueError(f"{path.name}: non-integer values need decimals > 0")
    if ints.size and ints.min() < 0:
        raise ValueError(
            f"{path.name}: only non-negative numbers are written, got {int(ints.min())}"
        )
    width = max(len(str(int(ints.max()))) if ints.size else 1, decimals + 1)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    # mtime=0 keeps the gzip bytes identical for identical content
    with gzip.GzipFile(filename=path, mode="wb", compresslevel=1, mtime=0) as f:
        for start in range(0, ints.shape[0], 1 << 18):
            block = ints[start : start + (1 << 18)]
            chars = (block[..., None] // powers) % 10 + ord("0")  # (rows, cols, width)
            if decimals:
                point = np.full(block.shape + (1,), ord("."))
                chars = np.concatenate(
                    [chars[..., : width - decimals], point, chars[..., width - decimals :]], axis=-1
                )
            sep = np.full(block.shape + (1,), ord(","))
            sep[:, -1] = ord("\n")
            f.write(np.concatenate([chars, sep], axis=-1).astype(np.uint8).tobytes())


def _species_counts(num_nodes: int) -> Tensor:
    share = torch.full((NUM_SPECIES,), 0.65 / (NUM_SPECIES - 2))
    for ids, fraction in ((_FAKE_VALID_SPECIES, 0.16), (_FAKE_TEST_SPECIES, 0.19)):
        for taxid in ids:
            share[SPECIES_TAXONOMY_IDS.index(taxid)] = fraction / len(ids)
    counts = (share * num_nodes).floor().long().clamp(min=2)
    counts[0] += num_nodes - int(counts.sum())  # the first species absorbs the rounding
    return counts


def _sample_intra_species_edges(
    species: Tensor, num_edges: int, generator: torch.Generator
) -> Tensor:
    """Distinct undirected pairs (u < v) of nodes of the same species, sorted."""
    num_nodes = species.numel()
    order = torch.argsort(species, stable=True)  # node ids grouped by species
    counts = torch.bincount(species, minlength=NUM_SPECIES)
    start = torch.cumsum(counts, 0) - counts
    pairs = counts * (counts - 1) // 2
    if num_edges > int(pairs.sum()):
        raise ValueError(
            f"num_edges={num_edges} exceeds the {int(pairs.sum())} distinct pairs of "
            f"same-species nodes among num_nodes={num_nodes}"
        )
    keys = torch.empty(0, dtype=torch.long)
    while keys.numel() < num_edges:
        batch = 2 * (num_edges - keys.numel()) + 64
        # Species of each candidate pair, chosen in proportion to its number of pairs.
        s = torch.multinomial(pairs.double(), batch, replacement=True, generator=generator)
        a = (torch.rand(batch, generator=generator, dtype=torch.float64) * counts[s]).long()
        b = (torch.rand(batch, generator=generator, dtype=torch.float64) * counts[s]).long()
        u, v = order[start[s] + a], order[start[s] + b]
        ok = u != v
        u, v = u[ok], v[ok]
        new_keys = torch.minimum(u, v) * num_nodes + torch.maximum(u, v)  # pair -> one int
        keys = torch.unique(torch.cat([keys, new_keys]))
    if keys.numel() > num_edges:
        keep = torch.randperm(keys.numel(), generator=generator)[:num_edges]
        keys = torch.sort(keys[keep]).values
    return torch.stack([keys // num_nodes, keys % num_nodes], dim=1)


def _fake_labels(
    edges: Tensor, edge_attr: Tensor, species: Tensor, generator: torch.Generator
) -> Tensor:
    """0/1 labels: thresholds of random linear functions of graph features."""
    num_nodes = species.numel()
    edge_index = torch.cat([edges.t(), edges.t().flip(0)], dim=1)  # both directions
    attr = torch.cat([edge_attr, edge_attr], dim=0)
    x = aggregate_edge_features(edge_index, attr, num_nodes, "add")
    x_neigh = scatter(x[edge_index[1]], edge_index[0], dim=0, dim_size=num_nodes, reduce="mean")
    feats = torch.cat([x, x_neigh], dim=1)
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    onehot = torch.nn.functional.one_hot(species, NUM_SPECIES).float()
    w = torch.randn(feats.size(1), NUM_TASKS, generator=generator)
    v = torch.randn(NUM_SPECIES, NUM_TASKS, generator=generator)
    noise = torch.randn(num_nodes, NUM_TASKS, generator=generator)
    score = feats @ w / feats.size(1) ** 0.5 + 0.3 * onehot @ v + 0.2 * noise
    # Each task gets its own positive rate between 5% and 50%.
    rate = 0.05 + 0.45 * torch.rand(NUM_TASKS, generator=generator)
    threshold = torch.quantile(score, 1 - rate, dim=0).diagonal()  # task t at its own rate
    return (score > threshold).long()


def make_fake_ogbn_proteins(
    root: str | os.PathLike,
    num_nodes: int = 300,
    num_edges: int = 3000,
    seed: int = 0,
) -> Path:
    r"""Writes a small random ogbn-proteins look-alike in ogb's own raw file format.

    The files are those ogb downloads (``raw/edge.csv.gz``, ``raw/edge-feat.csv.gz``,
    ``raw/node_species.csv.gz``, ``raw/num-node-list.csv.gz``,
    ``raw/num-edge-list.csv.gz``, ``raw/node-label.csv.gz``,
    ``split/species/{train,valid,test}.csv.gz`` and ``RELEASE_v1.txt``), so
    :func:`load_ogbn_proteins` and :class:`~ogb.nodeproppred.PygNodePropPredDataset` read
    it like the real one. Like the real graph, nodes carry the 8 real taxonomy ids, edges
    only join proteins of the same species, edge features are sparse scores in
    :math:`[0, 1]`, and the split holds out whole species. Each of the 112 labels
    thresholds a random linear function of a node's summed edge features, its
    neighbours' mean of those, and its species, so a GNN can learn them. The same seed
    writes byte-identical files.

    Args:
        root (str or Path): Folder to write ``ogbn_proteins/`` into. A previous fake there
            is replaced; a folder that is not a fake is never touched.
        num_nodes (int, optional): Number of proteins, at least 16. (default: :obj:`300`)
        num_edges (int, optional): Number of undirected edges; the loaded graph has twice
            as many directed edges. (default: :obj:`3000`)
        seed (int, optional): Random seed. (default: :obj:`0`)

    Returns:
        ``root`` as a :class:`~pathlib.Path`, to pass to :func:`load_ogbn_proteins`.
    """
    if num_nodes < 2 * NUM_SPECIES:
        raise ValueError(f"num_nodes must be at least {2 * NUM_SPECIES}, got {num_nodes}")
    if num_edges < 1:
        raise ValueError(f"num_edges must be at least 1, got {num_edges}")
    root = Path(root).expanduser()
    dataset_dir = root / "ogbn_proteins"
    if dataset_dir.exists():
        if not (dataset_dir / _FAKE_MARKER).exists():
            raise FileExistsError(
                f"{dataset_dir} exists and is not a fake written by make_fake_ogbn_proteins; "
                f"refusing to overwrite it (choose another root)"
            )
        shutil.rmtree(dataset_dir)
    generator = torch.Generator().manual_seed(seed)

    # Species: the real taxonomy ids in fixed proportions, shuffled over node ids.
    taxids = torch.tensor(SPECIES_TAXONOMY_IDS)
    species = torch.repeat_interleave(torch.arange(NUM_SPECIES), _species_counts(num_nodes))
    species = species[torch.randperm(num_nodes, generator=generator)]

    # Edges within species, each with sparse association scores rounded like the real ones.
    edges = _sample_intra_species_edges(species, num_edges, generator)
    present = torch.rand(num_edges, NUM_EDGE_FEATURES, generator=generator) < torch.tensor(
        _FAKE_FEATURE_RATE
    )
    none = ~present.any(1)  # every edge has at least one association type
    fill = torch.randint(0, NUM_EDGE_FEATURES, (int(none.sum()),), generator=generator)
    present[none, fill] = True
    score = torch.randint(1, 1001, (num_edges, NUM_EDGE_FEATURES), generator=generator) / 1000.0
    edge_attr = torch.where(present, score, torch.zeros(()))

    labels = _fake_labels(edges, edge_attr, species, generator)

    raw_dir = dataset_dir / "raw"
    split_dir = dataset_dir / "split" / "species"
    raw_dir.mkdir(parents=True)
    split_dir.mkdir(parents=True)
    _write_csv_gz(raw_dir / "edge.csv.gz", edges)
    _write_csv_gz(raw_dir / "edge-feat.csv.gz", edge_attr, decimals=3)
    _write_csv_gz(raw_dir / "node_species.csv.gz", taxids[species].view(-1, 1))
    _write_csv_gz(raw_dir / "num-node-list.csv.gz", [[num_nodes]])
    _write_csv_gz(raw_dir / "num-edge-list.csv.gz", [[num_edges]])
    _write_csv_gz(raw_dir / "node-label.csv.gz", labels)
    held_out = {"valid": _FAKE_VALID_SPECIES, "test": _FAKE_TEST_SPECIES}
    node_taxid = taxids[species]
    in_valid = torch.isin(node_taxid, torch.tensor(held_out["valid"]))
    in_test = torch.isin(node_taxid, torch.tensor(held_out["test"]))
    for name, mask in (("train", ~(in_valid | in_test)), ("valid", in_valid), ("test", in_test)):
        _write_csv_gz(split_dir / f"{name}.csv.gz", mask.nonzero().view(-1, 1))
    (dataset_dir / _RELEASE_FILE).write_text("ogbn-proteins v1 (fake, written by revgnn_edu)\n")
    (dataset_dir / _FAKE_MARKER).write_text(
        f"Fake ogbn-proteins: num_nodes={num_nodes} num_edges={num_edges} seed={seed}\n"
    )
    return root
