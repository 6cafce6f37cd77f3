"""The run's configuration: one dataclass, which is also the command line.

Every field of :class:`TrainConfig` is a flag (``num_layers`` -> ``--num-layers``) with
its default, help text and check taken from the field, so nothing is written twice; a
config read back from a checkpoint passes the same checks. Each field also says what
``--resume`` may do with it:

* ``"fixed"``: the architecture, the data and the training trajectory (``preset``,
  ``num_layers``, ``hidden_channels``, ``fold_edge_encoder``, ``overrides``,
  ``node_aggr``, ``num_parts``, ``seed``). A resumed run must match the checkpoint;
  :func:`resume_config` lists every difference.
* ``"changeable"``: ``epochs``, ``lr``, ``clip``, ``amp``, the evaluation options,
  ``device``, ``dist_timeout``, ``data_root`` and ``out``. A resumed run takes the new
  value, and the change is recorded in ``metrics.jsonl``.

This module imports neither torch nor the models, so that the command line can refuse
a locked folder or a bad flag at once.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import partial

from .. import checks

__all__ = [
    "TrainConfig",
    "check_config",
    "config_from_dict",
    "resume_config",
    "build_parser",
    "FIXED_ON_RESUME",
    "CHANGEABLE_ON_RESUME",
    "NODE_AGGRS",
    "MAX_LAYERS",
    "MAX_CHANNELS",
    "MAX_VIEWS",
    "MAX_TIMEOUT",
]

NODE_AGGRS = ("add", "mean", "max")
#: Bounds on a model's size: far above the paper's (1001 layers, 224 channels), and low
#: enough that a typo or a crafted checkpoint cannot make the model's constructor loop or
#: allocate without end before any check runs.
MAX_LAYERS, MAX_CHANNELS = 100_000, 65_536
#: Bounds that keep a run finite: views averaged per evaluation (the paper: 10), and
#: the seconds a process waits for the others (one week).
MAX_VIEWS, MAX_TIMEOUT = 1000, 7 * 24 * 3600
#: Largest ``seed``: every generator derived from it (``seed * 100_003 + epoch`` for the
#: evaluation views) stays a 64-bit integer.
MAX_SEED = 2**32 - 1


def _preset(name: str, value) -> str:
    from ..models.presets import PRESETS  # the models load only when a preset is checked

    return checks.one_of(name, value, PRESETS)


def _optional(check):
    return lambda name, value: None if value is None else check(name, value)


def _f(default, help: str, resume: str, check=None, cli: bool = True, **kw):
    """A field with its help text, its resume rule and its check ``check(name, value)``."""
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

    preset: str = _f("revgnn-deep", "model preset, one of: {presets}", "fixed", _preset)
    num_layers: int | None = _f(
        None,
        f"override the preset's depth (1..{MAX_LAYERS})",
        "fixed",
        _optional(partial(checks.int_in_range, low=1, high=MAX_LAYERS)),
    )
    hidden_channels: int | None = _f(
        None,
        f"override the preset's width (1..{MAX_CHANNELS})",
        "fixed",
        _optional(partial(checks.int_in_range, low=1, high=MAX_CHANNELS)),
    )
    fold_edge_encoder: bool = _f(
        True,
        "RevGNN-family presets: fold the shared edge encoder into each block's edge "
        "projection (same function and parameters; less memory and time); "
        "--no-fold-edge-encoder for the unfolded layout; other presets ignore it",
        "fixed",
        checks.boolean,
    )
    node_aggr: str = _f(
        "add",
        "how edge features become node inputs: add, mean or max",
        "fixed",
        partial(checks.one_of, choices=NODE_AGGRS),
    )
    num_parts: int = _f(
        10, "parts per training partition (the paper: 10)", "fixed", checks.positive_int
    )
    seed: int = _f(
        0,
        f"seeds the model, dropout and the partitions (0..{MAX_SEED})",
        "fixed",
        partial(checks.int_in_range, low=0, high=MAX_SEED),
    )
    data_root: str | None = _f(
        None,
        "folder holding ogbn_proteins/ (default: $REVGNN_EDU_DATA, else ~/.cache/revgnn_edu)",
        "changeable",
        _optional(checks.non_empty_str),
    )
    out: str = _f(
        "runs/ogbn-proteins",
        "output folder for checkpoints and the metrics log",
        "changeable",
        checks.non_empty_str,
    )
    epochs: int = _f(
        2000,
        "total number of epochs (a resumed run stops here too)",
        "changeable",
        checks.positive_int,
    )
    device: str = _f(
        "auto",
        "cpu, cuda, cuda:1 or auto (CUDA when available)",
        "changeable",
        checks.non_empty_str,
    )
    amp: bool = _f(False, "bfloat16 autocast for the forward pass", "changeable", checks.boolean)
    lr: float = _f(
        1e-3,
        "Adam learning rate, in (0, 1]",
        "changeable",
        partial(checks.positive_number, upper=1),
    )
    clip: float = _f(1.0, "gradient-norm clip", "changeable", checks.positive_number)
    eval_views: int = _f(
        1,
        f"evaluation: random partitions averaged, 1..{MAX_VIEWS} (the paper's headline "
        f"numbers: 10)",
        "changeable",
        partial(checks.int_in_range, low=1, high=MAX_VIEWS),
    )
    eval_parts: int = _f(
        5,
        "evaluation: parts per partition (headline numbers: 3)",
        "changeable",
        checks.positive_int,
    )
    eval_every: int = _f(
        1, "evaluate every this many epochs (and at the last)", "changeable", checks.positive_int
    )
    dist_timeout: float = _f(
        600.0,
        "torchrun: seconds a process waits for the others before naming the one that "
        "stopped answering; must exceed rank 0's evaluation, which the others wait for",
        "changeable",
        partial(checks.positive_number, upper=MAX_TIMEOUT),
    )
    overrides: dict = _f(
        None,
        "other model constructor arguments (Python API only), e.g. {'dropout': 0.0}",
        "fixed",
        checks.str_keyed_dict,
        cli=False,
        default_factory=dict,
    )


FIXED_ON_RESUME = tuple(f.name for f in fields(TrainConfig) if f.metadata["resume"] == "fixed")
CHANGEABLE_ON_RESUME = tuple(
    f.name for f in fields(TrainConfig) if f.metadata["resume"] == "changeable"
)


def check_config(cfg: TrainConfig, skip: tuple[str, ...] = ()) -> None:
    """Raise :class:`ValueError` naming the first invalid field of ``cfg`` (its type or
    its value), checking the fields not in ``skip``."""
    for f in fields(cfg):
        if f.name not in skip and f.metadata["check"] is not None:
            f.metadata["check"](f.name, getattr(cfg, f.name))


def config_from_dict(stored, source: str = "checkpoint") -> TrainConfig:
    """A :class:`TrainConfig` from the plain dict stored in a checkpoint, checked with
    the rules of the command line (a :class:`ValueError` names ``source``)."""
    if not isinstance(stored, dict):
        raise ValueError(
            f"{source}: the stored config is a {type(stored).__name__}, expected a dict"
        )
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(map(str, set(stored) - names))
    if unknown:
        raise ValueError(f"{source}: the stored config has unknown fields {unknown}")
    cfg = TrainConfig(**stored)
    try:
        check_config(cfg)
    except ValueError as err:
        raise ValueError(f"{source}: the stored config is invalid: {err}") from None
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
def _arg_type(name: str, check, base):
    def convert(text: str):
        try:
            value = base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if base is int else 'a number'}, got {text!r}"
            ) from None
        try:
            if check is not None:
                check(name, value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return value

    convert.__name__ = base.__name__
    return convert


class _Parser(argparse.ArgumentParser):
    def format_help(self) -> str:
        from ..models.presets import PRESETS  # only --help lists the presets

        for action in self._actions:
            if action.help and "{presets}" in action.help:
                action.help = action.help.replace("{presets}", ", ".join(PRESETS))
        return super().format_help()


#: Flags checked by :func:`check_config` after parsing rather than by the parser
#: (checking a preset imports the models, which a refused run should not wait for).
CHECKED_AFTER_PARSING = ("preset",)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m revgnn_edu.train``, one flag per field.

    Flags not given on the command line are absent from the parsed namespace (so that
    ``--resume`` keeps the stored value of every field the user did not give). The
    fields of :data:`CHECKED_AFTER_PARSING` are checked by :func:`check_config`.
    """
    p = _Parser(
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
        check = None if f.name in CHECKED_AFTER_PARSING else f.metadata["check"]
        if base is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            p.add_argument(
                flag,
                type=_arg_type(f.name, check, base),
                help=help_text.replace("%", "%%"),
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
