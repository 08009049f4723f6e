"""The settings module: embedded defaults, production variables, clear start-up errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.processes import run_manage

PRODUCTION_ENV = {
    "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "a-long-random-secret-key-for-the-deploy-check-0123456789abcdef",
    "ALLOWED_HOSTS": "portal.example.org",
    "DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:8786",
}
PORTAL_VARS = {*PRODUCTION_ENV, "HTTPS", "DEBUG", "DATA_ROOTS", "JOB_RUNNER", "DASK_LOCAL_WORKERS"}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PORTAL_VARS}
    clean.update(env, VAR_DIR=str(tmp_path / "var"))
    return run_manage(clean, *args, timeout=120)


def test_it_passes_the_deploy_check_with_production_variables(tmp_path: Path) -> None:
    proc = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, tmp_path=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "no issues" in proc.stdout


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "postgres://x@127.0.0.1/x"}, "SECRET_KEY"),
        ({"DASK_LOCAL_WORKERS": "many"}, "DASK_LOCAL_WORKERS"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"DATA_NODES": "{not json"}, "DATA_NODES"),
        ({"JOB_RUNNER": "celery"}, "REDIS_URL"),
    ],
)
def test_it_stops_with_a_message_naming_the_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    proc = manage("check", env=env, tmp_path=tmp_path)
    assert proc.returncode != 0
    assert variable in proc.stderr


def test_it_runs_embedded_without_any_variable(tmp_path: Path) -> None:
    proc = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], "
        "s.JOB_RUNNER, s.DASK_SCHEDULER_ADDRESS, s.SECURE_SSL_REDIRECT)",
        env={},
        tmp_path=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "thread",
        "None",
        "False",
    ]
    # The generated secret key is kept private next to the database.
    key = tmp_path / "var" / "secret_key"
    assert key.stat().st_mode & 0o077 == 0


def test_it_keeps_sqlite_in_wal_mode(tmp_path: Path) -> None:
    proc = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.db import connection as c; cur = c.cursor(); "
        "cur.execute('PRAGMA journal_mode'); print(cur.fetchone()[0])",
        env={},
        tmp_path=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "wal"
