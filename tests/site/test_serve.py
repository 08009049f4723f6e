"""``manage.py serve``: the embedded portal comes up, the login link logs in once, Ctrl-C stops."""

from __future__ import annotations

import http.cookiejar
import io
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT, free_port, manage


def _foreground(command: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``command`` as a terminal starts a foreground job: Ctrl-C is not ignored.

    A test run launched in the background (``make test &``) ignores SIGINT, and a child inherits
    an ignored signal across exec; a handled one is reset to the default there.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(command, **kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)


def _read_login_link(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "/login/link/" in line:
            return line.split()[-1], lines
        if proc.poll() is not None:
            break
    raise AssertionError("no login link printed:\n" + "".join(lines))


def _get(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str]:
    deadline = time.monotonic() + 60
    while True:
        try:
            with opener.open(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_it_serves_logs_in_by_link_once_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path / "var"),
        "DATA_ROOTS": str(tmp_path / "data"),
        "DASK_LOCAL_WORKERS": "1",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "DASK_SCHEDULER_ADDRESS", "JOB_RUNNER"):
        env.pop(name, None)
    manage(env, "migrate", "-v0")
    port = free_port()
    proc = _foreground(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        link, lines = _read_login_link(proc)
        assert link.startswith(f"http://127.0.0.1:{port}/login/link/")
        assert f"http://127.0.0.1:{port}/" in "".join(lines)
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        status, home = _get(browser, link)  # redirects to the home page, logged in
        assert status == 200 and "admin" in home and "Log out" in home
        status, _ = _get(browser, f"http://127.0.0.1:{port}/static/css/portal.css")
        assert status == 200  # static files are served in the embedded default
        stranger = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        assert _get(stranger, link)[0] == 404  # the link works once
        # Ctrl-C in a terminal signals the whole group: the dask workers too.
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "Stopped." in out
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.django_db
def test_serve_freezes_the_start_up_heap_before_it_serves(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The objects alive once the portal is up are out of the collector's reach when the server
    starts (each full collection walked them again: 100 ms pauses on the catalogue search)."""
    import gc

    import daphne.server
    from django.core.management import call_command

    settings.JOB_RUNNER = "celery"  # no compute cluster started in this process
    frozen_at_run: list[int] = []

    class Server:
        def __init__(self, **kwargs: Any) -> None:
            pass

        def run(self) -> None:
            frozen_at_run.append(gc.get_freeze_count())

    monkeypatch.setattr(daphne.server, "Server", Server)
    before = gc.get_freeze_count()
    try:
        call_command("serve", "--no-login-link", stdout=io.StringIO())
    finally:
        gc.unfreeze()
    assert frozen_at_run and frozen_at_run[0] - before > 10_000
