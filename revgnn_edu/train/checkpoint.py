"""The files of a run, each written atomically, and their checks when read back.

``<out>/`` holds

* ``checkpoint.pt``: everything needed to continue (weights, optimizer, random states,
  the config as a plain dict, the dataset's fingerprint, the metrics rows so far, and
  the token of the ``best.pt`` it belongs to);
* ``best.pt``: the best-validation weights, the config and that token;
* ``metrics.jsonl``: one JSON line per epoch, rewritten from the checkpoint's rows
  right after each checkpoint (so it is never torn and never ahead of it);
* ``metrics.png``: the curves of the log, drawn at the end of a run;
* ``.lock``: the pid of the run using the folder (see :mod:`.run_folder`).

Every file is written to a fresh temporary file (created exclusively, never through a
symbolic link) and renamed over its name, so a crash or a full disk leaves the previous
file intact. Checkpoints are read with ``torch.load(weights_only=True)``: tensors and
plain Python data only, so a tampered file cannot run code when it is loaded.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
from pathlib import Path

__all__ = [
    "CHECKPOINT",
    "BEST",
    "METRICS",
    "PLOT",
    "LOCK",
    "RUN_FILES",
    "CheckpointError",
    "OutputDirError",
    "Terminated",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_checkpoint",
    "check_checkpoint",
    "one_line",
    "space_error",
    "read_metrics",
    "write_metrics",
    "terminate_after_saves",
]

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
PLOT = "metrics.png"
LOCK = ".lock"
#: Every file the trainer writes in a run folder.
RUN_FILES = (CHECKPOINT, BEST, METRICS, PLOT, LOCK)


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (the message names it and the way out)."""


class OutputDirError(OSError):
    """The output folder cannot be created or written (full, read-only, a file in the
    way); the message is one line naming the folder."""


class Terminated(BaseException):
    """The process received SIGTERM (raised between saves, never in the middle of one)."""


# -- SIGTERM: stop between saves ---------------------------------------------------------
_saves = {"active": 0, "pending": False}


def terminate_after_saves(signum=None, frame=None) -> None:
    """A SIGTERM handler: raise :class:`Terminated` now, or at the end of the save in
    progress, so that every file stays whole."""
    if _saves["active"]:
        _saves["pending"] = True
    else:
        raise Terminated(signal.Signals(signum).name if signum else "SIGTERM")


@contextlib.contextmanager
def _saving():
    _saves["active"] += 1
    try:
        yield
    finally:
        _saves["active"] -= 1
    if not _saves["active"] and _saves["pending"]:
        _saves["pending"] = False
        raise Terminated("SIGTERM")


# -- atomic writes -------------------------------------------------------------------------
class _Recorder:
    """The file object given to the writer: keeps the OSError of a failed write, which
    ``torch.save`` replaces by its own message."""

    def __init__(self, fh):
        self.fh, self.error = fh, None

    def write(self, data):
        try:
            return self.fh.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self):
        return self.fh.flush()


def space_error(path: Path, err: OSError, needed: int | None = None) -> OutputDirError:
    """One line for a write to ``path`` that failed with ``err``: a full disk (with the
    space free and ``needed``), a file-size limit, a folder in the way."""
    from ..memory import format_bytes

    folder, name = path.parent, path.name
    if err.errno == errno.EFBIG:
        import resource

        limit = format_bytes(resource.getrlimit(resource.RLIMIT_FSIZE)[0])
        need = f"about {format_bytes(needed)}" if needed else "more"
        return OutputDirError(
            f"cannot write {name} in {folder}: it needs {need}, above the file-size limit "
            f"of {limit} (ulimit -f); raise the limit, then run again"
        )
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        free = format_bytes(shutil.disk_usage(folder).free)
        full = "no space left on the device" if err.errno == errno.ENOSPC else "disk quota exceeded"
        need = f", about {format_bytes(needed)} needed" if needed else ""
        return OutputDirError(
            f"cannot write {name} in {folder}: {full} ({free} free{need}); free some space, "
            f"then run again"
        )
    if isinstance(err, IsADirectoryError) or path.is_dir():
        return OutputDirError(f"cannot write {path}: a folder is in the way; remove it")
    return OutputDirError(f"cannot write {path}: {err.strerror or err}")


