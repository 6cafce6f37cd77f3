import os
from pathlib import Path

import pytest
import torch

from revgnn_edu.data import ENV_VAR, data_root, load_planetoid, random_graph, toy_graph

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _planetoid_root():
    for root in (os.environ.get(ENV_VAR), SHARED):
        if root and (Path(root) / "planetoid" / "Cora" / "raw").exists():
            return Path(root)
    pytest.skip(f"Cora raw files not found; set {ENV_VAR}")


def test_data_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "revgnn_edu"


@pytest.mark.parametrize(
    "name,nodes,features,classes", [("Cora", 2708, 1433, 7), ("citeseer", 3327, 3703, 6)]
)
def test_load_planetoid_real_files(name, nodes, features, classes, tmp_path, monkeypatch):
    src = _planetoid_root()
    # work on a copy so the test never writes processed files beside the shared data
    import shutil

    canonical = "Cora" if name == "Cora" else "CiteSeer"
    shutil.copytree(
        src / "planetoid" / canonical / "raw", tmp_path / "planetoid" / canonical / "raw"
    )
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    data = load_planetoid(name)
    assert data.num_nodes == nodes and data.num_features == features
    assert int(data.y.max()) + 1 == classes
    if canonical == "Cora":  # the public split
        assert (
            int(data.train_mask.sum()),
            int(data.val_mask.sum()),
            int(data.test_mask.sum()),
        ) == (140, 500, 1000)


def test_load_planetoid_missing_files_names_the_place(tmp_path, monkeypatch):
    import torch_geometric.datasets.planetoid as planetoid

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(planetoid.Planetoid, "download", no_network)
    with pytest.raises(FileNotFoundError) as err:
        load_planetoid("Cora", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "planetoid" / "Cora" / "raw") in msg and ENV_VAR in msg


def test_load_planetoid_unknown_name():
    with pytest.raises(ValueError, match="unknown Planetoid dataset 'Corra'"):
        load_planetoid("Corra")


def test_random_graph_is_seeded_and_shaped():
    a = random_graph(50, 200, 8, edge_dim=3, num_classes=4, seed=7)
    b = random_graph(50, 200, 8, edge_dim=3, num_classes=4, seed=7)
    c = random_graph(50, 200, 8, edge_dim=3, num_classes=4, seed=8)
    assert a.x.shape == (50, 8) and a.edge_index.shape == (2, 200)
    assert a.edge_attr.shape == (200, 3) and a.y.shape == (50,)
    assert int(a.edge_index.max()) < 50 and int(a.y.max()) < 4
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    assert torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)
    assert len(a.y.unique()) > 1  # labels are not constant


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_nodes=0, num_edges=5), "num_nodes must be a positive integer, got 0"),
        (dict(num_nodes=5, num_edges=-1), "num_edges must be an integer >= 0, got -1"),
        (dict(num_nodes=5, num_edges=5, num_classes=1), "num_classes must be an integer >= 2"),
    ],
)
def test_random_graph_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_graph(**kwargs)


def test_toy_graph():
    data = toy_graph()
    assert data.num_nodes == 4 and data.edge_index.shape == (2, 6)
    assert data.x.flatten().tolist() == [1.0, 2.0, 3.0, 4.0]


def test_load_planetoid_does_not_create_a_missing_root(tmp_path, monkeypatch):
    missing = tmp_path / "nonexistent"
    with pytest.raises(FileNotFoundError, match=f"the data directory {missing} .* does not exist"):
        load_planetoid("Cora", root=missing)
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(FileNotFoundError, match=r"\$REVGNN_EDU_DATA\) does not exist"):
        load_planetoid("Cora")
    assert not missing.exists()


def test_load_planetoid_names_a_truncated_raw_file(tmp_path):
    import shutil

    src = _planetoid_root()
    raw = tmp_path / "planetoid" / "Cora" / "raw"
    shutil.copytree(src / "planetoid" / "Cora" / "raw", raw)
    damaged = raw / "ind.cora.allx"
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(RuntimeError, match=f"Cora raw file {damaged} .*damaged or truncated"):
        load_planetoid("Cora", root=tmp_path)
