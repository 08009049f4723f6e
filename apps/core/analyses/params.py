"""Validation of analysis parameters: each failure is a ParameterError naming the field."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from apps.core.errors import ParameterError

#: The value of a parameter declared ``auto`` that asks the analysis to find it.
AUTO = "auto"


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
    raw = params[name]
    # numbers.Real admits numpy scalars (np.int64, np.float32); bools are refused on purpose
    if isinstance(raw, bool | np.bool_) or not isinstance(raw, numbers.Real):
        raise ParameterError(name, f"must be a number, got {raw!r}.")
    try:
        value = float(raw)
    except OverflowError:  # an int too large for a float
        value = math.inf
    if not math.isfinite(value):
        raise ParameterError(name, f"must be a finite number, got {raw!r}.")
    if positive and value <= 0:
        raise ParameterError(name, f"must be greater than 0, got {raw!r}.")
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"must be at least {minimum:g}, got {raw!r}.")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"must be at most {maximum:g}, got {raw!r}.")
    return value


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


def boolean(params: Mapping[str, Any], name: str, *, default: bool, auto: bool = False) -> bool:
    """``params[name]`` as a bool; only true/false are accepted (not 0/1 or strings).

    ``auto``: the caller also accepts ``"auto"`` (and has handled it); the error says so.
    """
    value = params.get(name, default)
    if isinstance(value, np.bool_):
        value = bool(value)
    if not isinstance(value, bool):
        also = f' or "{AUTO}"' if auto else ""
        raise ParameterError(name, f"must be true or false{also}, got {value!r}.")
    return value


def choice(
    params: Mapping[str, Any], name: str, options: Sequence[str], *, default: str | None = None
) -> str:
    """``params[name]`` (``default`` when left out), which must be one of ``options``."""
    value = params.get(name, default)
    if value is None:
        raise ParameterError(name, f"is required; expected one of {', '.join(options)}.")
    if not isinstance(value, str) or value not in options:
        raise ParameterError(name, f"must be one of {', '.join(options)}, got {value!r}.")
    return str(value)


def no_unknown(params: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse parameters the analysis does not take (typos must not pass silently)."""
    unknown = sorted(str(name) for name in set(params) - allowed)
    if unknown and not allowed:
        raise ParameterError(unknown[0], "is not a parameter; this analysis takes no parameters.")
    if unknown:
        raise ParameterError(
            unknown[0],
            f"is not a parameter of this analysis; expected {', '.join(sorted(allowed))}.",
        )
