"""A run's folder: its lock, its checkpoints and its metrics log, each written atomically.

``<out>/`` holds

* ``checkpoint.pt``: everything needed to continue (weights, optimizer, random states,
  the config as a plain dict, and the metrics rows so far);
* ``best.pt``: the best-validation weights and the config;
* ``metrics.jsonl``: one JSON line per epoch, rewritten from the checkpoint's rows
  right after each checkpoint (so it is never torn and never ahead of it; on start it
  is rewritten from the checkpoint, dropping anything a crash left behind);
* ``.lock``: holds the pid of the run using the folder (an exclusive ``flock``).

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain Python
data only, so a tampered file cannot run code when it is loaded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

__all__ = [
    "CHECKPOINT",
    "BEST",
    "METRICS",
    "PLOT",
    "LOCK",
    "CheckpointError",
    "RunLockedError",
    "OutputDirError",
    "RunLock",
    "atomic_save",
    "atomic_write_text",
    "load_checkpoint",
    "read_metrics",
    "write_metrics",
    "prepare_out",
    "remove_stale_temporaries",
]

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
PLOT = "metrics.png"
LOCK = ".lock"


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (the message names it and the way out)."""


class RunLockedError(RuntimeError):
    """Another process is training into the same output folder."""


class OutputDirError(OSError):
    """The output folder cannot be created or written."""


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _atomic_write(path: Path, write) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash mid-write leaves the previous file intact, never a truncated one.
    """
    _atomic_write(Path(path), lambda fh: torch.save(obj, fh))


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    _atomic_write(Path(path), lambda fh: fh.write(text.encode()))


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


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict:
    """Load a checkpoint safely (``weights_only=True``) and check its keys.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is unreadable, truncated, not a checkpoint, missing
            one of ``required``, or holds anything but tensors and plain data.
    """
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
    atomic_write_text("".join(json.dumps(r) + "\n" for r in rows), out / METRICS)


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
    probe = out / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputDirError(f"--out {out}: cannot write files there ({err.strerror})") from None


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete ``.NAME.tmp-PID`` files that an interrupted save left in ``out``.

    Call it only while holding the folder's :class:`RunLock`: then no other process
    can be writing them.
    """
    stale = [p for p in out.glob(".*.tmp-*") if p.is_file()]
    for path in stale:
        path.unlink()
    return stale


class RunLock:
    """An exclusive lock on a run folder: ``<out>/.lock``, ``flock``-ed, holding our pid.

    The operating system drops a ``flock`` when its process dies, so a run killed with
    ``kill -9`` never blocks the next one; the pid it left in the file shows that it
    did not exit cleanly (reported by :meth:`acquire`).
    """

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK
        self._fd = None

    def acquire(self) -> int | None:
        """Take the lock; return the pid of a run that crashed holding it, if any.

        Raises:
            RunLockedError: another live process holds it (its pid is in the message).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunLockedError(
                    f"{self.path.parent} is in use by another training run (pid {holder}); "
                    f"wait for it to finish, stop it, or choose another --out"
                ) from None
        previous = os.pread(fd, 64, 0).decode(errors="replace").strip()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        stale = int(previous) if previous.isdigit() else None
        return stale if stale != os.getpid() else None

    def release(self) -> None:
        """Empty the file (a clean exit) and drop the lock."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        stale = self.acquire()
        if stale is not None:
            print(
                f"note: the previous run in {self.path.parent} (pid {stale}) stopped "
                f"without releasing its lock (killed or crashed); taking it over",
                file=sys.stderr,
            )
        return self

    def __exit__(self, *exc) -> None:
        self.release()
