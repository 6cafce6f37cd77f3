r"""The subgraphs a node partition induces, all parts from one pass over the edges.

Part :math:`p` keeps its nodes and the edges whose two ends lie in it. Everything here
is a handful of NumPy array operations, with no Python loop over nodes or edges, so that
a fresh partition of ogbn-proteins every epoch stays cheap (:mod:`revgnn_edu.data.partition`
draws the partitions).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..checks import check_shape, edge_rows, ids_below, int_in_range, on_cpu, positive_int

__all__ = ["Subgraph", "induced_subgraphs"]


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


def check_num_parts(num_nodes: int, num_parts: int) -> None:
    """Raise a ValueError unless ``1 <= num_parts <= num_nodes``."""
    int_in_range("num_parts", num_parts, 1, positive_int("num_nodes", num_nodes), "num_nodes")


def _small_int_dtype(num_parts: int) -> type:
    # Small part ids keep the per-node table in cache and let argsort use radix sort.
    if num_parts <= 256:
        return np.uint8
    return np.uint16 if num_parts <= 2**16 else np.int64


def edges_as_int32(edge_index: Tensor, num_nodes: int) -> Tensor:
    """A checked, contiguous int32 copy of the edges: half the memory traffic of int64
    per epoch."""
    check_shape("edge_index", edge_index, (2, "E"))
    on_cpu("edge_index", edge_index)
    int_in_range("num_nodes", num_nodes, 1, 2**31 - 1)  # int32 node ids
    ids_below("edge_index", edge_index, num_nodes, "num_nodes")
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
        part (torch.Tensor): Part id of every node, e.g. from
            :func:`~revgnn_edu.data.partition.random_partition`.
        num_parts (int, optional): Number of parts :math:`P`; ``part.max() + 1`` if
            :obj:`None`. (default: :obj:`None`)
        edge_attr (torch.Tensor, optional): Edge features, carried along with the
            edges. (default: :obj:`None`)

    Shapes:
        - **input:** edge_index :math:`(2, E)`, part :math:`(N)`,
          edge_attr :math:`(E, F)`
        - **output:** a list of :math:`P` :class:`Subgraph`
    """
    check_shape("part", part, ("N",))
    on_cpu("part", part)
    num_nodes = positive_int("part.numel()", part.numel())
    if num_parts is None:
        num_parts = int(part.max()) + 1
    check_num_parts(num_nodes, num_parts)
    ids_below("part", part, num_parts, "num_parts")
    check_edge_attr_rows(edge_index, edge_attr)
    return subgraphs_of_partition(edges_as_int32(edge_index, num_nodes), part, num_parts, edge_attr)


def check_edge_attr_rows(edge_index: Tensor, edge_attr: Tensor | None) -> None:
    """Raise a ValueError unless ``edge_attr`` is absent or has one row per edge."""
    if edge_attr is not None:
        edge_rows(edge_attr, edge_index)


def _gather_rows(src: Tensor, index: np.ndarray) -> Tensor:
    # CPU rows without autograd: np.take (no bounds checks with mode="clip"); others:
    # index_select, which keeps the device and the autograd graph.
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


def subgraphs_of_partition(
    edge_index: Tensor, part: Tensor, num_parts: int, edge_attr: Tensor | None
) -> list[Subgraph]:
    """The subgraphs of all parts, from inputs the caller has checked: ``edge_index``
    from :func:`edges_as_int32`, ``part`` a CPU tensor of ids below ``num_parts``."""
    # NumPy does the work (take, flatnonzero, a radix argsort on small part ids;
    # benchmarks/bench_partition.py measures the whole against PyG's loader). The arrays
    # share memory with the tensors.
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
