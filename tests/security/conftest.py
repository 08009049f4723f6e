"""Fixtures of the attack suite: a data folder with a secret next to it, and node storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.datasets.folders import folder_declare
from tests.security.attacks import Places, plant_secret


@pytest.fixture
def places(db: None, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Places:
    """``data/`` is the only data folder (open to every signed-in user); ``outside/`` holds the
    secret and is the process's working directory (the worst case: anything resolved against
    it reads the secret)."""
    data = (tmp_path / "data").resolve()
    outside = (tmp_path / "outside").resolve()
    nodes = (tmp_path / "nodes").resolve()
    data.mkdir()
    (nodes / "node-a").mkdir(parents=True)
    plant_secret(outside)
    settings.DATA_ROOTS = [data]
    settings.DATA_NODES = {"node-a": str(nodes / "node-a")}
    settings.INGEST_ROOT = tmp_path / "ingested"
    folder_declare(path=str(data), open_to_all=True)
    monkeypatch.chdir(outside)
    return Places(data=data, outside=outside, nodes=nodes)
