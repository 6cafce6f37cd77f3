"""The run's configuration: one dataclass, which is also the command line.

Every field of :class:`TrainConfig` is a flag (``num_layers`` -> ``--num-layers``) with
its default and help text taken from the field, so nothing is written twice. Each field
also says what ``--resume`` may do with it:

* ``"fixed"``: the architecture, the data and the training trajectory (``preset``,
  ``num_layers``, ``hidden_channels``, ``fold_edge_encoder``, ``overrides``,
  ``node_aggr``, ``num_parts``, ``seed``). A resumed run must match the checkpoint;
  :func:`resume_config` lists every difference.
* ``"changeable"``: ``epochs``, ``lr``, ``clip``, ``amp``, the evaluation options,
  ``device``, ``data_root`` and ``out``. A resumed run takes the new value, and the
  change is recorded in ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import math
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields

from ..models.presets import PRESETS

__all__ = [
    "TrainConfig",
    "check_config",
    "config_from_dict",
    "resume_config",
    "build_parser",
    "FIXED_ON_RESUME",
    "CHANGEABLE_ON_RESUME",
]


def _f(default, help: str, resume: str, check: str | None = None, cli: bool = True, **kw):
    """A field with its help text, its resume rule and its check."""
    meta = {"help": help, "resume": resume, "check": check, "cli": cli}
    if "default_factory" in kw:
        return field(default_factory=kw["default_factory"], metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything that defines a run (stored, as a plain dict, in every checkpoint).

    Each attribute is the command-line flag of the same name (``_`` -> ``-``); see
    ``python -m revgnn_edu.train --help`` for the help texts and defaults.
    """

    preset: str = _f(
        "revgnn-deep", f"model preset, one of: {', '.join(PRESETS)}", "fixed", check="preset"
    )
    num_layers: int | None = _f(None, "override the preset's depth", "fixed", "positive")
    hidden_channels: int | None = _f(None, "override the preset's width", "fixed", "positive")
    fold_edge_encoder: bool = _f(
        False,
        "RevGNN presets: fold the shared edge encoder into each block's edge "
        "projection (same function and parameters; less memory and time)",
        "fixed",
    )
    node_aggr: str = _f(
        "add", "how edge features become node inputs: add, mean or max", "fixed", check="node_aggr"
    )
    num_parts: int = _f(10, "parts per training partition (the paper: 10)", "fixed", "positive")
    seed: int = _f(0, "seeds the model, dropout and the partitions", "fixed")
    data_root: str | None = _f(
        None,
        "folder holding ogbn_proteins/ (default: $REVGNN_EDU_DATA, else ~/.cache/revgnn_edu)",
        "changeable",
    )
    out: str = _f(
        "runs/ogbn-proteins", "output folder for checkpoints and the metrics log", "changeable"
    )
    epochs: int = _f(
        2000, "total number of epochs (a resumed run stops here too)", "changeable", "positive"
    )
    device: str = _f("auto", "cpu, cuda, cuda:1 or auto (CUDA when available)", "changeable")
    amp: bool = _f(False, "bfloat16 autocast for the forward pass", "changeable")
    lr: float = _f(1e-3, "Adam learning rate, in (0, 1]", "changeable", "lr")
    clip: float = _f(1.0, "gradient-norm clip", "changeable", "positive_float")
    eval_views: int = _f(
        1,
        "evaluation: random partitions averaged (the paper's headline numbers: 10)",
        "changeable",
        "positive",
    )
    eval_parts: int = _f(
        5, "evaluation: parts per partition (headline numbers: 3)", "changeable", "positive"
    )
    eval_every: int = _f(
        1, "evaluate every this many epochs (and at the last)", "changeable", "positive"
    )
    overrides: dict = _f(
        None,
        "other model constructor arguments (Python API only), e.g. {'dropout': 0.0}",
        "fixed",
        cli=False,
        default_factory=dict,
    )


FIXED_ON_RESUME = tuple(f.name for f in fields(TrainConfig) if f.metadata["resume"] == "fixed")
CHANGEABLE_ON_RESUME = tuple(
    f.name for f in fields(TrainConfig) if f.metadata["resume"] == "changeable"
)


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_field(name: str, check: str | None, value) -> None:
    if check is None or value is None:
        return
    if check == "positive":
        _positive_int(name, value)
    elif check == "preset" and value not in PRESETS:
        raise ValueError(f"unknown preset {value!r}; valid presets: {', '.join(PRESETS)}")
    elif check == "node_aggr" and value not in ("add", "mean", "max"):
        raise ValueError(f"node_aggr must be 'add', 'mean' or 'max', got {value!r}")
    elif check in ("lr", "positive_float"):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if check == "lr" and value > 1:
            raise ValueError(
                f"lr must be in (0, 1] (Adam moves every weight by about lr "
                f"per step), got {value!r}"
            )


