"""``make serve``'s first start: ``manage.py make_demo_data`` registers the demo datasets, whose
thumbnail jobs run in the command's own process on the embedded default (a job thread and a
local dask cluster). The command must not exit before they end: a job still running at
interpreter exit found the dask cluster gone and was recorded failed (two failed jobs in the
admin's list on every fresh portal)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from apps.accounts.localadmin import LOCAL_ADMIN_USERNAME

ROOT = Path(__file__).resolve().parents[2]

#: The production configuration's variables: this is the embedded default's first start.
NOT_EMBEDDED = ("DATABASE_URL", "REDIS_URL", "JOB_RUNNER", "DASK_SCHEDULER_ADDRESS")


def manage(*args: str, var: Path, data: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED}
    env.update(
        VAR_DIR=str(var), DATA_ROOTS=str(data), DJANGO_SETTINGS_MODULE="libertem_site.settings"
    )
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def thumbnail_jobs(var: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(var / "portal.sqlite3") as db:
        return db.execute(
            "SELECT j.status, j.error, d.name FROM jobs_job j"
            " JOIN datasets_dataset d ON d.id = j.dataset_id WHERE j.kind = 'thumbnail'"
            " ORDER BY j.id"
        ).fetchall()


def test_make_demo_data_ends_after_the_demo_thumbnails(tmp_path: Path) -> None:
    var, data = tmp_path / "var", tmp_path / "data"
    data.mkdir()
    manage("migrate", "--noinput", "-v0", var=var, data=data)
    out = manage("make_demo_data", "--if-missing", var=var, data=data)
    assert "Making the thumbnails" in out
    with sqlite3.connect(var / "portal.sqlite3") as db:
        jobs = db.execute(
            "SELECT j.kind, j.status, j.error, d.name FROM jobs_job j"
            " JOIN datasets_dataset d ON d.id = j.dataset_id ORDER BY j.id"
        ).fetchall()
        thumbs = db.execute(
            "SELECT count(DISTINCT dataset_id), min(length(png)) FROM datasets_thumbnail"
        ).fetchone()
    assert [(kind, status, name) for kind, status, _error, name in jobs] == [
        ("thumbnail", "finished", "Demo 64×64 scan (raw)"),
        ("thumbnail", "finished", "Demo 64×64 scan (HDF5)"),
    ], jobs
    assert thumbs[0] == 2 and thumbs[1] > 100, thumbs  # both datasets' PNGs were stored


def test_register_dataset_ends_after_its_thumbnail(tmp_path: Path) -> None:
    var, data = tmp_path / "var", tmp_path / "data"
    data.mkdir()
    manage("migrate", "--noinput", "-v0", var=var, data=data)
    manage("make_demo_data", var=var, data=data)
    out = manage(
        "register_dataset",
        str(data / "demo" / "demo.h5"),
        "--name",
        "again",
        "--owner",
        LOCAL_ADMIN_USERNAME,
        var=var,
        data=data,
    )
    assert json.loads(out.strip().splitlines()[-1])["name"] == "again"  # stdout: the JSON line
    status, error, name = thumbnail_jobs(var)[-1]
    assert (status, name) == ("finished", "again"), error
