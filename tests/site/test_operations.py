"""What an admin relies on: the access log, /healthz for monitors behind the HTTPS redirect,
and a web process that refuses a database lagging behind its code."""

from __future__ import annotations

import logging

import pytest
from django.core.management import CommandError, call_command
from django.db.migrations.recorder import MigrationRecorder

from apps.accounts.services import token_create
from apps.portal import health

pytestmark = pytest.mark.django_db


def test_it_logs_one_access_line_per_request_with_the_user(users, client_for, caplog):
    key = token_create(user=users.owner, name="script")[1]
    with caplog.at_level(logging.INFO, logger="portal.access"):
        client_for(None).get("/api/datasets/", HTTP_AUTHORIZATION=f"Token {key}")
        client_for(None).get("/api/datasets/")
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.access"]
    assert len(lines) == 2
    method, path, status, ms, unit, user = lines[0].split()
    assert (method, path, status, unit, user) == ("GET", "/api/datasets/", "200", "ms", "alice")
    assert float(ms) >= 0
    assert lines[1].split()[2] == "401" and lines[1].split()[-1] == "-"


def test_it_keeps_the_keys_of_login_and_set_password_links_out_of_the_access_log(
    users, client, caplog
):
    from apps.accounts.services import login_link_create, password_link_path

    key = login_link_create(user=users.owner)
    set_password = password_link_path(user=users.member)
    token = set_password.rstrip("/").rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="portal.access"):
        assert client.get(f"/login/link/{key}/").status_code == 302
        assert client.get(set_password, follow=True).status_code == 200
    paths = [r.getMessage().split()[1] for r in caplog.records if r.name == "portal.access"]
    uid = set_password.split("/")[3]
    assert paths[:2] == ["/login/link/…/", f"/password/set/{uid}/…/"]
    assert paths[-1] == f"/password/set/{uid}/set-password/"
    assert not [p for p in paths if key in p or token in p]


def test_it_keeps_the_health_check_of_monitors_out_of_the_access_log(client_for, caplog):
    with caplog.at_level(logging.INFO, logger="portal.access"):
        assert client_for(None).get("/healthz").status_code == 200
    assert [r for r in caplog.records if r.name == "portal.access"] == []


def test_it_answers_healthz_to_loopback_over_plain_http_with_https_on(client_for, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["portal.example.org"]
    client = client_for(None)
    response = client.get("/healthz", HTTP_HOST="127.0.0.1:8000", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    # everything else is still redirected, and other addresses are too
    page = client.get("/api/datasets/", HTTP_HOST="portal.example.org", REMOTE_ADDR="127.0.0.1")
    assert page.status_code == 301
    outside = client.get("/healthz", HTTP_HOST="portal.example.org", REMOTE_ADDR="192.0.2.7")
    assert outside.status_code == 301


def test_it_answers_healthz_to_a_configured_monitor_network(client_for, settings):
    import ipaddress

    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["portal.example.org"]
    settings.MONITOR_NETWORKS = [ipaddress.ip_network("192.0.2.0/24")]
    client = client_for(None)
    response = client.get("/healthz", HTTP_HOST="10.1.1.1", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 200
    other = client.get("/healthz", HTTP_HOST="portal.example.org", REMOTE_ADDR="198.51.100.1")
    assert other.status_code == 301


@pytest.fixture
def one_migration_unapplied(monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    latest = MigrationRecorder.Migration.objects.filter(app="jobs").order_by("-name").first()
    latest.delete()
    return f"jobs.{latest.name}"


def test_it_answers_503_naming_unapplied_migrations(client_for, one_migration_unapplied):
    response = client_for(None).get("/healthz")
    assert response.status_code == 503
    check = response.json()["checks"]["migrations"]
    assert check["ok"] is False
    assert one_migration_unapplied in check["error"]
    assert "manage.py migrate" in check["error"]


def test_serve_refuses_to_start_on_unapplied_migrations(one_migration_unapplied):
    with pytest.raises(CommandError, match=r"manage\.py migrate") as raised:
        call_command("serve", "--no-login-link", "--port", "1")
    assert one_migration_unapplied in str(raised.value)


@pytest.mark.services
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("nobody_here@{host}/portal", 'role "nobody_here" does not exist; create the role'),
        ("postgres@{host}/no_such_portal_db", 'database "no_such_portal_db" does not exist'),
    ],
)
def test_migrate_says_in_one_line_what_to_create(path, expected):
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import urlsplit

    host = urlsplit(os.environ["DATABASE_URL"]).netloc.rsplit("@", 1)[-1]
    env = {**os.environ, "DATABASE_URL": "postgres://" + path.format(host=host)}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
