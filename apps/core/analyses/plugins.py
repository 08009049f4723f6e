"""Analyses from installed packages: the plugins, found by the entry-point group
:data:`ENTRY_POINT_GROUP`.

A plugin is a Python distribution that staff install into the portal's environment. Each entry
point of the group names one :class:`~apps.core.analyses.base.Analysis` subclass; its name is
the analysis's name::

    [project.entry-points."libertem_portal.analyses"]
    bright_pixels = "portal_plugin_example.bright:BrightPixelsAnalysis"

:func:`discover` loads every entry point and checks what it found; a plugin that cannot be
imported, declares something the portal cannot show, or takes a name already taken is not
added but reported (:class:`PluginFailure`), so a broken plugin never stops the portal.
Every analysis has a :class:`CodeOrigin`, which the portal stores with its results.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from apps.core import ENGINE_VERSION
from apps.core.analyses.base import Analysis
from apps.core.analyses.declaration import AnalysisDeclaration, check_declarations
from apps.core.analyses.schema import declaration_schema

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "libertem_portal.analyses"
#: An analysis's name: stored with each job (40 characters), used in file names and menus.
ANALYSIS_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: A result's name: part of the download URL (``<name>.npy``), stored in 40 characters.
RESULT_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: The controls the browser has (``""``: none, the parameters are edited in the form only).
WIDGETS = ("", "disk", "ring", "rect", "point", "polygon", "com", "radial", "scan-point")


@dataclass(frozen=True)
class CodeOrigin:
    """Where an analysis's code comes from: ``builtin`` (the portal's engine at ``version``) or
    ``plugin`` (``distribution`` at ``version``, ``sha256`` over its code, see
    :func:`code_sha256`)."""

    source: str
    version: str
    distribution: str = ""
    sha256: str = ""
    entry_point: str = ""

    def as_json(self) -> dict[str, str]:
        out = {"source": self.source, "version": self.version}
        if self.source == "plugin":
            out |= {
                "distribution": self.distribution,
                "sha256": self.sha256,
                "entry_point": self.entry_point,
            }
        return out


BUILTIN = CodeOrigin("builtin", ENGINE_VERSION)


@dataclass(frozen=True)
class PluginFailure:
    """An entry point that was skipped, and why (a sentence for the staff status page)."""

    entry_point: str
    distribution: str
    version: str
    error: str

    def as_json(self) -> dict[str, str]:
        return {
            "entry_point": self.entry_point,
            "distribution": self.distribution,
            "version": self.version,
            "error": self.error,
        }


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found: the analyses to add (by name), their origins, the failures."""

    analyses: dict[str, type[Analysis]]
    origins: dict[str, CodeOrigin]
    failures: list[PluginFailure]


class PluginRefused(Exception):
    """A plugin's analysis the portal cannot take; the message says why."""


def discover(
    registered: Mapping[str, type[Analysis]], found: Iterable[EntryPoint] | None = None
) -> Discovery:
    """Load the analyses of the entry points ``found`` (default: the group's installed ones),
    in the order of distribution and entry-point name, beside the ``registered`` ones."""
    if found is None:
        found = entry_points(group=ENTRY_POINT_GROUP)
    analyses: dict[str, type[Analysis]] = {}
    origins: dict[str, CodeOrigin] = {}
    failures: list[PluginFailure] = []
    for point in sorted(found, key=lambda e: (_distribution(e)[0], e.name)):
        try:
            cls = _load(point)
            check_plugin(cls, point.name, {**registered, **analyses})
            origin = plugin_origin(point, cls)
        except Exception as exc:
            distribution, version = _distribution(point)
            error = _sentence(exc)
            failures.append(
                PluginFailure(f"{point.name} = {point.value}", distribution, version, error)
            )
            logger.warning("analysis plugin %s = %s skipped: %s", point.name, point.value, error)
            continue
        analyses[point.name] = cls
        origins[point.name] = origin
    return Discovery(analyses, origins, failures)


