import pytest
import torch
from torch_geometric.data import Data

import revgnn_edu.data.partition as partition_module
from revgnn_edu.data.partition import (
    RandomPartitionLoader,
    Subgraph,
    induced_subgraphs,
    multi_view_predict,
    random_partition,
)


@pytest.fixture
def graph():
    """A small random directed multigraph with self-loops and 3-dim edge features."""
    gen = torch.Generator().manual_seed(0)
    num_nodes = 40
    edge_index = torch.randint(0, num_nodes, (2, 400), generator=gen)
    edge_attr = torch.randn(400, 3, generator=gen)
    return Data(edge_index=edge_index, edge_attr=edge_attr, num_nodes=num_nodes)


def brute_force_subgraphs(edge_index, part, num_parts):
    """Reference: Python loops over nodes and edges, in the slowest obvious way."""
    out = []
    for p in range(num_parts):
        nodes = [i for i in range(part.numel()) if int(part[i]) == p]
        local = {node: k for k, node in enumerate(nodes)}
        edge_ids, local_edges = [], []
        for e in range(edge_index.size(1)):
            i, j = int(edge_index[0, e]), int(edge_index[1, e])
            if i in local and j in local:
                edge_ids.append(e)
                local_edges.append((local[i], local[j]))
        out.append((nodes, edge_ids, local_edges))
    return out


@pytest.mark.parametrize(
    "num_nodes,num_parts", [(1, 1), (10, 1), (10, 3), (40, 7), (41, 10), (5, 5)]
)
def test_random_partition_every_node_once_balanced(num_nodes, num_parts):
    part = random_partition(num_nodes, num_parts, torch.Generator().manual_seed(1))
    assert part.shape == (num_nodes,) and part.dtype == torch.long
    assert int(part.min()) >= 0 and int(part.max()) < num_parts
    sizes = torch.bincount(part, minlength=num_parts)
    assert int(sizes.sum()) == num_nodes
    assert int(sizes.max() - sizes.min()) <= 1


