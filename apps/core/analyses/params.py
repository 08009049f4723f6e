"""Validation of analysis parameters: each failure is a ParameterError naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from apps.core.errors import ParameterError


def number(
    params: Mapping[str, Any],
    name: str,
    *,
    default: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    """A finite real number ``params[name]`` (bools and strings are refused)."""
    if name not in params or params[name] is None:
        if default is not None:
            return default
        raise ParameterError(name, "is required.")
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, f"must be a number, got {value!r}.")
    if not math.isfinite(value):
        raise ParameterError(name, f"must be a finite number, got {value!r}.")
    if positive and value <= 0:
        raise ParameterError(name, f"must be greater than 0, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"must be at least {minimum:g}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"must be at most {maximum:g}, got {value!r}.")
    return float(value)


def integer(
    params: Mapping[str, Any],
    name: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer ``params[name]`` (a float with an integral value is accepted)."""
    value = number(params, name, default=default, minimum=minimum, maximum=maximum)
    if value != int(value):
        raise ParameterError(name, f"must be a whole number, got {params[name]!r}.")
    return int(value)


def boolean(params: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise ParameterError(name, f"must be true or false, got {value!r}.")
    return value


def choice(params: Mapping[str, Any], name: str, options: Sequence[str]) -> str:
    value = params.get(name)
    if value not in options:
        raise ParameterError(name, f"must be one of {', '.join(options)}, got {value!r}.")
    return str(value)


def no_unknown(params: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse parameters the analysis does not take (typos must not pass silently)."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParameterError(
            unknown[0],
            f"is not a parameter of this analysis; expected {', '.join(sorted(allowed))}.",
        )
