"""The command line: ``python -m revgnn_edu.train`` (also installed as ``revgnn-train``).

Before anything slow is imported (torch, the models, the data loaders), the flags are
checked and the output folder's lock is tested, so that a bad flag or a second run into
a locked folder is refused at once.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from .checkpoint import CHECKPOINT, METRICS, OutputDirError, Terminated, terminate_after_saves
from .config import build_parser, check_config, config_from_args
from .lock import RunLock, RunLockedError

__all__ = ["main"]


def _stopped(out: Path, how: str) -> str:
    if (out / CHECKPOINT).is_file():
        return (
            f"\n{how}: the checkpoint of the last finished epoch, {out / CHECKPOINT}, is "
            f"intact; run again with --resume to continue"
        )
    return f"\n{how} before the first epoch finished; nothing was saved"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (works under torchrun). Returns the exit status.

    0: trained (or nothing left to train); 1: an error, printed as ``error: ...`` on
    stderr; 2: bad command-line arguments; 130: interrupted (Ctrl-C); 143: terminated
    (SIGTERM). Interrupted or terminated, the last finished epoch's checkpoint is intact.
    """
    parser = build_parser()
    try:
        ns = vars(parser.parse_args(argv))
    except SystemExit as exit_:  # argparse printed the problem (or --help)
        return exit_.code if isinstance(exit_.code, int) else 2
    resume, restart = ns.pop("resume"), ns.pop("restart")
    progress = not ns.pop("no_progress")
    cfg = config_from_args(ns)
    out = Path(cfg.out)
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        try:  # only the writing process holds the lock
            RunLock(out).check_free()
        except (RunLockedError, OutputDirError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    try:
        check_config(cfg)  # what the parser left: the preset (it imports the models)
    except ValueError as err:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2

    from . import distributed as D
    from .checkpoint import CheckpointError
    from .loop import train
    from .step import NonFiniteLossError

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate_after_saves) if on_main_thread else None
    try:
        device = D.init_distributed(cfg.device, cfg.dist_timeout)
        if device != cfg.device:
            ns["device"] = cfg.device = device
        rank = D.rank_and_world()[0]
        summary = train(cfg, resume=resume, restart=restart, progress=progress, cli_flags=set(ns))
    except KeyboardInterrupt:
        if rank == 0:
            print(_stopped(out, "interrupted"), file=sys.stderr)
        return 130
    except Terminated:
        if rank == 0:
            print(_stopped(out, "terminated (SIGTERM)"), file=sys.stderr)
        return 143
    except (
        NonFiniteLossError,
        CheckpointError,
        RunLockedError,
        OSError,
        RuntimeError,
        ValueError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        D.shutdown()
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
    if rank == 0:
        if summary.get("deq_unconverged_solves"):
            print(
                f"warning: {summary['deq_unconverged_solves']} of {summary['deq_solves']} "
                f"DEQ solves did not reach their tolerance (per epoch: deq_* in "
                f"{out / METRICS})",
                file=sys.stderr,
            )
        print(json.dumps(summary))
    return 0
