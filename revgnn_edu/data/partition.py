r"""Random node partitions and their induced subgraphs, vectorized for large graphs.

The paper trains on ogbn-proteins by splitting the nodes uniformly at random into 10
parts every epoch and taking one optimizer step on the subgraph each part induces: the
edges whose two ends lie in the part. With 10 parts, an edge survives with probability
about 1/10, so one epoch sees about a tenth of the 79M edges. At test time predictions
are averaged over several random partitions ("views").

Everything here is a handful of array operations, with no Python loop over nodes or
edges: one pass over the edges yields all parts' subgraphs, where PyG's
RandomNodeLoader scans all edges once per part; benchmarks/bench_partition.py times
the two side by side at ogbn-proteins' size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..checks import edge_rows, int_in_range, positive_int


class Subgraph(NamedTuple):
    r"""The subgraph induced by one part of a partition.

    Attributes:
        node_ids (torch.Tensor): Global ids of the part's nodes, ascending; local node
            :math:`i` is global node ``node_ids[i]``. Shape :math:`(N_p)`.
        edge_index (torch.Tensor): Edges between the part's nodes, in local ids.
            Shape :math:`(2, E_p)`, dtype ``torch.long``.
        edge_ids (torch.Tensor): Position of each edge in the full edge list, ascending.
            Shape :math:`(E_p)`.
        edge_attr (torch.Tensor or None): The edges' features, or :obj:`None` if the
            graph has none. Shape :math:`(E_p, F)`.
    """

    node_ids: Tensor
    edge_index: Tensor
    edge_ids: Tensor
    edge_attr: Tensor | None


def _check_num_parts(num_nodes: int, num_parts: int) -> None:
    int_in_range("num_parts", num_parts, 1, positive_int("num_nodes", num_nodes), "num_nodes")


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
    _check_num_parts(num_nodes, num_parts)
    perm = torch.randperm(num_nodes, generator=generator)
    part = torch.empty(num_nodes, dtype=torch.long)
    part[perm] = torch.arange(num_nodes) % num_parts
    return part


def _small_int_dtype(num_parts: int) -> type:
    # Small part ids keep the per-node table in cache and let argsort use radix sort.
    if num_parts <= 256:
        return np.uint8
    return np.uint16 if num_parts <= 2**16 else np.int64


def _to_int32(edge_index: Tensor, num_nodes: int) -> Tensor:
    # A contiguous int32 copy of the edges: half the memory traffic of int64 per epoch.
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.device.type != "cpu":
        raise ValueError(f"edge_index must be on the CPU, got {edge_index.device}")
    if num_nodes >= 2**31:
        raise ValueError(f"num_nodes must be below 2**31 for int32 ids, got {num_nodes}")
    if edge_index.numel():
        low, high = (int(v) for v in torch.aminmax(edge_index))
        if low < 0 or high >= num_nodes:
            raise ValueError(
                f"edge_index holds node ids in {low}..{high}, expected ids in "
                f"0..{num_nodes - 1} (num_nodes={num_nodes})"
            )
    return edge_index.to(torch.int32).contiguous()


def induced_subgraphs(
    edge_index: Tensor,
    part: Tensor,
    num_parts: int | None = None,
    edge_attr: Tensor | None = None,
) -> list[Subgraph]:
    r"""Splits a graph into the subgraphs induced by the parts of a node partition.

    Part :math:`p` keeps nodes :math:`V_p = \{i : \mathrm{part}(i) = p\}` and edges
    :math:`E_p = \{(i, j) \in E : \mathrm{part}(i) = \mathrm{part}(j) = p\}`; edges
    between parts are dropped. All parts come from one pass over the edges.

    Args:
        edge_index (torch.Tensor): Edges in global node ids, on the CPU.
        part (torch.Tensor): Part id of every node, e.g. from :func:`random_partition`.
        num_parts (int, optional): Number of parts :math:`P`; ``part.max() + 1`` if
            :obj:`None`. (default: :obj:`None`)
        edge_attr (torch.Tensor, optional): Edge features, carried along with the
            edges. (default: :obj:`None`)

    Shapes:
        - **input:** edge_index :math:`(2, E)`, part :math:`(N)`,
          edge_attr :math:`(E, F)`
        - **output:** a list of :math:`P` :class:`Subgraph`
    """
    if part.dim() != 1 or part.numel() == 0:
        raise ValueError(f"part must be a non-empty 1-D tensor, got shape {tuple(part.shape)}")
    if part.device.type != "cpu":
        raise ValueError(f"part must be on the CPU, got {part.device}")
    num_nodes = part.numel()
    low, high = (int(v) for v in torch.aminmax(part))
    if num_parts is None:
        num_parts = high + 1
    _check_num_parts(num_nodes, num_parts)
    if low < 0 or high >= num_parts:
        raise ValueError(f"part ids must lie in 0..{num_parts - 1}, got values in {low}..{high}")
    _check_edge_attr(edge_index, edge_attr)
    return _induced_subgraphs(_to_int32(edge_index, num_nodes), part, num_parts, edge_attr)


def _check_edge_attr(edge_index: Tensor, edge_attr: Tensor | None) -> None:
    if edge_attr is not None:
        edge_rows(edge_attr, edge_index)


def _gather_rows(src: Tensor, index: np.ndarray) -> Tensor:
    # np.take is about 4x faster than index_select for (E, 8) float rows on CPU.
    if src.device.type == "cpu" and not src.requires_grad and src.dtype in _NUMPY_DTYPES:
        return torch.from_numpy(np.take(src.numpy(), index, axis=0, mode="clip"))
    return src.index_select(0, torch.from_numpy(index).to(src.device))


_NUMPY_DTYPES = {
    torch.float16,
    torch.float32,
    torch.float64,
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.bool,
}


# Edges are scanned in chunks this long: the chunk's part ids (1 byte per edge) stay in
# the CPU cache, and no array as long as the edge list is allocated per epoch.
_CHUNK = 1 << 18


def _scan_edges(
    row: np.ndarray, col: np.ndarray, table: np.ndarray, local: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ids, parts and local ends of the edges whose two ends share a part."""
    size = min(_CHUNK, len(row))
    part_row, part_col = np.empty(size, table.dtype), np.empty(size, table.dtype)
    same = np.empty(size, dtype=bool)
    # Each list starts with an empty array so that a graph without edges works too.
    ids, parts = [np.empty(0, np.int64)], [np.empty(0, table.dtype)]
    srcs, dsts = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for start in range(0, len(row), _CHUNK):
        rows, cols = row[start : start + _CHUNK], col[start : start + _CHUNK]
        n = len(rows)
        # mode="clip" skips bounds checks (ids were checked) and buffering.
        np.take(table, rows, out=part_row[:n], mode="clip")
        np.take(table, cols, out=part_col[:n], mode="clip")
        np.equal(part_row[:n], part_col[:n], out=same[:n])
        k = np.flatnonzero(same[:n])  # kept edges of this chunk
        ids.append(k + start)
        parts.append(part_row[k])
        srcs.append(np.take(local, np.take(rows, k), mode="clip"))
        dsts.append(np.take(local, np.take(cols, k), mode="clip"))
    return tuple(np.concatenate(x) for x in (ids, parts, srcs, dsts))


