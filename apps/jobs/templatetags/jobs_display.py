"""Template filters for showing jobs: a read speed a person can read, a queue place."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def read_rate(gbs: float | None) -> str:
    """A speed in GB/s as three significant figures in GB/s, MB/s or kB/s; "" for none.

    A tiny job read in a few milliseconds would otherwise show "0.00 GB/s", which says nothing.
    The analysis page's jobstatus.js formatRate writes the same text.
    """
    if gbs is None or not gbs > 0:
        return ""
    if gbs >= 1:
        value, unit = gbs, "GB/s"
    elif gbs >= 1e-3:
        value, unit = gbs * 1e3, "MB/s"
    else:
        value, unit = gbs * 1e6, "kB/s"
    return f"{value:.0f} {unit}" if value >= 100 else f"{value:#.3g} {unit}"


@register.filter
def ordinal(number: int | str) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st ...; "" for anything but a whole number (a missing
    place renders as ""). job.js's ordinal writes the same."""
    if not isinstance(number, int):
        return ""
    suffix = (
        "th" if 11 <= number % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"
