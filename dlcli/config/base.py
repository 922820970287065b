"""What every config section is built from: strict models, shorthands, and name checks against Keras's names."""

from __future__ import annotations

from typing import Literal

from dlcli import names
from dlcli.strict import Strict

__all__ = ["Strict", "Mode", "at_least_one", "check_activation", "check_name", "shorthand"]


def shorthand(value):
    """``true`` is the section with its defaults, ``false`` is no section."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


Mode = Literal["auto", "min", "max"]


def at_least_one(value):
    """A count that may also be ``auto``: whole numbers must be >= 1."""
    if isinstance(value, int) and value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def check_activation(value: str | None) -> str:
    """A Keras activation name (``None`` is linear)."""
    if value is None:
        return "linear"
    if value not in names.ACTIVATIONS:
        raise ValueError(f"unknown activation '{value}'{names.did_you_mean(value, names.ACTIVATIONS)}")
    return value


def check_name(kind: str, value: str, choices, *, lower: bool = False) -> str:
    """``value`` if it is one of ``choices`` (compared in lower case with ``lower``), else a did-you-mean error."""
    key = value.lower() if lower else value
    if key not in choices:
        raise ValueError(f"unknown {kind} '{value}'{names.did_you_mean(value, choices)}")
    return key
