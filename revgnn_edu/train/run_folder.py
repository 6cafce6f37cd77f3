"""A run's folder: what a run starts from (fresh, resumed or restarted), the state a
resumed run takes back, and the order in which an epoch's files are written.

Only the process that writes (rank 0) opens the folder, under its lock
(:mod:`.lock`). Each epoch writes ``checkpoint.pt``, then ``best.pt`` (when the epoch
is the best so far; the checkpoint names it by a token), then ``metrics.jsonl``, so a
run stopped anywhere leaves files that agree, or that :func:`reconcile_best` repairs.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint import (
    BEST,
    CHECKPOINT,
    METRICS,
    PLOT,
    RUN_FILES,
    CheckpointError,
    OutputDirError,
)
from .lock import note

__all__ = [
    "prepare_out",
    "restore_state",
    "save_epoch",
    "check_run_files",
    "remove_stale_temporaries",
    "start_run",
    "reconcile_best",
    "best_model",
]

_CHECKPOINT_KEYS = (
    "model",
    "optimizer",
    "partition_rng",
    "rng",
    "epoch",
    "best",
    "best_file",
    "config",
    "data",
    "metrics",
)
_BEST_KEYS = ("model", "epoch", "config", "token")


def prepare_out(out: Path) -> None:
    """Create ``out`` and check that files can be written there, before any training.

    Raises:
        OutputDirError: with one line saying what is wrong.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [out, *out.parents] if p.exists() and not p.is_dir()), out)
        raise OutputDirError(f"--out {out}: {blocker} is a file, not a folder") from None
    except OSError as err:
        raise OutputDirError(f"--out {out}: cannot create it ({err.strerror})") from None
    import os
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputDirError(f"--out {out}: cannot write files there ({err.strerror})") from None


