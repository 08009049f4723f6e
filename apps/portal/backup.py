"""Backup and restore of everything the portal keeps: the database, ``INGEST_ROOT`` and the key.

A backup is a folder:

* ``database.dump`` — ``pg_dump --format=custom`` (PostgreSQL), or ``database.sqlite3`` (the
  embedded default's SQLite, copied with SQLite's online backup);
* ``ingested.tar`` — the sidecars of ingested datasets (``INGEST_ROOT``); jobs on an ingested
  dataset cannot open it without its sidecar. The partition files they name live on the data
  nodes' storage (``DATA_NODES``), which is backed up with the facility's data;
* ``secret_key`` (mode 0600) — ``SECRET_KEY``: sessions and login links are signed with it;
* ``manifest.json`` — when, from which ``INGEST_ROOT``, and the migrations applied.

:func:`restore` loads one into an empty database and an empty ``INGEST_ROOT`` (which may be
another folder: dataset paths are moved along), then applies newer migrations.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Concat, Substr

DUMP = "database.dump"
SQLITE = "database.sqlite3"
INGESTED = "ingested.tar"
KEY_FILE = "secret_key"
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A sentence for the admin: what is wrong and what to do."""


def backup(dest: Path) -> dict[str, Any]:
    """Write a backup folder ``dest`` (it must not exist); returns its manifest."""
    dest = dest.resolve()
    if dest.exists():
        raise BackupError(f"{dest} exists already; name a new folder for the backup.")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _dump_database(partial)
    ingest_root = Path(settings.INGEST_ROOT).resolve()
    with tarfile.open(partial / INGESTED, "w") as tar:
        if ingest_root.is_dir():
            tar.add(ingest_root, arcname=".")
    secret = partial / KEY_FILE
    secret.touch(mode=0o600)
    secret.write_text(settings.SECRET_KEY + "\n")
    manifest = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": connection.vendor,
        "ingest_root": str(ingest_root),
        "migrations": _applied_migrations(),
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    partial.rename(dest)  # a backup folder is complete or absent
    return manifest


def restore(src: Path) -> list[str]:
    """Load backup ``src`` into this (empty) database and ``INGEST_ROOT``; returns notes for
    the admin (dataset paths moved, a different secret key)."""
    src = src.resolve()
    manifest = _read_manifest(src)
    ingest_root = Path(settings.INGEST_ROOT).resolve()
    if ingest_root.is_dir() and any(ingest_root.iterdir()):
        raise BackupError(f"INGEST_ROOT {ingest_root} is not empty; restore into an empty folder.")
    if connection.introspection.table_names():
        raise BackupError(
            f"The database {connection.settings_dict['NAME']!r} is not empty; restore into a new "
            "one (createdb --owner=ROLE NAME) and point DATABASE_URL at it."
        )
    _load_database(src, manifest)
    ingest_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(src / INGESTED) as tar:
        tar.extractall(ingest_root, filter="data")
    notes = []
    moved = _move_dataset_paths(manifest["ingest_root"], str(ingest_root))
    if moved:
        notes.append(f"{moved} ingested dataset(s) now point into {ingest_root}.")
    if (src / KEY_FILE).read_text().strip() != settings.SECRET_KEY:
        notes.append(
            f"SECRET_KEY differs from the backup's: put the key in {src / KEY_FILE} into the "
            "environment file, or users must log in again (API tokens keep working)."
        )
    return notes


def _dump_database(dest: Path) -> None:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        target = sqlite3.connect(dest / SQLITE)
        try:
            connection.connection.backup(target)
        finally:
            target.close()
        return
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--file={dest / DUMP}",
          f"--dbname={_libpq_url()}"])  # fmt: skip


def _load_database(src: Path, manifest: dict[str, Any]) -> None:
    if manifest["database"] != connection.vendor:
        raise BackupError(
            f"The backup holds a {manifest['database']} database; this portal uses "
            f"{connection.vendor} (DATABASE_URL)."
        )
    if connection.vendor == "sqlite":
        connection.close()
        source = sqlite3.connect(src / SQLITE)
        try:
            target = sqlite3.connect(connection.settings_dict["NAME"])
            source.backup(target)
            target.close()
        finally:
            source.close()
        return
    connection.close()  # pg_restore works on its own connection
    _run(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", f"--dbname={_libpq_url()}",
          str(src / DUMP)])  # fmt: skip


def _libpq_url() -> str:
    """``DATABASE_URL`` as pg_dump / pg_restore take it (they speak libpq URIs too)."""
    return os.environ["DATABASE_URL"]


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(
            f"{command[0]} is not installed (apt-get install postgresql-client)."
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{command[0]} failed: {lines[-1] if lines else done.returncode}")


def _applied_migrations() -> dict[str, str]:
    from django.db.migrations.recorder import MigrationRecorder

    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(name, latest.get(app, ""))
    return dict(sorted(latest.items()))


def _read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{src} is not a portal backup (no readable {MANIFEST}).") from None
    for name in (INGESTED, KEY_FILE, DUMP if manifest.get("database") != "sqlite" else SQLITE):
        if not (src / name).is_file():
            raise BackupError(f"The backup {src} is incomplete: {name} is missing.")
    return manifest


def _move_dataset_paths(old_root: str, new_root: str) -> int:
    """Point datasets whose sidecar was under ``old_root`` at the same file under ``new_root``."""
    from apps.datasets.models import Dataset

    if old_root == new_root:
        return 0
    prefix = old_root.rstrip("/") + "/"
    return Dataset.objects.filter(path__startswith=prefix).update(
        path=Concat(Value(new_root.rstrip("/") + "/"), Substr("path", len(prefix) + 1))
    )
