"""Declarative descriptions of analysis parameters and results, for the UI and the API schema.

Validation itself lives in each analysis (with the helpers of :mod:`.params`); these specs
only describe what a form or a script should send and what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``type`` is number, integer, boolean, choice, points or masks."""

    name: str
    type: str
    help: str
    required: bool = True
    default: Any = None
    options: tuple[str, ...] = ()
    #: for ``virtual``: the shapes that use this parameter (empty: always used)
    shapes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "help": self.help,
        }
        if self.options:
            out["options"] = list(self.options)
        if self.shapes:
            out["shapes"] = list(self.shapes)
        return out


@dataclass(frozen=True)
class ResultSpec:
    """One result: ``shape`` says how it is laid out.

    ``"nav"`` (the scan shape), ``"sig"`` (the detector shape), or ``"nav+bins"`` /
    ``"nav+m"`` (the scan shape plus one trailing axis).
    """

    name: str
    shape: str
    help: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": self.shape, "help": self.help}