def test_random_partition_deterministic_with_seed():
    a = random_partition(100, 10, torch.Generator().manual_seed(3))
    b = random_partition(100, 10, torch.Generator().manual_seed(3))
    c = random_partition(100, 10, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_random_partition_is_uniform():
    # Each node lands in each of 4 parts with probability 1/4: over 2000 draws, counts of
    # node 0 per part stay within 5 standard deviations (sd = sqrt(2000 * 3/16) ~ 19).
    gen = torch.Generator().manual_seed(0)
    hits = torch.stack([random_partition(8, 4, gen)[0] for _ in range(2000)])
    counts = torch.bincount(hits, minlength=4).float()
    assert torch.all((counts - 500).abs() < 5 * 19.4)


@pytest.mark.parametrize(
    "num_nodes,num_parts,match",
    [(10, 0, "num_parts"), (10, 11, "num_parts"), (0, 1, "num_nodes"), (3, -1, "num_parts")],
)
def test_random_partition_rejects_bad_sizes(num_nodes, num_parts, match):
    with pytest.raises(ValueError, match=match):
        random_partition(num_nodes, num_parts)


@pytest.mark.parametrize("num_parts", [1, 3, 10])
def test_induced_subgraphs_match_brute_force(graph, num_parts):
    part = random_partition(graph.num_nodes, num_parts, torch.Generator().manual_seed(2))
    subs = induced_subgraphs(graph.edge_index, part, num_parts, graph.edge_attr)
    reference = brute_force_subgraphs(graph.edge_index, part, num_parts)
    assert len(subs) == num_parts
    for sub, (nodes, edge_ids, local_edges) in zip(subs, reference):
        assert isinstance(sub, Subgraph)
        assert sub.node_ids.tolist() == nodes
        assert sub.edge_ids.tolist() == edge_ids
        assert sub.edge_index.dtype == torch.long
        assert sub.edge_index.shape == (2, len(edge_ids))
        assert [tuple(e) for e in sub.edge_index.t().tolist()] == local_edges
        # Edge features travel with their edges.
        torch.testing.assert_close(sub.edge_attr, graph.edge_attr[edge_ids], rtol=0, atol=0)
        # Mapping local ids back gives the original global edges.
        assert torch.equal(sub.node_ids[sub.edge_index], graph.edge_index[:, edge_ids])


def test_induced_subgraphs_chunked_scan_matches_brute_force(graph, monkeypatch):
    # Edges are scanned in chunks; a chunk length that does not divide E tests the seams.
    monkeypatch.setattr(partition_module, "_CHUNK", 37)
    part = random_partition(graph.num_nodes, 3, torch.Generator().manual_seed(6))
    subs = induced_subgraphs(graph.edge_index, part, 3, graph.edge_attr)
    for sub, (nodes, edge_ids, local_edges) in zip(
        subs, brute_force_subgraphs(graph.edge_index, part, 3)
    ):
        assert sub.node_ids.tolist() == nodes
        assert sub.edge_ids.tolist() == edge_ids
        assert [tuple(e) for e in sub.edge_index.t().tolist()] == local_edges
        assert torch.equal(sub.edge_attr, graph.edge_attr[edge_ids])


def test_induced_subgraphs_graph_without_edges():
    subs = induced_subgraphs(
        torch.empty(2, 0, dtype=torch.long), torch.tensor([0, 1, 0]), 2, torch.empty(0, 4)
    )
    assert [s.node_ids.tolist() for s in subs] == [[0, 2], [1]]
    assert all(s.edge_index.shape == (2, 0) and s.edge_attr.shape == (0, 4) for s in subs)


def test_induced_subgraphs_cover_exactly_the_intra_part_edges(graph):
    part = random_partition(graph.num_nodes, 4, torch.Generator().manual_seed(5))
    subs = induced_subgraphs(graph.edge_index, part, 4)
    all_ids = torch.cat([s.edge_ids for s in subs])
    expected = (part[graph.edge_index[0]] == part[graph.edge_index[1]]).nonzero().view(-1)
    assert torch.equal(torch.sort(all_ids).values, expected)  # each kept edge exactly once
    all_nodes = torch.cat([s.node_ids for s in subs])
    assert torch.equal(torch.sort(all_nodes).values, torch.arange(graph.num_nodes))
    assert all(s.edge_attr is None for s in subs)


def test_induced_subgraphs_int32_input_and_empty_part(graph):
    part = torch.tensor([0, 2] * (graph.num_nodes // 2))  # part 1 has no nodes
    a = induced_subgraphs(graph.edge_index, part, 3, graph.edge_attr)
    b = induced_subgraphs(graph.edge_index.to(torch.int32), part, 3, graph.edge_attr)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            assert torch.equal(u, v)
    assert a[1].node_ids.numel() == 0 and a[1].edge_index.shape == (2, 0)
    assert a[1].edge_attr.shape == (0, 3)
    # num_parts defaults to part.max() + 1.
    assert len(induced_subgraphs(graph.edge_index, part)) == 3


def test_induced_subgraphs_rejects_bad_input(graph):
    part = random_partition(graph.num_nodes, 4)
    with pytest.raises(ValueError, match=r"part ids must lie in 0\.\.2"):
        induced_subgraphs(graph.edge_index, part.clamp(max=3), 3)
    with pytest.raises(ValueError, match="edge_index must have shape"):
        induced_subgraphs(graph.edge_index[0], part, 4)
    with pytest.raises(ValueError, match="edge_attr has 5 rows"):
        induced_subgraphs(graph.edge_index, part, 4, graph.edge_attr[:5])
    with pytest.raises(ValueError, match=r"node ids in -1\.\."):
        induced_subgraphs(torch.tensor([[0, -1], [1, 2]]), part, 4)
    with pytest.raises(ValueError, match="expected ids in 0..39"):
        induced_subgraphs(torch.tensor([[0, 40], [1, 2]]), part, 4)
    with pytest.raises(ValueError, match="1-D"):
        induced_subgraphs(graph.edge_index, part.view(2, -1), 4)


def test_loader_draws_a_new_partition_every_pass(graph):
    loader = RandomPartitionLoader(
        graph.edge_index, graph.num_nodes, 5, graph.edge_attr, torch.Generator().manual_seed(0)
    )
    assert len(loader) == 5
    assert str(loader) == "RandomPartitionLoader(num_nodes=40, num_edges=400, num_parts=5)"
    first, second = list(loader), list(loader)
    assert len(first) == len(second) == 5
    for epoch in (first, second):
        nodes = torch.cat([s.node_ids for s in epoch])
        assert torch.equal(torch.sort(nodes).values, torch.arange(40))
        sizes = [s.node_ids.numel() for s in epoch]
        assert max(sizes) - min(sizes) <= 1
    assert not all(torch.equal(a.node_ids, b.node_ids) for a, b in zip(first, second))


def test_loader_matches_random_partition_and_is_deterministic(graph):
    def epochs(seed):
        gen = torch.Generator().manual_seed(seed)
        loader = RandomPartitionLoader(graph.edge_index, graph.num_nodes, 4, graph.edge_attr, gen)
        return [loader.sample() for _ in range(2)]

    gen = torch.Generator().manual_seed(7)
    for got, again in zip(epochs(7), epochs(7)):
        expected = induced_subgraphs(
            graph.edge_index, random_partition(40, 4, gen), 4, graph.edge_attr
        )
        for x, y, z in zip(got, again, expected):
            for u, v, w in zip(x, y, z):
                assert torch.equal(u, v) and torch.equal(u, w)


def test_loader_rejects_bad_input(graph):
    with pytest.raises(
        ValueError, match=r"num_parts must be an integer in 1\.\.num_nodes=40, got 41"
    ):
        RandomPartitionLoader(graph.edge_index, graph.num_nodes, 41)
    with pytest.raises(ValueError, match="expected ids in 0..29"):
        RandomPartitionLoader(graph.edge_index, 30, 3)
    with pytest.raises(ValueError, match="edge_attr has 3 rows"):
        RandomPartitionLoader(graph.edge_index, 40, 3, graph.edge_attr[:3])


@pytest.mark.parametrize("num_views,num_parts", [(1, 5), (10, 3)])
def test_multi_view_predict_predicts_every_node_once_per_view(graph, num_views, num_parts):
    seen = []

    def predict(sub):
        seen.append(sub.node_ids.clone())
        # A prediction that does not depend on the partition: the average must equal it.
        return torch.stack([sub.node_ids.float(), -sub.node_ids.float()], dim=1)

    out = multi_view_predict(predict, graph, num_views, num_parts, torch.Generator().manual_seed(0))
    assert out.shape == (40, 2)
    expected = torch.stack([torch.arange(40.0), -torch.arange(40.0)], dim=1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    assert len(seen) == num_views * num_parts
    for v in range(num_views):
        nodes = torch.cat(seen[v * num_parts : (v + 1) * num_parts])
        assert torch.equal(torch.sort(nodes).values, torch.arange(40))


def test_multi_view_predict_averages_views(graph):
    def predict(sub):
        # Depends on the view: out-degree inside the subgraph and summed edge features.
        n = sub.node_ids.numel()
        deg = torch.bincount(sub.edge_index[0], minlength=n).float()
        feat = torch.zeros(n, 3).index_add_(0, sub.edge_index[0], sub.edge_attr)
        return torch.cat([deg[:, None], feat], dim=1)

    out = multi_view_predict(predict, graph, 3, 4, torch.Generator().manual_seed(9))
    gen = torch.Generator().manual_seed(9)
    expected = torch.zeros(40, 4)
    for _ in range(3):
        part = random_partition(40, 4, gen)
        for sub in induced_subgraphs(graph.edge_index, part, 4, graph.edge_attr):
            expected[sub.node_ids] += predict(sub)
    torch.testing.assert_close(out, expected / 3, rtol=1e-6, atol=1e-6)


def test_multi_view_predict_runs_without_grad_and_checks_output(graph):
    weight = torch.ones(1, requires_grad=True)
    out = multi_view_predict(lambda sub: weight * sub.node_ids[:, None].float(), graph)
    assert not out.requires_grad
    with pytest.raises(ValueError, match="num_views must be a positive integer, got 0"):
        multi_view_predict(lambda sub: sub.node_ids, graph, num_views=0)
    with pytest.raises(ValueError, match="one row per node"):
        multi_view_predict(lambda sub: torch.zeros(1, 2), graph)


def test_multi_view_predict_reuses_a_loader_without_checking_the_edges_again(graph, monkeypatch):
    loader = RandomPartitionLoader(graph.edge_index, graph.num_nodes, 4, edge_attr=graph.edge_attr)
    checks = []
    real = partition_module._to_int32
    monkeypatch.setattr(
        partition_module, "_to_int32", lambda *args: checks.append(1) or real(*args)
    )

    def predict(sub):
        return sub.edge_attr.sum() + sub.node_ids[:, None].float()

    for seed in range(3):  # three evaluations
        from_loader = multi_view_predict(predict, loader, 2, 4, torch.Generator().manual_seed(seed))
        assert len(checks) == seed  # the loader's edge list is reused as it is
        from_data = multi_view_predict(predict, graph, 2, 4, torch.Generator().manual_seed(seed))
        assert len(checks) == seed + 1  # a Data is checked (and copied) on every call
        assert torch.equal(from_loader, from_data)
