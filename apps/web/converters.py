"""Path converters beyond row ids: a name, and one of a fixed set of words.

Each has a ``schema``: what the OpenAPI document says of the path parameter it matches.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar


class NameConverter:
    """A name of letters, digits, ``_`` and ``-`` (result names)."""

    regex = "[A-Za-z0-9_-]+"
    schema: ClassVar[dict[str, Any]] = {"type": "string", "pattern": f"^{regex}$"}

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class ChoiceConverter:
    """One of ``choices``; subclasses set them (Django instantiates converters without
    arguments)."""

    choices: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.regex = "|".join(re.escape(c) for c in cls.choices)
        cls.schema = {"type": "string", "enum": list(cls.choices)}

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        if value not in self.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(self.choices)}")
        return value
