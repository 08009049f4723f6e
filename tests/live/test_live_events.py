"""The event protocol's builders: each message type, exactly, with the job's id and kind."""

from __future__ import annotations

import re

import pytest

from apps.live.events import (
    access_event,
    cancelled_message,
    close_event,
    ended_message,
    failed_message,
    finished_message,
    job_event,
    partial_message,
    progress_message,
    status_message,
)


def test_it_builds_a_status_message_always_with_progress_and_error():
    assert status_message(7, "analysis", "running", done=0, total=48) == {
        "type": "status",
        "id": 7,
        "kind": "analysis",
        "status": "running",
        "progress": {"done": 0, "total": 48},
        "error": "",
    }


def test_it_builds_a_requeue_status_with_its_reason():
    message = status_message(7, "ingest", "queued", done=0, total=9, error="Attempt 1 stopped.")
    assert message == {
        "type": "status",
        "id": 7,
        "kind": "ingest",
        "status": "queued",
        "progress": {"done": 0, "total": 9},
        "error": "Attempt 1 stopped.",
    }


def test_the_protocol_fields_of_a_status_win_over_the_jobs_detail():
    detail = {"id": 1, "status": "stale", "progress": None, "owner": "alice", "kind": "x"}
    message = status_message(7, "analysis", "running", done=3, total=48, detail=detail)
    assert message == {
        "type": "status",
        "id": 7,
        "kind": "analysis",
        "status": "running",
        "progress": {"done": 3, "total": 48},
        "error": "",
        "owner": "alice",
    }


def test_it_builds_a_progress_message():
    assert progress_message(7, "analysis", done=12, total=48) == {
        "type": "progress",
        "id": 7,
        "kind": "analysis",
        "done": 12,
        "total": 48,
    }


def test_it_builds_a_partial_message_with_a_list_shape():
    assert partial_message(7, "analysis", name="mean", shape=(16, 12), done=12, total=48) == {
        "type": "partial",
        "id": 7,
        "kind": "analysis",
        "name": "mean",
        "shape": [16, 12],
        "dtype": "float32",
        "done": 12,
        "total": 48,
    }


def test_it_builds_a_finished_message():
    results = [{"name": "sum", "shape": [4, 4]}]
    assert finished_message(7, "analysis", done=48, total=48, results=results) == {
        "type": "finished",
        "id": 7,
        "kind": "analysis",
        "done": 48,
        "total": 48,
        "results": [{"name": "sum", "shape": [4, 4]}],
    }


def test_it_builds_a_failed_message():
    assert failed_message(7, "ingest", error="The file is gone.") == {
        "type": "failed",
        "id": 7,
        "kind": "ingest",
        "error": "The file is gone.",
    }


def test_it_builds_a_cancelled_message_with_its_id():
    assert cancelled_message(7, "analysis") == {
        "type": "cancelled",
        "id": 7,
        "kind": "analysis",
        "error": "cancelled",
    }


def test_an_ended_message_is_failed_or_cancelled_by_status():
    assert ended_message(7, "analysis", status="failed", error="boom") == failed_message(
        7, "analysis", error="boom"
    )
    assert ended_message(7, "analysis", status="cancelled", error="cancelled") == (
        cancelled_message(7, "analysis")
    )
    with pytest.raises(ValueError, match=r"status must be 'failed' or 'cancelled'.*'finished'"):
        ended_message(7, "analysis", status="finished", error="")


def test_it_builds_the_channel_layer_events():
    message = progress_message(7, "analysis", done=1, total=2)
    assert job_event(message, b"\x01") == {
        "type": "job.event",
        "message": message,
        "binary": b"\x01",
    }
    assert job_event(message) == {"type": "job.event", "message": message, "binary": None}
    assert access_event() == {"type": "job.access"}
    assert close_event(4401) == {"type": "socket.close", "code": 4401}


def test_the_js_client_stops_on_exactly_the_servers_close_codes():
    """static/js/jobclient.js keeps its own table of the codes (it has no build step)."""
    from django.conf import settings

    from apps.live.events import CLOSE_NOT_FOUND, CLOSE_REVOKED

    source = (settings.BASE_DIR / "static" / "js" / "jobclient.js").read_text()
    table = re.search(r"export const CLOSE = Object\.freeze\(\{(.*?)\}\);", source, re.S)
    assert table is not None, "jobclient.js has no CLOSE table"
    codes = dict(re.findall(r"(\w+): (\d+),", table.group(1)))
    assert codes == {"NOT_FOUND": str(CLOSE_NOT_FOUND), "REVOKED": str(CLOSE_REVOKED)}
