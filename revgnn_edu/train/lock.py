"""The lock of a run folder: an exclusive ``flock`` on ``<out>/.lock`` holding the pid.

Opened without following a symbolic link, so that a planted ``.lock -> victim`` is
refused rather than truncated. A second run into the folder is refused at once, and a
run killed with ``kill -9`` never blocks the next one (the operating system drops the
lock with the process). Importing this module loads neither torch nor the models.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from .checkpoint import LOCK, OutputDirError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

__all__ = ["RunLock", "RunLockedError", "open_in_run", "note"]


class RunLockedError(RuntimeError):
    """Another process is training into the same output folder."""


def note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def open_in_run(path: Path, flags: int) -> int:
    """``os.open`` that refuses a symbolic link or a folder at ``path`` in one line."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP or path.is_symlink():
            raise OutputDirError(
                f"{path} is a symbolic link; the trainer does not write through links "
                f"in its folder: remove it"
            ) from None
        if err.errno == errno.EISDIR or path.is_dir():
            raise OutputDirError(
                f"{path} is a folder where the trainer keeps a file; remove it"
            ) from None
        raise OutputDirError(f"cannot open {path}: {err.strerror}") from None


class RunLock:
    """An exclusive lock on a run folder: ``<out>/.lock``, ``flock``-ed, holding our pid.

    The pid a killed run left in the file shows that it did not exit cleanly (reported
    by :meth:`acquire`).
    """

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK
        self._fd = None

    def _refuse(self, fd: int):
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunLockedError(
            f"{self.path.parent} is in use by another training run (pid {holder}); "
            f"wait for it to finish, stop it, or choose another --out"
        )

    def check_free(self) -> None:
        """Raise :class:`RunLockedError` if a live run holds the lock; create nothing.

        A quick test before the slow start of a run; :meth:`acquire` decides.
        """
        if fcntl is None or not self.path.exists() or self.path.is_dir():
            return
        fd = open_in_run(self.path, os.O_RDONLY)
        try:  # a shared lock: two runs testing at once do not refuse each other
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            self._refuse(fd)
        os.close(fd)

    def acquire(self) -> int | None:
        """Take the lock; return the pid of a run that crashed holding it, if any.

        Raises:
            RunLockedError: another live process holds it (its pid is in the message).
            OutputDirError: ``.lock`` is a link or a folder, or cannot be written.
        """
        fd = open_in_run(self.path, os.O_RDWR | os.O_CREAT)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._refuse(fd)
        previous = os.pread(fd, 64, 0).decode(errors="replace").strip()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as err:
            os.close(fd)
            from .checkpoint import BEST, CHECKPOINT, space_error

            # the next epoch writes another checkpoint.pt and best.pt beside these
            run = [self.path.parent / name for name in (CHECKPOINT, BEST)]
            needed = sum(p.stat().st_size for p in run if p.is_file())
            raise space_error(self.path, err, needed) from None
        self._fd = fd
        stale = int(previous) if previous.isdigit() else None
        return stale if stale != os.getpid() else None

    def release(self) -> None:
        """Empty the file (a clean exit) and drop the lock."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass  # the lock is dropped all the same
        finally:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        stale = self.acquire()
        if stale is not None:
            note(
                f"the previous run in {self.path.parent} (pid {stale}) stopped "
                f"without releasing its lock (killed or crashed); taking it over"
            )
        return self

    def __exit__(self, *exc) -> None:
        self.release()
