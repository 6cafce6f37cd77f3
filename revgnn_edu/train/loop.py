"""The training loop: the paper's recipe on ogbn-proteins, one checkpoint per epoch."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data.partition import RandomPartitionLoader
from . import builders
from . import distributed as D
from .checkpoint import (
    CHECKPOINT,
    PLOT,
    CheckpointError,
    OutputDirError,
    atomic_write_bytes,
    load_checkpoint,
)
from .config import TrainConfig, check_config
from .device import resolve_device, rng_state
from .evaluation import evaluate
from .lock import RunLock
from .run_folder import prepare_out, restore_state, save_epoch, start_run
from .solver_log import SolverLog
from .step import NonFiniteLossError, make_forward, training_step

__all__ = ["train"]


def train(
    cfg: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    restart: bool = False,
    cli_flags: set[str] | None = None,
    load_data=builders.load_data,
    build_model=builders.build_model,
) -> dict:
    """Train ``cfg.preset`` on ogbn-proteins (or any dataset ``load_data`` returns).

    The output folder is locked for the whole run (a second run into it fails at once).

    Args:
        cfg (TrainConfig): the run.
        resume (bool, optional): continue from ``<out>/checkpoint.pt``. The architecture
            and data settings of ``cfg`` must match the stored ones; the changeable ones
            (see :mod:`revgnn_edu.train.config`) take effect and are logged. A run that
            has finished its ``cfg.epochs`` returns its summary without training; asking
            it for fewer epochs, or for changes with nothing left to train, is an error.
            (default: :obj:`False`)
        progress (bool, optional): tqdm progress bars. (default: :obj:`True`)
        restart (bool, optional): delete the run in ``cfg.out`` and start over.
            (default: :obj:`False`)
        cli_flags (set of str, optional): with ``resume``, only these fields of ``cfg``
            are checked against and taken over the checkpoint's (the command line passes
            the flags the user gave). (default: :obj:`None`, all fields)
        load_data (callable, optional): ``load_data(cfg)`` returns a
            :class:`~revgnn_edu.train.builders.RunData`. (default: ogbn-proteins)
        build_model (callable, optional): ``build_model(cfg, num_tasks, device)``
            returns the model. (default: the preset)

    Returns:
        dict: ``best_epoch``, ``best_valid``, ``test_at_best``, ``epochs_done`` (the
        last epoch trained), ``epochs_trained`` (by this call), ``seconds_per_epoch``,
        ``peak_memory_bytes`` (CUDA only, else :obj:`None`) and, for DEQ models,
        ``deq_solves`` and ``deq_unconverged_solves``.
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
    D.setup_groups(cfg.dist_timeout)
    out = Path(cfg.out)
    lock = RunLock(out) if rank == 0 else None
    error, changes, ckpt = None, {}, None
    if rank == 0:  # lock the folder, then decide what to start from
        try:
            prepare_out(out)
            lock.__enter__()
            cfg, changes, ckpt = start_run(cfg, out, resume, restart, cli_flags)
        except BaseException as err:
            lock.release()
            error = err
    finished = ckpt is not None and ckpt.get("finished", False)
    error, cfg, changes, finished = D.broadcast(
        (error, cfg, changes, finished), "waiting for rank 0 to open the run folder"
    )
    if error is not None:
        raise error
    try:
        if resume and ckpt is None:  # the other processes read it too
            ckpt = load_checkpoint(out / CHECKPOINT)
        if finished:
            return _summary(ckpt["best"], ckpt["epoch"], 0, [], None, None)
        return _run(cfg, out, ckpt, changes, progress, load_data, build_model)
    finally:
        if lock is not None:
            lock.release()


def _summary(best, epochs_done, epochs_trained, times, peak, solves) -> dict:
    summary = {
        **best,
        "epochs_done": epochs_done,
        "epochs_trained": epochs_trained,
        "seconds_per_epoch": sum(times) / len(times) if times else None,
        "peak_memory_bytes": peak,
    }
    if solves is not None and solves.enabled:
        summary["deq_solves"] = solves.solves_total
        summary["deq_unconverged_solves"] = solves.unconverged_total
    return summary


def _check_sizes(cfg: TrainConfig, num_nodes: int) -> None:
    for name in ("num_parts", "eval_parts"):
        if getattr(cfg, name) > num_nodes:
            raise ValueError(
                f"--{name.replace('_', '-')} {getattr(cfg, name)} is more than the "
                f"{num_nodes} nodes of the dataset: each part needs at least one node"
            )


