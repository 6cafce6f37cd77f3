"""The training loop: the paper's recipe on ogbn-proteins, one checkpoint per epoch."""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ..data.ogbn_proteins import load_ogbn_proteins, mean_rocauc, proteins_node_input
from ..data.partition import RandomPartitionLoader, multi_view_predict
from ..models.presets import build_model
from ..plotting import save_metrics_plot
from ..solvers import ConvergenceWarning
from . import distributed as D
from .checkpoint import (
    BEST,
    CHECKPOINT,
    METRICS,
    PLOT,
    CheckpointError,
    RunLock,
    atomic_save,
    load_checkpoint,
    prepare_out,
    read_metrics,
    remove_stale_temporaries,
    write_metrics,
)
from .config import TrainConfig, check_config, config_from_dict, resume_config

__all__ = [
    "NonFiniteLossError",
    "train",
    "training_step",
    "evaluate",
    "evaluate_checkpoint",
    "make_forward",
    "SolverLog",
]

_CHECKPOINT_KEYS = ("model", "optimizer", "partition_rng", "rng", "epoch", "best", "config")


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss (or an evaluation's prediction) is NaN or infinite."""


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {name!r}") from None
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


class SolverLog:
    """Counts the DEQ solves of a model: iterations, residuals and non-converged ones.

    Python's warning filter shows each distinct warning once; this counts every solve.
    Call :meth:`record` after each forward (and backward) pass; models without
    ``last_forward_info`` are ignored.
    """

    def __init__(self, model):
        self.model = model
        self.enabled = hasattr(model, "last_forward_info")
        self.unconverged_total = 0
        self.solves_total = 0
        self._seen: dict[str, object] = {}
        self.reset()

    def reset(self) -> None:
        self.infos: dict[str, list] = {"forward": [], "backward": [], "eval": []}

    def record(self, kind: str, attr: str | None = None) -> None:
        if not self.enabled:
            return
        attr = attr or kind
        info = getattr(self.model, f"last_{attr}_info", None)
        if info is None or self._seen.get(attr) is info:  # no new solve since last time
            return
        self._seen[attr] = info
        self.infos[kind].append((int(info.iterations), float(info.residual), bool(info.converged)))
        self.solves_total += 1
        self.unconverged_total += not info.converged

    def row(self, gathered: list[dict] | None = None) -> dict:
        """Per-kind statistics of the solves since :meth:`reset`."""
        infos = gathered or [self.infos]
        row = {}
        for kind in ("forward", "backward", "eval"):
            items = [i for rank in infos for i in rank[kind]]
            if not items:
                continue
            its = [i[0] for i in items]
            res = [i[1] for i in items if math.isfinite(i[1])]
            row.update(
                {
                    f"deq_{kind}_solves": len(items),
                    f"deq_{kind}_iterations_mean": sum(its) / len(its),
                    f"deq_{kind}_iterations_max": max(its),
                    f"deq_{kind}_residual_max": max(res) if res else math.nan,
                    f"deq_{kind}_unconverged": sum(not i[2] for i in items),
                }
            )
        return row


def train(
    cfg: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    restart: bool = False,
    cli_flags: set[str] | None = None,
) -> dict:
    """Train ``cfg.preset`` on ogbn-proteins (or any dataset in its format).

    The output folder is locked for the whole run (a second run into it fails at once).

    Args:
        cfg (TrainConfig): the run.
        resume (bool, optional): continue from ``<out>/checkpoint.pt``. The architecture
            and data settings of ``cfg`` must match the stored ones; the changeable ones
            (see :mod:`revgnn_edu.train.config`) take effect and are logged.
            (default: :obj:`False`)
        progress (bool, optional): tqdm progress bars. (default: :obj:`True`)
        restart (bool, optional): delete the run in ``cfg.out`` and start over.
            (default: :obj:`False`)
        cli_flags (set of str, optional): with ``resume``, only these fields of ``cfg``
            are checked against and taken over the checkpoint's (the command line passes
            the flags the user gave). (default: :obj:`None`, all fields)

    Returns:
        dict: ``best_epoch``, ``best_valid``, ``test_at_best``, ``epochs_done``,
        ``seconds_per_epoch``, ``peak_memory_bytes`` (CUDA only, else :obj:`None`) and,
        for DEQ models, ``deq_solves`` and ``deq_unconverged_solves``.
    """
    check_config(cfg)
    if resume and restart:
        raise ValueError("--resume and --restart exclude each other")
    rank, world = D.rank_and_world()
    if cfg.num_parts % world:
        raise ValueError(
            f"num_parts={cfg.num_parts} must be a multiple of the number of "
            f"processes ({world}): each process trains on its own parts"
        )
    out = Path(cfg.out)
    lock = RunLock(out) if rank == 0 else None
    error, changes, ckpt = None, {}, None
    if rank == 0:  # lock the folder, then decide what to start from
        try:
            prepare_out(out)
            lock.__enter__()
            cfg, changes, ckpt = _start(cfg, out, resume, restart, cli_flags)
        except BaseException as err:
            lock.release()
            error = err
    error, cfg, changes = D.broadcast((error, cfg, changes))
    if error is not None:
        raise error
    try:
        if resume and ckpt is None:  # the other processes read it too
            ckpt = load_checkpoint(out / CHECKPOINT, _CHECKPOINT_KEYS)
        return _run(cfg, out, ckpt, changes, progress)
    finally:
        if lock is not None:
            lock.release()


def _start(cfg: TrainConfig, out: Path, resume: bool, restart: bool, cli_flags: set[str] | None):
    """Check ``out`` under the lock: the config to run, the resume changes, the checkpoint."""
    for path in remove_stale_temporaries(out):
        print(f"note: removed {path}, left by an interrupted save", file=sys.stderr)
    path = out / CHECKPOINT
    way_out = (
        f"start over with --restart (deletes checkpoint.pt, best.pt and "
        f"metrics.jsonl in {out}), or choose another --out"
    )
    if restart:
        for name in (CHECKPOINT, BEST, METRICS, PLOT):
            if (out / name).is_dir():
                raise CheckpointError(f"{out / name} is a folder; remove it by hand")
            (out / name).unlink(missing_ok=True)
        return cfg, {}, None
    if resume:
        if not path.exists():
            raise FileNotFoundError(
                f"--resume: no checkpoint at {path}; run without --resume to start a new run"
            )
        try:
            ckpt = load_checkpoint(path, _CHECKPOINT_KEYS)
            stored = config_from_dict(ckpt["config"], str(path))
        except (CheckpointError, ValueError) as err:
            raise CheckpointError(f"{err}. It cannot be resumed: {way_out}") from None
        cfg, changes = resume_config(stored, cfg, cli_flags)
        if "metrics" not in ckpt:  # written before checkpoints carried their rows
            ckpt["metrics"] = [r for r in _readable_metrics(out) if r["epoch"] <= ckpt["epoch"]]
        write_metrics(out, ckpt["metrics"])  # whatever a crash left after it goes
        return cfg, changes, ckpt
    if path.exists():
        try:
            ckpt = load_checkpoint(path, ("epoch", "config"))
        except CheckpointError as err:
            raise CheckpointError(f"{err}. {way_out[0].upper()}{way_out[1:]}") from None
        epochs = ckpt["config"].get("epochs") if isinstance(ckpt["config"], dict) else "?"
        raise FileExistsError(
            f"{path} holds a run (epoch {ckpt['epoch']} of {epochs}): "
            f"pass --resume to continue it, or {way_out}"
        )
    # no checkpoint: files from a run killed before its first checkpoint belong to nothing
    for name in (BEST, METRICS, PLOT):
        if (out / name).is_file():
            (out / name).unlink()
            print(
                f"note: removed {out / name}, left by a run without a checkpoint", file=sys.stderr
            )
    return cfg, {}, None


def _readable_metrics(out: Path) -> list[dict]:
    try:
        return read_metrics(out)
    except ValueError as err:
        print(f"note: {err}; dropping the log", file=sys.stderr)
        return []


def _run(cfg: TrainConfig, out: Path, ckpt: dict | None, changes: dict, progress: bool) -> dict:
    rank, world = D.rank_and_world()
    device = _resolve_device(cfg.device)

    torch.manual_seed(cfg.seed)
    data, split, x, y = _load(cfg)
    fingerprint = _fingerprint(data)
    if ckpt is not None and ckpt.get("data", fingerprint) != fingerprint:
        raise ValueError(
            f"the dataset in {cfg.data_root or 'the default data root'} "
            f"({fingerprint}) is not the one {out / CHECKPOINT} was trained on "
            f"({ckpt['data']})"
        )
    train_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    train_mask[split["train"]] = True
    model = _build(cfg, y, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # the same partition on every process (same seed): process r takes parts r, r + W, ...
    partitions = torch.Generator().manual_seed(cfg.seed)
    loader = RandomPartitionLoader(
        data.edge_index,
        data.num_nodes,
        cfg.num_parts,
        edge_attr=data.edge_attr,
        generator=partitions,
    )
    eval_loader = RandomPartitionLoader(
        data.edge_index, data.num_nodes, cfg.eval_parts, edge_attr=data.edge_attr
    )  # checked once, reused
    start, best = 1, {"best_epoch": 0, "best_valid": -math.inf, "test_at_best": math.nan}
    rows = []
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            partitions.set_state(ckpt["partition_rng"])
            states = ckpt["rng"]
            _set_rng_state(states[rank] if len(states) == world else states[0], device)
            start, best = int(ckpt["epoch"]) + 1, dict(ckpt["best"])
            best["best_valid"]  # noqa: B018 - a KeyError here means a damaged file
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as err:
            raise CheckpointError(
                f"{out / CHECKPOINT} does not fit the model or is "
                f"damaged ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}); start "
                f"over with --restart, or choose another --out"
            ) from None
        for group in optimizer.param_groups:  # a changed --lr takes effect
            group["lr"] = cfg.lr
        rows = (
            list(ckpt["metrics"])
            if "metrics" in ckpt
            else [r for r in _readable_metrics(out) if r["epoch"] <= ckpt["epoch"]]
        )
        if changes and rank == 0:
            print(
                "resuming with "
                + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items()),
                file=sys.stderr,
            )
    net = model
    if world > 1:  # gradients are averaged over the processes after each backward
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    forward = make_forward(net, x, device, cfg.amp)
    eval_forward = make_forward(model, x, device, cfg.amp)
    solves = SolverLog(model)
    if cfg.amp and getattr(model, "memory_efficient", False) and rank == 0:
        # measured (benchmarks/bench_proteins.py): at 1001 layers in bfloat16 the rebuilt
        # input is off by 1.8 and the gradients by 0.36 (relative to float64)
        print(
            "warning: --amp recomputes the reversible layers' inputs in bfloat16, which "
            "drifts with depth (at 1001 layers the gradients were 36% off in our "
            "benchmark); prefer float32 for deep reversible models",
            file=sys.stderr,
        )

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    bar = tqdm(
        range(start, cfg.epochs + 1),
        desc=cfg.preset,
        initial=start - 1,
        total=cfg.epochs,
        disable=not progress or rank != 0,
    )
    times = []
    with warnings.catch_warnings():
        # every solve is counted by SolverLog; Python would show one warning of many
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in bar:
            t0 = time.perf_counter()
            net.train()
            solves.reset()
            parts = loader.sample()
            losses = []
            for step in range(cfg.num_parts // world):
                loss = training_step(
                    net,
                    optimizer,
                    forward,
                    [parts[step * world + rank]],
                    train_mask,
                    y,
                    cfg.clip,
                    device,
                )
                solves.record("forward")
                solves.record("backward")
                if not math.isfinite(loss):
                    raise NonFiniteLossError(_nan_message(loss, epoch, step, cfg, out))
                losses.append(loss)
            times.append(time.perf_counter() - t0)
            row = {
                "epoch": epoch,
                "loss": D.mean_over_processes(sum(losses) / len(losses)),
                "epoch_seconds": times[-1],
            }
            if changes and epoch == start:
                row["config_changes"] = changes  # what this resumed run changed
            error = None
            if rank == 0:  # one process evaluates, logs and writes the checkpoints
                try:
                    best = _evaluate_and_log(
                        model,
                        eval_forward,
                        eval_loader,
                        data,
                        y,
                        split,
                        cfg,
                        epoch,
                        best,
                        row,
                        out,
                        solves,
                    )
                except BaseException as err:
                    error = err
            train_solves = D.gather(solves.infos) if solves.enabled else None
            error = D.broadcast(error)
            if error is not None:
                raise error
            if solves.enabled:
                row.update(solves.row(train_solves))
            rows.append(row)
            rng = D.gather(_rng_state(device))
            if rank == 0:
                atomic_save(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "partition_rng": partitions.get_state(),
                        "rng": rng,
                        "epoch": epoch,
                        "best": best,
                        "config": asdict(cfg),
                        "data": fingerprint,
                        "metrics": rows,
                    },
                    out / CHECKPOINT,
                )
                write_metrics(out, rows)  # after the checkpoint: never ahead of it
                postfix = {"loss": f"{row['loss']:.4f}", "valid": f"{best['best_valid']:.4f}"}
                if solves.unconverged_total:
                    postfix["unconverged"] = solves.unconverged_total
                bar.set_postfix(postfix)
            D.barrier()
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    if rank == 0:
        save_metrics_plot(rows, out / PLOT)
    best = D.broadcast(best)
    summary = {
        **best,
        "epochs_done": cfg.epochs,
        "seconds_per_epoch": sum(times) / len(times) if times else None,
        "peak_memory_bytes": peak,
    }
    if solves.enabled:
        summary["deq_solves"] = solves.solves_total
        summary["deq_unconverged_solves"] = solves.unconverged_total
    return summary


def _resume_advice(epoch: int, cfg: TrainConfig, out: Path) -> str:
    remedy = f"a lower --lr (now {cfg.lr:g})" + (" or --no-amp" if cfg.amp else "")
    if epoch == 1:
        return f"No checkpoint was written yet: start again with {remedy}."
    return (
        f"The checkpoint of epoch {epoch - 1} ({out / CHECKPOINT}) is intact: continue "
        f"it with --resume and {remedy}."
    )


def _nan_message(loss: float, epoch: int, step: int, cfg: TrainConfig, out: Path) -> str:
    return f"the loss is {loss} at epoch {epoch}, step {step}; stopped. " + _resume_advice(
        epoch, cfg, out
    )


def _evaluate_and_log(
    model, forward, eval_loader, data, y, split, cfg, epoch, best, row, out, solves
) -> dict:
    if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:

        def recorded(sub):
            result = forward(sub)
            solves.record("eval", "forward")
            return result

        try:
            row.update(evaluate(model, recorded, data, y, split, cfg, epoch, loader=eval_loader))
        except NonFiniteLossError as err:
            raise NonFiniteLossError(
                f"{err}; stopped (the training loss was finite). " + _resume_advice(epoch, cfg, out)
            ) from None
        if row["valid_rocauc"] > best["best_valid"]:
            best = {
                "best_epoch": epoch,
                "best_valid": row["valid_rocauc"],
                "test_at_best": row["test_rocauc"],
            }
            atomic_save(
                {"model": model.state_dict(), "epoch": epoch, "config": asdict(cfg)}, out / BEST
            )
    row.update(best)
    return best


def training_step(
    model,
    optimizer,
    forward,
    subgraphs,
    train_mask: Tensor,
    y: Tensor,
    clip: float,
    device: torch.device,
) -> float:
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
            loss = F.binary_cross_entropy_with_logits(
                logits[nodes.to(device)], y[sub.node_ids][nodes].to(device)
            )
        else:
            loss = logits.sum() * 0.0
        if not D.all_finite(loss):
            return math.nan
        (loss / len(subgraphs)).backward()
        total += loss.item() / len(subgraphs)
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return total


def _fingerprint(data) -> dict:
    return {
        "num_nodes": int(data.num_nodes),
        "num_edges": int(data.edge_index.size(1)),
        "num_tasks": int(data.y.size(1)),
    }


def _load(cfg: TrainConfig):
    data, split = load_ogbn_proteins(cfg.data_root, node_aggr=cfg.node_aggr)
    return data, split, proteins_node_input(data), data.y.float()


def _build(cfg: TrainConfig, y: Tensor, device: torch.device):
    overrides = dict(cfg.overrides)
    if cfg.fold_edge_encoder:
        overrides["fold_edge_encoder"] = True
    return build_model(
        cfg.preset,
        num_tasks=y.size(1),
        num_layers=cfg.num_layers,
        hidden_channels=cfg.hidden_channels,
        **overrides,
    ).to(device)


def make_forward(model, x: Tensor, device: torch.device, amp: bool):
    """``forward(subgraph)``: the model's logits on one subgraph.

    Slices the node inputs ``x`` to the subgraph's nodes, moves everything to ``device``
    and runs under bfloat16 autocast when ``amp``; returns float32 logits.
    """

    def forward(sub):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            return model(
                x[sub.node_ids].to(device), sub.edge_index.to(device), sub.edge_attr.to(device)
            ).float()

    return forward


def evaluate_checkpoint(
    out, num_views: int = 10, num_parts: int = 3, device: str = "auto", data_root: str | None = None
) -> dict:
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
    best = load_checkpoint(path, ("model", "epoch", "config"))
    try:
        cfg = config_from_dict(best["config"], str(path))
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    cfg.eval_views, cfg.eval_parts = num_views, num_parts
    if data_root is not None:
        cfg.data_root = data_root
    check_config(cfg)
    dev = _resolve_device(device)
    data, split, x, y = _load(cfg)
    model = _build(cfg, y, dev)
    try:
        model.load_state_dict(best["model"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path} does not fit the model: {str(err).splitlines()[0]}"
        ) from None
    scores = evaluate(
        model, make_forward(model, x, dev, cfg.amp), data, y, split, cfg, best["epoch"]
    )
    return {"epoch": best["epoch"], **scores}


@torch.no_grad()
def evaluate(
    model,
    forward,
    data,
    y: Tensor,
    split: dict,
    cfg: TrainConfig,
    epoch: int,
    loader: RandomPartitionLoader | None = None,
) -> dict:
    """ROC-AUC on train / valid / test, predictions averaged over random-partition views.

    The views come from their own generator (seeded by the run's seed and the epoch),
    so evaluating never changes the training trajectory. Pass ``loader`` (a
    :class:`RandomPartitionLoader` of the graph) to reuse its checked edge list.

    Raises:
        NonFiniteLossError: a prediction is NaN or infinite (naming the epoch).
    """
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
