"""Seeded synthetic graphs for tests, benchmarks and notebooks."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from ..checks import int_at_least, one_of, positive_int

__all__ = ["random_graph", "toy_graph", "k_hop_transfer", "TOPOLOGIES"]

#: the graphs :func:`k_hop_transfer` can build
TOPOLOGIES = ("path", "undirected_path", "ring")


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
    positive_int("num_nodes", num_nodes)
    int_at_least("num_edges", num_edges, 0)
    positive_int("num_features", num_features)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, num_features, generator=gen, dtype=dtype)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    data = Data(x=x, edge_index=edge_index)
    if edge_dim is not None:
        positive_int("edge_dim", edge_dim)
        data.edge_attr = torch.randn(num_edges, edge_dim, generator=gen, dtype=dtype)
    if num_classes is not None:
        int_at_least("num_classes", num_classes, 2)
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


def _balanced_classes(n: int, num_classes: int, gen: torch.Generator) -> Tensor:
    """``n`` labels, each class ``n // num_classes`` or one more times, in random order."""
    return (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]


def k_hop_transfer(
    k: int,
    num_classes: int = 4,
    num_train: int = 32,
    num_val: int = 16,
    num_test: int = 16,
    length: int | None = None,
    topology: str = "path",
    seed: int = 0,
) -> Data:
    r"""A node task that needs a receptive field of exactly :math:`k` hops: the label of
    each target node is carried only by a source node :math:`k` hops away.

    The graph is a union of disjoint copies of one small graph, one per sample. In each
    copy the *source* node holds a one-hot class :math:`c \in \{0, \ldots, C-1\}`, the
    *target* node holds a marker, every other node holds zeros, and the target's label is
    :math:`c`:

    .. math::
        x_{\mathrm{source}} = e_c, \qquad x_{\mathrm{target}} = e_{C}, \qquad
        x_v = 0 \ \text{otherwise}, \qquad y_{\mathrm{target}} = c.

    ``topology`` picks the copy:

    - ``"path"``: a directed path of ``length`` nodes (default :math:`k+1`), every edge
      pointing towards the target, which is the last node; the source is :math:`k` hops
      before it (nodes further upstream are blank padding, so that ``length`` can stay
      fixed while :math:`k` changes).
    - ``"undirected_path"``: the same path with every edge in both directions.
    - ``"ring"``: RingTransfer (Bodnar et al., 2021): an undirected ring of :math:`2k`
      nodes with the source opposite the target, :math:`k` hops away either way
      (:math:`k \ge 2`; ``length`` must be :obj:`None`).

    Apart from the source's one-hot, all copies are the same graph with the same
    features, and no node within :math:`k - 1` hops of a target carries its class: a
    message-passing model whose receptive field is smaller than :math:`k` gives every
    target the same output, and so scores chance (the classes are balanced within each
    split), whatever its weights.

    Args:
        k (int): the distance from source to target, :math:`k \ge 1`.
        num_classes (int, optional): number of classes :math:`C \ge 2`. (default: :obj:`4`)
        num_train (int, optional): training copies (targets). (default: :obj:`32`)
        num_val (int, optional): validation copies. (default: :obj:`16`)
        num_test (int, optional): test copies. (default: :obj:`16`)
        length (int, optional): nodes per path, at least :math:`k+1` (paths only).
            (default: :obj:`None`, meaning :math:`k+1`)
        topology (str, optional): ``"path"``, ``"undirected_path"`` or ``"ring"``.
            (default: ``"path"``)
        seed (int, optional): the random seed (classes and their order).
            (default: :obj:`0`)

    Returns:
        Data: ``x`` :math:`(N, C+1)`, ``edge_index`` :math:`(2, E)`, ``y`` :math:`(N,)`
        (every node carries its copy's class; only targets are scored),
        ``train_mask``, ``val_mask``, ``test_mask`` (targets only), ``source_mask``,
        ``target_mask`` (all :math:`(N,)` booleans), and ``k``.

    Shapes:
        - **x:** :math:`(G n, C + 1)` with :math:`G` copies of :math:`n` nodes,
          **edge_index:** :math:`(2, G m)`, **y** and the masks: :math:`(G n,)`
    """
    k = positive_int("k", k)
    num_classes = int_at_least("num_classes", num_classes, 2)
    for name, value in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
        positive_int(name, value)
    one_of("topology", topology, TOPOLOGIES)
    if topology == "ring":
        if k < 2:
            raise ValueError(f"a ring needs k >= 2 (2k >= 4 nodes), got k={k!r}")
        if length is not None:
            raise ValueError(f"a ring has 2k = {2 * k} nodes; length must be None, got {length!r}")
        n = 2 * k
        source, target = k, 0
        src = torch.arange(n)
        edges = torch.stack([src, (src + 1) % n])  # i -> i+1 around the ring
    else:
        n = k + 1 if length is None else positive_int("length", length)
        if n < k + 1:
            raise ValueError(f"length must be at least k + 1 = {k + 1}, got {length!r}")
        source, target = n - 1 - k, n - 1
        src = torch.arange(n - 1)
        edges = torch.stack([src, src + 1])  # i -> i+1, towards the target
    if topology != "path":
        edges = torch.cat([edges, edges.flip(0)], dim=1)  # both directions

    gen = torch.Generator().manual_seed(seed)
    sizes = (num_train, num_val, num_test)
    classes = torch.cat([_balanced_classes(s, num_classes, gen) for s in sizes])
    split = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    order = torch.randperm(len(classes), generator=gen)  # interleave the splits
    classes, split = classes[order], split[order]
    G = len(classes)

    x = torch.zeros(G, n, num_classes + 1)
    x[torch.arange(G), source, classes] = 1.0  # x_source = e_c
    x[:, target, num_classes] = 1.0  # x_target = e_C
    offsets = torch.arange(G).repeat_interleave(edges.size(1)) * n
    edge_index = edges.repeat(1, G) + offsets  # copy g has nodes g n, ..., g n + n - 1
    position = torch.arange(n).repeat(G)
    data = Data(x=x.view(G * n, -1), edge_index=edge_index, y=classes.repeat_interleave(n))
    data.source_mask = position == source
    data.target_mask = position == target
    node_split = split.repeat_interleave(n)
    for i, name in enumerate(("train_mask", "val_mask", "test_mask")):
        data[name] = data.target_mask & (node_split == i)
    data.k = k
    return data
