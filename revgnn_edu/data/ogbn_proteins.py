r"""ogbn-proteins: its facts, loading, the model's node input, evaluation.

ogbn-proteins (Hu et al., 2020) is a protein association graph: 132,534 proteins from
8 species, 79,122,504 directed edges (each undirected association stored in both
directions) with 8 association scores in :math:`[0, 1]` per edge, and 112 binary
protein-function labels per node. Train, validation and test sets hold proteins of
different species. The metric is ROC-AUC averaged over the 112 tasks.

Proteins have no input features of their own. As in the paper, a node's input is
built from

* its incident edge features, aggregated onto the node (sum by default):
  :math:`\mathbf{x}_i = \sum_{j \in \mathcal{N}(i)} \mathbf{e}_{ij}`, and
* its species, as an index into the 8 species (one-hot encode it in the model).

:func:`proteins_node_input` puts the two side by side, the 16 columns every preset
takes; :func:`split_proteins_node_input` undoes it. The real files come from ogb's
download, which needs a network; :mod:`revgnn_edu.data.fake_ogbn_proteins` writes a small
stand-in in the same format.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import warnings
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from .ogbn_proteins_facts import (
    NAME,
    NODE_INPUT_CHANNELS,
    NUM_EDGE_FEATURES,
    NUM_SPECIES,
    NUM_TASKS,
    SPECIES_TAXONOMY_IDS,
)
from .paths import data_root

__all__ = [
    "NAME",
    "NUM_TASKS",
    "NUM_EDGE_FEATURES",
    "NUM_SPECIES",
    "NODE_INPUT_CHANNELS",
    "SPECIES_TAXONOMY_IDS",
    "ogb_safe_load",
    "species_to_index",
    "aggregate_edge_features",
    "proteins_node_input",
    "split_proteins_node_input",
    "mean_rocauc",
    "load_ogbn_proteins",
]


_URL = "http://snap.stanford.edu/ogb/data/nodeproppred/proteins.zip"
_RELEASE_FILE = "RELEASE_v1.txt"  # ogb asks interactively to re-download without it
_RAW_FILES = (
    "edge.csv.gz",  # (E_undirected, 2) node ids; ogb adds the reverse edges
    "edge-feat.csv.gz",  # (E_undirected, 8) association scores
    "node_species.csv.gz",  # (N, 1) NCBI taxonomy id
    "num-node-list.csv.gz",  # one row: N
    "num-edge-list.csv.gz",  # one row: E_undirected
    "node-label.csv.gz",  # (N, 112) 0/1 labels
)
_SPLIT_FILES = ("train.csv.gz", "valid.csv.gz", "test.csv.gz")
_PROCESSED_FILE = Path("processed") / "geometric_data_processed.pt"
_FAKE_MARKER = "REVGNN_EDU_FAKE.txt"


def _dataset_dir(root: Path) -> Path:
    # Same rule as ogb: a folder named ``ogbn_proteins_pyg`` wins if it exists.
    pyg_dir = root / "ogbn_proteins_pyg"
    return pyg_dir if pyg_dir.exists() else root / "ogbn_proteins"


@contextlib.contextmanager
def ogb_safe_load():
    r"""Context manager that lets ogb read its own processed files under safe loading.

    ogb 1.3.6 calls :func:`torch.load` with the default ``weights_only=True``, which
    refuses the PyG storage classes inside ogb's processed file. Inside this block (and
    only there) exactly those classes are allow-listed through
    :class:`torch.serialization.safe_globals`; every other class is still refused and
    the allow-list is restored on exit.
    """
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    with torch.serialization.safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage]):
        yield


def species_to_index(node_species: Tensor) -> Tensor:
    r"""Maps NCBI taxonomy ids to species indices :math:`0, \ldots, 7`.

    The index is the position of the id in :data:`SPECIES_TAXONOMY_IDS`.

    Args:
        node_species (torch.Tensor): Taxonomy id per node.

    Shapes:
        - **input:** :math:`(N)` or :math:`(N, 1)`
        - **output:** :math:`(N)`, dtype ``torch.long``
    """
    ids = node_species.reshape(-1).long()
    table = torch.tensor(SPECIES_TAXONOMY_IDS, dtype=torch.long)
    index = torch.searchsorted(table, ids).clamp_(max=NUM_SPECIES - 1)
    unknown = table[index] != ids
    if bool(unknown.any()):
        bad = torch.unique(ids[unknown])[:10].tolist()
        raise ValueError(
            f"node_species holds taxonomy ids {bad} that are not ogbn-proteins species; "
            f"expected one of {list(SPECIES_TAXONOMY_IDS)}"
        )
    return index


def aggregate_edge_features(
    edge_index: Tensor,
    edge_attr: Tensor,
    num_nodes: int,
    reduce: str = "add",
) -> Tensor:
    r"""Aggregates edge features onto their source nodes, the paper's node input.

    .. math::
        \mathbf{x}_i = \bigoplus_{(i, j) \in \mathcal{E}} \mathbf{e}_{ij}

    with :math:`\bigoplus` a sum, mean or max. Nodes without edges get zeros.

    Args:
        edge_index (torch.Tensor): Edges, the source node in row 0.
        edge_attr (torch.Tensor): Edge features.
        num_nodes (int): Number of nodes :math:`N`.
        reduce (str, optional): ``"add"``, ``"mean"`` or ``"max"``. (default: ``"add"``)

    Shapes:
        - **input:** edge_index :math:`(2, E)`, edge_attr :math:`(E, F)`
        - **output:** :math:`(N, F)`
    """
    if reduce not in ("add", "mean", "max"):
        raise ValueError(f"reduce must be 'add', 'mean' or 'max', got {reduce!r}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_attr.size(0) != edge_index.size(1):
        raise ValueError(
            f"edge_attr has {edge_attr.size(0)} rows but edge_index has {edge_index.size(1)} edges"
        )
    reduce = "sum" if reduce == "add" else reduce
    return scatter(edge_attr, edge_index[0], dim=0, dim_size=num_nodes, reduce=reduce)


def proteins_node_input(data) -> Tensor:
    r"""The model input: aggregated edge features next to the species one-hot.

    .. math::
        \mathbf{x}'_i = \mathbf{x}_i \,\|\, \mathrm{onehot}(s_i)

    Args:
        data (torch_geometric.data.Data): as returned by :func:`load_ogbn_proteins`,
            with ``x`` (aggregated edge features) and ``species`` (index in 0..7).

    Shapes:
        - **input:** ``data.x`` :math:`(N, 8)`, ``data.species`` :math:`(N)`
        - **output:** :math:`(N, 16)`
    """
    if data.x.dim() != 2 or data.x.size(1) != NUM_EDGE_FEATURES:
        raise ValueError(
            f"data.x must have shape (N, {NUM_EDGE_FEATURES}), got {tuple(data.x.shape)}"
        )
    species = torch.nn.functional.one_hot(data.species.long(), NUM_SPECIES).to(data.x.dtype)
    return torch.cat([data.x, species], dim=-1)


def split_proteins_node_input(x: Tensor) -> tuple[Tensor, Tensor]:
    r"""The inverse of :func:`proteins_node_input`: ``(edge_features, species_onehot)``.

    Shapes:
        - **input:** :math:`(N, 16)`
        - **output:** :math:`(N, 8)` and :math:`(N, 8)`
    """
    if x.dim() != 2 or x.size(1) != NODE_INPUT_CHANNELS:
        raise ValueError(f"x must have shape (N, {NODE_INPUT_CHANNELS}), got {tuple(x.shape)}")
    return x[:, :NUM_EDGE_FEATURES], x[:, NUM_EDGE_FEATURES:]


@functools.lru_cache(maxsize=1)
def _evaluator():
    from ogb.nodeproppred import Evaluator

    return Evaluator(NAME)


def mean_rocauc(y_pred: Tensor, y_true: Tensor, index: Tensor | None = None) -> float:
    r"""ROC-AUC averaged over tasks, computed by ogb's ``Evaluator('ogbn-proteins')``.

    ROC-AUC only depends on how the scores rank the nodes, so logits and sigmoid
    probabilities give the same value. Tasks whose labels on ``index`` are all 0 or all 1
    are skipped (ogb's rule).

    Args:
        y_pred (torch.Tensor): Scores (logits or probabilities) for all nodes.
        y_true (torch.Tensor): 0/1 labels for all nodes.
        index (torch.Tensor, optional): Nodes to evaluate on, e.g.
            ``split_idx["valid"]``; all nodes if :obj:`None`. (default: :obj:`None`)

    Shapes:
        - **input:** y_pred :math:`(N, 112)`, y_true :math:`(N, 112)`, index :math:`(M)`
        - **output:** a Python float
    """
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"y_pred and y_true must have the same shape, got {tuple(y_pred.shape)} "
            f"and {tuple(y_true.shape)}"
        )
    if index is not None:
        y_pred, y_true = y_pred[index], y_true[index]
    result = _evaluator().eval({"y_true": y_true.detach().cpu(), "y_pred": y_pred.detach().cpu()})
    return float(result["rocauc"])


# ---------------------------------------------------------------------------------------
# Loading (the files, the processed cache and their checks: revgnn_edu.data.proteins_files)
# ---------------------------------------------------------------------------------------


def load_ogbn_proteins(
    root: str | os.PathLike | None = None,
    node_aggr: str = "add",
    verbose: bool = False,
    download: bool = True,
) -> tuple[Data, dict[str, Tensor]]:
    r"""Loads ogbn-proteins through ogb and builds the paper's node inputs.

    The first call processes ogb's raw files into ``processed/geometric_data_processed.pt``
    (minutes for the real dataset); later calls read that file while the raw files are
    the ones it was built from (same size and content checksum), and rebuild it, with a
    warning, when they changed. When the dataset folder holds no files and ``download``
    is set, ogb downloads it (216 MB; a failed download leaves no folder behind, so the
    next call tries again); a failed download, or a folder with some files missing,
    raises :class:`FileNotFoundError` naming the files and how to provide them;
    unreadable or non-numeric files raise :class:`RuntimeError` naming the file and the
    line; files that disagree with each other (label rows, split ids out of range or
    overlapping, edge features outside :math:`[0, 1]`) raise :class:`ValueError`
    naming the file.

    Args:
        root (str or Path, optional): Folder holding ``ogbn_proteins/`` (ogb's layout).
            If :obj:`None`, ``$REVGNN_EDU_DATA``, else ``~/.cache/revgnn_edu``.
            (default: :obj:`None`)
        node_aggr (str, optional): How edge features become node inputs: ``"add"``,
            ``"mean"`` or ``"max"`` (see :func:`aggregate_edge_features`).
            (default: ``"add"``)
        verbose (bool, optional): Show ogb's progress output. (default: :obj:`False`)
        download (bool, optional): Let ogb download the dataset into an empty root.
            (default: :obj:`True`)

    Returns:
        ``(data, split_idx)``: ``data`` has ``x`` :math:`(N, 8)` aggregated edge
        features, ``species`` :math:`(N)` long species index in :math:`0..7` (see
        :data:`SPECIES_TAXONOMY_IDS`), ``edge_index`` :math:`(2, E)`, ``edge_attr``
        :math:`(E, 8)`, ``y`` :math:`(N, 112)` float 0/1 labels; ``split_idx`` maps
        ``"train"``, ``"valid"``, ``"test"`` to node indices (the species split).
    """
    from .proteins_files import (
        check_consistent,
        first_unreadable,
        holds_files,
        missing_files_message,
        open_dataset,
        processed_dataset,
    )

    root = data_root(root)
    dataset_dir = _dataset_dir(root)
    processed = dataset_dir / _PROCESSED_FILE
    raw = [dataset_dir / "raw" / name for name in _RAW_FILES]
    if not raw[2].exists() and (dataset_dir / "raw" / "species.csv.gz").exists():
        raw[2] = dataset_dir / "raw" / "species.csv.gz"  # older name; ogb renames it
    splits = [dataset_dir / "split" / "species" / name for name in _SPLIT_FILES]

    # Check before ogb runs: ogb would try to download, or ask on stdin. PyG checks the
    # first two raw files even when the processed file exists.
    needed = [dataset_dir / _RELEASE_FILE] + splits + (raw[:2] if processed.exists() else raw)
    missing = [p for p in needed if not p.exists()]
    if missing and download and not holds_files(dataset_dir):
        # a fresh root, or the empty folders a failed download left: (re)try it
        if dataset_dir.exists():
            shutil.rmtree(dataset_dir)
        try:  # ogb downloads, unzips and processes (progress shown)
            open_dataset(root, verbose=True)
        except Exception as err:
            if dataset_dir.exists() and not holds_files(dataset_dir):
                shutil.rmtree(dataset_dir)  # so that the next call tries again
            raise FileNotFoundError(
                f"downloading ogbn-proteins into {root} failed ({err}).\n"
                + missing_files_message(root, dataset_dir, missing)
            ) from err
        missing = [p for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(missing_files_message(root, dataset_dir, missing))

    dataset = processed_dataset(root, dataset_dir, raw, verbose)
    try:
        with ogb_safe_load(), warnings.catch_warnings():
            # ogb wraps read-only pandas arrays; harmless here, the indices are copied.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            split_idx = dataset.get_idx_split()
    except Exception as err:
        culprit = first_unreadable(splits)
        if culprit is None:
            raise RuntimeError(
                f"could not read the ogbn-proteins split files in {splits[0].parent}: {err!r}"
            ) from err
        raise RuntimeError(
            f"could not read ogbn-proteins split file {culprit[0]}: {culprit[1]}"
        ) from err

    graph = dataset[0]
    num_nodes = int(graph.num_nodes)
    edge_attr = graph.edge_attr.float()
    check_consistent(graph, edge_attr, split_idx, dataset_dir, processed)
    try:
        species = species_to_index(graph.node_species)
    except ValueError as err:
        raise ValueError(f"{raw[2]}: {err}") from None
    data = Data(
        x=aggregate_edge_features(graph.edge_index, edge_attr, num_nodes, node_aggr),
        species=species,
        edge_index=graph.edge_index,
        edge_attr=edge_attr,
        y=graph.y.float(),
        num_nodes=num_nodes,
    )
    return data, split_idx
