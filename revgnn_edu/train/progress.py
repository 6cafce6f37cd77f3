"""A training run's progress, read from its folder by any process, at any time.

:func:`read_progress` reads a run's ``--out`` folder: epochs done, latest scores,
elapsed time and the expected finish from the epoch rate, as a :class:`RunProgress`.
:func:`read_metrics_tolerant` reads ``metrics.jsonl``, leaving out a last line torn by
a process killed while appending to it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CHECKPOINT, LOCK, METRICS
from .lock import RunLock, RunLockedError

__all__ = ["LAUNCH", "LOG", "RunProgress", "read_metrics_tolerant", "read_progress"]

LOG = "train.log"
LAUNCH = "launch.json"
_RUN_MARKERS = (METRICS, CHECKPOINT, LAUNCH, LOG)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (an exited child not yet reaped, a zombie, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # "pid (name) STATE ...": Z is a zombie, left for its parent to reap
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _check_run_folder(out: Path) -> None:
    if not out.exists():
        raise FileNotFoundError(f"{out}: no such folder (the --out of a training run)")
    if not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a training run's --out folder")
    if not any((out / name).exists() for name in _RUN_MARKERS):
        raise ValueError(
            f"{out} is not a training run's folder: it has none of {', '.join(_RUN_MARKERS)}"
        )


def read_metrics_tolerant(out: str | os.PathLike) -> tuple[list[dict], bool]:
    """The rows of ``<out>/metrics.jsonl`` and whether its last line was torn (a process
    killed while appending to it): that line is left out.

    Raises:
        ValueError: a line other than the last is not valid JSON, or a row has no
            ``epoch`` (the file was not written by the trainer).
    """
    path = Path(out) / METRICS
    if not path.is_file():
        return [], False
    lines = [(n, line) for n, line in enumerate(path.read_text().splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line.strip()]
    rows, torn = [], False
    for i, (number, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if i == len(lines) - 1:
                torn = True
                break
            raise ValueError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            raise ValueError(
                f"{path}, line {number}: expected a JSON object with an integer 'epoch' "
                f"(a row of revgnn_edu.train), got {line[:80]!r}"
            )
        rows.append(row)
    return rows, torn


def _launch_info(out: Path) -> dict:
    path = out / LAUNCH
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise ValueError(f"{path}: not valid JSON; delete it (only progress uses it)") from None
    return info if isinstance(info, dict) else {}


def _running_pid(out: Path) -> int | None:
    """The pid of the live run that holds ``out``'s lock, or :obj:`None`."""
    try:
        RunLock(out).check_free()
    except RunLockedError:
        text = (out / LOCK).read_text().strip()
        if text.isdigit():
            return int(text)
    info = _launch_info(out)  # started, not yet holding the lock (importing, loading)
    pid = info.get("pid")
    if isinstance(pid, int) and _alive(pid) and _is_trainer(pid):
        return pid
    return None


