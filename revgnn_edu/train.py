"""Train a preset on ogbn-proteins with the paper's recipe, resumable at every epoch.

    python -m revgnn_edu.train --preset revgnn-deep --data-root DIR --epochs 2000 --device cuda

One epoch = a fresh random partition of the nodes into ``num_parts`` parts and one Adam
step (lr 0.001, gradient-norm clipping 1.0, BCE-with-logits over the 112 tasks) on the
subgraph of each part. After each epoch the model is evaluated (ROC-AUC averaged over
views of random partitions), a line is appended to ``metrics.jsonl``, the best-validation
weights go to ``best.pt`` and everything needed to continue goes to ``checkpoint.pt``,
each written atomically; ``metrics.png`` plots the log at the end of the run. ``--resume`` continues from ``checkpoint.pt``; on the CPU a
resumed run follows the same trajectory as an uninterrupted one.

Several GPUs or machines: launch the same command with ``torchrun``; every process draws
the same partition, trains on its own parts (process r takes parts r, r + W, ...), and
DistributedDataParallel averages the gradients, so one step of W processes equals one
step of one process on those W parts. Rank 0 evaluates, logs and writes checkpoints.

    torchrun --nproc_per_node=4 -m revgnn_edu.train --preset revgnn-deep --device cuda
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from .data.ogbn_proteins import load_ogbn_proteins, mean_rocauc
from .data.partition import RandomPartitionLoader, multi_view_predict
from .data.ogbn_proteins import NUM_SPECIES
from .models.presets import PRESETS, build_model
from .plotting import save_metrics_plot

__all__ = ["TrainConfig", "train", "training_step", "evaluate", "evaluate_checkpoint",
           "init_distributed", "proteins_node_input", "read_metrics", "main", "atomic_save",
           "NonFiniteLossError"]

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
PLOT = "metrics.png"


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in every checkpoint).

    Attributes:
        preset (str): a name from :data:`revgnn_edu.models.PRESETS`.
        data_root (str, optional): folder holding ``ogbn_proteins/``; see
            :func:`revgnn_edu.data.load_ogbn_proteins`.
        out (str): output folder for checkpoints and the metrics log.
        epochs (int): total number of epochs (a resumed run stops here too).
        device (str): ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
        amp (bool): bfloat16 autocast for the forward pass.
        num_layers, hidden_channels (int, optional): shrink or grow the preset.
        lr (float): Adam learning rate. clip (float): gradient-norm clip.
        num_parts (int): parts per training partition (the paper: 10).
        eval_views, eval_parts (int): evaluation views x parts (1 x 5; the paper's
            headline numbers use 10 x 3).
        eval_every (int): evaluate every this many epochs (and at the last).
        node_aggr (str): how edge features become node inputs (``add``, ``mean``, ``max``).
        seed (int): seeds the model, dropout and the partitions.
    """
    preset: str = "revgnn-deep"
    data_root: str | None = None
    out: str = "runs/ogbn-proteins"
    epochs: int = 2000
    device: str = "auto"
    amp: bool = False
    num_layers: int | None = None
    hidden_channels: int | None = None
    lr: float = 1e-3
    clip: float = 1.0
    num_parts: int = 10
    eval_views: int = 1
    eval_parts: int = 5
    eval_every: int = 1
    node_aggr: str = "add"
    seed: int = 0
    overrides: dict = field(default_factory=dict)


def proteins_node_input(data) -> Tensor:
    """The model input: aggregated edge features (8) next to the species one-hot (8)."""
    species = F.one_hot(data.species, NUM_SPECIES).to(data.x.dtype)
    return torch.cat([data.x, species], dim=-1)


