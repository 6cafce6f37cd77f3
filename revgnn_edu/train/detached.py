"""A training run as a detached command-line process: start it, read its progress from
``metrics.jsonl``, stop it, resume it.

A full ogbn-proteins run takes days, longer than a notebook session. :func:`start_detached`
starts ``python -m revgnn_edu.train`` (the ``revgnn-train`` command) in its own session,
with its output in ``<out>/train.log``, so that it survives the notebook; it writes
``<out>/launch.json`` (process id, command, start time, epoch reached at the start).
:func:`read_progress` reads the run's folder, from any process: epochs done, latest
scores, elapsed time and the expected finish from the epoch rate. :func:`stop_run`
(or :meth:`DetachedRun.stop`) sends SIGTERM; the trainer finishes the save in progress
and exits with status 143, leaving the checkpoint of its last finished epoch, which
``start_detached(cfg, resume=True)`` continues.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from .checkpoint import CHECKPOINT
from .config import TrainConfig, check_config
from .lock import RunLock
from .progress import (
    LAUNCH,
    LOG,
    RunProgress,
    _alive,
    _check_run_folder,
    _launch_info,
    _running_pid,
    read_metrics_tolerant,
    read_progress,
)

__all__ = [
    "LAUNCH",
    "LOG",
    "DetachedRun",
    "RunProgress",
    "command_line",
    "start_detached",
    "read_metrics_tolerant",
    "read_progress",
    "stop_run",
]


def command_line(cfg: TrainConfig, resume: bool = False, restart: bool = False) -> list[str]:
    """The ``revgnn-train`` arguments that run ``cfg``: one flag per field that differs
    from its default (``--resume`` / ``--restart`` when asked), without the program name.

    Raises:
        ValueError: ``cfg`` is invalid, or sets ``overrides`` (no command-line flag).
    """
    check_config(cfg)
    if resume and restart:
        raise ValueError("resume=True and restart=True: choose one")
    args = []
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        default = f.default if f.default is not MISSING else f.default_factory()
        if value == default:
            continue
        if not f.metadata["cli"]:
            raise ValueError(
                f"{f.name}={value!r} has no command-line flag; a detached run takes only "
                f"settings that `python -m revgnn_edu.train --help` lists"
            )
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif value is None:
            raise ValueError(f"{f.name}=None cannot be given on the command line")
        else:
            args += [flag, str(value)]
    return args + (["--resume"] if resume else []) + (["--restart"] if restart else [])


def _package_path() -> str:
    # the folder that holds the revgnn_edu this process imported
    return str(Path(__file__).resolve().parents[2])


@dataclass
class DetachedRun:
    """A ``revgnn-train`` process started by :func:`start_detached`.

    Args:
        out (Path): the run's folder.
        pid (int): the process id.
        command (list[str]): the command line that started it.
        log (Path): its standard output and error, ``<out>/train.log``.
    """

    out: Path
    pid: int
    command: list[str]
    log: Path
    _process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    @property
    def returncode(self) -> int | None:
        """The exit status (:obj:`None` while running; 143 after SIGTERM)."""
        return None if self._process is None else self._process.poll()

    def running(self) -> bool:
        """Whether the process is still alive."""
        if self._process is not None:
            return self._process.poll() is None
        return _alive(self.pid)

    def progress(self, epochs: int | None = None) -> RunProgress:
        """:func:`read_progress` of the run's folder."""
        return read_progress(self.out, epochs)

    def wait(
        self,
        until_epoch: int | None = None,
        timeout: float | None = None,
        progress: bool = False,
        poll: float = 0.2,
    ) -> int | None:
        """Wait until the process exits, or (with ``until_epoch``) until ``metrics.jsonl``
        holds that epoch; a tqdm bar over the epochs with ``progress=True``.

        Returns the exit status, :obj:`None` when still running.

        Raises:
            TimeoutError: ``timeout`` seconds passed first (the process keeps running).
        """
        from tqdm.auto import tqdm

        start = time.monotonic()
        target = until_epoch or _launch_info(self.out).get("epochs")
        bar = tqdm(total=target, desc=f"epochs logged in {self.out.name}", disable=not progress)
        try:
            while True:
                rows, _ = read_metrics_tolerant(self.out)
                done = rows[-1]["epoch"] if rows else 0
                bar.update(done - bar.n)
                if not self.running():
                    return self.returncode
                if until_epoch is not None and done >= until_epoch:
                    return None
                if timeout is not None and time.monotonic() - start > timeout:
                    raise TimeoutError(
                        f"the run in {self.out} (pid {self.pid}) is still at epoch {done} "
                        f"after {timeout:g} s; it keeps running (see {self.log})"
                    )
                time.sleep(poll)
        finally:
            bar.close()

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGTERM, then wait for the exit (SIGKILL after ``timeout`` seconds); returns
        the exit status. Either way the last finished epoch's checkpoint is intact."""
        if not self.running():
            return self.returncode
        os.kill(self.pid, signal.SIGTERM)
        try:
            if self._process is not None:
                return self._process.wait(timeout)
            _wait_gone(self.pid, timeout)
        except (subprocess.TimeoutExpired, TimeoutError):
            os.kill(self.pid, signal.SIGKILL)
            return self._process.wait() if self._process is not None else None
        return None


