"""The five model families of the paper's Table 1, each named once (on its class).

A family's name (``"WT-RevGNN"``) is the class attribute ``family``; the class name is
the same name without dashes (``WTRevGNN``). :func:`family_name` accepts either
spelling, in any case, so that presets, :mod:`revgnn_edu.complexity` and the classes
agree by construction.
"""

from __future__ import annotations

from torch import nn

from ..checks import one_of
from .deq import DEQGNN
from .resgnn import ResGNN
from .revgnn import RevGNN
from .weight_tied import WTResGNN, WTRevGNN

__all__ = ["FAMILIES", "family_name", "family_class"]

#: family name -> model class, in the order of the paper's Table 1
FAMILIES: dict[str, type[nn.Module]] = {
    cls.family: cls for cls in (ResGNN, RevGNN, WTResGNN, WTRevGNN, DEQGNN)
}


def _key(name) -> str:
    return str(name).lower().replace("-", "").replace("_", "")


_BY_KEY = {_key(name): name for name in FAMILIES}


def family_name(name: str) -> str:
    """The canonical family name (``"WT-RevGNN"``) for any spelling of it
    (``"wt-revgnn"``, ``"WTRevGNN"``, ``"wt_revgnn"``); a ValueError otherwise."""
    key = _key(name)
    if key not in _BY_KEY:
        one_of("model family", name, FAMILIES, " (any case, dashes optional)")  # raises
    return _BY_KEY[key]


def family_class(name: str) -> type[nn.Module]:
    """The model class of a family, e.g. ``family_class("wt-revgnn") is WTRevGNN``."""
    return FAMILIES[family_name(name)]
