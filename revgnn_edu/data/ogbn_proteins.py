r"""The ogbn-proteins data pipeline: loading, node inputs, evaluation, a fake copy.

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

The real files come from ogb's download, which needs a network. For tests and
notebooks, :func:`make_fake_ogbn_proteins` writes a small graph in ogb's own raw format
that the real :class:`ogb.nodeproppred.PygNodePropPredDataset` loads without one.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import warnings
import zlib
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from .paths import data_root

NAME = "ogbn-proteins"
NUM_TASKS = 112
NUM_EDGE_FEATURES = 8

#: NCBI taxonomy ids of the 8 species in ogbn-proteins, in ascending order; a node's
#: species index is the position of its id here: A. thaliana (3702), S. cerevisiae
#: (4932), C. elegans (6239), D. melanogaster (7227), D. rerio (7955), H. sapiens
#: (9606), M. musculus (10090), E. coli (511145).
SPECIES_TAXONOMY_IDS = (3702, 4932, 6239, 7227, 7955, 9606, 10090, 511145)
NUM_SPECIES = len(SPECIES_TAXONOMY_IDS)

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
            f"edge_attr has {edge_attr.size(0)} rows but edge_index has "
            f"{edge_index.size(1)} edges"
        )
    reduce = "sum" if reduce == "add" else reduce
    return scatter(edge_attr, edge_index[0], dim=0, dim_size=num_nodes, reduce=reduce)


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
# Loading
# ---------------------------------------------------------------------------------------


def _missing_files_message(root: Path, dataset_dir: Path, missing: list[Path]) -> str:
    names = "\n".join(f"  {p}" for p in missing)
    return (
        f"ogbn-proteins files not found:\n{names}\n"
        f"Looked in root {root} (the root argument, else $REVGNN_EDU_DATA, else "
        f"~/.cache/revgnn_edu). load_ogbn_proteins downloads only into a folder "
        f"without any ogbn-proteins files. Without internet, download {_URL}, unzip it and rename the folder 'proteins' to "
        f"'{dataset_dir.name}' (or let ogb do it: "
        f"PygNodePropPredDataset('ogbn-proteins', root=...)), then copy that folder into "
        f"{root} or point REVGNN_EDU_DATA at its parent. For a small stand-in, use "
        f"make_fake_ogbn_proteins(root)."
    )


def _first_unreadable(paths: list[Path]) -> tuple[Path, Exception] | None:
    # Reads each csv.gz file in full; used only after a load failed, to name the culprit.
    for path in paths:
        try:
            frame = pd.read_csv(path, compression="gzip", header=None)
            if frame.empty:
                raise ValueError("file has no rows")
            if frame.isna().to_numpy().any():
                raise ValueError("file has empty or non-numeric fields")
        except (OSError, EOFError, zlib.error, ValueError, pd.errors.ParserError) as err:
            return path, err
    return None


@contextlib.contextmanager
def _quiet(verbose: bool):
    # ogb prints progress messages and tqdm bars while processing the raw files.
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def load_ogbn_proteins(
    root: str | os.PathLike | None = None,
    node_aggr: str = "add",
    verbose: bool = False,
    download: bool = True,
) -> tuple[Data, dict[str, Tensor]]:
    r"""Loads ogbn-proteins through ogb and builds the paper's node inputs.

    The first call processes ogb's raw files into ``processed/geometric_data_processed.pt``
    (minutes for the real dataset); later calls read that file. When the dataset folder
    does not exist at all and ``download`` is set, ogb downloads it (216 MB); a failed
    download, or a folder with some files missing, raises :class:`FileNotFoundError`
    naming the files and how to provide them; unreadable files raise
    :class:`RuntimeError` naming the file.

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
    from ogb.nodeproppred import PygNodePropPredDataset

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
    if missing and download and not dataset_dir.exists():
        try:  # a fresh root: ogb downloads, unzips and processes (progress shown)
            with ogb_safe_load():
                PygNodePropPredDataset(NAME, root=str(root))
        except Exception as err:
            raise FileNotFoundError(f"downloading ogbn-proteins into {root} failed ({err}).\n"
                                    + _missing_files_message(root, dataset_dir, missing)) from err
        missing = [p for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(_missing_files_message(root, dataset_dir, missing))

    had_processed = processed.exists()
    try:
        with _quiet(verbose), ogb_safe_load():
            dataset = PygNodePropPredDataset(NAME, root=str(root))
    except Exception as err:
        if had_processed:
            raise RuntimeError(
                f"could not read the processed ogbn-proteins file {processed} ({err!r}); "
                f"delete it to rebuild it from the raw files"
            ) from err
        culprit = _first_unreadable(raw)
        if culprit is not None:
            raise RuntimeError(
                f"could not read ogbn-proteins raw file {culprit[0]}: {culprit[1]}"
            ) from err
        raise RuntimeError(
            f"could not process the ogbn-proteins raw files in {dataset_dir / 'raw'} "
            f"({err!r})"
        ) from err

    try:
        with ogb_safe_load(), warnings.catch_warnings():
            # ogb wraps read-only pandas arrays; harmless here, the indices are copied.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            split_idx = dataset.get_idx_split()
    except Exception as err:
        culprit = _first_unreadable(splits)
        where = culprit[0] if culprit is not None else splits[0].parent
        raise RuntimeError(f"could not read ogbn-proteins split file {where}: {err!r}") from err

    graph = dataset[0]
    num_nodes = int(graph.num_nodes)
    edge_attr = graph.edge_attr.float()
    data = Data(
        x=aggregate_edge_features(graph.edge_index, edge_attr, num_nodes, node_aggr),
        species=species_to_index(graph.node_species),
        edge_index=graph.edge_index,
        edge_attr=edge_attr,
        y=graph.y.float(),
        num_nodes=num_nodes,
    )
    return data, split_idx


# ---------------------------------------------------------------------------------------
# A small fake copy in ogb's raw format
# ---------------------------------------------------------------------------------------

# Species of the fake split: whole species are held out, as in the real split (about
# 65% / 16% / 19% of the nodes). This choice is ours, not a claim about the real split.
_FAKE_VALID_SPECIES = (7955,)
_FAKE_TEST_SPECIES = (10090,)
# Chance that an edge carries each of the 8 association types.
_FAKE_FEATURE_RATE = (0.10, 0.05, 0.02, 0.05, 0.40, 0.20, 0.10, 0.60)


def _write_csv_gz(path: Path, values, float_format: str | None = None) -> None:
    frame = pd.DataFrame(values.numpy() if isinstance(values, Tensor) else values)
    # mtime=0 keeps the gzip bytes identical for identical content.
    frame.to_csv(
        path,
        header=False,
        index=False,
        float_format=float_format,
        compression={"method": "gzip", "mtime": 0},
    )


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
    _write_csv_gz(raw_dir / "edge-feat.csv.gz", edge_attr, float_format="%.3f")
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