def check_run_files(out: Path) -> None:
    """Refuse a symbolic link or a folder where the trainer writes one of its files."""
    for name in RUN_FILES:
        path = out / name
        if path.is_symlink():
            raise OutputDirError(
                f"{path} is a symbolic link; the trainer does not write through links "
                f"in its folder: remove it"
            )
        if path.is_dir():
            raise OutputDirError(f"{path} is a folder where the trainer keeps a file; remove it")


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete ``.NAME.tmp-*`` files that an interrupted save left in ``out``.

    Call it only while holding the folder's :class:`RunLock`: then no other process
    can be writing them.
    """
    stale = [p for p in out.glob(".*.tmp-*") if p.is_file() and not p.is_symlink()]
    for path in stale:
        path.unlink()
    return stale


def _way_out(out: Path) -> str:
    return (
        f"start over with --restart (deletes checkpoint.pt, best.pt and "
        f"metrics.jsonl in {out}), or choose another --out"
    )


def start_run(cfg, out: Path, resume: bool, restart: bool, cli_flags: set[str] | None):
    """Decide under the lock what the run starts from.

    Returns ``(cfg, changes, ckpt)``: the config to run (for ``resume``: the stored one
    with the allowed changes), ``{field: [old, new]}``, and the checked checkpoint
    (:obj:`None` for a fresh start). A resumed run that would train nothing raises
    :class:`ValueError`, unless it asks for nothing new (then ``ckpt["finished"]``).
    """
    from .checkpoint import check_checkpoint, load_checkpoint, write_metrics
    from .config import config_from_dict, resume_config

    check_run_files(out)
    for path in remove_stale_temporaries(out):
        note(f"removed {path}, left by an interrupted save")
    path = out / CHECKPOINT
    if restart:
        for name in (CHECKPOINT, BEST, METRICS, PLOT):
            (out / name).unlink(missing_ok=True)
        return cfg, {}, None
    if not resume:
        if path.exists():
            try:
                ckpt = load_checkpoint(path, ("epoch", "config"))
            except CheckpointError as err:
                way = _way_out(out)
                raise CheckpointError(f"{err}. {way[0].upper()}{way[1:]}") from None
            epochs = ckpt["config"].get("epochs") if isinstance(ckpt["config"], dict) else "?"
            raise FileExistsError(
                f"{path} holds a run (epoch {ckpt['epoch']} of {epochs}): "
                f"pass --resume to continue it, or {_way_out(out)}"
            )
        # no checkpoint: files from a run killed before its first checkpoint belong to nothing
        for name in (BEST, METRICS, PLOT):
            if (out / name).is_file():
                (out / name).unlink()
                note(f"removed {out / name}, left by a run without a checkpoint")
        return cfg, {}, None
    if not path.exists():
        raise FileNotFoundError(
            f"--resume: no checkpoint at {path}; run without --resume to start a new run"
        )
    try:
        ckpt = load_checkpoint(path, _CHECKPOINT_KEYS)
        check_checkpoint(ckpt, path)
        stored = config_from_dict(ckpt["config"], str(path))
    except (CheckpointError, ValueError) as err:
        raise CheckpointError(f"{err}. It cannot be resumed: {_way_out(out)}") from None
    cfg, changes = resume_config(stored, cfg, cli_flags)
    done = ckpt["epoch"]
    if cfg.epochs < done:
        raise ValueError(
            f"--resume with epochs={cfg.epochs}: {path} is already at epoch {done}; pass "
            f"--epochs above {done} to train more"
        )
    if cfg.epochs == done:
        if any(name != "epochs" for name in changes):
            asked = ", ".join(f"{k}={b!r}" for k, (a, b) in changes.items() if k != "epochs")
            raise ValueError(
                f"--resume with {asked}: the run in {out} has finished its {done} epochs, "
                f"so nothing would train with it; pass --epochs above {done} to continue"
            )
        note(f"the run in {out} has finished its {done} epochs; nothing to train")
        ckpt["finished"] = True
    reconcile_best(out, ckpt)
    write_metrics(out, ckpt["metrics"])  # whatever a crash left after it goes
    return cfg, changes, ckpt


def _best_file(out: Path):
    from .checkpoint import load_checkpoint

    best = load_checkpoint(out / BEST, _BEST_KEYS)
    if not isinstance(best["token"], str):
        raise CheckpointError(f"{out / BEST} is damaged: token is {best['token']!r}")
    return best


def reconcile_best(out: Path, ckpt: dict) -> None:
    """Make ``best.pt`` the one ``ckpt`` names (its ``best_file`` token).

    A run stopped between writing ``checkpoint.pt`` and ``best.pt`` left the older
    ``best.pt``: when the checkpoint's epoch is its best epoch, its weights are the best
    ones and ``best.pt`` is rewritten from them.

    Raises:
        CheckpointError: ``best.pt`` is damaged, replaced or belongs to another run, and
            the weights it should hold are nowhere else (it is left as it is).
    """
    from .checkpoint import atomic_save

    token, path = ckpt["best_file"], out / BEST
    foreign = (
        f"{path} is not the best model of {out / CHECKPOINT}: it is damaged, was replaced "
        f"or belongs to another run. Put the right one back, or move it away to continue"
    )
    if token is None:
        if path.exists():
            raise CheckpointError(f"{foreign} ({out / CHECKPOINT} has no best epoch yet)")
        return
    if path.exists():
        try:
            if _best_file(out)["token"] == token:
                return
        except CheckpointError:
            pass  # damaged: rewritten below when possible
    best_epoch = ckpt["best"]["best_epoch"]
    if best_epoch == ckpt["epoch"]:
        best = {"model": ckpt["model"], "epoch": best_epoch, "config": ckpt["config"]}
        atomic_save({**best, "token": token}, path)
        note(f"rewrote {path} from {out / CHECKPOINT} (the run stopped between the two)")
    elif path.exists():
        raise CheckpointError(f"{foreign} without the best model so far (epoch {best_epoch})")
    else:
        note(f"{path} is missing: the best model so far (epoch {best_epoch}) is lost")


def best_model(out: Path) -> dict:
    """The best-validation weights of the run in ``out``: ``{"model", "epoch", "config"}``.

    From ``best.pt`` when it is the one ``checkpoint.pt`` names (or when there is no
    checkpoint), else from ``checkpoint.pt`` when its epoch is the best one.

    Raises:
        FileNotFoundError: no best model. CheckpointError: a damaged or foreign file.
    """
    from .checkpoint import check_checkpoint, load_checkpoint

    path = out / BEST
    best = _best_file(out) if path.exists() else None
    if not (out / CHECKPOINT).exists():
        if best is None:
            raise FileNotFoundError(f"no best-validation model at {path}")
        return best
    ckpt = load_checkpoint(out / CHECKPOINT, _CHECKPOINT_KEYS)
    check_checkpoint(ckpt, out / CHECKPOINT)
    if best is not None and best["token"] == ckpt["best_file"]:
        return best
    if ckpt["best_file"] is not None and ckpt["best"].get("best_epoch") == ckpt["epoch"]:
        return {"model": ckpt["model"], "epoch": ckpt["epoch"], "config": ckpt["config"]}
    if best is None:
        raise FileNotFoundError(f"no best-validation model at {path}")
    raise CheckpointError(
        f"{path} is not the best model of {out / CHECKPOINT} (epoch "
        f"{ckpt['best']['best_epoch']}): it was replaced or belongs to another run"
    )


def restore_state(ckpt, model, optimizer, partitions, device, path: Path) -> None:
    """Load a checked checkpoint's weights, optimizer state and random states into a
    resumed run (Adam's settings stay the run's own; a new ``--lr`` counts).

    Raises:
        CheckpointError: the state does not fit the model, or is damaged (one line).
    """
    import torch

    from . import distributed as D
    from .checkpoint import one_line
    from .device import set_rng_state

    rank, world = D.rank_and_world()
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        partitions.set_state(ckpt["partition_rng"])
        states = ckpt["rng"]
        set_rng_state(states[rank] if len(states) == world else states[0], device)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise CheckpointError(
            f"{path} does not fit the model or is damaged ({one_line(err)}); start over "
            f"with --restart, or choose another --out"
        ) from None
    for group in optimizer.param_groups:  # Adam's settings are the run's; a new --lr counts
        group.update({k: v for k, v in optimizer.defaults.items() if k != "params"})
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.dim() and value.shape != p.shape:
                    raise CheckpointError(
                        f"{path} is damaged: its optimizer state {key} has shape "
                        f"{tuple(value.shape)} for a parameter of shape {tuple(p.shape)}; "
                        f"start over with --restart, or choose another --out"
                    )


def save_epoch(state: dict, improved: bool, out: Path) -> None:
    """Write an epoch's files: ``checkpoint.pt``, then ``best.pt`` when ``improved`` (the
    checkpoint names it by ``state["best_file"]``), then the log.

    Raises:
        OutputDirError: a file cannot be written (it says which checkpoint is intact).
    """
    from .checkpoint import atomic_save, write_metrics

    epoch, saved = state["epoch"], state["epoch"] - 1
    try:
        atomic_save(state, out / CHECKPOINT)
        saved = epoch
        if improved:
            best = {k: state[k] for k in ("model", "epoch")} | {"config": state["config"]}
            atomic_save({**best, "token": state["best_file"]}, out / BEST)
        write_metrics(out, state["metrics"])  # after the checkpoint: never ahead of it
    except OutputDirError as err:
        kept = (
            f"the checkpoint of epoch {saved} ({out / CHECKPOINT}) is intact: continue it "
            f"with --resume"
            if saved
            else "no checkpoint was written yet"
        )
        raise OutputDirError(f"{err}; {kept}") from None
