"""``manage.py backup`` and ``manage.py restore`` end to end: a portal with an ingested dataset
and a finished job is backed up, restored into a new database and a new ``INGEST_ROOT`` (the
old one gone), and the restored portal — a real ``serve`` process — serves the same result and
runs a new job on the ingested dataset with the same answer.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from typing import Any

import numpy as np
import psycopg
import pytest
from django.db import connection

from apps.accounts.services import token_create
from tests.jobs.support import submit, wait_terminal
from tests.processes import run_manage
from tests.reliability.conftest import WebProcess, portal_env

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]


@pytest.fixture
def fresh_database() -> Any:
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"{connection.settings_dict['NAME']}_restored"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_backup_restored_into_a_new_database_and_folder_serves_the_same_results(
    users, client_for, dataset, data, settings, tmp_path, dask_processes, private_redis,
    fresh_database,
):  # fmt: skip
    roots = {n: tmp_path / "storage" / n for n in ("node-0", "node-1")}
    for root in roots.values():
        root.mkdir(parents=True)
    settings.DATA_NODES = {n: str(r) for n, r in roots.items()}
    settings.INGEST_ROOT = tmp_path / "ingested"
    client = client_for(users.owner)
    ingest = client.post(
        f"/api/datasets/{dataset.pk}/ingest/", {"partitions": 2}, content_type="application/json"
    )
    assert ingest.status_code == 202, ingest.content
    assert wait_terminal(ingest.json()["id"]).status == "finished"
    job_id = submit(client, dataset, "sum").json()["id"]
    assert wait_terminal(job_id).status == "finished"
    before = client.get(f"/api/jobs/{job_id}/results/sum.npy").content
    key = token_create(user=users.owner, name="after-restore")[1]

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    source_env = {
        **os.environ,
        "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}",
        "INGEST_ROOT": str(settings.INGEST_ROOT),
    }
    done = run_manage(source_env, "backup", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["ingest_root"] == str(settings.INGEST_ROOT.resolve())
    assert (tmp_path / "backup" / "secret_key").stat().st_mode & 0o777 == 0o600
    shutil.move(settings.INGEST_ROOT, tmp_path / "ingested-gone")  # the old host's folder

    restored_root = tmp_path / "restored-ingested"
    env = portal_env(
        fresh_database,
        private_redis.url,
        dask_processes.address,
        JOB_RUNNER="thread",
        INGEST_ROOT=str(restored_root),
        DATA_NODES=json.dumps(settings.DATA_NODES),
        DATA_ROOTS=os.pathsep.join(str(p) for p in settings.DATA_ROOTS),
        SECRET_KEY="another-secret-key-for-the-restored-portal-0123456789",
        VAR_DIR=str(tmp_path / "var"),
    )
    done = run_manage(env, "restore", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    assert f"1 ingested dataset(s) now point into {restored_root}" in done.stdout
    assert "SECRET_KEY differs" in done.stdout
    again = run_manage(env, "restore", str(tmp_path / "backup"))  # never over a restored portal
    assert again.returncode == 1 and "is not empty" in again.stderr

    web = WebProcess(env, tmp_path / "web.log")
    try:
        status, after = web.get(f"/api/jobs/{job_id}/results/sum.npy", key)
        assert (status, after) == (200, before)
        status, body = web.request(
            "POST", "/api/jobs/", key, {"dataset": dataset.pk, "analysis": "sum", "params": {}}
        )
        assert status == 202, body
        new_id = json.loads(body)["id"]
        deadline = time.monotonic() + 120
        while (job := json.loads(web.get(f"/api/jobs/{new_id}/", key)[1]))["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert (job["status"], job["error"]) == ("finished", ""), web.log.read_text()[-3000:]
        status, rerun = web.get(f"/api/jobs/{new_id}/results/sum.npy", key)
    finally:
        web.stop()
    assert status == 200 and rerun == before
    np.testing.assert_array_equal(np.load(io.BytesIO(rerun)), data.sum(axis=(0, 1)))
