r"""Random node partitions and their induced subgraphs, vectorized for large graphs.

The paper trains on ogbn-proteins by splitting the nodes uniformly at random into
:math:`P` parts every epoch (:data:`~revgnn_edu.data.ogbn_proteins_facts.TRAIN_PARTS`)
and taking one optimizer step on the subgraph each part induces: the edges whose two
ends lie in the part. An edge survives with probability about :math:`1/P`, so one epoch
sees about a :math:`P`-th of the edges. At test time predictions are averaged over
several random partitions ("views").

One pass over the edges yields all parts' subgraphs (:mod:`revgnn_edu.data.subgraphs`),
where PyG's RandomNodeLoader scans all edges once per part; benchmarks/bench_partition.py
times the two side by side at ogbn-proteins' size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from ..checks import positive_int
from .subgraphs import (
    Subgraph,
    check_edge_attr_rows,
    check_num_parts,
    edges_as_int32,
    induced_subgraphs,
    subgraphs_of_partition,
)

__all__ = [
    "Subgraph",
    "random_partition",
    "induced_subgraphs",
    "RandomPartitionLoader",
    "multi_view_predict",
]


def random_partition(
    num_nodes: int,
    num_parts: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Assigns every node to one of ``num_parts`` parts uniformly at random.

    A random permutation :math:`\pi` deals the nodes out like cards,
    :math:`\mathrm{part}(\pi_k) = k \bmod P`, so part sizes differ by at most one.

    Args:
        num_nodes (int): Number of nodes :math:`N`.
        num_parts (int): Number of parts :math:`P`, between 1 and :math:`N`.
        generator (torch.Generator, optional): Source of randomness.
            (default: :obj:`None`)

    Shapes:
        - **output:** :math:`(N)`, part id in :math:`0..P-1`, dtype ``torch.long``
    """
    check_num_parts(num_nodes, num_parts)
    perm = torch.randperm(num_nodes, generator=generator)
    part = torch.empty(num_nodes, dtype=torch.long)
    part[perm] = torch.arange(num_nodes) % num_parts
    return part


class RandomPartitionLoader:
    r"""Yields the subgraphs of a fresh random node partition on every pass.

    Each ``for sub in loader`` draws a new :func:`random_partition` into
    ``num_parts`` parts and yields the :class:`Subgraph` of each part
    (see :func:`induced_subgraphs`): one epoch of the paper's training. The edge list is
    checked and copied to ``int32`` once, at construction (:func:`induced_subgraphs` does
    that on every call), which halves the memory each epoch reads.

    Args:
        edge_index (torch.Tensor): Edges in global node ids, on the CPU (move each
            subgraph to the GPU instead).
        num_nodes (int): Number of nodes :math:`N`.
        num_parts (int, optional): Parts per partition. (default: :obj:`10`)
        edge_attr (torch.Tensor, optional): Edge features carried along.
            (default: :obj:`None`)
        generator (torch.Generator, optional): Source of randomness for the partitions.
            (default: :obj:`None`)

    Shapes:
        - **input:** edge_index :math:`(2, E)`, edge_attr :math:`(E, F)`
        - **output:** ``num_parts`` :class:`Subgraph` per pass
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        num_parts: int = 10,
        edge_attr: Tensor | None = None,
        generator: torch.Generator | None = None,
    ):
        check_num_parts(num_nodes, num_parts)
        check_edge_attr_rows(edge_index, edge_attr)
        self.edge_index = edges_as_int32(edge_index, num_nodes)
        self.num_nodes = num_nodes
        self.num_parts = num_parts
        self.edge_attr = edge_attr
        self.generator = generator

    def sample(
        self, num_parts: int | None = None, generator: torch.Generator | None = None
    ) -> list[Subgraph]:
        """Draws a new random partition and returns all its subgraphs.

        ``num_parts`` and ``generator`` default to the loader's own.
        """
        num_parts = self.num_parts if num_parts is None else num_parts
        check_num_parts(self.num_nodes, num_parts)
        generator = self.generator if generator is None else generator
        part = random_partition(self.num_nodes, num_parts, generator)
        return subgraphs_of_partition(self.edge_index, part, num_parts, self.edge_attr)

    def __iter__(self) -> Iterator[Subgraph]:
        return iter(self.sample())

    def __len__(self) -> int:
        return self.num_parts

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
            f"num_edges={self.edge_index.size(1)}, num_parts={self.num_parts})"
        )


@torch.no_grad()
def multi_view_predict(
    predict_fn: Callable[[Subgraph], Tensor],
    data,
    num_views: int = 1,
    num_parts: int = 5,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Averages predictions over several random partitions ("views") of the graph.

    .. math::
        \hat{\mathbf{Y}} = \frac{1}{V} \sum_{v=1}^{V} \hat{\mathbf{Y}}^{(v)}

    where in view :math:`v` every node is predicted exactly once, by ``predict_fn`` on
    the subgraph of its part. The paper's single view is 1 view x 5 parts; its headline
    numbers use 10 views x 3 parts. Predictions are averaged as ``predict_fn`` returns
    them: return sigmoid probabilities to average probabilities, or logits to average
    logits (with one view the two rank nodes identically, so ROC-AUC is the same).
    Runs under :func:`torch.no_grad`.

    Args:
        predict_fn (callable): Maps a :class:`Subgraph` to predictions for its nodes,
            one row per entry of ``subgraph.node_ids``.
        data (torch_geometric.data.Data or RandomPartitionLoader): The graph:
            ``edge_index``, ``num_nodes`` and, if present, ``edge_attr``; or a
            :class:`RandomPartitionLoader` of it, whose checked ``int32`` edge list is
            reused (a ``Data`` is checked and copied to ``int32`` on every call).
        num_views (int, optional): Number of random partitions :math:`V`. (default: :obj:`1`)
        num_parts (int, optional): Parts per partition. (default: :obj:`5`)
        generator (torch.Generator, optional): Source of randomness.
            (default: :obj:`None`)

    Shapes:
        - **output:** :math:`(N, C)`, with :math:`C` the width of ``predict_fn``'s output
    """
    positive_int("num_views", num_views)
    if isinstance(data, RandomPartitionLoader):
        loader = data
    else:
        loader = RandomPartitionLoader(
            data.edge_index, data.num_nodes, num_parts, getattr(data, "edge_attr", None)
        )
    total = None
    for _ in range(num_views):
        for sub in loader.sample(num_parts, generator):
            pred = predict_fn(sub)
            if pred.dim() == 0 or pred.size(0) != sub.node_ids.numel():
                raise ValueError(
                    f"predict_fn must return one row per node of the subgraph "
                    f"({sub.node_ids.numel()}), got shape {tuple(pred.shape)}"
                )
            if total is None:
                total = pred.new_zeros((loader.num_nodes,) + tuple(pred.shape[1:]))
            total[sub.node_ids.to(pred.device)] += pred
    return total / num_views
