import contextlib
import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from revgnn_edu.data import (
    NUM_TASKS,
    SPECIES_TAXONOMY_IDS,
    aggregate_edge_features,
    load_ogbn_proteins,
    make_fake_ogbn_proteins,
    mean_rocauc,
    ogb_safe_load,
    proteins_node_input,
    species_to_index,
    split_proteins_node_input,
)

NUM_NODES, NUM_EDGES = 300, 3000  # NUM_EDGES undirected; the loaded graph has twice as many


class NotAllowListed:
    """A class that safe loading must refuse, before and after loading the dataset."""


@pytest.fixture(scope="module")
def loaded(proteins_root):
    return load_ogbn_proteins(proteins_root)


@pytest.fixture
def fake_copy(proteins_root, tmp_path):
    """A private copy of the fake's raw files (no processed file), safe to damage."""
    shutil.copytree(
        proteins_root / "ogbn_proteins",
        tmp_path / "ogbn_proteins",
        ignore=shutil.ignore_patterns("processed"),
    )
    return tmp_path


def read_raw(root, name):
    return pd.read_csv(Path(root) / "ogbn_proteins" / name, compression="gzip", header=None).values


# --------------------------------------------------------------------------- node inputs


def test_aggregate_edge_features_hand_made_graph():
    edge_index = torch.tensor([[0, 0, 1], [1, 2, 0]])
    edge_attr = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    expected = {
        "add": [[4.0, 6.0], [5.0, 6.0], [0.0, 0.0]],
        "mean": [[2.0, 3.0], [5.0, 6.0], [0.0, 0.0]],
        "max": [[3.0, 4.0], [5.0, 6.0], [0.0, 0.0]],
    }
    for reduce, want in expected.items():
        out = aggregate_edge_features(edge_index, edge_attr, 3, reduce)
        torch.testing.assert_close(out, torch.tensor(want), rtol=0, atol=1e-6)


def test_aggregate_edge_features_rejects_bad_input():
    edge_index, edge_attr = torch.tensor([[0], [1]]), torch.ones(1, 2)
    with pytest.raises(ValueError, match="reduce must be one of 'add', 'mean', 'max', got 'sum'"):
        aggregate_edge_features(edge_index, edge_attr, 2, "sum")
    with pytest.raises(ValueError, match="edge_attr has 2 rows but edge_index has 1 edges"):
        aggregate_edge_features(edge_index, torch.ones(2, 2), 2)
    with pytest.raises(ValueError, match=r"shape \(2, E\)"):
        aggregate_edge_features(edge_index[0], edge_attr, 2)


def test_species_to_index():
    ids = torch.tensor([[511145], [3702], [9606], [3702]])
    assert species_to_index(ids).tolist() == [7, 0, 5, 0]
    assert species_to_index(torch.tensor(SPECIES_TAXONOMY_IDS)).tolist() == list(range(8))
    with pytest.raises(ValueError, match=r"taxonomy ids \[1234\]"):
        species_to_index(torch.tensor([3702, 1234]))


# --------------------------------------------------------------------------- evaluation


