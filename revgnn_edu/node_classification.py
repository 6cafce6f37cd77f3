"""Full-batch node classification on a small graph (Cora, CiteSeer): train and score."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

__all__ = ["accuracy", "FitResult", "fit_node_classifier"]


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
        history (list[dict]): per epoch ``loss``, ``train_acc``, ``val_acc``, ``test_acc``.
    """
    best_val_acc: float
    test_acc: float
    best_epoch: int
    history: list = field(default_factory=list)


def fit_node_classifier(model: nn.Module, data: Data, epochs: int = 200, lr: float = 0.01,
                        weight_decay: float = 5e-4, progress: bool = False) -> FitResult:
    """Train ``model`` full-batch with Adam and cross-entropy on ``data.train_mask``,
    selecting the epoch with the best validation accuracy.

    Args:
        model (nn.Module): called as ``model(x, edge_index, edge_attr)``.
        data (Data): needs ``x``, ``edge_index``, ``y``, ``train_mask``, ``val_mask``,
            ``test_mask``; ``edge_attr`` is passed when present.
        epochs (int, optional): number of full-batch steps. (default: :obj:`200`)
        lr (float, optional): Adam learning rate. (default: :obj:`0.01`)
        weight_decay (float, optional): Adam weight decay. (default: :obj:`5e-4`)
        progress (bool, optional): show a tqdm bar. (default: :obj:`False`)

    Returns:
        FitResult: the best validation accuracy, the test accuracy at that epoch, and
        the history. The model keeps the weights of its best validation epoch.
    """
    for name in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        if getattr(data, name, None) is None:
            raise ValueError(f"data needs a {name!r} attribute for node classification")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
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
        row = {"epoch": epoch, "loss": loss.item(),
               **{f"{s}_acc": accuracy(out, data.y, data[f"{s}_mask"])
                  for s in ("train", "val", "test")}}
        history.append(row)
        if best is None or row["val_acc"] > best["val_acc"]:
            best, best_state = row, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return FitResult(best["val_acc"], best["test_acc"], best["epoch"], history)
