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