def brute_force_auc(score, label):
    """P(score of a positive > score of a negative), ties counting one half."""
    pos, neg = score[label == 1], score[label == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()


def test_mean_rocauc_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    y = (torch.rand(60, NUM_TASKS, generator=gen) < 0.3).float()
    y[:, 0] = 0.0  # a task without positives is skipped, as in ogb
    pred = torch.randn(60, NUM_TASKS, generator=gen) + y  # informative scores
    pred[:5, 1] = pred[5, 1]  # some ties
    index = torch.arange(0, 60, 2)
    for idx in (None, index):
        yy, pp = (y, pred) if idx is None else (y[idx], pred[idx])
        tasks = [t for t in range(NUM_TASKS) if 0 < yy[:, t].sum() < len(yy)]
        aucs = [brute_force_auc(pp[:, t], yy[:, t]) for t in tasks]
        assert mean_rocauc(pred, y, idx) == pytest.approx(sum(aucs) / len(aucs), abs=1e-9)
    # Only the ranking matters: logits and probabilities agree.
    assert mean_rocauc(torch.sigmoid(pred), y) == pytest.approx(mean_rocauc(pred, y), abs=1e-9)


def test_mean_rocauc_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape, got \(3, 112\) and \(3, 111\)"):
        mean_rocauc(torch.zeros(3, NUM_TASKS), torch.zeros(3, NUM_TASKS - 1))


# --------------------------------------------------------------------------- loading


def test_loaded_shapes_and_dtypes(loaded):
    data, split = loaded
    assert data.num_nodes == NUM_NODES
    assert data.x.shape == (NUM_NODES, 8) and data.x.dtype == torch.float32
    assert data.species.shape == (NUM_NODES,) and data.species.dtype == torch.long
    assert 0 <= int(data.species.min()) and int(data.species.max()) <= 7
    assert data.edge_index.shape == (2, 2 * NUM_EDGES)
    assert data.edge_attr.shape == (2 * NUM_EDGES, 8) and data.edge_attr.dtype == torch.float32
    assert data.y.shape == (NUM_NODES, NUM_TASKS) and data.y.dtype == torch.float32
    assert set(data.y.unique().tolist()) == {0.0, 1.0}
    assert set(split) == {"train", "valid", "test"}


def test_loaded_data_matches_raw_files(proteins_root, loaded):
    data, _ = loaded
    edges = torch.from_numpy(read_raw(proteins_root, "raw/edge.csv.gz"))
    feats = torch.from_numpy(read_raw(proteins_root, "raw/edge-feat.csv.gz")).float()
    # ogb stores every undirected edge in both directions, with the same features.
    both = {tuple(e) for e in edges.tolist()} | {tuple(e[::-1]) for e in edges.tolist()}
    assert {tuple(e) for e in data.edge_index.t().tolist()} == both
    # Node input = sum of incident edge features; reference by index_add over raw edges.
    x = torch.zeros(NUM_NODES, 8).index_add_(0, edges[:, 0], feats)
    x.index_add_(0, edges[:, 1], feats)
    torch.testing.assert_close(data.x, x, rtol=1e-5, atol=1e-5)
    taxids = torch.from_numpy(read_raw(proteins_root, "raw/node_species.csv.gz")).view(-1)
    assert torch.equal(torch.tensor(SPECIES_TAXONOMY_IDS)[data.species], taxids)
    labels = torch.from_numpy(read_raw(proteins_root, "raw/node-label.csv.gz")).float()
    assert torch.equal(data.y, labels)


@pytest.mark.parametrize("node_aggr", ["mean", "max"])
def test_load_node_aggr_options(proteins_root, loaded, node_aggr):
    data, _ = load_ogbn_proteins(proteins_root, node_aggr=node_aggr)
    reference = aggregate_edge_features(data.edge_index, data.edge_attr, NUM_NODES, node_aggr)
    torch.testing.assert_close(data.x, reference, rtol=0, atol=0)
    assert not torch.allclose(data.x, loaded[0].x)
    with pytest.raises(ValueError, match="reduce must be"):
        load_ogbn_proteins(proteins_root, node_aggr="min")


def test_split_holds_out_whole_species(loaded):
    data, split = loaded
    all_ids = torch.cat([split["train"], split["valid"], split["test"]])
    assert torch.equal(torch.sort(all_ids).values, torch.arange(NUM_NODES))  # a partition
    species = {k: set(data.species[v].tolist()) for k, v in split.items()}
    assert not species["train"] & species["valid"]
    assert not species["train"] & species["test"]
    assert not species["valid"] & species["test"]
    fractions = [len(split[k]) / NUM_NODES for k in ("train", "valid", "test")]
    assert fractions == pytest.approx([0.65, 0.16, 0.19], abs=0.02)  # like the real split


def test_fake_edges_join_proteins_of_one_species(loaded):
    data, _ = loaded
    row, col = data.edge_index
    assert torch.equal(data.species[row], data.species[col])
    assert bool((row != col).all())
    assert 0.0 <= float(data.edge_attr.min()) and float(data.edge_attr.max()) <= 1.0
    assert bool((data.edge_attr > 0).any(1).all())


def test_fake_labels_hold_each_tasks_positive_rate(loaded):
    # Each of the 112 tasks is positive for its own share of the proteins, 5% to 50%
    # (how the labels need several hops of the graph is tested in test_multihop.py, on
    # graphs with enough modules per species; at 300 nodes a species is one module).
    # Random scores rank the test nodes at chance.
    data, split = loaded
    rate = data.y.mean(0)
    assert data.y.shape == (NUM_NODES, NUM_TASKS)
    assert float(rate.min()) >= 0.04 and float(rate.max()) <= 0.51
    assert float(rate.std()) > 0.05  # the rates differ between tasks
    noise = torch.rand(NUM_NODES, NUM_TASKS, generator=torch.Generator().manual_seed(0))
    assert abs(mean_rocauc(noise, data.y, split["test"]) - 0.5) < 0.05


def test_fake_is_deterministic(tmp_path, proteins_root):
    a = make_fake_ogbn_proteins(tmp_path / "a", NUM_NODES, NUM_EDGES, seed=0)
    b = make_fake_ogbn_proteins(tmp_path / "b", NUM_NODES, NUM_EDGES, seed=1)
    for name in (
        "raw/edge.csv.gz",
        "raw/edge-feat.csv.gz",
        "raw/node-label.csv.gz",
        "raw/node_species.csv.gz",
        "split/species/test.csv.gz",
    ):
        here, there = a / "ogbn_proteins" / name, proteins_root / "ogbn_proteins" / name
        assert here.read_bytes() == there.read_bytes(), name
    edges = "ogbn_proteins/raw/edge.csv.gz"
    assert (a / edges).read_bytes() != (b / edges).read_bytes()


def test_fake_rewrite_replaces_processed_data(tmp_path):
    root = make_fake_ogbn_proteins(tmp_path, 40, 60, seed=0)
    first, _ = load_ogbn_proteins(root)
    make_fake_ogbn_proteins(tmp_path, 40, 60, seed=1)
    second, _ = load_ogbn_proteins(root)
    assert not torch.equal(first.y, second.y)


def test_fake_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_nodes must be an integer >= 16, got 10"):
        make_fake_ogbn_proteins(tmp_path, 10, 5)
    with pytest.raises(ValueError, match="num_edges=5000 exceeds"):
        make_fake_ogbn_proteins(tmp_path, 40, 5000)
    (tmp_path / "real" / "ogbn_proteins").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        make_fake_ogbn_proteins(tmp_path / "real")


# --------------------------------------------------------------------------- safe loading


def test_loading_leaves_torch_load_defaults_unchanged(proteins_root, loaded, tmp_path):
    load_fn = torch.load
    allowed = set(map(repr, torch.serialization.get_safe_globals()))
    env_vars = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    env = {k: os.environ.get(k) for k in env_vars}

    data, _ = load_ogbn_proteins(proteins_root)  # reads the processed file with torch.load
    assert data.num_nodes == NUM_NODES

    assert torch.load is load_fn
    assert set(map(repr, torch.serialization.get_safe_globals())) == allowed
    assert {k: os.environ.get(k) for k in env} == env
    # Safe loading still refuses classes nobody allow-listed ...
    path = tmp_path / "obj.pt"
    torch.save({"obj": NotAllowListed()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    # ... including the PyG classes that only ogb_safe_load allows.
    from torch_geometric.data.storage import GlobalStorage

    torch.save(GlobalStorage(), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with ogb_safe_load():
        assert isinstance(torch.load(path), GlobalStorage)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_ogb_alone_fails_without_safe_load(proteins_root, loaded):
    # The reason ogb_safe_load exists: ogb 1.3.6 cannot read its own processed file.
    from ogb.nodeproppred import PygNodePropPredDataset

    with pytest.raises(pickle.UnpicklingError), contextlib.redirect_stdout(io.StringIO()):
        PygNodePropPredDataset("ogbn-proteins", root=str(proteins_root))


# --------------------------------------------------------------------------- root and errors


def test_no_download_when_asked_not_to(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    with pytest.raises(FileNotFoundError) as info:
        load_ogbn_proteins(tmp_path, download=False)
    message = str(info.value)
    assert "downloading" not in message
    assert f"missing in {tmp_path / 'ogbn_proteins'}: RELEASE_v1.txt, " in message
    # short: two lines, at most three file names
    assert len(message.splitlines()) == 2 and message.count(".csv.gz") <= 2
    assert "and 7 more" in message


def test_load_uses_env_var_root(monkeypatch, proteins_root, loaded):
    monkeypatch.setenv("REVGNN_EDU_DATA", str(proteins_root))
    data, _ = load_ogbn_proteins()
    assert torch.equal(data.y, loaded[0].y)


def _no_network(monkeypatch):
    import ogb.nodeproppred.dataset_pyg as dataset_pyg

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(dataset_pyg, "download_url", refuse)
    monkeypatch.setattr(dataset_pyg, "decide_download", lambda url: True)


def test_missing_dataset_tries_to_download_then_says_where_it_looked(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    with pytest.raises(FileNotFoundError) as info:
        load_ogbn_proteins(tmp_path)
    message = str(info.value)
    assert "downloading ogbn-proteins" in message and "network is unreachable" in message
    assert f"missing in {tmp_path / 'ogbn_proteins'}: RELEASE_v1.txt" in message
    assert f"put it in {tmp_path}" in message and len(message.splitlines()) == 3
    assert "REVGNN_EDU_DATA" in message and "proteins.zip" in message
    assert "make_fake_ogbn_proteins" in message


@pytest.mark.parametrize(
    "name", ["raw/node-label.csv.gz", "split/species/valid.csv.gz", "RELEASE_v1.txt"]
)
def test_missing_file_is_named(fake_copy, name):
    (fake_copy / "ogbn_proteins" / name).unlink()
    with pytest.raises(
        FileNotFoundError, match=f"missing in {fake_copy / 'ogbn_proteins'}: {name} "
    ):
        load_ogbn_proteins(fake_copy)


@pytest.mark.parametrize(
    "name", ["raw/edge.csv.gz", "raw/edge-feat.csv.gz", "raw/node-label.csv.gz"]
)
def test_corrupt_raw_file_is_named(fake_copy, name):
    path = fake_copy / "ogbn_proteins" / name
    path.write_bytes(path.read_bytes()[:40])  # a truncated gzip stream
    with pytest.raises(RuntimeError, match=f"raw file {path}"):
        load_ogbn_proteins(fake_copy)


def test_corrupt_split_file_is_named(fake_copy):
    path = fake_copy / "ogbn_proteins" / "split" / "species" / "test.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(RuntimeError, match=f"split file {path}"):
        load_ogbn_proteins(fake_copy)


def test_corrupt_processed_file_is_named(fake_copy):
    load_ogbn_proteins(fake_copy)
    path = fake_copy / "ogbn_proteins" / "processed" / "geometric_data_processed.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match=f"processed ogbn-proteins file {path}.*delete it"):
        load_ogbn_proteins(fake_copy)


def test_a_failed_download_is_retried_by_the_next_call(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    for _ in range(2):  # the second call downloads again instead of "files not found"
        with pytest.raises(FileNotFoundError, match="downloading ogbn-proteins into .* failed"):
            load_ogbn_proteins(tmp_path)
    (tmp_path / "ogbn_proteins" / "raw").mkdir(parents=True)  # as older versions left it
    with pytest.raises(FileNotFoundError, match="downloading ogbn-proteins into .* failed"):
        load_ogbn_proteins(tmp_path)
    assert not (tmp_path / "ogbn_proteins").exists()


# --------------------------------------------------------------------- inconsistent files


def _rewrite(root, name, values, float_format=None):
    frame = pd.DataFrame(values)
    frame.to_csv(
        Path(root) / "ogbn_proteins" / name,
        header=False,
        index=False,
        float_format=float_format,
        compression="gzip",
    )


@pytest.mark.parametrize(
    "damage,name,problem",
    [
        (
            "short_labels",
            "raw/node-label.csv.gz",
            rf"labels of shape \({NUM_NODES - 5}, {NUM_TASKS}\), "
            rf"expected \({NUM_NODES}, {NUM_TASKS}\)",
        ),
        (
            "split_out_of_range",
            "split/species/test.csv.gz",
            rf"node ids in \d+\.\.{NUM_NODES + 7}, expected 0\.\.{NUM_NODES - 1}",
        ),
        ("nan_edge_feature", "raw/edge-feat.csv.gz", "NaN or infinite edge features"),
        (
            "overlapping_splits",
            "split/species/valid.csv.gz",
            "3 nodes of the valid split are also in the train split",
        ),
    ],
)
def test_inconsistent_files_are_refused_at_load_naming_the_file(fake_copy, damage, name, problem):
    if damage == "short_labels":
        _rewrite(fake_copy, name, read_raw(fake_copy, name)[:-5])
    elif damage == "split_out_of_range":
        test = read_raw(fake_copy, name).copy()
        test[0, 0] = NUM_NODES + 7
        _rewrite(fake_copy, name, test)
    elif damage == "nan_edge_feature":
        feat = read_raw(fake_copy, name).astype(float)
        feat[10, 3] = float("nan")
        _rewrite(fake_copy, name, feat, float_format="%.3f")
    else:
        train = read_raw(fake_copy, "split/species/train.csv.gz")
        valid = read_raw(fake_copy, name)
        _rewrite(fake_copy, name, np.concatenate([valid, train[:3]]))
    path = fake_copy / "ogbn_proteins" / name
    with pytest.raises(ValueError, match=f"ogbn-proteins file {path}: {problem}"):
        load_ogbn_proteins(fake_copy)


def test_node_input_and_its_inverse(loaded):
    data, _ = loaded
    x = proteins_node_input(data)
    assert x.shape == (NUM_NODES, 16)
    edge_part, species = split_proteins_node_input(x)
    assert torch.equal(edge_part, data.x)
    assert torch.equal(species.argmax(1), data.species) and bool((species.sum(1) == 1).all())
    with pytest.raises(ValueError, match=r"x must have shape \(N, 16\), got \(3, 8\)"):
        split_proteins_node_input(torch.zeros(3, 8))


# ------------------------------------------------------------- the processed cache and messages


def _gzip(path, text):
    import gzip

    with gzip.open(path, "wt") as fh:
        fh.write(text)


def test_a_processed_cache_follows_raw_files_replaced_by_another_dataset(fake_copy, fake_proteins):
    first, _ = load_ogbn_proteins(fake_copy)
    other = fake_proteins(NUM_NODES, NUM_EDGES, seed=1)  # same sizes, other content
    for path in (other / "ogbn_proteins" / "raw").iterdir():
        shutil.copy(path, fake_copy / "ogbn_proteins" / "raw" / path.name)
    for path in (other / "ogbn_proteins" / "split" / "species").iterdir():
        shutil.copy(path, fake_copy / "ogbn_proteins" / "split" / "species" / path.name)
    with pytest.warns(UserWarning, match="rebuilding .*: the raw files .*edge.csv.gz"):
        second, _ = load_ogbn_proteins(fake_copy)
    expected, _ = load_ogbn_proteins(other)
    assert not torch.equal(second.y, first.y)
    assert torch.equal(second.y, expected.y) and torch.equal(second.edge_index, expected.edge_index)
    third, _ = load_ogbn_proteins(fake_copy)  # the rebuilt cache is used as it is
    assert torch.equal(third.edge_attr, expected.edge_attr)


@pytest.mark.parametrize("damage", ["truncated_labels", "empty_edges"])
def test_raw_files_damaged_after_a_good_load_are_named(fake_copy, damage):
    load_ogbn_proteins(fake_copy)  # builds the processed cache
    raw = fake_copy / "ogbn_proteins" / "raw"
    if damage == "truncated_labels":
        path = raw / "node-label.csv.gz"
        path.write_bytes(path.read_bytes()[:200])
    else:
        path = raw / "edge.csv.gz"
        _gzip(path, "")
    with (
        pytest.warns(UserWarning, match="rebuilding"),
        pytest.raises(RuntimeError, match=f"raw file {path}"),
    ):
        load_ogbn_proteins(fake_copy)


@pytest.mark.parametrize(
    "name,content,problem",
    [
        ("raw/edge.csv.gz", "1,2\n3,x4\n", "the non-numeric value 'x4' in line 2, column 2"),
        ("split/species/test.csv.gz", "5\nabc\n", "the non-numeric value 'abc' in line 2"),
        ("raw/num-node-list.csv.gz", "300x\n", "the non-numeric value .300x. in line 1"),
    ],
)
def test_non_numeric_files_are_named_with_the_line(fake_copy, name, content, problem):
    path = fake_copy / "ogbn_proteins" / name
    _gzip(path, content)
    with pytest.raises(RuntimeError, match=f"file {path}: {problem}"):
        load_ogbn_proteins(fake_copy)


def test_edge_features_outside_zero_one_are_refused_at_load(fake_copy):
    name = "raw/edge-feat.csv.gz"
    feat = read_raw(fake_copy, name).astype(float)
    feat[7, 2] = 1e30  # finite, but it overflows float32 arithmetic in the model
    _rewrite(fake_copy, name, feat, float_format="%.6g")
    path = fake_copy / "ogbn_proteins" / name
    with pytest.raises(ValueError, match=f"{path}: out-of-range edge features \\(1e\\+30 at"):
        load_ogbn_proteins(fake_copy)


def test_a_processed_file_without_a_record_is_rebuilt_or_used_with_a_warning(fake_copy):
    first, _ = load_ogbn_proteins(fake_copy)
    stamp = fake_copy / "ogbn_proteins" / "processed" / "revgnn_edu_raw_files.json"
    stamp.unlink()  # a processed file built by ogb itself, or elsewhere
    with pytest.warns(UserWarning, match="nothing records which raw files it was built from"):
        again, _ = load_ogbn_proteins(fake_copy)
    assert stamp.exists() and torch.equal(again.y, first.y)
    stamp.unlink()
    (fake_copy / "ogbn_proteins" / "raw" / "node-label.csv.gz").unlink()  # cannot rebuild
    with pytest.warns(UserWarning, match="as it is: .* \\(node-label.csv.gz missing\\)"):
        kept, _ = load_ogbn_proteins(fake_copy)
    assert torch.equal(kept.y, first.y)