def atomic_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash mid-write leaves the previous file intact, never a truncated one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_metrics(out: str | os.PathLike) -> list[dict]:
    """The rows of ``<out>/metrics.jsonl``, one per evaluated epoch."""
    path = Path(out) / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append_metrics(out: Path, row: dict) -> None:
    with open(out / METRICS, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def _truncate_metrics(out: Path, last_epoch: int) -> None:
    """Drop log lines of epochs after the checkpoint (written before a crash)."""
    rows = [r for r in read_metrics(out) if r["epoch"] <= last_epoch]
    (out / METRICS).write_text("".join(json.dumps(r) + "\n" for r in rows))


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name} was asked for but CUDA is not available")
    return device


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _check_config(cfg: TrainConfig) -> None:
    if cfg.preset not in PRESETS:
        raise ValueError(f"unknown preset {cfg.preset!r}; valid presets: {', '.join(PRESETS)}")
    for name in ("epochs", "num_parts", "eval_views", "eval_parts", "eval_every"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train ``cfg.preset`` on ogbn-proteins (or any dataset in its format).

    Args:
        cfg (TrainConfig): the run.
        resume (bool, optional): continue from ``<out>/checkpoint.pt``; the stored
            configuration is used for everything but ``epochs``, ``device`` and ``out``.
        progress (bool, optional): tqdm progress bars. (default: :obj:`True`)

    Returns:
        dict: ``best_epoch``, ``best_valid``, ``test_at_best``, ``epochs_done``,
        ``seconds_per_epoch`` and ``peak_memory_bytes`` (CUDA only, else :obj:`None`).
    """
    _check_config(cfg)
    rank, world = _dist()
    if cfg.num_parts % world:
        raise ValueError(f"num_parts={cfg.num_parts} must be a multiple of the number of "
                         f"processes ({world}): each process trains on its own parts")
    out = Path(cfg.out)
    device = _resolve_device(cfg.device)
    ckpt = None
    if resume:
        path = out / CHECKPOINT
        if not path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}")
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        stored = TrainConfig(**ckpt["config"])
        stored.epochs, stored.device, stored.out = cfg.epochs, cfg.device, cfg.out
        cfg = stored
    elif (out / CHECKPOINT).exists():
        raise FileExistsError(f"{out / CHECKPOINT} exists: pass --resume to continue that "
                              f"run, or choose another --out")
    _barrier()  # every process has looked at out/ before rank 0 writes to it
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if ckpt is not None:
            _truncate_metrics(out, ckpt["epoch"])

    torch.manual_seed(cfg.seed)
    data, split, x, y = _load(cfg)
    train_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    train_mask[split["train"]] = True
    model = _build(cfg, y, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # the same partition on every process (same seed): process r takes parts r, r + W, ...
    partitions = torch.Generator().manual_seed(cfg.seed)
    loader = RandomPartitionLoader(data.edge_index, data.num_nodes, cfg.num_parts,
                                   edge_attr=data.edge_attr, generator=partitions)
    start, best = 1, {"best_epoch": 0, "best_valid": -math.inf, "test_at_best": math.nan}
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        partitions.set_state(ckpt["partition_rng"])
        states = ckpt["rng"]
        _set_rng_state(states[rank] if len(states) == world else states[0], device)
        start, best = ckpt["epoch"] + 1, ckpt["best"]
    net = model
    if world > 1:  # gradients are averaged over the processes after each backward
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    forward = _forward_fn(net, x, device, cfg.amp)
    eval_forward = _forward_fn(model, x, device, cfg.amp)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    bar = tqdm(range(start, cfg.epochs + 1), desc=cfg.preset, initial=start - 1,
               total=cfg.epochs, disable=not progress or rank != 0)
    times = []
    for epoch in bar:
        t0 = time.perf_counter()
        net.train()
        parts = loader.sample()
        losses = []
        for step in range(cfg.num_parts // world):
            loss = training_step(net, optimizer, forward, [parts[step * world + rank]],
                                 train_mask, y, cfg.clip, device)
            if not math.isfinite(loss):
                raise NonFiniteLossError(
                    f"the loss is {loss} at epoch {epoch}, step {step}; stopped. "
                    f"The last good checkpoint ({out / CHECKPOINT}, epoch {epoch - 1}) "
                    f"is intact: lower the learning rate or disable --amp, then --resume.")
            losses.append(loss)
        times.append(time.perf_counter() - t0)
        row = {"epoch": epoch, "loss": _mean_over_processes(sum(losses) / len(losses)),
               "epoch_seconds": times[-1]}
        if rank == 0:  # one process evaluates, logs and writes the checkpoints
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                row.update(evaluate(model, eval_forward, data, y, split, cfg, epoch))
                if row["valid_rocauc"] > best["best_valid"]:
                    best = {"best_epoch": epoch, "best_valid": row["valid_rocauc"],
                            "test_at_best": row["test_rocauc"]}
                    atomic_save({"model": model.state_dict(), "epoch": epoch,
                                 "config": asdict(cfg)}, out / BEST)
            row.update(best)
            _append_metrics(out, row)
        rng = _gather(_rng_state(device))
        if rank == 0:
            atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "partition_rng": partitions.get_state(), "rng": rng,
                         "epoch": epoch, "best": best, "config": asdict(cfg)}, out / CHECKPOINT)
            bar.set_postfix(loss=f"{row['loss']:.4f}", valid=f"{best['best_valid']:.4f}")
        _barrier()
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    if rank == 0:
        save_metrics_plot(read_metrics(out), out / PLOT)
    best = _broadcast(best)
    return {**best, "epochs_done": cfg.epochs,
            "seconds_per_epoch": sum(times) / len(times) if times else None,
            "peak_memory_bytes": peak}


def training_step(model, optimizer, forward, subgraphs, train_mask: Tensor, y: Tensor,
                  clip: float, device: torch.device) -> float:
    """One optimizer step on the mean of the per-part losses of ``subgraphs``.

    Each part's loss is the BCE over its training nodes (zero, but still part of the
    graph, for a part without any). Parts are backpropagated one at a time, so memory is
    that of one part. Under DistributedDataParallel each process passes its own part and
    the gradients are averaged over processes, which is the same step as one process
    passing all those parts. Returns the mean loss; a non-finite loss skips the update.
    """
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for sub in subgraphs:
        nodes = train_mask[sub.node_ids]
        logits = forward(sub)
        if bool(nodes.any()):
            loss = F.binary_cross_entropy_with_logits(logits[nodes.to(device)],
                                                      y[sub.node_ids][nodes].to(device))
        else:
            loss = logits.sum() * 0.0
        finite = _all_finite(loss)
        if not finite:
            return math.nan
        (loss / len(subgraphs)).backward()
        total += loss.item() / len(subgraphs)
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return total


# -- torch.distributed helpers: each is a no-op without a process group ----------------
def _dist() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier() -> None:
    if _dist()[1] > 1:
        dist.barrier()


def _all_finite(loss: Tensor) -> bool:
    """Whether the loss is finite on every process (so all stop together)."""
    flag = torch.isfinite(loss.detach()).float().reshape(1)
    if _dist()[1] > 1:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _mean_over_processes(value: float) -> float:
    rank, world = _dist()
    if world == 1:
        return value
    values = [None] * world
    dist.all_gather_object(values, value)
    return sum(values) / world


def _gather(obj) -> list:
    world = _dist()[1]
    if world == 1:
        return [obj]
    objs = [None] * world
    dist.all_gather_object(objs, obj)
    return objs


def _broadcast(obj):
    if _dist()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _load(cfg: TrainConfig):
    data, split = load_ogbn_proteins(cfg.data_root, node_aggr=cfg.node_aggr)
    return data, split, proteins_node_input(data), data.y.float()


def _build(cfg: TrainConfig, y: Tensor, device: torch.device):
    return build_model(cfg.preset, num_tasks=y.size(1), num_layers=cfg.num_layers,
                       hidden_channels=cfg.hidden_channels, **cfg.overrides).to(device)


def _forward_fn(model, x: Tensor, device: torch.device, amp: bool):
    """Run the model on one subgraph: slice the node inputs, move to the device."""
    def forward(sub):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            return model(x[sub.node_ids].to(device), sub.edge_index.to(device),
                         sub.edge_attr.to(device)).float()
    return forward


def evaluate_checkpoint(out: str | os.PathLike, num_views: int = 10, num_parts: int = 3,
                        device: str = "auto", data_root: str | None = None) -> dict:
    """Score the best-validation model of a run with multi-view inference.

    The paper's headline numbers average predictions over 10 random partitions of 3
    parts each; training-time evaluation uses 1 view x 5 parts.

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
    path = Path(out) / BEST
    if not path.exists():
        raise FileNotFoundError(f"no best-validation model at {path}")
    best = torch.load(path, map_location="cpu", weights_only=False)
    cfg = TrainConfig(**best["config"])
    cfg.eval_views, cfg.eval_parts = num_views, num_parts
    if data_root is not None:
        cfg.data_root = data_root
    dev = _resolve_device(device)
    data, split, x, y = _load(cfg)
    model = _build(cfg, y, dev)
    model.load_state_dict(best["model"])
    scores = evaluate(model, _forward_fn(model, x, dev, cfg.amp), data, y, split, cfg,
                      best["epoch"])
    return {"epoch": best["epoch"], **scores}