def check_config(cfg: TrainConfig) -> None:
    """Raise :class:`ValueError` naming the first invalid field of ``cfg``."""
    for f in fields(cfg):
        _check_field(f.name, f.metadata["check"], getattr(cfg, f.name))
    if not isinstance(cfg.overrides, dict):
        raise ValueError(f"overrides must be a dict, got {type(cfg.overrides).__name__}")


def config_from_dict(stored: dict, source: str = "checkpoint") -> TrainConfig:
    """A :class:`TrainConfig` from the plain dict stored in a checkpoint."""
    if not isinstance(stored, dict):
        raise ValueError(
            f"{source}: the stored config is a {type(stored).__name__}, expected a dict"
        )
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(stored) - names)
    if unknown:
        raise ValueError(f"{source}: the stored config has unknown fields {unknown}")
    stored = dict(stored)
    # checkpoints written before fold_edge_encoder was a field kept it in overrides
    overrides = dict(stored.get("overrides") or {})
    if "fold_edge_encoder" in overrides and "fold_edge_encoder" not in stored:
        stored["fold_edge_encoder"] = bool(overrides.pop("fold_edge_encoder"))
        stored["overrides"] = overrides
    cfg = TrainConfig(**stored)
    check_config(cfg)
    return cfg


def resume_config(
    stored: TrainConfig, asked: TrainConfig, given: set[str] | None = None
) -> tuple[TrainConfig, dict]:
    """The configuration of a resumed run, and the changes it makes.

    The ``"fixed"`` fields of ``asked`` must equal those of ``stored`` (a
    :class:`ValueError` lists every difference); the ``"changeable"`` ones are taken
    from ``asked``. With ``given`` (the flags on a command line) only those fields of
    ``asked`` count; the others keep their stored values. Returns the config and
    ``{field: [old, new]}`` for each change.
    """
    if given is not None:
        keep = {
            name: getattr(stored, name)
            for name in asdict(stored)
            if name not in given and name != "out"
        }
        asked = TrainConfig(**{**asdict(asked), **keep})
    diffs = [
        f"{name}: checkpoint {getattr(stored, name)!r}, asked {getattr(asked, name)!r}"
        for name in FIXED_ON_RESUME
        if getattr(stored, name) != getattr(asked, name)
    ]
    if diffs:
        raise ValueError(
            "--resume: these settings differ from the checkpoint's, and a resumed run "
            "cannot change them (the architecture, the data and the partitions):\n  "
            + "\n  ".join(diffs)
            + f"\nDrop them to resume as stored, or start a new run in another --out. "
            f"Resuming may change: {', '.join(CHANGEABLE_ON_RESUME)}."
        )
    changes = {
        name: [getattr(stored, name), getattr(asked, name)]
        for name in CHANGEABLE_ON_RESUME
        if name != "out" and getattr(stored, name) != getattr(asked, name)
    }
    return TrainConfig(**asdict(asked)), changes


# -- the command line, generated from the fields ----------------------------------------
def _arg_type(name: str, check: str | None, base):
    def convert(text: str):
        try:
            value = base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if base is int else 'a number'}, got {text!r}"
            ) from None
        try:
            _check_field(name, check, value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return value

    convert.__name__ = base.__name__
    return convert


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m revgnn_edu.train``, one flag per field.

    Flags not given on the command line are absent from the parsed namespace (so that
    ``--resume`` keeps the stored value of every field the user did not give).
    """
    p = argparse.ArgumentParser(
        prog="python -m revgnn_edu.train",
        argument_default=argparse.SUPPRESS,
        description="Train a RevGNN-family preset on ogbn-proteins (paper recipe).",
    )
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        if not f.metadata["cli"]:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f"{f.metadata['help']} (default: {default})"
        if f.metadata["resume"] == "fixed":
            help_text += "; must match the checkpoint with --resume"
        base = hints[f.name]
        args = typing.get_args(base)
        if args:  # X | None
            base = next(a for a in args if a is not type(None))
        if base is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif base is str and f.metadata["check"] is None:
            p.add_argument(flag, help=help_text, metavar=f.name.upper())
        else:
            p.add_argument(
                flag,
                type=_arg_type(f.name, f.metadata["check"], base),
                help=help_text,
                metavar=f.name.upper(),
            )
    p.add_argument(
        "--resume",
        action="store_true",
        default=False,
        help="continue the run in --out from its checkpoint.pt; flags given "
        "with it change the stored settings that may change",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        default=False,
        help="delete the run in --out (checkpoint.pt, best.pt, metrics.jsonl) and start over",
    )
    p.add_argument("--no-progress", action="store_true", default=False, help="no progress bars")
    return p


def config_from_args(given: dict, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: the dataclass defaults) updated with the flags ``given``."""
    values = asdict(base) if base is not None else asdict(TrainConfig())
    values.update(given)
    return TrainConfig(**values)
