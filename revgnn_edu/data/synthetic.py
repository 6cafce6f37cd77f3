"""Seeded synthetic graphs for tests, benchmarks and notebooks."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import scatter

__all__ = ["random_graph", "toy_graph"]


def _check_positive(name: str, value, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def random_graph(
    num_nodes: int,
    num_edges: int,
    num_features: int = 16,
    edge_dim: int | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Data:
    """A random directed graph with Gaussian features and, optionally, learnable labels.

    Edges are drawn uniformly (self-loops and duplicates are possible, as in a
    multigraph). Labels, when asked for, depend on the graph: each node's class is the
    arg-max of a fixed random projection of its own features plus the mean of its
    in-neighbours' features, so a GNN can learn them and an MLP only partly.

    Args:
        num_nodes (int): number of nodes :math:`N`.
        num_edges (int): number of directed edges :math:`E`.
        num_features (int, optional): node feature size :math:`F`. (default: :obj:`16`)
        edge_dim (int, optional): edge feature size; :obj:`None` for no edge features.
        num_classes (int, optional): number of classes; :obj:`None` for no labels.
        seed (int, optional): the random seed; the same seed gives the same graph.
        dtype (torch.dtype, optional): dtype of the float tensors.

    Shapes:
        - **x:** :math:`(N, F)`, **edge_index:** :math:`(2, E)`,
          **edge_attr:** :math:`(E, edge\\_dim)`, **y:** :math:`(N,)`
    """
    _check_positive("num_nodes", num_nodes)
    _check_positive("num_edges", num_edges, minimum=0)
    _check_positive("num_features", num_features)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, num_features, generator=gen, dtype=dtype)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    data = Data(x=x, edge_index=edge_index)
    if edge_dim is not None:
        _check_positive("edge_dim", edge_dim)
        data.edge_attr = torch.randn(num_edges, edge_dim, generator=gen, dtype=dtype)
    if num_classes is not None:
        _check_positive("num_classes", num_classes, minimum=2)
        # y_i = argmax_c ( W [x_i, mean_{j -> i} x_j] )_c
        neigh = scatter(x[edge_index[0]], edge_index[1], dim=0, dim_size=num_nodes, reduce="mean")
        proj = torch.randn(2 * num_features, num_classes, generator=gen, dtype=dtype)
        data.y = (torch.cat([x, neigh], dim=1) @ proj).argmax(dim=1)
    return data


def toy_graph() -> Data:
    """A 4-node graph small enough to check message passing by hand.

    Edges (source -> target): 0->1, 0->2, 1->2, 2->3, 3->0, 1->3. Node ``i`` has the
    one-dimensional feature ``i + 1`` and edge ``k`` the one-dimensional feature ``k``.
    """
    edge_index = torch.tensor([[0, 0, 1, 2, 3, 1], [1, 2, 2, 3, 0, 3]])
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    edge_attr = torch.arange(edge_index.size(1), dtype=torch.float).view(-1, 1)
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr)
