"""The Planetoid citation graphs (Cora, CiteSeer, PubMed) through PyG."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

from torch_geometric.data import Data

from .paths import ENV_VAR, data_root

__all__ = ["PLANETOID_NAMES", "load_planetoid"]

PLANETOID_NAMES = ("Cora", "CiteSeer", "PubMed")


def _writable_copy(base: Path, name: str) -> Path:
    """PyG writes ``processed/`` beside ``raw/``; copy read-only raw files to the cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "revgnn_edu" / "planetoid"
    if not (target / name / "raw").exists():
        shutil.copytree(base / "planetoid" / name / "raw", target / name / "raw")
    return target


def _failing_file(err: BaseException) -> str | None:
    """The file PyG's Planetoid reader was reading when ``err`` was raised, if known."""
    tb = err.__traceback__
    path = None
    while tb is not None:  # the innermost frame with a ``path`` local is the reader's
        candidate = tb.tb_frame.f_locals.get("path")
        if isinstance(candidate, str) and "ind." in candidate:
            path = candidate
        tb = tb.tb_next
    return path


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> Data:
    """Load one Planetoid graph with its public split (e.g. Cora: 140/500/1000 nodes).

    Files are looked for in ``<root>/planetoid/<name>/raw``, where ``root`` is the
    argument, else ``$REVGNN_EDU_DATA``, else ``~/.cache/revgnn_edu``. When they are
    there nothing is downloaded; when they are missing PyG downloads them. A ``root``
    (or ``$REVGNN_EDU_DATA``) that does not exist is an error, never created; a damaged
    raw file raises :class:`RuntimeError` naming it.

    Args:
        name (str): ``"Cora"``, ``"CiteSeer"`` or ``"PubMed"`` (any capitalisation).
        root (str or Path, optional): the data directory. (default: :obj:`None`)

    Returns:
        torch_geometric.data.Data: ``x``, ``edge_index``, ``y`` and the
        ``train_mask`` / ``val_mask`` / ``test_mask`` of the public split.
    """
    from torch_geometric.datasets import Planetoid

    canonical = {n.lower(): n for n in PLANETOID_NAMES}
    if not isinstance(name, str) or name.lower() not in canonical:
        raise ValueError(
            f"unknown Planetoid dataset {name!r}; expected one of {', '.join(PLANETOID_NAMES)}"
        )
    name = canonical[name.lower()]
    explicit = root is not None or bool(os.environ.get(ENV_VAR))
    base = data_root(root)
    if explicit and not base.is_dir():  # a typo must not create folders
        where = "the root argument" if root is not None else f"${ENV_VAR}"
        raise FileNotFoundError(
            f"the data directory {base} ({where}) does not exist or is "
            f"not a folder; expected planetoid/{name}/raw inside it"
        )
    folder = base / "planetoid"
    raw = folder / name / "raw"
    if raw.exists() and not os.access(folder / name, os.W_OK):
        folder = _writable_copy(base, name)
    try:
        dataset = Planetoid(str(folder), name)
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        UnicodeDecodeError,
        IndexError,
        AttributeError,
    ) as err:  # a damaged raw file
        path = _failing_file(err) or raw
        raise RuntimeError(
            f"could not read the {name} raw file {path} "
            f"({type(err).__name__}: {err}); it is damaged or truncated: "
            f"replace it with a fresh copy"
        ) from err
    except OSError as err:  # URLError is an OSError: no files and no network
        raise FileNotFoundError(
            f"could not load the {name} dataset: its raw files are not in {raw} and "
            f"downloading them failed ({err}). Put the Planetoid raw files "
            f"(ind.{name.lower()}.x, .y, .tx, .ty, .allx, .ally, .graph, .test.index) "
            f"in {raw}, or point {ENV_VAR} (or the root argument) at a directory whose "
            f"planetoid/{name}/raw holds them."
        ) from err
    return dataset[0]
