"""The public health check and the staff status page."""

from __future__ import annotations

import pytest

from apps.core import cluster
from apps.portal import health
from tests.jobs.support import submit

pytestmark = pytest.mark.django_db


def test_it_reports_every_service_ok(client_for):
    response = client_for(None).get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {
        "database",
        "channel_layer",
        "broker",
        "dask_scheduler",
        "dask_workers",
        "migrations",
    }
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0


def test_it_answers_503_naming_the_failing_service_without_secrets(client_for, monkeypatch):
    def broken() -> str:
        raise ConnectionRefusedError("redis://:s3cret@db.internal:6379")

    monkeypatch.setattr(health, "_broker", broken)
    response = client_for(None).get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["broker"] == {
        "ok": False,
        "error": "ConnectionRefusedError: not reachable",
        "latency_ms": body["checks"]["broker"]["latency_ms"],
    }
    assert body["checks"]["database"]["ok"] is True
    assert "s3cret" not in response.content.decode()
    assert "internal" not in response.content.decode()


def test_it_reports_a_dask_scheduler_that_does_not_answer(client_for, settings):
    settings.DASK_SCHEDULER_ADDRESS = "tcp://127.0.0.1:1"
    response = client_for(None).get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["dask_scheduler"]["ok"] is False
    assert checks["dask_workers"] == {
        "ok": False,
        "error": "unknown: the dask scheduler did not answer",
        "latency_ms": 0.0,
    }
    assert "127.0.0.1" not in response.content.decode()


def test_it_judges_each_dask_worker_by_its_state_and_heartbeat():
    identity = {
        "workers": {
            "tcp://10.0.0.1:1": {"name": "node-a", "status": "running", "last_seen": 99.0},
            "tcp://10.0.0.2:1": {"name": "node-b", "status": "paused", "last_seen": 99.0},
            "tcp://10.0.0.3:1": {"name": "node-c", "status": "running", "last_seen": 80.0},
        }
    }
    judged = cluster.worker_health(
        identity, expected=["node-a", "node-d"], now=100.0, hung_after=10.0
    )
    assert [(w.name, w.state, w.ok) for w in judged] == [
        ("node-a", "running", True),
        ("node-b", "paused", False),
        ("node-c", "hung", False),
        ("node-d", "missing", False),
    ]
    assert [w.describe() for w in judged[1:]] == [
        "node-b paused",
        "node-c hung (no heartbeat for 20 s)",
        "node-d missing (not connected to the scheduler)",
    ]


def test_the_status_page_is_for_staff_only(users, client_for):
    for user in (None, users.owner, users.member, users.outsider):
        assert client_for(user).get("/status/").status_code == 404
    assert client_for(users.staff).get("/status/").status_code == 200


def test_the_status_page_lists_running_jobs_and_counts(
    users, client_for, dataset, held_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = submit(client_for(users.owner), dataset, "sum").json()["id"]
    from apps.jobs.driver import job_claim

    job_claim(job_id)
    page = client_for(users.staff).get("/status/").content.decode()
    assert f'href="/jobs/{job_id}/">#{job_id}</a>' in page
    assert "1 running · 0 queued" in page
    assert "database" in page
    # the plugins' table is in the page's body, not in its <title> (where it was once)
    assert "<title>Status · LiberTEM Portal</title>" in page
    assert page.index('<section class="card" id="plugins">') > page.index("<h1>Status</h1>")


def test_celery_is_configured_for_jobs_that_survive_a_lost_worker(settings):
    from libertem_site.celery import app

    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert (conf.task_serializer, conf.accept_content) == ("json", ["json"])
    assert conf.worker_prefetch_multiplier == 1
    # Redis redelivers an unacknowledged job after this: longer than any job may run
    assert conf.broker_transport_options["visibility_timeout"] >= 12 * 3600
    assert conf.beat_schedule["reap-jobs"]["task"] == "jobs.reap"
    assert conf.task_routes["jobs.reap"] == {"queue": "maintenance"}


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_not_reported_unreachable():
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    ended = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (ended,)).fetchone() == (True,)
    database = health.health_report()["database"]
    assert database["ok"] is True, database
    assert connection.connection.info.backend_pid != ended