def _is_trainer(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"revgnn_edu.train" in cmdline


@dataclass
class RunProgress:
    """Where a training run stands, read from its folder by :func:`read_progress`.

    ``seconds_per_epoch`` is wall-clock time per epoch since the last launch (start-up
    and evaluation included) once an epoch finished since then, else the mean logged
    training time per epoch (evaluation not included); ``rate_source`` says which.
    Times are Unix seconds: ``updated`` is when ``metrics.jsonl`` was last written
    (:obj:`None` without one); ``expected_finish`` is :obj:`None` unless the run is running.
    """

    out: Path
    epochs_done: int
    epochs: int | None
    running: bool
    pid: int | None
    rows: list[dict]
    torn_line: bool
    updated: float | None
    elapsed_s: float | None
    trained_s: float
    seconds_per_epoch: float | None
    rate_source: str | None
    remaining_s: float | None
    expected_finish: float | None

    @property
    def latest(self) -> dict:
        """The last row (``{}`` before the first epoch)."""
        return self.rows[-1] if self.rows else {}

    @property
    def scored(self) -> list[dict]:
        """The rows of the evaluated epochs."""
        return [r for r in self.rows if "valid_rocauc" in r]

    @property
    def finished(self) -> bool:
        return self.epochs is not None and self.epochs_done >= self.epochs

    def describe(self) -> str:
        """A few lines for people: state, epochs, scores, times."""
        state = "running" if self.running else ("finished" if self.finished else "stopped")
        of = f" of {self.epochs}" if self.epochs else ""
        lines = [f"{self.out}: {state}, epoch {self.epochs_done}{of}"]
        scored = self.scored
        if scored:
            last = scored[-1]
            lines.append(
                f"latest scores (epoch {last['epoch']}): valid ROC-AUC "
                f"{last['valid_rocauc']:.4f}, test {last['test_rocauc']:.4f}; best valid "
                f"{last['best_valid']:.4f} (epoch {last['best_epoch']}, test "
                f"{last['test_at_best']:.4f})"
            )
        if self.elapsed_s is not None:
            lines.append(f"elapsed since the last launch: {_duration(self.elapsed_s)}")
        if self.seconds_per_epoch is not None:
            lines.append(f"{self.seconds_per_epoch:.2f} s per epoch ({self.rate_source})")
        if self.expected_finish is not None:
            when = _dt.datetime.fromtimestamp(self.expected_finish, _dt.timezone.utc)
            lines.append(
                f"expected to finish in {_duration(self.remaining_s)}, at "
                f"{when:%Y-%m-%d %H:%M:%S} UTC"
            )
        if self.torn_line:
            lines.append("(the last line of metrics.jsonl was torn and is left out)")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def read_progress(
    out: str | os.PathLike, epochs: int | None = None, now: float | None = None
) -> RunProgress:
    """Read a run's progress from its folder (any process may call it, at any time).

    Args:
        out (str or Path): the run's ``--out`` folder.
        epochs (int, optional): the run's total epochs. (default: the ``epochs`` of
            ``launch.json``, written by :func:`start_detached`)
        now (float, optional): the current Unix time. (default: :func:`time.time`)

    Raises:
        FileNotFoundError / NotADirectoryError: ``out`` is missing or a file.
        ValueError: ``out`` holds no run, or its ``metrics.jsonl`` is not the trainer's.
    """
    out = Path(out)
    _check_run_folder(out)
    now = time.time() if now is None else now
    rows, torn = read_metrics_tolerant(out)
    info = _launch_info(out)
    epochs = epochs if epochs is not None else info.get("epochs")
    done = rows[-1]["epoch"] if rows else 0
    pid = _running_pid(out)
    running = pid is not None
    metrics_time = (out / METRICS).stat().st_mtime if (out / METRICS).is_file() else None
    started = info.get("started")
    since_launch = done - info.get("start_epoch", done)
    elapsed = None
    if started is not None:
        elapsed = (now if running else (metrics_time or now)) - started
    trained = sum(r.get("epoch_seconds", 0.0) for r in rows)
    rate, source = None, None
    if started is not None and since_launch > 0 and metrics_time is not None:
        rate = (metrics_time - started) / since_launch
        source = "wall clock since the last launch, start-up and evaluation included"
    elif rows:
        rate = trained / len(rows)
        source = "logged training time, evaluation not included"
    remaining = finish = None
    if epochs is not None and rate is not None:
        remaining = max(epochs - done, 0) * rate
        if running:
            finish = (metrics_time if since_launch > 0 else now) + remaining
    return RunProgress(
        out=out,
        epochs_done=done,
        epochs=epochs,
        running=running,
        pid=pid,
        rows=rows,
        torn_line=torn,
        updated=metrics_time,
        elapsed_s=elapsed,
        trained_s=trained,
        seconds_per_epoch=rate,
        rate_source=source,
        remaining_s=remaining,
        expected_finish=finish,
    )
