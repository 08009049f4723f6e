"""CSRF on every state-changing route, as a real server enforces it (the test client does not
by default, so the access matrix alone would not see it).

* a signed-in browser session without the CSRF token: 403 (JSON on /api/), nothing changes;
* an anonymous API write: 401 like every anonymous API call (docs/security.md, rule 7), not
  the CSRF refusal, which would tell a script to send a CSRF token it cannot have;
* an API token needs no CSRF token (browsers never send it by themselves).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from apps.datasets.models import Dataset
from apps.jobs.models import Job

pytestmark = pytest.mark.django_db

# (method, path): every API route that changes something; {ds} and {job} are filled in.
API_WRITES = [
    ("post", "/api/datasets/"),
    ("delete", "/api/datasets/{ds}/"),
    ("post", "/api/datasets/{ds}/ingest/"),
    ("post", "/api/masks/"),
    ("post", "/api/jobs/"),
    ("post", "/api/jobs/{job}/cancel/"),
    ("post", "/api/jobs/{job}/rerun/"),
    ("post", "/api/jobs/{job}/share/"),
    ("post", "/api/tokens/"),
    ("delete", "/api/tokens/1/"),
]
PAGE_WRITES = [
    "/datasets/{ds}/share/",
    "/datasets/{ds}/delete/",
    "/datasets/{ds}/ingest/",
    "/jobs/{job}/cancel/",
    "/jobs/{job}/rerun/",
    "/jobs/{job}/share/",
    "/tokens/1/revoke/",
]


@pytest.fixture
def objects(users: SimpleNamespace, dataset: Dataset) -> SimpleNamespace:
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", params={})
    return SimpleNamespace(ds=dataset.pk, job=job.pk)


def _send(client: Client, method: str, path: str) -> object:
    return getattr(client, method)(path, "{}", content_type="application/json")


@pytest.mark.parametrize(("method", "path"), API_WRITES)
def test_an_anonymous_api_write_is_401(
    settings: object, objects: SimpleNamespace, method: str, path: str
) -> None:
    response = _send(Client(enforce_csrf_checks=True), method, path.format(**vars(objects)))
    assert response.status_code == 401
    assert "Authorization: Token" in response.json()["error"]


@pytest.mark.parametrize(("method", "path"), API_WRITES)
def test_a_session_api_write_without_the_csrf_token_is_403(
    users: SimpleNamespace, objects: SimpleNamespace, method: str, path: str
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(users.owner)
    response = _send(client, method, path.format(**vars(objects)))
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert Dataset.objects.filter(pk=objects.ds).exists()
    assert Job.objects.count() == 1


@pytest.mark.parametrize("path", PAGE_WRITES)
def test_a_page_post_without_the_csrf_token_is_403(
    users: SimpleNamespace, objects: SimpleNamespace, path: str
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(users.owner)
    response = client.post(path.format(**vars(objects)), {"groups": []})
    assert response.status_code == 403
    assert Dataset.objects.get(pk=objects.ds).groups.count() == 1
    assert Job.objects.count() == 1