def _load(point: EntryPoint) -> Any:
    try:
        return point.load()
    except SystemExit as exc:  # a module that exits on import must not end the portal
        raise PluginRefused(f"importing it called sys.exit({exc.code!r}).") from None


def _sentence(exc: Exception) -> str:
    if isinstance(exc, PluginRefused):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def check_plugin(cls: Any, name: str, registered: Mapping[str, type[Analysis]]) -> None:
    """Refuse (:class:`PluginRefused`) what the portal cannot run or show: not an
    :class:`Analysis` subclass, abstract, a declaration that is not one or does not fit the
    entry point's name, the browser or the API, or a name or menu key already taken."""
    if not (inspect.isclass(cls) and issubclass(cls, Analysis)):
        raise PluginRefused(
            f"the entry point names {cls!r}, expected a subclass of "
            "apps.core.analyses.base.Analysis."
        )
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise PluginRefused(f"{cls.__qualname__} does not implement {missing}.")
    declaration = getattr(cls, "declaration", None)
    if not isinstance(declaration, AnalysisDeclaration):
        raise PluginRefused(
            f"{cls.__qualname__}.declaration must be an AnalysisDeclaration, got {declaration!r:.60}."
        )
    _check_names(declaration, name)
    if name in registered:
        taken = registered[name]
        raise PluginRefused(
            f"the name {name!r} is taken by {taken.__module__}.{taken.__qualname__}."
        )
    try:
        check_declarations([*(c.declaration for c in registered.values()), declaration])
        json.dumps(declaration.as_json())
        declaration_schema(declaration)
    except (ValueError, TypeError, KeyError) as exc:
        raise PluginRefused(f"its declaration is refused: {exc}") from None


def _check_names(declaration: AnalysisDeclaration, name: str) -> None:
    if declaration.name != name:
        raise PluginRefused(
            f"the entry point is named {name!r} but declares the analysis {declaration.name!r}; "
            "they must be the same."
        )
    if not ANALYSIS_NAME.fullmatch(name):
        raise PluginRefused(
            f"the name {name!r} must be lower-case letters, digits and _ (at most 40), "
            "starting with a letter."
        )
    for result in declaration.results:
        if not RESULT_NAME.fullmatch(result.name):
            raise PluginRefused(
                f"result {result.name!r}: a name is letters, digits, _ and - (at most 40)."
            )
    for mode in declaration.all_modes():
        if mode.widget not in WIDGETS:
            raise PluginRefused(
                f"mode {mode.key!r}: widget {mode.widget!r} is not one of {', '.join(map(repr, WIDGETS))}."
            )
        if any(param.type == "masks" for param in mode.params):
            raise PluginRefused(
                f"mode {mode.key!r}: masks parameters are for the built-in masks analysis."
            )


def plugin_origin(point: EntryPoint, cls: type[Analysis]) -> CodeOrigin:
    distribution, version = _distribution(point)
    return CodeOrigin(
        "plugin",
        version,
        distribution=distribution,
        sha256=code_sha256(cls),
        entry_point=f"{point.name} = {point.value}",
    )


def _distribution(point: EntryPoint) -> tuple[str, str]:
    dist = point.dist
    if dist is None:
        return "", ""
    return str(dist.metadata["Name"]), str(dist.version)


def code_sha256(cls: type) -> str:
    """The SHA-256 over the source of the package that defines ``cls``: every ``.py`` file
    under its top-level package (below a namespace package: the first regular one), by
    relative path in sorted order, each hashed as its path, a NUL byte, its length and its
    bytes (a single-module plugin: that module)."""
    parts = cls.__module__.split(".")
    prefixes = (".".join(parts[: i + 1]) for i in range(len(parts)))
    origin = Path(next(f for p in prefixes if (f := getattr(sys.modules[p], "__file__", None))))
    if origin.name == "__init__.py":
        root = origin.parent
        files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    else:
        root, files = origin.parent, [origin]
    digest = hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()
