"""Ids of rows, as they arrive in URLs, query strings and JSON bodies.

Every table's key is a BigAutoField (DEFAULT_AUTO_FIELD): an id beyond its range cannot name a
row, and the database refuses to compare a column with it (PostgreSQL raises, SQLite's driver
overflows). Such an id is treated like any other id that names nothing.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404

ID_MIN = 1
ID_MAX = 2**63 - 1  # the largest value of a BigAutoField


def object_id(value: Any) -> int | None:
    """``value`` as a row id (``1`` to ``ID_MAX``), or None when it cannot be one.

    Accepts ints and strings of digits (form fields, query strings) and integral floats from
    JSON; refuses booleans (JSON ``true`` is an int in Python).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        # int() of a long string is slow by design; no id has more than 19 digits.
        if not text.isascii() or not text.isdigit() or len(text) > 19:
            return None
        value = int(text)
    elif not isinstance(value, int):
        return None
    return value if ID_MIN <= value <= ID_MAX else None


def id_or_404(value: Any, what: str) -> int:
    """``value`` as a row id, or Http404 naming ``what`` (``"No such job."``)."""
    pk = object_id(value)
    if pk is None:
        raise Http404(f"No such {what}.")
    return pk


class IdConverter:
    """The ``<id:name>`` URL converter: a path whose id is out of range matches no route (404)."""

    regex = "[0-9]+"
    #: What the OpenAPI document says of such a path parameter.
    schema = {"type": "integer", "minimum": ID_MIN, "maximum": ID_MAX}

    def to_python(self, value: str) -> int:
        pk = object_id(value)
        if pk is None:
            raise ValueError(f"{value[:40]} is not a row id")  # Django: the route does not match
        return pk

    def to_url(self, value: int) -> str:
        return str(value)
