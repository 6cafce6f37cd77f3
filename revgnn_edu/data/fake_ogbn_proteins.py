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

from .multihop import multihop_proteins, species_split
from .ogbn_proteins import _FAKE_MARKER, _RELEASE_FILE
from .ogbn_proteins_facts import SPECIES_TAXONOMY_IDS

__all__ = ["make_fake_ogbn_proteins"]


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


def make_fake_ogbn_proteins(
    root: str | os.PathLike,
    num_nodes: int = 300,
    num_edges: int = 3000,
    seed: int = 0,
    **graph_options,
) -> Path:
    r"""Writes a small random ogbn-proteins look-alike in ogb's own raw file format.

    The files are those ogb downloads (``raw/edge.csv.gz``, ``raw/edge-feat.csv.gz``,
    ``raw/node_species.csv.gz``, ``raw/num-node-list.csv.gz``,
    ``raw/num-edge-list.csv.gz``, ``raw/node-label.csv.gz``,
    ``split/species/{train,valid,test}.csv.gz`` and ``RELEASE_v1.txt``), so
    :func:`load_ogbn_proteins` and :class:`~ogb.nodeproppred.PygNodePropPredDataset` read
    it like the real one. Like the real graph, nodes carry the 8 real taxonomy ids, edges
    only join proteins of the same species, edge features are sparse scores in
    :math:`[0, 1]`, and the split holds out whole species. The graph and its 112 labels
    come from :func:`~revgnn_edu.data.multihop.multihop_proteins`: proteins form modules
    on a ring, and a protein's labels depend on hidden properties of modules up to 4 hops
    away, which only message passing over the edges can see. The same arguments write
    byte-identical files, which :func:`~revgnn_edu.data.multihop.multihop_data` returns in
    memory.

    Args:
        root (str or Path): Folder to write ``ogbn_proteins/`` into. A previous fake there
            is replaced; a folder that is not a fake is never touched.
        num_nodes (int, optional): Number of proteins, at least 16. (default: :obj:`300`)
        num_edges (int, optional): Number of undirected edges; the loaded graph has twice
            as many directed edges. (default: :obj:`3000`)
        seed (int, optional): Random seed. (default: :obj:`0`)
        **graph_options: the keyword arguments of
            :func:`~revgnn_edu.data.multihop.multihop_proteins` (``module_size``,
            ``reach``, ``intra``, ``hops``, ``property_rate``, ``hop_weights``,
            ``background``).

    Returns:
        ``root`` as a :class:`~pathlib.Path`, to pass to :func:`load_ogbn_proteins`.
    """
    root = Path(root).expanduser()
    dataset_dir = root / "ogbn_proteins"
    if dataset_dir.exists() and not (dataset_dir / _FAKE_MARKER).exists():
        raise FileExistsError(
            f"{dataset_dir} exists and is not a fake written by make_fake_ogbn_proteins; "
            f"refusing to overwrite it (choose another root)"
        )
    graph = multihop_proteins(num_nodes, num_edges, seed, **graph_options)  # checks them
    if dataset_dir.exists():
        shutil.rmtree(dataset_dir)
    taxids = torch.tensor(SPECIES_TAXONOMY_IDS)

    raw_dir = dataset_dir / "raw"
    split_dir = dataset_dir / "split" / "species"
    raw_dir.mkdir(parents=True)
    split_dir.mkdir(parents=True)
    _write_csv_gz(raw_dir / "edge.csv.gz", graph.edges)
    _write_csv_gz(raw_dir / "edge-feat.csv.gz", graph.edge_attr, decimals=3)
    _write_csv_gz(raw_dir / "node_species.csv.gz", taxids[graph.species].view(-1, 1))
    _write_csv_gz(raw_dir / "num-node-list.csv.gz", [[num_nodes]])
    _write_csv_gz(raw_dir / "num-edge-list.csv.gz", [[num_edges]])
    _write_csv_gz(raw_dir / "node-label.csv.gz", graph.y)
    for name, index in species_split(graph.species).items():
        _write_csv_gz(split_dir / f"{name}.csv.gz", index.view(-1, 1))
    (dataset_dir / _RELEASE_FILE).write_text("ogbn-proteins v1 (fake, written by revgnn_edu)\n")
    (dataset_dir / _FAKE_MARKER).write_text(
        f"Fake ogbn-proteins: num_nodes={num_nodes} num_edges={num_edges} seed={seed} "
        f"{graph_options}\n"
    )
    return root
