"""The command line: ``python -m revgnn_edu.train`` (also installed as ``revgnn-train``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch.distributed as dist

from .checkpoint import CHECKPOINT, CheckpointError, OutputDirError, RunLockedError
from .config import build_parser, config_from_args
from .distributed import init_distributed
from .loop import NonFiniteLossError, train

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (works under torchrun). Returns the exit status.

    0: trained; 1: an error, printed as one ``error: ...`` line on stderr; 2: bad
    command-line arguments; 130: interrupted (the last finished epoch is saved).
    """
    parser = build_parser()
    try:
        ns = vars(parser.parse_args(argv))
    except SystemExit as exit_:  # argparse printed the problem (or --help)
        return exit_.code if isinstance(exit_.code, int) else 2
    resume, restart = ns.pop("resume"), ns.pop("restart")
    progress = not ns.pop("no_progress")
    device = init_distributed(ns.get("device", "auto"))
    if device != ns.get("device", "auto"):
        ns["device"] = device
    cfg = config_from_args(ns)
    out = Path(cfg.out)
    try:
        summary = train(cfg, resume=resume, restart=restart, progress=progress, cli_flags=set(ns))
    except KeyboardInterrupt:
        if (out / CHECKPOINT).is_file():
            print(
                f"\ninterrupted: the last finished epoch is in {out / CHECKPOINT}; "
                f"run again with --resume to continue",
                file=sys.stderr,
            )
        else:
            print(
                "\ninterrupted before the first epoch finished; nothing was saved", file=sys.stderr
            )
        return 130
    except (
        FileNotFoundError,
        FileExistsError,
        NonFiniteLossError,
        CheckpointError,
        RunLockedError,
        OutputDirError,
        RuntimeError,
        ValueError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        if summary.get("deq_unconverged_solves"):
            print(
                f"warning: {summary['deq_unconverged_solves']} of {summary['deq_solves']} "
                f"DEQ solves did not reach their tolerance (per epoch: deq_* in "
                f"{out / 'metrics.jsonl'})",
                file=sys.stderr,
            )
        print(json.dumps(summary))
    return 0
