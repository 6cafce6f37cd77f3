"""Species and module rings of the multi-hop protein graph (:mod:`.multihop`).

Each species is cut into modules of consecutive node ids, and the modules of a species sit
on a ring; :func:`nearest_property_hops` measures, along those rings, how many hops
separate each module from the nearest module with each property. :func:`species_split`
holds whole species out for validation and testing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .ogbn_proteins_facts import NUM_SPECIES, SPECIES_TAXONOMY_IDS

__all__ = ["nearest_property_hops", "species_counts", "species_split"]

# Species of the split: whole species are held out, as in the real split (about
# 65% / 16% / 19% of the nodes). This choice is ours, not a claim about the real split.
VALID_SPECIES = (7955,)
TEST_SPECIES = (10090,)


def species_counts(num_nodes: int) -> Tensor:
    """Nodes per species: the held-out species get about 16% and 19%, the other six share
    65% equally, each at least 2; the first species absorbs the rounding."""
    share = torch.full((NUM_SPECIES,), 0.65 / (NUM_SPECIES - 2))
    for ids, fraction in ((VALID_SPECIES, 0.16), (TEST_SPECIES, 0.19)):
        for taxid in ids:
            share[SPECIES_TAXONOMY_IDS.index(taxid)] = fraction / len(ids)
    counts = (share * num_nodes).floor().long().clamp(min=2)
    counts[0] += num_nodes - int(counts.sum())
    return counts


def species_split(species: Tensor) -> dict[str, Tensor]:
    """Node ids of the train / valid / test species (the split the fake files hold)."""
    taxid = torch.tensor(SPECIES_TAXONOMY_IDS)[species]
    valid = torch.isin(taxid, torch.tensor(VALID_SPECIES))
    test = torch.isin(taxid, torch.tensor(TEST_SPECIES))
    return {
        "train": (~(valid | test)).nonzero().view(-1),
        "valid": valid.nonzero().view(-1),
        "test": test.nonzero().view(-1),
    }


def _modules(species: Tensor, module_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Cut each species into ``max(1, n_s // module_size)`` modules of consecutive node
    ids (node ids are in random order already). Returns each node's module and each
    module's ring position and ring size."""
    counts = torch.bincount(species, minlength=NUM_SPECIES)
    rings = (counts // module_size).clamp(min=1) * (counts > 0)
    order = torch.argsort(species, stable=True)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(species)
    rank[order] = torch.arange(species.numel()) - start[species[order]]
    offset = torch.cumsum(rings, 0) - rings
    module = offset[species] + rank * rings[species] // counts[species]
    module_species = torch.repeat_interleave(torch.arange(NUM_SPECIES), rings)
    ring_position = torch.arange(int(rings.sum())) - offset[module_species]
    return module, ring_position, rings[module_species]


def _ring_shift(m: Tensor, ring_position: Tensor, ring_size: Tensor, step) -> Tensor:
    """The modules ``step`` places along the rings of modules ``m`` (the modules of a
    ring are numbered consecutively)."""
    position, size = ring_position[m], ring_size[m]
    return m - position + (position + step) % size


def nearest_property_hops(
    properties: Tensor, ring_position: Tensor, ring_size: Tensor, hops: int, reach: int = 1
) -> Tensor:
    r"""Hops from each module to the nearest module with each property.

    .. math::
        d_f(m) = \min\big(\lceil \delta(m, m') / r \rceil : m' \text{ has property } f
        \big) \text{, capped at } K + 1,

    with :math:`\delta` the distance along the ring (either direction) and :math:`r` =
    ``reach``, the ring steps one edge spans.

    Args:
        properties (torch.Tensor): bool, which module has which property.
        ring_position (torch.Tensor): each module's position on its ring.
        ring_size (torch.Tensor): each module's ring size.
        hops (int): the cap :math:`K`; farther (or absent) properties get :math:`K + 1`.
        reach (int, optional): ring steps per hop :math:`r`. (default: :obj:`1`)

    Shapes:
        - **input:** properties :math:`(M, F)`, ring_position :math:`(M)`,
          ring_size :math:`(M)`
        - **output:** :math:`(M, F)`, dtype ``torch.long``
    """
    modules = torch.arange(properties.size(0))
    dist = torch.full(properties.shape, hops + 1, dtype=torch.long)
    for step in range(hops * reach, -1, -1):  # nearest last, so it wins
        ahead = _ring_shift(modules, ring_position, ring_size, step)
        behind = _ring_shift(modules, ring_position, ring_size, -step)
        dist[properties[ahead] | properties[behind]] = (step + reach - 1) // reach
    return dist
