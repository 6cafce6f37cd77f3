"""Argument checks shared by the whole package: one message for one kind of mistake."""

from __future__ import annotations

__all__ = ["positive_int", "probability"]


def positive_int(name: str, value) -> int:
    """Return ``value`` if it is a positive integer (not a bool), else raise a
    ValueError naming ``name`` and the bad value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def probability(name: str, value) -> float:
    """Return ``value`` as a float if it lies in :math:`[0, 1)`, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


# -- checks of stored and command-line settings (revgnn_edu.train.config) ----------------
__all__ += [
    "int_in_range",
    "positive_number",
    "boolean",
    "one_of",
    "non_empty_str",
    "str_keyed_dict",
]


def int_in_range(name: str, value, low: int, high: int) -> int:
    """Return ``value`` if it is an integer (not a bool) in ``low..high``, else a
    ValueError naming ``name`` and the bad value."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return value


def positive_number(name: str, value, upper: float | None = None) -> float:
    """Return ``value`` as a float if it is a finite number :math:`> 0` (and at most
    ``upper``, if given), else a ValueError."""
    import math

    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be in (0, {upper:g}], got {value!r}")
    return float(value)


def boolean(name: str, value) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not 0, 1 or a string), else a
    ValueError."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def one_of(name: str, value, choices):
    """Return ``value`` if it equals one of ``choices``, else a ValueError listing them."""
    choices = tuple(choices)
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def non_empty_str(name: str, value) -> str:
    """Return ``value`` if it is a non-empty string, else a ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def str_keyed_dict(name: str, value) -> dict:
    """Return ``value`` if it is a dict whose keys are all strings, else a ValueError."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{name} must be a dict with string keys, got {value!r}")
    return value
