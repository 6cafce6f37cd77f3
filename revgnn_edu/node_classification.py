"""Full-batch node classification on a small graph (Cora, CiteSeer): train and score."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from .checks import one_of, positive_int

__all__ = ["accuracy", "FitResult", "fit_node_classifier", "fit_seeds", "weight_decay_groups"]


def accuracy(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    """Fraction of nodes in ``mask`` whose arg-max prediction equals the label."""
    return (logits[mask].argmax(dim=-1) == y[mask]).float().mean().item()


@dataclass
class FitResult:
    """What :func:`fit_node_classifier` returns.

    Attributes:
        best_val_acc (float): the best validation accuracy seen.
        test_acc (float): test accuracy of the model at the best validation epoch.
        best_epoch (int): that epoch (0-based).
        history (list[dict]): per epoch ``loss``, ``train_acc``, ``val_acc``,
            ``val_loss``, ``test_acc``; one row per epoch run (fewer than ``epochs``
            when training stopped early).
        best_val_loss (float): the validation cross-entropy at the best epoch.
    """

    best_val_acc: float
    test_acc: float
    best_epoch: int
    history: list = field(default_factory=list)
    best_val_loss: float = math.nan


def weight_decay_groups(model: nn.Module, weight_decay: Mapping[str, float]) -> list[dict]:
    """Adam parameter groups with a weight decay per parameter-name prefix: each
    parameter gets the decay of the longest prefix its name starts with (``""`` matches
    every name), e.g. ``{"layers.": 0.01, "": 5e-4}`` as in GCNII, or
    ``{"convs.0.": 5e-4, "": 0.0}`` as in Kipf & Welling's GCN.

    Args:
        model (nn.Module): the model whose ``named_parameters()`` are grouped.
        weight_decay (dict[str, float]): prefix -> decay (each a float >= 0).

    Returns:
        list[dict]: one ``{"params": [...], "weight_decay": decay}`` per prefix that
        matched a parameter.
    """
    if not isinstance(weight_decay, Mapping) or not all(
        isinstance(k, str)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and v >= 0
        for k, v in weight_decay.items()
    ):
        raise ValueError(
            f"weight_decay must map parameter-name prefixes (str) to decays (floats >= 0), "
            f"got {weight_decay!r}"
        )
    prefixes = sorted(weight_decay, key=len, reverse=True)  # the longest match first
    groups: dict[str, list] = {}
    for name, param in model.named_parameters():
        prefix = next((q for q in prefixes if name.startswith(q)), None)
        if prefix is None:
            raise ValueError(
                f"parameter {name!r} matches no prefix of weight_decay {sorted(weight_decay)}; "
                f'add "" for the rest'
            )
        groups.setdefault(prefix, []).append(param)
    return [{"params": ps, "weight_decay": float(weight_decay[q])} for q, ps in groups.items()]


def fit_node_classifier(
    model: nn.Module,
    data: Data,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float | Mapping[str, float] = 5e-4,
    progress: bool = False,
    patience: int | None = None,
    select: str = "val_acc",
) -> FitResult:
    """Train ``model`` full-batch with Adam and cross-entropy on ``data.train_mask``,
    selecting the epoch with the best validation score (optionally stopping early).

    After every epoch the model is scored in evaluation mode on all nodes; the epoch
    with the best validation score is kept (``select``), and with ``patience`` training
    stops once that many epochs have passed without a new best.

    Args:
        model (nn.Module): called as ``model(x, edge_index, edge_attr)``.
        data (Data): needs ``x``, ``edge_index``, ``y``, ``train_mask``, ``val_mask``,
            ``test_mask``; ``edge_attr`` is passed when present.
        epochs (int, optional): number of full-batch steps. (default: :obj:`200`)
        lr (float, optional): Adam learning rate. (default: :obj:`0.01`)
        weight_decay (float or dict, optional): Adam weight decay, one for all
            parameters or one per parameter-name prefix (see
            :func:`weight_decay_groups`). (default: :obj:`5e-4`)
        progress (bool, optional): show a tqdm bar. (default: :obj:`False`)
        patience (int, optional): stop after this many epochs without a new best
            validation score; :obj:`None` runs all ``epochs``. (default: :obj:`None`)
        select (str, optional): the best epoch is the one with the highest validation
            accuracy (``"val_acc"``) or the lowest validation cross-entropy
            (``"val_loss"``); ties keep the earlier epoch. (default: ``"val_acc"``)

    Returns:
        FitResult: the best validation accuracy, the test accuracy at that epoch, and
        the history. The model keeps the weights of its best validation epoch.
    """
    for name in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        if getattr(data, name, None) is None:
            raise ValueError(f"data needs a {name!r} attribute for node classification")
    positive_int("epochs", epochs)
    if patience is not None:
        positive_int("patience", patience)
    one_of("select", select, ("val_acc", "val_loss"))
    if isinstance(weight_decay, Mapping):
        optimizer = torch.optim.Adam(weight_decay_groups(model, weight_decay), lr=lr)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    edge_attr = getattr(data, "edge_attr", None)
    best, best_state = None, None
    history = []
    steps = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="epochs")
    for epoch in steps:
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index, edge_attr)
        loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            out = model(data.x, data.edge_index, edge_attr)
        row = {
            "epoch": epoch,
            "loss": loss.item(),
            **{
                f"{s}_acc": accuracy(out, data.y, data[f"{s}_mask"])
                for s in ("train", "val", "test")
            },
            "val_loss": F.cross_entropy(out[data.val_mask], data.y[data.val_mask]).item(),
        }
        history.append(row)
        if best is None or (
            row["val_acc"] > best["val_acc"]
            if select == "val_acc"
            else row["val_loss"] < best["val_loss"]
        ):
            best, best_state = row, copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - best["epoch"] >= patience:
            break  # patience epochs without a new best
    model.load_state_dict(best_state)
    return FitResult(best["val_acc"], best["test_acc"], best["epoch"], history, best["val_loss"])


def fit_seeds(
    make_model: Callable[[int], nn.Module],
    data: Data,
    seeds: Iterable[int],
    progress: bool = False,
    desc: str = "seeds",
    **fit_kwargs,
) -> list[FitResult]:
    """Train one model per seed with :func:`fit_node_classifier`: for each seed
    :math:`s`, ``torch.manual_seed(s)``, then ``make_model(s)`` and its training run under
    that seed (initial weights and dropout masks both follow from it).

    Args:
        make_model (callable): ``seed -> nn.Module``, building a fresh model.
        data (Data): as for :func:`fit_node_classifier`.
        seeds (iterable of int): the seeds, at least one, no repeats.
        progress (bool, optional): show a tqdm bar over the seeds. (default: :obj:`False`)
        desc (str, optional): the bar's label. (default: ``"seeds"``)
        **fit_kwargs: ``epochs``, ``lr``, ``weight_decay``, ``patience``, ``select`` for
            :func:`fit_node_classifier`.

    Returns:
        list[FitResult]: one result per seed, in the order of ``seeds``.
    """
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(
            f"seeds must not repeat (a repeat trains the same model twice), got {seeds!r}"
        )
    if not callable(make_model):
        raise ValueError(
            f"make_model must be a callable seed -> nn.Module, got {type(make_model).__name__}"
        )
    if progress:
        from tqdm.auto import tqdm

        seeds_iter = tqdm(seeds, desc=desc)
    else:
        seeds_iter = seeds
    results = []
    for seed in seeds_iter:
        torch.manual_seed(seed)
        model = make_model(seed)
        if not isinstance(model, nn.Module):
            raise ValueError(
                f"make_model({seed}) must return an nn.Module, got {type(model).__name__}"
            )
        results.append(fit_node_classifier(model, data, **fit_kwargs))
    return results