def start_detached(
    cfg: TrainConfig,
    resume: bool = False,
    restart: bool = False,
    env: dict[str, str] | None = None,
    progress_bar: bool = False,
) -> DetachedRun:
    """Start ``python -m revgnn_edu.train`` for ``cfg`` in the background, in its own
    session (it outlives this process), its output appended to ``<cfg.out>/train.log``.

    Args:
        cfg (TrainConfig): the run (``cfg.out`` is its folder).
        resume (bool, optional): continue from ``<out>/checkpoint.pt``. (default:
            :obj:`False`)
        restart (bool, optional): delete the run in ``out`` and start over. (default:
            :obj:`False`)
        env (dict, optional): environment variables to add, e.g.
            ``{"OMP_NUM_THREADS": "1"}``. (default: :obj:`None`)
        progress_bar (bool, optional): let the trainer draw its tqdm bar into the log.
            (default: :obj:`False`)

    Raises:
        RunLockedError: a live run already uses ``out``.
        FileNotFoundError: ``resume=True`` and ``out`` holds no checkpoint.
        ValueError: ``cfg`` cannot be written as a command line.
    """
    args = command_line(cfg, resume, restart)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    RunLock(out).check_free()
    if resume and not (out / CHECKPOINT).is_file():
        raise FileNotFoundError(
            f"resume=True: no {CHECKPOINT} in {out}; start without resume for a new run"
        )
    done = 0
    if resume:
        rows, _ = read_metrics_tolerant(out)
        done = rows[-1]["epoch"] if rows else 0
    command = [sys.executable, "-m", "revgnn_edu.train", *args]
    if not progress_bar:
        command.append("--no-progress")
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(
        [_package_path(), *filter(None, [child_env.get("PYTHONPATH")])]
    )
    log = out / LOG
    with open(log, "ab") as fh:
        fh.write(f"$ {' '.join(command)}\n".encode())
        fh.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,
        )
    launch = {
        "pid": process.pid,
        "command": command,
        "started": time.time(),
        "start_epoch": done,
        "epochs": cfg.epochs,
    }
    (out / LAUNCH).write_text(json.dumps(launch, indent=1) + "\n")
    return DetachedRun(out=out, pid=process.pid, command=command, log=log, _process=process)


def _wait_gone(pid: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > end:
            raise TimeoutError(pid)
        time.sleep(0.1)


def stop_run(out: str | os.PathLike, timeout: float = 120.0) -> int | None:
    """Stop the live run in ``out`` (started here or elsewhere): SIGTERM, wait for it to
    exit (SIGKILL after ``timeout`` seconds). Returns its pid, :obj:`None` when no run
    was running. The checkpoint of its last finished epoch is intact either way.

    Raises:
        FileNotFoundError / NotADirectoryError / ValueError: as :func:`read_progress`.
    """
    out = Path(out)
    _check_run_folder(out)
    pid = _running_pid(out)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    try:
        _wait_gone(pid, timeout)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 30.0)
    return pid
