"""Evaluation: ROC-AUC averaged over views of random partitions, during a run and after."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..data.partition import RandomPartitionLoader, multi_view_predict
from .step import NonFiniteLossError, make_forward

__all__ = ["evaluate", "evaluate_checkpoint"]


@torch.no_grad()
def evaluate(
    model,
    forward,
    data,
    y: Tensor,
    split: dict,
    cfg,
    epoch: int,
    loader: RandomPartitionLoader | None = None,
) -> dict:
    """ROC-AUC on train / valid / test, predictions averaged over random-partition views.

    ``cfg.eval_views`` partitions of ``cfg.eval_parts`` parts each. The views come from
    their own generator (seeded by the run's seed and the epoch), so evaluating never
    changes the training trajectory. Pass ``loader`` (a :class:`RandomPartitionLoader`
    of the graph) to reuse its checked edge list.

    Raises:
        NonFiniteLossError: a prediction is NaN or infinite (naming the epoch).
    """
    from ..data.ogbn_proteins import mean_rocauc

    model.eval()
    views = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    graph = loader if loader is not None else data
    try:
        pred = multi_view_predict(
            lambda sub: forward(sub).sigmoid().cpu(),
            graph,
            num_views=cfg.eval_views,
            num_parts=cfg.eval_parts,
            generator=views,
        )
    finally:
        model.train()
    if not bool(torch.isfinite(pred).all()):
        bad = int((~torch.isfinite(pred)).any(1).sum())
        raise NonFiniteLossError(
            f"the model predicts NaN or infinity for {bad} of {pred.size(0)} nodes when "
            f"evaluating epoch {epoch}"
        )
    return {
        f"{name}_rocauc": mean_rocauc(pred, y, split[key])
        for name, key in (("train", "train"), ("valid", "valid"), ("test", "test"))
    }


def evaluate_checkpoint(
    out, num_views: int = 10, num_parts: int = 3, device: str = "auto", data_root: str | None = None
) -> dict:
    """Score the best-validation model of a run with multi-view inference.

    The paper's headline numbers average predictions over 10 random partitions of 3
    parts each; training-time evaluation uses 1 view x 5 parts. The best model is the
    one ``checkpoint.pt`` names (``best.pt``, or the checkpoint itself when the run
    stopped between writing the two).

    Args:
        out (str or Path): the run's output folder (holding ``best.pt``).
        num_views (int, optional): random partitions averaged. (default: :obj:`10`)
        num_parts (int, optional): parts per partition. (default: :obj:`3`)
        device (str, optional): ``"cpu"``, ``"cuda"`` or ``"auto"``.
        data_root (str, optional): where the dataset is (default: as in training).

    Returns:
        dict: ``epoch`` of the best model and its ``train_rocauc``, ``valid_rocauc``,
        ``test_rocauc``.
    """
    from .builders import build_model, load_data
    from .checkpoint import CheckpointError, one_line
    from .config import check_config, config_from_dict
    from .device import resolve_device
    from .run_folder import best_model

    best = best_model(Path(out))
    path = Path(out) / "best.pt"
    epoch = best["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise CheckpointError(f"{path} is damaged: epoch is {epoch!r}")
    try:
        cfg = config_from_dict(best["config"], str(path))
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    cfg.eval_views, cfg.eval_parts = num_views, num_parts
    if data_root is not None:
        cfg.data_root = data_root
    check_config(cfg)
    dev = resolve_device(device)
    run = load_data(cfg)
    model = build_model(cfg, run.y.size(1), dev)
    try:
        model.load_state_dict(best["model"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path} does not fit the model: {one_line(err)}") from None
    forward = make_forward(model, run.x, dev, cfg.amp)
    return {"epoch": epoch, **evaluate(model, forward, run.data, run.y, run.split, cfg, epoch)}