@torch.no_grad()
def evaluate(model, forward, data, y: Tensor, split: dict, cfg: TrainConfig,
             epoch: int) -> dict:
    """ROC-AUC on train / valid / test, predictions averaged over random-partition views.

    The views come from their own generator (seeded by the run's seed and the epoch),
    so evaluating never changes the training trajectory.
    """
    model.eval()
    views = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    pred = multi_view_predict(lambda sub: forward(sub).sigmoid().cpu(), data,
                              num_views=cfg.eval_views, num_parts=cfg.eval_parts,
                              generator=views)
    model.train()
    return {f"{name}_rocauc": mean_rocauc(pred, y, split[key])
            for name, key in (("train", "train"), ("valid", "valid"), ("test", "test"))}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m revgnn_edu.train",
        description="Train a RevGNN-family preset on ogbn-proteins (paper recipe).")
    p.add_argument("--preset", default="revgnn-deep",
                   help=f"model preset, one of: {', '.join(PRESETS)} (default: revgnn-deep)")
    p.add_argument("--data-root", default=None,
                   help="folder holding ogbn_proteins/ (default: $REVGNN_EDU_DATA, else "
                        "~/.cache/revgnn_edu)")
    p.add_argument("--out", default="runs/ogbn-proteins", help="output folder")
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--num-layers", type=int, default=None, help="override the preset's depth")
    p.add_argument("--hidden-channels", type=int, default=None,
                   help="override the preset's width")
    p.add_argument("--fold-edge-encoder", action="store_true",
                   help="RevGNN presets: fold the shared edge encoder into each block's edge "
                        "projection (same function and parameters; less memory and time)")
    p.add_argument("--num-parts", type=int, default=10)
    p.add_argument("--eval-views", type=int, default=1)
    p.add_argument("--eval-parts", type=int, default=5)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def init_distributed(device: str = "auto") -> str:
    """Join the process group that ``torchrun`` describes, if any; return the device.

    With ``WORLD_SIZE`` > 1 in the environment (set by ``torchrun``), each process
    uses the nccl backend and GPU ``LOCAL_RANK`` when CUDA is used, else gloo on the CPU.
    Without it, nothing happens and ``device`` is returned unchanged.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return device


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (also installed as ``revgnn-train``; works under torchrun)."""
    args = _parser().parse_args(argv)
    if args.preset not in PRESETS:
        print(f"error: unknown preset {args.preset!r}; valid presets: {', '.join(PRESETS)}",
              file=sys.stderr)
        return 2
    device = init_distributed(args.device)
    cfg = TrainConfig(preset=args.preset, data_root=args.data_root, out=args.out,
                      epochs=args.epochs, device=device, amp=args.amp,
                      num_layers=args.num_layers, hidden_channels=args.hidden_channels,
                      lr=args.lr, num_parts=args.num_parts, eval_views=args.eval_views,
                      eval_parts=args.eval_parts, eval_every=args.eval_every, seed=args.seed,
                      overrides={"fold_edge_encoder": True} if args.fold_edge_encoder else {})
    try:
        summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last finished epoch is in {Path(args.out) / CHECKPOINT}; "
              f"run again with --resume to continue", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, NonFiniteLossError, RuntimeError,
            ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
