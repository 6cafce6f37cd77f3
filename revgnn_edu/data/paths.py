"""Where revgnn_edu keeps datasets: one rule for every loader."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_VAR", "data_root"]

#: Environment variable that points every loader at a data directory (CI sets it to
#: ``../shared/data``, which holds the Planetoid raw files).
ENV_VAR = "REVGNN_EDU_DATA"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data directory: ``root`` if given, else ``$REVGNN_EDU_DATA``, else a cache dir.

    The per-user cache directory is ``$XDG_CACHE_HOME/revgnn_edu`` (``~/.cache/revgnn_edu``
    when ``XDG_CACHE_HOME`` is unset).
    """
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "revgnn_edu"
