"""The analysis page view and the one-frame endpoint (apps/jobs/views/analysis.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from apps.datasets.models import Dataset
from apps.jobs.models import Job


def _frame(response: Any) -> np.ndarray:
    return np.load(io.BytesIO(response.content), allow_pickle=False)


def _config(response: Any) -> dict[str, Any]:
    html = response.content.decode()
    start = html.index('<script id="analysis-config" type="application/json">')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)


def test_it_returns_the_frame_at_a_scan_position(
    users: SimpleNamespace, client_for: Callable, dataset: Dataset, npy_file: Path
) -> None:
    response = client_for(users.owner).get(f"/api/datasets/{dataset.pk}/frame/?y=2&x=3")
    assert response.status_code == 200
    frame = _frame(response)
    assert frame.dtype == np.float32
    np.testing.assert_array_equal(frame, np.load(npy_file)[2, 3].astype(np.float32))


def test_it_shows_the_frame_to_group_members_and_staff(
    users: SimpleNamespace, client_for: Callable, dataset: Dataset
) -> None:
    for user in (users.member, users.staff):
        response = client_for(user).get(f"/api/datasets/{dataset.pk}/frame/?y=0&x=0")
        assert response.status_code == 200, user


def test_it_hides_the_frame_from_outsiders(
    users: SimpleNamespace, client_for: Callable, dataset: Dataset
) -> None:
    response = client_for(users.outsider).get(f"/api/datasets/{dataset.pk}/frame/?y=0&x=0")
    assert response.status_code == 404
    assert response.json()["error"]


def test_it_asks_anonymous_users_to_log_in(client_for: Callable, dataset: Dataset) -> None:
    response = client_for(None).get(f"/api/datasets/{dataset.pk}/frame/?y=0&x=0")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [("y=4&x=0", "y"), ("y=0&x=5", "x"), ("y=-1&x=0", "y"), ("y=a&x=0", "y"), ("y=0", "x")],
)
def test_it_refuses_positions_outside_the_scan(
    users: SimpleNamespace, client_for: Callable, dataset: Dataset, query: str, field: str
) -> None:
    response = client_for(users.owner).get(f"/api/datasets/{dataset.pk}/frame/?{query}")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_it_renders_the_analysis_page_with_its_config(
    users: SimpleNamespace, client_for: Callable, dataset: Dataset
) -> None:
    response = client_for(users.owner).get(f"/datasets/{dataset.pk}/analyze/")
    assert response.status_code == 200
    config = _config(response)
    assert config["dataset"]["nav_shape"] == [4, 5]
    assert config["dataset"]["sig_shape"] == [8, 8]
    assert config["dataset"]["frame_bytes"] == 8 * 8 * 2
    assert config["sum_job"] is None
    assert {a["name"] for a in config["analyses"]} >= {"virtual", "com", "sum", "pick"}


def test_it_names_the_latest_finished_sum_job(
    users: SimpleNamespace, client_for: Callable, dataset: Dataset
) -> None:
    old, new = (
        Job.objects.create(
            owner=users.owner, dataset=dataset, analysis="sum", status=Job.Status.FINISHED
        )
        for _ in range(2)
    )
    Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", status=Job.Status.FAILED)
    config = _config(client_for(users.owner).get(f"/datasets/{dataset.pk}/analyze/"))
    assert config["sum_job"] == new.pk != old.pk
    assert config["sum_job_running"] is None


def test_it_hides_the_analysis_page_from_outsiders(
    users: SimpleNamespace, client_for: Callable, dataset: Dataset
) -> None:
    response = client_for(users.outsider).get(f"/datasets/{dataset.pk}/analyze/")
    assert response.status_code == 404


def test_it_sends_anonymous_users_to_the_login_page(client_for: Callable, dataset: Dataset) -> None:
    response = client_for(None).get(f"/datasets/{dataset.pk}/analyze/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