def _run(cfg, out: Path, ckpt, changes: dict, progress: bool, load_data, build_model) -> dict:
    rank, world = D.rank_and_world()
    device = resolve_device(cfg.device)

    torch.manual_seed(cfg.seed)
    run = load_data(cfg)
    _check_sizes(cfg, run.data.num_nodes)
    fingerprint = builders.fingerprint(run)
    if ckpt is not None and ckpt["data"] != fingerprint:
        raise ValueError(
            f"the dataset in {cfg.data_root or 'the default data root'} ({fingerprint}) is "
            f"not the one {out / CHECKPOINT} was trained on ({ckpt['data']}); point "
            f"--data-root at that one, or start a new run in another --out"
        )
    train_mask = torch.zeros(run.data.num_nodes, dtype=torch.bool)
    train_mask[run.split["train"]] = True
    if ckpt is not None:  # before allocating a model that a crafted file may describe
        problem = builders.check_fits(build_model, cfg, run.y.size(1), ckpt["model"])
        if problem is not None:
            raise CheckpointError(f"{out / CHECKPOINT}: {problem}")
    try:
        model = build_model(cfg, run.y.size(1), device)
    except ValueError as err:  # a resumed run's settings come from the checkpoint
        raise CheckpointError(f"{out / CHECKPOINT}: {err}") if ckpt is not None else err from None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # the same partition on every process (same seed): process r takes parts r, r + W, ...
    partitions = torch.Generator().manual_seed(cfg.seed)
    graph = (run.data.edge_index, run.data.num_nodes)
    loader = RandomPartitionLoader(
        *graph, cfg.num_parts, edge_attr=run.data.edge_attr, generator=partitions
    )
    eval_loader = RandomPartitionLoader(*graph, cfg.eval_parts, edge_attr=run.data.edge_attr)
    start, best, best_file, rows = 1, {"best_epoch": 0, "best_valid": -math.inf}, None, []
    best["test_at_best"] = math.nan
    if ckpt is not None:
        restore_state(ckpt, model, optimizer, partitions, device, out / CHECKPOINT)
        start, best, best_file = ckpt["epoch"] + 1, dict(ckpt["best"]), ckpt["best_file"]
        rows = list(ckpt["metrics"])
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
    forward = make_forward(net, run.x, device, cfg.amp)
    eval_forward = make_forward(model, run.x, device, cfg.amp)
    solves = SolverLog(model)
    if cfg.amp and getattr(model, "memory_efficient", False) and rank == 0:
        print(
            "warning: --amp recomputes the reversible layers' inputs in bfloat16, which "
            "drifts with depth (benchmarks/bench_proteins.py measures the gradient error "
            "at 1001 layers); prefer float32 for deep reversible models",
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
        from ..solvers import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in bar:
            t0 = time.perf_counter()
            net.train()
            solves.reset()
            parts = loader.sample()
            losses = []
            for step in range(cfg.num_parts // world):
                with D.watch(f"training epoch {epoch}, step {step}"):
                    loss = training_step(
                        net,
                        optimizer,
                        forward,
                        [parts[step * world + rank]],
                        train_mask,
                        run.y,
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
            error, improved = None, False
            if rank == 0:  # one process evaluates, logs and writes the files
                try:
                    best, improved = _evaluate_and_log(
                        model, eval_forward, eval_loader, run, cfg, epoch, best, row, out, solves
                    )
                except BaseException as err:
                    error = err
            train_solves = D.gather(solves.infos) if solves.enabled else None
            error = D.broadcast(error, f"waiting for rank 0 to evaluate epoch {epoch}")
            if error is not None:
                raise error
            if solves.enabled:
                row.update(solves.row(train_solves))
            rows.append(row)
            rng = D.gather(rng_state(device))
            if improved:
                best_file = f"{epoch}-{os.urandom(8).hex()}"  # not torch's generator
            if rank == 0:
                state = {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "partition_rng": partitions.get_state(),
                    "rng": rng,
                    "epoch": epoch,
                    "best": best,
                    "best_file": best_file,
                    "config": asdict(cfg),
                    "data": fingerprint,
                    "metrics": rows,
                }
                try:
                    save_epoch(state, improved, out)
                except BaseException as err:
                    error = err
                postfix = {"loss": f"{row['loss']:.4f}", "valid": f"{best['best_valid']:.4f}"}
                if solves.unconverged_total:
                    postfix["unconverged"] = solves.unconverged_total
                bar.set_postfix(postfix)
            error = D.broadcast(error, f"waiting for rank 0 to save epoch {epoch}")
            if error is not None:
                raise error
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    if rank == 0:
        _save_plot(rows, out)
    return _summary(best, cfg.epochs, len(times), times, peak, solves)


def _save_plot(rows: list, out: Path) -> None:
    import io

    from ..plotting import save_metrics_plot  # matplotlib loads only to draw

    buffer = io.BytesIO()
    save_metrics_plot(rows, buffer)
    try:
        atomic_write_bytes(buffer.getvalue(), out / PLOT)
    except OutputDirError as err:
        print(f"warning: the run finished, but its plot was not saved: {err}", file=sys.stderr)


def _resume_advice(epoch: int, cfg: TrainConfig, out: Path) -> str:
    remedy = f"a lower --lr (now {cfg.lr:g})" + (" or --no-amp" if cfg.amp else "")
    if epoch == 1:
        return f"No checkpoint was written yet: start again with {remedy}."
    return (
        f"The checkpoint of epoch {epoch - 1} ({out / CHECKPOINT}) is intact: continue "
        f"it with --resume and {remedy}."
    )


def _nan_message(loss: float, epoch: int, step: int, cfg: TrainConfig, out: Path) -> str:
    advice = _resume_advice(epoch, cfg, out)
    return f"the loss is {loss} at epoch {epoch}, step {step}; stopped. {advice}"


def _evaluate_and_log(model, forward, eval_loader, run, cfg, epoch, best, row, out, solves):
    """Evaluate when due, update the best-so-far record and ``row``; ``(best, improved)``."""
    improved = False
    if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:

        def recorded(sub):
            result = forward(sub)
            solves.record("eval", "forward")
            return result

        try:
            scores = evaluate(
                model, recorded, run.data, run.y, run.split, cfg, epoch, loader=eval_loader
            )
        except NonFiniteLossError as err:
            raise NonFiniteLossError(
                f"{err}; stopped (the training loss was finite). " + _resume_advice(epoch, cfg, out)
            ) from None
        row.update(scores)
        if row["valid_rocauc"] > best["best_valid"]:
            best = {
                "best_epoch": epoch,
                "best_valid": row["valid_rocauc"],
                "test_at_best": row["test_rocauc"],
            }
            improved = True
    row.update(best)
    return best, improved