def _new_temporary(path: Path) -> tuple[int, Path]:
    """A new file ``.NAME.tmp-PID-RANDOM`` beside ``path``: created exclusively, never
    through a link (``O_EXCL | O_NOFOLLOW``), with the usual permissions (umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _atomic_write(path: Path, write, needed: int) -> None:
    """``write(fh)`` into a new temporary file beside ``path``, then rename it over
    ``path``; a failure leaves ``path`` as it was and raises :class:`OutputDirError`."""
    path = Path(path)
    with _saving():
        try:
            fd, tmp = _new_temporary(path)
        except OSError as err:
            raise space_error(path, err, needed) from None
        recorder = None
        try:
            with os.fdopen(fd, "wb") as fh:
                recorder = _Recorder(fh)
                write(recorder)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # replaces the name itself, never a link's target
        except BaseException as err:
            Path(tmp).unlink(missing_ok=True)
            cause = recorder.error if recorder is not None and recorder.error else err
            if isinstance(cause, OSError) and not isinstance(err, OutputDirError):
                raise space_error(path, cause, needed) from None
            raise


def _nbytes(obj) -> int:
    if hasattr(obj, "element_size") and hasattr(obj, "nelement"):
        return obj.element_size() * obj.nelement()
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values()) + 64 * len(obj)
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj) + 8 * len(obj)
    return 64


def atomic_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash or a full disk leaves the previous file intact, never a truncated one.

    Raises:
        OutputDirError: the file cannot be written (one line: no space, with the space
            needed and free, a file-size limit, a folder in the way).
    """
    import torch

    path = Path(path)
    needed = max(_nbytes(obj), path.stat().st_size if path.is_file() else 0)
    _atomic_write(path, lambda fh: torch.save(obj, fh), needed)


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    _atomic_write(Path(path), lambda fh: fh.write(data), len(data))


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    atomic_write_bytes(text.encode(), path)


# -- reading -------------------------------------------------------------------------------
def _reason(err: BaseException) -> str:
    if isinstance(err, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(err, PermissionError):
        return "no permission to read it"
    text = str(err).strip()
    if isinstance(err, EOFError) or "central directory" in text or "zip archive" in text:
        return "it is empty, truncated or not a torch file"
    if "Unsupported global" in text:
        name = text.split("Unsupported global:", 1)[1].split()[1:2]
        return (
            f"it holds objects other than tensors and plain data ({' '.join(name)}), "
            f"which are refused because loading them could run code"
        )
    if "Weights only load failed" in text or "magic number" in text:
        return "it is damaged or not a torch checkpoint"
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first}"[:300] if first else type(err).__name__


def one_line(err: BaseException, limit: int = 400) -> str:
    """An error's message on one line (its lines joined), cut at ``limit`` characters."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict:
    """Load a checkpoint safely (``weights_only=True``) and check its keys.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is unreadable, truncated, not a checkpoint, missing
            one of ``required``, or holds anything but tensors and plain data.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path} cannot be read: {_reason(err)}") from err
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path} cannot be read: it holds a {type(obj).__name__}, not a checkpoint dict"
        )
    missing = [key for key in required if key not in obj]
    if missing:
        raise CheckpointError(
            f"{path} cannot be read: it lacks {missing} (not a checkpoint "
            f"of revgnn_edu.train, or damaged)"
        )
    return obj


def _is_plain_json(value) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def check_checkpoint(ckpt: dict, path: Path) -> None:
    """Check what a resumed run takes from ``checkpoint.pt`` besides tensors: the epoch,
    the best-so-far record and the metrics rows (a :class:`CheckpointError` names the
    file and the field)."""

    def bad(what: str):
        raise CheckpointError(f"{path} is damaged: {what}")

    epoch = ckpt["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        bad(f"epoch is {epoch!r}, expected a positive integer")
    best = ckpt["best"]
    if not isinstance(best, dict) or set(best) != {"best_epoch", "best_valid", "test_at_best"}:
        bad(f"best is {best!r}, expected best_epoch, best_valid and test_at_best")
    best_epoch = best["best_epoch"]
    if isinstance(best_epoch, bool) or not isinstance(best_epoch, int):
        bad(f"best_epoch is {best_epoch!r}, expected an integer")
    if not 0 <= best_epoch <= epoch:
        bad(f"best_epoch is {best_epoch}, expected 0..{epoch}")
    for key in ("best_valid", "test_at_best"):
        if isinstance(best[key], bool) or not isinstance(best[key], (int, float)):
            bad(f"{key} is {best[key]!r}, expected a number")
    token = ckpt["best_file"]
    if not (token is None or isinstance(token, str)) or (token is None) != (best_epoch == 0):
        bad(f"best_file is {token!r} for best_epoch {best_epoch}")
    rows = ckpt["metrics"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        bad(f"metrics is a {type(rows).__name__}, expected a list of dicts (one per epoch)")
    if len(rows) != epoch or [r.get("epoch") for r in rows] != list(range(1, epoch + 1)):
        bad(f"the metrics rows are not epochs 1..{epoch}")
    if not _is_plain_json(rows):
        bad("the metrics rows hold values other than numbers, strings and lists")


def read_metrics(out: str | os.PathLike) -> list[dict]:
    """The rows of ``<out>/metrics.jsonl``, one per epoch (``[]`` when there is none).

    Raises:
        ValueError: a line is not valid JSON (naming the file and the line).
    """
    path = Path(out) / METRICS
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}, line {number}: not valid JSON ({err.msg}); the "
                f"trainer rewrites this file from {CHECKPOINT} on --resume"
            ) from None
    return rows


def write_metrics(out: Path, rows: list[dict]) -> None:
    """Rewrite ``<out>/metrics.jsonl`` atomically from ``rows``."""
    atomic_write_text("".join(json.dumps(r) + "\n" for r in rows), Path(out) / METRICS)
