"""No 500 for any input: each bad input gets its 4xx in the JSON error format, naming the field,
and the portal keeps serving (issue 19 point 5, issue 20)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.models import ApiToken
from apps.jobs.models import Job
from apps.web.api import MAX_JSON_DEPTH
from apps.web.ids import IdConverter
from libertem_site.asgi import application
from tests.jobs.support import ORIGIN, ws_close_code

BIG = "5608482527878281428992"  # beyond the 64-bit ids of the database
DISK = {"shape": "disk", "cx": 5, "cy": 6, "r": 3}
RING = {"shape": "ring", "cx": 5, "cy": 6, "ri": 1, "ro": 4}
LONG_NAME = "a" * 300

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("held_jobs")]


def job_body(dataset_id: Any, **extra: Any) -> dict[str, Any]:
    return {"dataset": dataset_id, "analysis": "virtual", "params": DISK, **extra}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# (name, method, path or callable(context) -> path, body or callable(context) -> body,
#  status, field named in "fields" or None)
CASES: list[tuple[str, str, Any, Any, int, str | None]] = [
    (
        "r 1e308",
        "post",
        "/api/jobs/",
        lambda c: job_body(c.ds, params={**DISK, "r": 1e308}),
        400,
        "r",
    ),
    (
        "r 1e300",
        "post",
        "/api/jobs/",
        lambda c: job_body(c.ds, params={**DISK, "r": 1e300}),
        400,
        "r",
    ),
    (
        "ro 1e308",
        "post",
        "/api/jobs/",
        lambda c: job_body(c.ds, params={**RING, "ro": 1e308}),
        400,
        "ro",
    ),
    (
        "cx -1e308",
        "post",
        "/api/jobs/",
        lambda c: job_body(c.ds, params={**DISK, "cx": -1e308}),
        400,
        "cx",
    ),
    ("dataset id in a body", "post", "/api/jobs/", lambda c: job_body(int(BIG)), 400, "dataset"),
    ("dataset id as a string", "post", "/api/jobs/", lambda c: job_body(BIG), 400, "dataset"),
    ("dataset id as a float", "post", "/api/jobs/", lambda c: job_body(1e30), 400, "dataset"),
    ("dataset id filter", "get", f"/api/jobs/?dataset={BIG}", None, 400, "dataset"),
    (
        "mask dataset id",
        "post-form",
        "/api/masks/",
        lambda c: {"dataset": BIG, "file": c.mask},
        400,
        "dataset",
    ),
    (
        "deep roi",
        "post-raw",
        "/api/jobs/",
        lambda c: f'{{"dataset": {c.ds}, "analysis": "sum", "roi": {nested(100_000)}}}',
        400,
        "roi",
    ),
    (
        "deep params",
        "post-raw",
        "/api/jobs/",
        lambda c: f'{{"dataset": {c.ds}, "analysis": "sum", "params": {{"a": {nested(900)}}}}}',
        400,
        "params",
    ),
    (
        "nested one level too deep",
        "post-raw",
        "/api/jobs/",
        lambda c: f'{{"dataset": {c.ds}, "analysis": "sum", "roi": {nested(MAX_JSON_DEPTH)}}}',
        400,
        "roi",
    ),
    (
        "deep dataset params",
        "post-raw",
        "/api/datasets/",
        lambda c: f'{{"name": "x", "path": "scan.npy", "params": {nested(5000)}}}',
        400,
        "params",
    ),
    (
        "long name on register",
        "post",
        "/api/datasets/",
        lambda c: {"name": "x", "path": f"{c.root}/{LONG_NAME}/scan.npy"},
        400,
        "path",
    ),
    (
        "long name on browse",
        "get",
        lambda c: f"/api/browse/?path={c.root}/{LONG_NAME}",
        None,
        400,
        "path",
    ),
    (
        "body over 1 MiB",
        "post",
        "/api/jobs/",
        lambda c: job_body(c.ds, params={**DISK, "note": "x" * 2**20}),
        413,
        None,
    ),
    ("form body over 1 MiB", "post-urlencoded", "/api/tokens/", "name=" + "x" * 2**20, 413, None),
    (
        "roi shape not a string",
        "post",
        "/api/jobs/",
        lambda c: job_body(c.ds, roi={"shape": ["disk"], "cx": 1, "cy": 1, "r": 1}),
        400,
        "roi",
    ),
    (
        "groups not names",
        "post",
        "/api/datasets/",
        lambda c: {"name": "x", "path": f"{c.root}/scan.npy", "groups": [["lab"]]},
        400,
        "groups",
    ),
    (
        "dtype of 5000 digits",
        "post",
        "/api/datasets/",
        lambda c: {
            "name": "x",
            "path": f"{c.root}/scan.npy",
            "format": "raw",
            "params": {"nav_shape": [6, 8], "sig_shape": [16, 12], "dtype": "9" * 5000},
        },
        400,
        "params",
    ),
    # Text a PostgreSQL column cannot hold (NUL) or UTF-8 cannot encode (a lone surrogate).
    ("NUL in a token name", "post", "/api/tokens/", {"name": "a\x00b"}, 400, "name"),
    ("lone surrogate in a name", "post", "/api/tokens/", {"name": "a\udcc3"}, 400, "name"),
    (
        "NUL in a group name",
        "post",
        "/api/datasets/",
        lambda c: {"name": "x", "path": f"{c.root}/scan.npy", "groups": ["\x00"]},
        400,
        "groups",
    ),
    (
        "NUL in format params",
        "post",
        "/api/datasets/",
        lambda c: {"name": "x", "path": f"{c.root}/scan.npy", "params": {"a": "\x00"}},
        400,
        "params",
    ),
    ("NUL in a query string", "get", "/api/datasets/?q=%00", None, 400, "q"),
    (
        "NUL in a form field",
        "post-form",
        "/api/masks/",
        lambda c: {"dataset": c.ds, "file": c.mask, "name": "m\x00"},
        400,
        "name",
    ),
    ("unknown endpoint", "get", "/api/nothing/", None, 404, None),
    ("job id not a number", "get", "/api/jobs/abc/", None, 404, None),
    ("unknown result format", "get", lambda c: f"/api/jobs/{c.job}/results/x.zip", None, 404, None),
]
# Every endpoint taking an id, with an id beyond the database's range: 404, never 500.
ID_ENDPOINTS = [
    ("get", f"/api/jobs/{BIG}/"),
    ("post", f"/api/jobs/{BIG}/cancel/"),
    ("post", f"/api/jobs/{BIG}/rerun/"),
    ("get", f"/api/jobs/{BIG}/results/intensity.npy"),
    ("get", f"/api/jobs/{BIG}/partial/intensity.png"),
    ("get", f"/api/jobs/{BIG}/thumbnail.png"),
    ("get", f"/api/datasets/{BIG}/"),
    ("delete", f"/api/datasets/{BIG}/"),
    ("post", f"/api/datasets/{BIG}/ingest/"),
    ("get", f"/api/datasets/{BIG}/frame/?y=0&x=0"),
    ("delete", f"/api/tokens/{BIG}/"),
    ("get", "/api/jobs/0/"),
]
PAGE_IDS = [
    ("get", f"/jobs/{BIG}/"),
    ("post", f"/jobs/{BIG}/cancel/"),
    ("post", f"/jobs/{BIG}/rerun/"),
    ("get", f"/datasets/{BIG}/"),
    ("get", f"/datasets/{BIG}/analyze/"),
    ("post", f"/datasets/{BIG}/share/"),
    ("post", f"/datasets/{BIG}/delete/"),
    ("post", f"/datasets/{BIG}/ingest/"),
    ("post", f"/tokens/{BIG}/revoke/"),
]


class Context:
    def __init__(self, dataset: Any, data_root: Any, job: Job) -> None:
        self.ds = dataset.pk
        self.root = str(data_root)
        self.job = job.pk
        buffer = io.BytesIO()
        np.save(buffer, np.ones((16, 12), np.float32))
        self.mask = SimpleUploadedFile("mask.npy", buffer.getvalue())


@pytest.fixture
def context(users, dataset, data_root) -> Context:
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", frames_total=48)
    return Context(dataset, data_root, job)


@pytest.fixture
def client(users) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(users.owner)
    return client


def send(client: Client, method: str, path: str, body: Any) -> Any:
    if method == "post":
        return client.post(path, json.dumps(body), content_type="application/json")
    if method == "post-raw":
        return client.post(path, body, content_type="application/json")
    if method == "post-form":
        return client.post(path, body)
    if method == "post-urlencoded":
        return client.post(path, body, content_type="application/x-www-form-urlencoded")
    return getattr(client, method)(path)


def assert_still_serving(client: Client, context: Context) -> None:
    assert client.get("/api/jobs/").status_code == 200
    response = send(client, "post", "/api/jobs/", job_body(context.ds))
    assert response.status_code == 202, response.content


def assert_json_error(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    error = response.json()
    assert set(error) == {"error", "fields"} and error["error"].endswith("."), error
    if field is not None:
        assert field in error["fields"], error
    return error


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "status", "field"), CASES, ids=[c[0] for c in CASES]
)
def test_it_answers_bad_input_with_its_json_error(
    client, context, name, method, path, body, status, field
):
    path = path(context) if callable(path) else path
    body = body(context) if callable(body) else body
    jobs = Job.objects.count()
    assert_json_error(send(client, method, path, body), status, field)
    assert Job.objects.count() == jobs  # nothing half-written
    assert_still_serving(client, context)


@pytest.mark.parametrize(("method", "path"), ID_ENDPOINTS)
def test_an_id_out_of_range_is_a_json_404_on_every_endpoint(client, context, method, path):
    assert_json_error(send(client, method, path, {}), 404, None)
    assert_still_serving(client, context)


@pytest.mark.parametrize(("method", "path"), PAGE_IDS)
def test_an_id_out_of_range_is_a_404_page(client, context, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert_still_serving(client, context)


def test_the_register_page_shows_a_too_long_name_as_an_error(client, context):
    path = f"{context.root}/{LONG_NAME}/scan.npy"
    for query in ({"path": path}, {"dir": path}):
        response = client.get("/datasets/register/", query)
        assert response.status_code == 200
        assert "at most 255 are allowed" in response.content.decode()
    response = client.post("/datasets/register/", {"name": "x", "path": path})
    assert response.status_code == 200
    assert "at most 255 are allowed" in response.content.decode()


def test_the_register_page_refuses_deeply_nested_params(client, context):
    body = {"name": "x", "path": f"{context.root}/scan.npy", "params": nested(5000)}
    response = client.post("/datasets/register/", body)
    assert response.status_code == 200
    assert f"nested more than {MAX_JSON_DEPTH} levels deep" in response.content.decode()


def test_a_normal_body_at_the_deepest_allowed_nesting_is_accepted(client, context):
    deep = json.dumps({"a": json.loads(nested(MAX_JSON_DEPTH - 2))})
    body = f'{{"dataset": {context.ds}, "analysis": "sum", "params": {deep}}}'
    error = assert_json_error(send(client, "post-raw", "/api/jobs/", body), 400, "a")
    assert "not a parameter" in error["error"]  # parsed, then refused by the analysis


@pytest.mark.parametrize("path", ["/ws/other/", f"/ws/jobs/{BIG}/", "/ws/jobs/abc/", "/"])
async def test_an_unknown_websocket_path_is_refused(path):
    ws = WebsocketCommunicator(application, path, headers=[ORIGIN])
    assert await ws_close_code(ws) == 4404


HEAD_PATHS = [
    "/api/jobs/",
    "/api/jobs/{job}/",
    "/api/datasets/",
    "/api/datasets/{ds}/",
    "/api/datasets/{ds}/frame/?y=1&x=2",
    "/api/tokens/",
    "/api/analyses/",
    "/api/schema/",
    "/api/browse/",
    "/healthz",
    "/",
    "/jobs/",
    "/jobs/{job}/",
    "/datasets/",
    "/datasets/{ds}/",
    "/tokens/",
]


@pytest.mark.parametrize("path", HEAD_PATHS)
def test_head_answers_like_get_without_a_body(client, context, path):
    path = path.format(job=context.job, ds=context.ds)
    get = client.get(path)
    tokens = ApiToken.objects.count()
    head = client.head(path)
    assert (head.status_code, head["Content-Type"]) == (get.status_code, get["Content-Type"])
    assert get.status_code in (200, 503)  # /healthz: 503 without a dask scheduler
    assert head.content == b""
    assert ApiToken.objects.count() == tokens  # HEAD on a GET + POST endpoint wrote nothing


def test_fields_a_view_does_not_read_may_hold_any_text(client):
    response = send(client, "post", "/api/tokens/", {"name": "script", "note\x00": "\x00"})
    assert response.status_code == 201, response.content
    assert ApiToken.objects.get().name == "script"


def test_a_method_not_allowed_names_the_allowed_ones(client, context):
    response = client.put("/api/jobs/")
    assert_json_error(response, 405, None)
    assert response["Allow"] == "GET, POST, HEAD"


def route_converters(patterns: list[Any]) -> list[tuple[str, Any]]:
    found = []
    for entry in patterns:
        converters = getattr(entry.pattern, "converters", {})
        found += [(str(entry.pattern), c) for c in converters.values()]
        found += route_converters(getattr(entry, "url_patterns", []))
    return found


def test_every_id_in_a_route_is_range_checked():
    """A route with Django's ``int`` converter would pass 10**30 to the database (500)."""
    from django.urls import get_resolver
    from django.urls.converters import IntConverter

    from apps.portal.routing import websocket_urlpatterns

    own = [p for p in get_resolver().url_patterns if "admin" not in str(p.pattern)]
    converters = route_converters(own) + route_converters(websocket_urlpatterns)
    assert any(isinstance(c, IdConverter) for _, c in converters)
    assert [route for route, c in converters if isinstance(c, IntConverter)] == []


def test_the_schema_documents_the_limits(client):
    schema = client.get("/api/schema/").json()
    job = schema["paths"]["/api/jobs/{job_id}/"]["get"]
    assert job["parameters"][0]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 9223372036854775807,
    }
    with_body = [
        (path, method)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "requestBody" in op
    ]
    assert ("/api/jobs/", "post") in with_body
    for path, method in with_body:
        assert "413" in schema["paths"][path][method]["responses"], (path, method)
    assert "429" in schema["paths"]["/api/jobs/"]["post"]["responses"]
    assert "429" in schema["paths"]["/api/datasets/{pk}/ingest/"]["post"]["responses"]
