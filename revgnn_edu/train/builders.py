"""What a run trains, built from its config: the dataset and the model.

:func:`~revgnn_edu.train.train` takes these two builders as arguments, so a run on
another dataset in the same form, or with another model, reuses the whole loop.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["RunData", "load_data", "build_model", "fingerprint", "check_fits"]


class RunData(NamedTuple):
    """A run's dataset: the graph (``edge_index``, ``edge_attr``, ``num_nodes``), the
    split (``"train"``, ``"valid"``, ``"test"`` node ids), the model's node inputs
    ``x`` :math:`(N, F)` and the float 0/1 targets ``y`` :math:`(N, T)`."""

    data: object
    split: dict
    x: Tensor
    y: Tensor


def load_data(cfg) -> RunData:
    """ogbn-proteins from ``cfg.data_root``, node inputs built with ``cfg.node_aggr``."""
    from ..data.ogbn_proteins import load_ogbn_proteins, proteins_node_input

    data, split = load_ogbn_proteins(cfg.data_root, node_aggr=cfg.node_aggr)
    return RunData(data, split, proteins_node_input(data), data.y.float())


def build_model(cfg, num_tasks: int, device: torch.device):
    """``cfg.preset`` with ``cfg``'s depth, width, folding and overrides, on ``device``.

    Raises:
        ValueError: the overrides do not fit the preset's model (naming them).
    """
    from ..models.presets import build_model as build_preset
    from ..models.presets import implementation

    overrides = dict(cfg.overrides)
    if "fold_edge_encoder" in implementation(cfg.preset):  # the reversible families
        overrides.setdefault("fold_edge_encoder", cfg.fold_edge_encoder)
    try:
        model = build_preset(
            cfg.preset,
            num_tasks=num_tasks,
            num_layers=cfg.num_layers,
            hidden_channels=cfg.hidden_channels,
            **overrides,
        )
    except TypeError as err:  # an argument the model does not take
        raise ValueError(
            f"overrides {cfg.overrides!r} do not fit preset {cfg.preset!r}: {err}"
        ) from None
    return model.to(device)


def fingerprint(run: RunData) -> dict:
    """Sizes and a CRC-32 of the content (graph, features, targets, split) of ``run``:
    a resumed run must see the same dataset."""
    crc = 0
    tensors = [run.data.edge_index, run.data.edge_attr, run.x, run.y]
    tensors += [run.split[key] for key in ("train", "valid", "test")]
    for t in tensors:
        t = t.detach().cpu().contiguous()
        crc = zlib.crc32(f"{t.dtype}{tuple(t.shape)}".encode(), crc)
        crc = zlib.crc32(t.view(-1).view(torch.uint8).numpy(), crc)
    return {
        "num_nodes": int(run.data.num_nodes),
        "num_edges": int(run.data.edge_index.size(1)),
        "num_tasks": int(run.y.size(1)),
        "crc32": f"{crc:08x}",
    }


def check_fits(build, cfg, num_tasks: int, weights) -> str | None:
    """What keeps ``weights`` (a state dict) from fitting the model ``build(cfg,
    num_tasks, device)`` builds, found on the meta device (nothing is allocated); or
    :obj:`None`. A model that cannot be built there is left to the real build."""
    meta = torch.device("meta")
    try:
        with meta:
            shell = build(cfg, num_tasks, meta)
    except Exception:
        return None
    want = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    if not isinstance(weights, dict):
        return f"the weights are a {type(weights).__name__}, not a state dict"
    have = {k: tuple(getattr(v, "shape", ())) for k, v in weights.items()}
    if have == want:
        return None
    missing, unexpected = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    resized = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    parts = [
        f"{len(keys)} {what} (first: {keys[0]})"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("resized", resized))
        if keys
    ]
    return f"the weights do not fit the model of the stored config: {', '.join(parts)}"