def _induced_subgraphs(
    edge_index: Tensor, part: Tensor, num_parts: int, edge_attr: Tensor | None
) -> list[Subgraph]:
    # Inputs are checked by the callers: edge_index is int32 (2, E) on the CPU.
    # NumPy does the heavy lifting: its take, flatnonzero and radix argsort are several
    # times faster than the torch equivalents on CPU. Arrays and tensors share memory.
    row, col = edge_index[0].numpy(), edge_index[1].numpy()
    part_np = part.numpy()
    num_nodes = part_np.shape[0]

    # Nodes: group by part (ascending ids inside a part); local id = rank inside the part.
    table = part_np.astype(_small_int_dtype(num_parts))
    node_order = np.argsort(table, kind="stable")
    node_count = np.bincount(part_np, minlength=num_parts)
    node_ptr = np.concatenate([[0], np.cumsum(node_count)])
    local = np.empty(num_nodes, dtype=np.int64)
    local[node_order] = np.arange(num_nodes) - np.repeat(node_ptr[:-1], node_count)

    # Edges: keep (i, j) when part(i) == part(j) ...
    keep, edge_part, src, dst = _scan_edges(row, col, table, local)
    # ... and group the kept edges by part (a stable sort keeps ids ascending per part).
    order = np.argsort(edge_part, kind="stable")
    edge_ids = np.take(keep, order)
    edge_ptr = np.concatenate([[0], np.cumsum(np.bincount(edge_part, minlength=num_parts))])
    attr = _gather_rows(edge_attr, edge_ids) if edge_attr is not None else None

    # Local edge_index of part p, written straight into its own (2, E_p) block.
    blocks = np.empty(2 * len(edge_ids), dtype=np.int64)
    node_ptr, edge_ptr = node_ptr.tolist(), edge_ptr.tolist()
    subgraphs = []
    for p in range(num_parts):
        a, b = edge_ptr[p], edge_ptr[p + 1]
        block = blocks[2 * a : 2 * b].reshape(2, b - a)
        np.take(src, order[a:b], out=block[0], mode="clip")
        np.take(dst, order[a:b], out=block[1], mode="clip")
        subgraphs.append(
            Subgraph(
                node_ids=torch.from_numpy(node_order[node_ptr[p] : node_ptr[p + 1]]),
                edge_index=torch.from_numpy(block),
                edge_ids=torch.from_numpy(edge_ids[a:b]),
                edge_attr=attr[a:b] if attr is not None else None,
            )
        )
    return subgraphs


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
        _check_num_parts(num_nodes, num_parts)
        _check_edge_attr(edge_index, edge_attr)
        self.edge_index = _to_int32(edge_index, num_nodes)
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
        _check_num_parts(self.num_nodes, num_parts)
        generator = self.generator if generator is None else generator
        part = random_partition(self.num_nodes, num_parts, generator)
        return _induced_subgraphs(self.edge_index, part, num_parts, self.edge_attr)

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
            reused (a ``Data`` is checked and copied on every call: on ogbn-proteins'
            79M edges that costs seconds per evaluation).
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
