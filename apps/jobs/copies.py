"""Ingested copies follow their dataset: deleting it (or ingesting it again with another
layout) removes its partition files from the nodes, by tasks on those nodes.

A copy that cannot be removed (its node is down, the file system refuses) is reported in a
sentence naming the file and the node; the catalogue change stands either way.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.core.ingest_nodes import StoredCopy, on_nodes, remove_copy, sidecar_copies
from apps.datasets.models import Dataset
from apps.datasets.selectors import is_ingested
from apps.jobs.executor import get_executor

logger = logging.getLogger(__name__)


def copies_of(sidecar: str) -> list[StoredCopy]:
    """The copies the ingested sidecar ``sidecar`` lists (OSError, ValueError if unreadable)."""
    return sidecar_copies(json.loads(Path(sidecar).read_text()))


def copies_remove(copies: list[StoredCopy]) -> list[str]:
    """Remove ``copies`` on their nodes; a sentence for each that could not be removed."""
    roots = {str(n): str(r) for n, r in settings.DATA_NODES.items()}
    known = [c for c in copies if c.node in roots]
    problems = [
        f"{c.rel} on node {c.node}: the node is not in DATA_NODES any more"
        for c in copies
        if c.node not in roots
    ]
    if known:
        client = getattr(get_executor(), "client", None)
        answers = on_nodes(remove_copy, [(c.node, (c, roots[c.node])) for c in known], client)
        problems += [
            f"{c.rel} on node {c.node}: {why}"
            for c, (_, why) in zip(known, answers, strict=True)
            if why
        ]
    for line in problems:
        logger.warning("ingested copy not removed: %s", line)
    return problems


def dataset_copies_remove(*, dataset: Dataset, **signal: Any) -> list[str]:
    """``dataset_deleted``: remove an ingested dataset's partition files and its sidecar;
    returns what could not be removed."""
    if not is_ingested(dataset):
        return []
    sidecar = Path(dataset.path)
    try:
        copies = copies_of(str(sidecar))
    except (OSError, ValueError) as exc:
        return [f"the sidecar {sidecar} cannot be read ({exc}), so its partition files were kept"]
    problems = copies_remove(copies)
    sidecar.unlink(missing_ok=True)
    logger.info("dataset %s: %s ingested copies removed", dataset.name, len(copies) - len(problems))
    return problems
