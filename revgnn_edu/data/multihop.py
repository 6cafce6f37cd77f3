r"""A proteins-shaped graph whose labels need several hops of message passing.

Within each species the proteins form *modules* (think of protein complexes) of
``module_size`` nodes, and the modules of a species sit on a ring, like stations of a
pathway. Edges join two proteins of one module, or of two modules at most ``reach`` steps
apart on the ring, so one hop of message passing moves up to ``reach`` modules along the
ring. Each module has 8 hidden binary *properties*, one per association type, each
present with probability ``property_rate``.

A property shows in one place only: the edges *inside* a module with property :math:`f`
carry association type :math:`f` with a high score, in :math:`(0.5, 1]`. Every other
association is background, at the usual sparse rates, with scores of at most
``background``. So a node's own input (its summed edge features) shows its own module's
properties, and nothing else; the properties of a module :math:`k` hops away reach it
only through :math:`k` rounds of message passing.

The labels read those hops. With :math:`d_f(m)` the distance, in hops
(:math:`\lceil \text{ring steps} / \text{reach} \rceil`), from module :math:`m` to the
nearest module with property :math:`f` (capped at :math:`K + 1`, :math:`K` = ``hops``),
module :math:`m` scores task :math:`t` as

.. math::
    a_{m,t} = \sum_{f=1}^{8} \beta_{d_f(m)}\, w_{f,t},

with random normal :math:`w`, weights :math:`\beta_0, \ldots, \beta_K` (``hop_weights``)
and :math:`\beta_{K+1} = 0`: a property farther than :math:`K` hops counts nothing. With
:math:`\hat a_{m,t}` that score standardized over the modules, task :math:`t` of a node
:math:`i` in module :math:`m` and species :math:`s_i` is

.. math::
    y_{i,t} = \big[\hat a_{m,t} + 0.3\, v_{s_i, t} + 0.2\, \epsilon_{i,t} > \tau_t\big],

with random normal :math:`v, \epsilon` and the threshold :math:`\tau_t` that gives task
:math:`t` its own positive rate between 5% and 50%. With the default weights (all 1) a
task asks which properties occur within :math:`K` hops, wherever they are.

Removing the edges therefore leaves a model only its own module's properties; a model
whose receptive field is smaller than :math:`K` hops misses the farther ones; and a
random node partition, which keeps only some of the paths along the ring, makes
predictions that averaging several partitions improves.

:func:`multihop_proteins` draws the graph, :func:`multihop_data` returns it in memory as
:func:`~revgnn_edu.data.load_ogbn_proteins` would load it, and
:func:`~revgnn_edu.data.make_fake_ogbn_proteins` writes it in ogb's file format.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from .. import checks
from .multihop_rings import (
    TEST_SPECIES,  # noqa: F401 (re-exported)
    VALID_SPECIES,  # noqa: F401 (re-exported)
    _modules,
    _ring_shift,
    nearest_property_hops,
    species_counts,
    species_split,
)
from .ogbn_proteins import aggregate_edge_features
from .ogbn_proteins_facts import NUM_EDGE_FEATURES, NUM_SPECIES, NUM_TASKS

__all__ = [
    "MultiHopProteins",
    "multihop_proteins",
    "multihop_data",
    "nearest_property_hops",
    "species_split",
]

# Chance that an edge carries each of the 8 association types as background.
FEATURE_RATE = (0.10, 0.05, 0.02, 0.05, 0.40, 0.20, 0.10, 0.60)


class MultiHopProteins(NamedTuple):
    r"""One draw of :func:`multihop_proteins`.

    Attributes:
        edges (torch.Tensor): undirected edges as pairs :math:`u < v`, sorted.
            Shape :math:`(E, 2)`.
        edge_attr (torch.Tensor): association scores in :math:`[0, 1]`, multiples of
            0.001, at least one nonzero per edge. Shape :math:`(E, 8)`.
        species (torch.Tensor): species index in :math:`0..7` per node. Shape :math:`(N)`.
        module (torch.Tensor): module id per node; the modules of a species are numbered
            consecutively along their ring. Shape :math:`(N)`.
        ring_position (torch.Tensor): position of each module on its species' ring.
            Shape :math:`(M)`.
        ring_size (torch.Tensor): number of modules on each module's ring. Shape :math:`(M)`.
        properties (torch.Tensor): the hidden properties of each module, bool.
            Shape :math:`(M, 8)`.
        hops (torch.Tensor): :math:`d_f(m)`, the hops from each module to its nearest
            module with each property, capped at :math:`K + 1`. Shape :math:`(M, 8)`.
        y (torch.Tensor): 0/1 labels, dtype ``torch.long``. Shape :math:`(N, 112)`.
    """

    edges: Tensor
    edge_attr: Tensor
    species: Tensor
    module: Tensor
    ring_position: Tensor
    ring_size: Tensor
    properties: Tensor
    hops: Tensor
    y: Tensor


def _sample_edges(
    species: Tensor,
    module: Tensor,
    ring_position: Tensor,
    ring_size: Tensor,
    num_edges: int,
    intra: float,
    reach: int,
    generator: torch.Generator,
) -> Tensor:
    """Distinct undirected pairs (u < v) of same-species nodes, sorted. Candidates join
    a random node to a random node of its own module (a share ``intra``) or of a module
    1..reach steps away on its ring; once those pairs run out, to any node of its
    species."""
    num_nodes = species.numel()
    counts = torch.bincount(species, minlength=NUM_SPECIES)
    pairs = counts * (counts - 1) // 2
    if num_edges > int(pairs.sum()):
        raise ValueError(
            f"num_edges={num_edges} exceeds the {int(pairs.sum())} distinct pairs of "
            f"same-species nodes among num_nodes={num_nodes}"
        )
    by_species = torch.argsort(species, stable=True)
    species_start = torch.cumsum(counts, 0) - counts
    by_module = torch.argsort(module, stable=True)
    module_count = torch.bincount(module)
    module_start = torch.cumsum(module_count, 0) - module_count
    structured = True
    keys = torch.empty(0, dtype=torch.long)
    while keys.numel() < num_edges:
        batch = 2 * (num_edges - keys.numel()) + 64
        u = torch.randint(0, num_nodes, (batch,), generator=generator)
        pick = torch.rand(batch, generator=generator, dtype=torch.float64)
        if structured:
            step = torch.randint(1, reach + 1, (batch,), generator=generator)
            step = step * (torch.randint(0, 2, (batch,), generator=generator) * 2 - 1)
            inside = torch.rand(batch, generator=generator) < intra
            m = module[u]
            m = torch.where(inside, m, _ring_shift(m, ring_position, ring_size, step))
            v = by_module[module_start[m] + (pick * module_count[m]).long()]
        else:  # the ring's pairs are used up: any node of the same species
            s = species[u]
            v = by_species[species_start[s] + (pick * counts[s]).long()]
        ok = u != v
        u, v = u[ok], v[ok]
        before = keys.numel()
        keys = torch.unique(
            torch.cat([keys, torch.minimum(u, v) * num_nodes + torch.maximum(u, v)])
        )
        if structured and keys.numel() - before < batch // 100:
            structured = False
    if keys.numel() > num_edges:
        keep = torch.randperm(keys.numel(), generator=generator)[:num_edges]
        keys = torch.sort(keys[keep]).values
    return torch.stack([keys // num_nodes, keys % num_nodes], dim=1)


def _hop_weights(hop_weights, hops: int) -> tuple[float, ...]:
    """``hop_weights`` as a tuple of ``hops + 1`` finite floats (all 1 when ``None``)."""
    if hop_weights is None:
        return (1.0,) * (hops + 1)
    try:
        weights = tuple(float(w) for w in hop_weights)
    except (TypeError, ValueError):
        weights = ()
    if len(weights) != hops + 1 or not all(map(math.isfinite, weights)):
        raise ValueError(
            f"hop_weights must be hops + 1 = {hops + 1} finite numbers, got {hop_weights!r}"
        )
    return weights


def _scores(low: int, high: int, shape, generator: torch.Generator) -> Tensor:
    # multiples of 0.001 in [low / 1000, high / 1000], exactly as the csv files hold them
    return torch.randint(low, high + 1, shape, generator=generator) / 1000.0


def multihop_proteins(
    num_nodes: int,
    num_edges: int,
    seed: int = 0,
    *,
    module_size: int = 24,
    reach: int = 1,
    intra: float = 0.2,
    hops: int = 4,
    property_rate: float = 0.1,
    hop_weights: tuple[float, ...] | None = None,
    background: float = 0.05,
) -> MultiHopProteins:
    r"""Draws a proteins-shaped graph whose labels depend on modules up to ``hops`` hops
    away (the construction is in the module documentation).

    Nodes carry the 8 species of ogbn-proteins in fixed proportions; edges only join
    nodes of the same species; edge features are sparse scores in :math:`[0, 1]`
    (multiples of 0.001, at least one nonzero per edge). The same arguments give
    identical tensors.

    Args:
        num_nodes (int): number of proteins :math:`N`, at least 16.
        num_edges (int): number of undirected edges, at least 1 and at most the number
            of same-species pairs. Once the pairs along the ring run out, the rest join
            random nodes of a species.
        seed (int, optional): random seed. (default: :obj:`0`)
        module_size (int, optional): nodes per module; a species smaller than that is
            one module. (default: :obj:`24`)
        reach (int, optional): an edge joins modules at most this many steps apart on
            the ring. (default: :obj:`1`)
        intra (float, optional): share of edges drawn inside a module; the others go to
            modules 1 to ``reach`` steps away. (default: :obj:`0.2`)
        hops (int, optional): the labels read properties up to this many hops away,
            :math:`K`. (default: :obj:`4`)
        property_rate (float, optional): chance that a module has each property.
            (default: :obj:`0.1`)
        hop_weights (tuple of float, optional): :math:`\beta_0, \ldots, \beta_K`.
            (default: all 1)
        background (float, optional): the largest score of a background association, at
            most 0.5 (properties score above 0.5). (default: :obj:`0.05`)

    Returns:
        :class:`MultiHopProteins`
    """
    checks.int_at_least("num_nodes", num_nodes, 2 * NUM_SPECIES)
    checks.int_at_least("num_edges", num_edges, 1)
    checks.int_at_least("seed", seed, 0)
    checks.positive_int("module_size", module_size)
    checks.positive_int("reach", reach)
    checks.number_in_range("intra", intra, 0, 1)
    checks.int_at_least("hops", hops, 0)
    checks.number_in_range("property_rate", property_rate, 0, 1)
    checks.number_in_range("background", background, 0.001, 0.5)
    hop_weights = _hop_weights(hop_weights, hops)
    generator = torch.Generator().manual_seed(seed)

    # Species: the real taxonomy ids in fixed proportions, shuffled over node ids.
    species = torch.repeat_interleave(torch.arange(NUM_SPECIES), species_counts(num_nodes))
    species = species[torch.randperm(num_nodes, generator=generator)]
    module, ring_position, ring_size = _modules(species, module_size)
    edges = _sample_edges(
        species, module, ring_position, ring_size, num_edges, intra, reach, generator
    )

    # Background associations at sparse rates and low scores, then each module's
    # properties on its own edges, with high scores.
    properties = (
        torch.rand(ring_position.numel(), NUM_EDGE_FEATURES, generator=generator) < property_rate
    )
    present = torch.rand(num_edges, NUM_EDGE_FEATURES, generator=generator) < torch.tensor(
        FEATURE_RATE
    )
    low = _scores(1, round(1000 * background), (num_edges, NUM_EDGE_FEATURES), generator)
    high = _scores(501, 1000, (num_edges, NUM_EDGE_FEATURES), generator)
    inside = (module[edges[:, 0]] == module[edges[:, 1]]).nonzero().view(-1)
    shows = torch.zeros(num_edges, NUM_EDGE_FEATURES, dtype=torch.bool)
    shows[inside] = properties[module[edges[inside, 0]]]
    present[inside] = shows[inside]
    none = ~present.any(1)  # every edge has at least one association type
    fill = torch.randint(0, NUM_EDGE_FEATURES, (int(none.sum()),), generator=generator)
    present[none, fill] = True
    edge_attr = torch.where(shows, high, torch.where(present, low, torch.zeros(())))

    # Labels: each property contributes its task weight times the weight of its hops,
    # nothing beyond K; standardized over modules, then species and noise.
    dist = nearest_property_hops(properties, ring_position, ring_size, hops, reach)
    beta = torch.tensor(hop_weights + (0.0,))[dist]  # (M, 8): beta of each property's hops
    w = torch.randn(NUM_EDGE_FEATURES, NUM_TASKS, generator=generator)
    module_score = beta @ w
    module_score = (module_score - module_score.mean(0)) / module_score.std(0).clamp(min=1e-6)
    v = torch.randn(NUM_SPECIES, NUM_TASKS, generator=generator)
    noise = torch.randn(num_nodes, NUM_TASKS, generator=generator)
    score = module_score[module] + 0.3 * v[species] + 0.2 * noise
    rate = 0.05 + 0.45 * torch.rand(NUM_TASKS, generator=generator)
    threshold = torch.quantile(score, 1 - rate, dim=0).diagonal()  # task t at its own rate
    y = (score > threshold).long()
    return MultiHopProteins(
        edges, edge_attr, species, module, ring_position, ring_size, properties, dist, y
    )


def multihop_data(num_nodes: int, num_edges: int, seed: int = 0, **kwargs):
    r"""The graph of :func:`multihop_proteins` in memory, exactly as
    :func:`~revgnn_edu.data.load_ogbn_proteins` loads the files that
    :func:`~revgnn_edu.data.make_fake_ogbn_proteins` writes with the same arguments
    (ogb stores each undirected edge as the pair :math:`(u, v), (v, u)`, in that order).

    Args:
        num_nodes, num_edges, seed, **kwargs: as :func:`multihop_proteins`.

    Returns:
        ``(data, split_idx)``: ``data`` has ``x`` :math:`(N, 8)` summed edge features,
        ``species`` :math:`(N)`, ``edge_index`` :math:`(2, 2E)`, ``edge_attr``
        :math:`(2E, 8)`, ``y`` :math:`(N, 112)` float; ``split_idx`` maps ``"train"``,
        ``"valid"``, ``"test"`` to node ids (the held-out species).
    """
    g = multihop_proteins(num_nodes, num_edges, seed, **kwargs)
    edge_index = torch.stack([g.edges, g.edges.flip(1)], dim=1).view(-1, 2).t()
    edge_attr = g.edge_attr.repeat_interleave(2, dim=0)
    data = Data(
        x=aggregate_edge_features(edge_index, edge_attr, num_nodes, "add"),
        species=g.species,
        edge_index=edge_index,
        edge_attr=edge_attr,
        y=g.y.float(),
        num_nodes=num_nodes,
    )
    return data, species_split(g.species)
