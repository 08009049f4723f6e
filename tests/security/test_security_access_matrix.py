"""The access matrix: every URL pattern and websocket route × owner, member, outsider,
anonymous and staff, as one table (see docs/security.md for the rules it checks).

The world: alice (owner) registered ``scan`` in the data folder declared for the group "lab"
and shared it with "lab"; bob (member) is in "lab"; eve (outsider) is not; root is staff.
alice has a finished job (unshared), a finished job she shared, and a running job with a live
preview; bob has a finished job of his own on alice's dataset.

A row names a URL pattern, the request, and the answer for each role: a status code, ``LOGIN``
(a page's redirect to the login form), or ``"302="`` (a redirect that changed nothing). A
request that is refused (4xx, ``LOGIN``, ``"302="``) must leave the database as it was.
``test_every_url_pattern_has_a_row`` walks the URL resolver: a new pattern without a row fails.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.acquisition.models import Detector, LiveSession
from apps.datasets.folders import folder_declare
from apps.datasets.models import DataFolder, Dataset, DatasetAnnotation, DatasetTag, Thumbnail
from apps.datasets.services import dataset_register, dataset_share
from apps.jobs.models import Job, JobAnnotation, JobTag, Mask
from apps.portal.routing import websocket_urlpatterns
from apps.results.store import partial_save, results_save
from apps.results.thumbnail import thumbnail_png
from libertem_site.asgi import application
from tests.jobs.support import ORIGIN, SIG, frames, ws_close_code

ROLES = ("owner", "member", "outsider", "anon", "staff")
LOGIN = "login"


def codes(owner: Any, member: Any, outsider: Any, anon: Any, staff: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (owner, member, outsider, anon, staff), strict=True))


def everyone(status: Any, anon: Any) -> dict[str, Any]:
    return codes(status, status, status, anon, status)


# Who sees alice's dataset: owner, member, staff.
DATASET = codes(200, 200, 404, 401, 200)
# Who sees alice's unshared job: owner and staff only.
JOB = codes(200, 404, 404, 401, 200)
# alice's shared job: the member sees it too, but may not change it.
SHARED_JOB = codes(200, 200, 404, 401, 200)
SHARED_JOB_CHANGE = codes(200, 403, 404, 401, 200)


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    expect: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)
    kind: str = "json"  # json, form, multipart
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}{'[' + self.label + ']' if self.label else ''}"


ROWS = [
    # accounts
    Row("login", "GET", "/login/", everyone(200, 200)),
    Row("logout", "POST", "/logout/", everyone(302, 302)),
    Row("login_link", "GET", "/login/link/not-a-key/", everyone(404, 404)),
    Row("password_reset", "GET", "/password/reset/", everyone(200, 200)),
    Row("password_reset_done", "GET", "/password/reset/sent/", everyone(200, 200)),
    # A set-password link that is not valid: the page says so (tests/accounts: valid ones).
    Row("password_reset_confirm", "GET", "/password/set/MQ/not-a-token/", everyone(200, 200)),
    # Single sign-on is off unless OIDC_ISSUER is set (tests/accounts/test_accounts_oidc.py).
    Row("oidc_authentication_init", "GET", "/oidc/authenticate/", everyone(404, 404)),
    Row("oidc_authentication_callback", "GET", "/oidc/callback/", everyone(404, 404)),
    Row("token_list", "GET", "/tokens/", everyone(200, LOGIN)),
    Row("token_revoke", "POST", "/tokens/{token}/revoke/", codes(302, 404, 404, LOGIN, 404)),
    Row("api_tokens", "GET", "/api/tokens/", everyone(200, 401)),
    Row("api_token", "DELETE", "/api/tokens/{token}/", codes(204, 404, 404, 401, 404)),
    Row("api_schema", "GET", "/api/schema/", everyone(200, 200)),
    Row("favicon", "GET", "/favicon.ico", everyone(301, 301)),
    # datasets and data folders
    Row("dataset_list", "GET", "/datasets/", everyone(200, LOGIN)),
    Row("dataset_register", "GET", "/datasets/register/", everyone(200, LOGIN)),
    Row("dataset_detail", "GET", "/datasets/{dataset}/", codes(200, 200, 404, LOGIN, 200)),
    Row(
        "dataset_share",
        "POST",
        "/datasets/{dataset}/share/",
        codes(302, 403, 404, LOGIN, 302),
        {"groups": []},
        "form",
    ),
    Row("dataset_delete", "POST", "/datasets/{dataset}/delete/", codes(302, 403, 404, LOGIN, 302)),
    Row(
        "dataset_calibrate",
        "POST",
        "/datasets/{dataset}/calibration/",
        codes(302, 403, 404, LOGIN, 302),
        {"scan_step": "2", "scan_units": "nm", "detector_step": "0.25", "detector_units": "mrad"},
        "form",
    ),
    Row(
        "dataset_notes",
        "POST",
        "/datasets/{dataset}/notes/",
        codes(302, 403, 404, LOGIN, 302),
        {"notes": "Cooled.", "tags": "SiGe, strain", "annotations": "sample: SiGe"},
        "form",
    ),
    Row(
        "dataset_thumbnail",
        "GET",
        "/datasets/{dataset}/thumbnails/mean.png",
        codes(200, 200, 404, LOGIN, 200),
    ),
    Row(
        "dataset_thumbnail",
        "GET",
        "/datasets/{dataset}/thumbnails/adf.png",
        codes(404, 404, 404, LOGIN, 404),
        label="not computed",
    ),
    Row(
        "dataset_thumbnails",
        "POST",
        "/datasets/{dataset}/thumbnails/",
        codes(302, "302=", 404, LOGIN, 302),
    ),
    Row(
        "dataset_ingest",
        "POST",
        "/datasets/{dataset}/ingest/",
        codes("302=", 403, 404, LOGIN, "302="),
    ),
    Row("api_datasets", "GET", "/api/datasets/", everyone(200, 401)),
    Row(
        "api_datasets",
        "POST",
        "/api/datasets/",
        codes(201, 201, 400, 401, 201),
        {"name": "again", "path": "{lab_file}"},
        label="the file behind alice's dataset",
    ),
    Row(
        "api_datasets",
        "POST",
        "/api/datasets/",
        codes(400, 400, 400, 401, 201),
        {"name": "closed", "path": "{closed_file}"},
        label="a file in an undeclared folder",
    ),
    Row("api_dataset", "GET", "/api/datasets/{dataset}/", DATASET),
    Row(
        "api_dataset_calibration",
        "POST",
        "/api/datasets/{dataset}/calibration/",
        codes(200, 403, 404, 401, 200),
        {"scan_step": 2, "scan_units": "nm", "detector_step": 0.25, "detector_units": "mrad"},
    ),
    Row(
        "api_dataset_notes",
        "POST",
        "/api/datasets/{dataset}/notes/",
        codes(200, 403, 404, 401, 200),
        {"notes": "Cooled.", "tags": ["SiGe"], "annotations": {"voltage": "300 kV"}},
    ),
    Row("api_datasets", "GET", "/api/datasets/?tag=lab-scan", everyone(200, 401), label="search"),
    Row(
        "api_dataset_thumbnails",
        "POST",
        "/api/datasets/{dataset}/thumbnails/",
        codes(202, 403, 404, 401, 202),
    ),
    Row("api_dataset", "DELETE", "/api/datasets/{dataset}/", codes(204, 403, 404, 401, 204)),
    Row(
        "api_dataset_ingest",
        "POST",
        "/api/datasets/{dataset}/ingest/",
        codes(400, 403, 404, 401, 400),
        label="no data nodes",
    ),
    Row("api_browse", "GET", "/api/browse/", everyone(200, 401)),
    Row(
        "api_browse",
        "GET",
        "/api/browse/?path={lab_folder}",
        codes(200, 200, 400, 401, 200),
        label="the lab folder",
    ),
    Row(
        "api_browse",
        "GET",
        "/api/browse/?path={root}",
        codes(400, 400, 400, 401, 200),
        label="the undeclared root",
    ),
    Row("dataset_analyze", "GET", "/datasets/{dataset}/analyze/", codes(200, 200, 404, LOGIN, 200)),
    Row("api_dataset_frame", "GET", "/api/datasets/{dataset}/frame/?y=1&x=2", DATASET),
    # jobs: pages
    Row("home", "GET", "/", everyone(200, LOGIN)),
    Row("healthz", "GET", "/healthz", everyone(200, 200)),
    Row("status", "GET", "/status/", codes(404, 404, 404, 404, 200)),
    Row("job_list", "GET", "/jobs/", everyone(200, LOGIN)),
    # quotas: everyone sees their own usage, staff everyone's
    Row("usage", "GET", "/usage/", everyone(200, LOGIN)),
    Row("usage_overview", "GET", "/usage/all/", codes(404, 404, 404, 404, 200)),
    Row("api_usage", "GET", "/api/usage/", everyone(200, 401)),
    Row("job_detail", "GET", "/jobs/{job}/", codes(200, 404, 404, LOGIN, 200)),
    Row(
        "job_detail",
        "GET",
        "/jobs/{shared_job}/",
        codes(200, 200, 404, LOGIN, 200),
        label="shared",
    ),
    Row("job_cancel", "POST", "/jobs/{running}/cancel/", codes(302, 404, 404, LOGIN, 302)),
    Row("job_rerun", "POST", "/jobs/{job}/rerun/", codes(302, 404, 404, LOGIN, 302)),
    Row(
        "job_rerun",
        "POST",
        "/jobs/{shared_job}/rerun/",
        codes(302, "302=", 404, LOGIN, 302),
        label="shared",
    ),
    Row(
        "job_notes",
        "POST",
        "/jobs/{shared_job}/notes/",
        codes(302, 403, 404, LOGIN, 302),
        {"notes": "Good fit.", "tags": "best", "annotations": "operator: alice"},
        "form",
    ),
    Row(
        "api_job_notes",
        "POST",
        "/api/jobs/{shared_job}/notes/",
        codes(200, 403, 404, 401, 200),
        {"notes": "Good fit.", "tags": ["best"], "annotations": {"operator": "alice"}},
    ),
    Row(
        "api_job_notes",
        "POST",
        "/api/jobs/{job}/notes/",
        codes(200, 404, 404, 401, 200),
        {"tags": ["unshared"]},
        label="unshared",
    ),
    Row(
        "job_share",
        "POST",
        "/jobs/{job}/share/",
        codes(302, 404, 404, LOGIN, 302),
        {"shared": "1"},
        "form",
    ),
    # jobs: API
    Row(
        "api_mask_create",
        "POST",
        "/api/masks/",
        codes(201, 201, 404, 401, 201),
        {"dataset": "{dataset}"},
        "multipart",
    ),
    Row("api_job_list", "GET", "/api/jobs/", everyone(200, 401)),
    Row(
        "api_job_list",
        "POST",
        "/api/jobs/",
        codes(202, 202, 404, 401, 202),
        {"dataset": "{dataset}", "analysis": "sum"},
        label="submit",
    ),
    Row("api_job_detail", "GET", "/api/jobs/{job}/", JOB),
    Row("api_job_detail", "GET", "/api/jobs/{shared_job}/", SHARED_JOB, label="shared"),
    Row("api_job_cancel", "POST", "/api/jobs/{running}/cancel/", JOB),
    Row("api_job_rerun", "POST", "/api/jobs/{job}/rerun/", codes(202, 404, 404, 401, 202)),
    Row(
        "api_job_rerun",
        "POST",
        "/api/jobs/{shared_job}/rerun/",
        codes(202, 403, 404, 401, 202),
        label="shared",
    ),
    Row("api_job_share", "POST", "/api/jobs/{job}/share/", JOB, {"shared": True}),
    Row(
        "api_job_share",
        "POST",
        "/api/jobs/{shared_job}/share/",
        SHARED_JOB_CHANGE,
        {"shared": False},
        label="shared",
    ),
    Row("api_analysis_list", "GET", "/api/analyses/", everyone(200, 401)),
    # live sessions: the detector is for "lab"; alice's running session is shared with "lab"
    Row("api_live_detectors", "GET", "/api/live/detectors/", everyone(200, 401)),
    Row("live_index", "GET", "/live/", everyone(200, LOGIN)),
    Row("live_session", "GET", "/live/{live}/", codes(200, 200, 404, LOGIN, 200)),
    Row(
        "api_live_sessions",
        "POST",
        "/api/live/sessions/",
        codes(201, 201, 404, 401, 201),
        {"detector": "{detector}", "nav_shape": [2, 2], "analyses": [{"analysis": "sum"}]},
    ),
    Row("api_live_stop", "POST", "/api/live/sessions/{live}/stop/", SHARED_JOB_CHANGE),
    Row(
        "api_live_analyses",
        "POST",
        "/api/live/sessions/{live}/analyses/",
        codes(201, 403, 404, 401, 201),
        {"analysis": "sum"},
    ),
    Row(
        "api_live_analysis",
        "PUT",
        "/api/live/sessions/{live}/analyses/0/",
        SHARED_JOB_CHANGE,
        {"params": {}},
    ),
    # results
    Row("result_download", "GET", "/api/jobs/{job}/results/sum.npy", JOB),
    Row("result_download", "GET", "/api/jobs/{job}/results/sum.h5", JOB, label="h5"),
    Row(
        "result_download",
        "GET",
        "/api/jobs/{shared_job}/results/sum.png",
        SHARED_JOB,
        label="shared",
    ),
    Row("partial_download", "GET", "/api/jobs/{running}/partial/sum.npy", JOB),
    Row("job_thumbnail", "GET", "/api/jobs/{job}/thumbnail.png", JOB),
    Row("job_thumbnail", "GET", "/api/jobs/{shared_job}/thumbnail.png", SHARED_JOB, label="shared"),
    # the site
    Row("admin:index", "GET", "/admin/", codes(302, 302, 302, 302, 200)),
]

# Websocket routes: True when the job streams, False when the socket is closed with 4404. An
# unnamed route is keyed by its regular expression ("unnamed:" for the catch-all).
WS_ROWS = [
    ("ws_job", "/ws/jobs/{job}/", codes(True, False, False, False, True)),
    ("ws_job", "/ws/jobs/{shared_job}/", codes(True, True, False, False, True)),
    ("ws_job", "/ws/jobs/{running}/", codes(True, False, False, False, True)),
    ("unnamed:", "/ws/datasets/{dataset}/", codes(False, False, False, False, False)),
]

# The follow socket /ws/jobs/: True when following the job is answered with its status, False
# when refused (a `refused` message; an anonymous socket is closed with 4404 before any follow).
FOLLOW_ROWS = [
    ("ws_follow", "{job}", codes(True, False, False, False, True)),
    ("ws_follow", "{shared_job}", codes(True, True, False, False, True)),
    ("ws_follow", "{running}", codes(True, False, False, False, True)),
]

# After alice unshares her dataset, bob's own job is out of his sight everywhere.
UNSHARED_ROWS = [
    ("GET", "/api/jobs/{bobs_job}/"),
    ("GET", "/jobs/{bobs_job}/"),
    ("GET", "/api/jobs/{bobs_job}/results/sum.npy"),
    ("GET", "/api/jobs/{bobs_job}/results/sum.h5"),
    ("GET", "/api/jobs/{bobs_job}/thumbnail.png"),
    ("POST", "/api/jobs/{bobs_job}/rerun/"),
    ("POST", "/jobs/{bobs_job}/rerun/"),
    ("POST", "/api/jobs/{bobs_job}/share/"),
    ("POST", "/jobs/{bobs_job}/share/"),
    ("POST", "/api/jobs/{bobs_job}/cancel/"),
    ("POST", "/jobs/{bobs_job}/cancel/"),
    ("GET", "/api/datasets/{dataset}/"),
    ("GET", "/datasets/{dataset}/analyze/"),
    ("GET", "/api/datasets/{dataset}/frame/?y=0&x=0"),
]


# --- the world ------------------------------------------------------------------------------


@pytest.fixture
def world(users: SimpleNamespace, settings: Any, tmp_path: Path) -> SimpleNamespace:
    root = (tmp_path / "data").resolve()
    lab_folder = root / "lab"
    lab_folder.mkdir(parents=True)
    settings.DATA_ROOTS = [root]
    settings.DATA_NODES = {}
    lab_file = lab_folder / "scan.npy"
    np.save(lab_file, frames())
    closed_file = root / "closed.npy"
    np.save(closed_file, frames(seed=1))
    folder_declare(path=str(lab_folder), groups=["lab"])
    dataset = dataset_register(
        owner=users.owner, name="scan", path=str(lab_file), groups=["lab"], tags=["lab-scan"]
    )
    Thumbnail.objects.create(dataset=dataset, kind="mean", png=thumbnail_png(frames()[0, 0]))
    image = np.arange(np.prod(SIG), dtype=np.float64).reshape(SIG)

    def finished(owner: Any, **extra: Any) -> Job:
        job = Job.objects.create(
            owner=owner, dataset=dataset, analysis="sum", status="finished", **extra
        )
        results_save(job=job, results={"sum": image, "mean": image / 48})
        return job

    running = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="sum", status="running", attempt=1
    )
    partial_save(job=running, name="sum", array=image.astype(np.float32))
    token, _ = token_create(user=users.owner, name="script")
    detector = Detector.objects.create(
        name="merlin",
        kind="merlin",
        host="127.0.0.1",
        data_port=6342,
        control_port=6341,
        trigger_mode="soft",
        sig_shape=list(SIG),
        folder=DataFolder.objects.get(path=str(lab_folder)),
    )
    detector.groups.add(users.lab)
    live = Job.objects.create(
        owner=users.owner, dataset=dataset, kind="live", status="running", attempt=1, shared=True
    )
    LiveSession.objects.create(
        job=live,
        detector=detector,
        nav_shape=[2, 2],
        analyses=[{"analysis": "sum", "params": {}}],
        folder=detector.folder,
        name="rec",
        record_path=str(lab_folder / "rec"),
    )
    return SimpleNamespace(
        users=users,
        root=root,
        lab_folder=lab_folder,
        lab_file=lab_file,
        closed_file=closed_file,
        dataset=dataset,
        job=finished(users.owner),
        shared_job=finished(users.owner, shared=True),
        bobs_job=finished(users.member),
        running=running,
        token=token,
        detector=detector,
        live=live,
    )


def fill(template: str, world: SimpleNamespace) -> str:
    values = {
        "dataset": world.dataset.pk,
        "job": world.job.pk,
        "shared_job": world.shared_job.pk,
        "bobs_job": world.bobs_job.pk,
        "running": world.running.pk,
        "token": world.token.pk,
        "detector": world.detector.pk,
        "live": world.live.pk,
        "root": world.root,
        "lab_folder": world.lab_folder,
        "lab_file": world.lab_file,
        "closed_file": world.closed_file,
    }
    return template.format(**values)


def user_of(world: SimpleNamespace, role: str) -> Any:
    return None if role == "anon" else getattr(world.users, role)


def state() -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    return (
        Dataset.objects.count(),
        sorted(Dataset.objects.values_list("pk", "groups__name")),
        sorted(Dataset.objects.values_list("pk", "notes")),
        sorted(DatasetTag.objects.values_list("dataset", "name")),
        sorted(DatasetAnnotation.objects.values_list("dataset", "key", "value")),
        sorted(Job.objects.values_list("pk", "notes")),
        sorted(JobTag.objects.values_list("job", "name")),
        sorted(JobAnnotation.objects.values_list("job", "key", "value")),
        sorted(Job.objects.values_list("pk", "shared", "cancel_requested", "status")),
        Mask.objects.count(),
        ApiToken.objects.count(),
        DataFolder.objects.count(),
        sorted(LiveSession.objects.values_list("pk", "stop_requested", "revision")),
    )


def send(client: Any, row: Row, world: SimpleNamespace) -> Any:
    path = fill(row.path, world)
    body = {k: fill(v, world) if isinstance(v, str) else v for k, v in row.body.items()}
    if row.method == "GET":
        return client.get(path)
    if row.method == "DELETE":
        return client.delete(path)
    if row.method == "PUT":
        return client.put(path, json.dumps(body), content_type="application/json")
    if row.kind == "form":
        return client.post(path, body)
    if row.kind == "multipart":
        buf = io.BytesIO()
        np.save(buf, np.ones(SIG, dtype=np.float32))
        upload = SimpleUploadedFile("mask.npy", buf.getvalue())
        return client.post(path, {**body, "file": upload})
    return client.post(path, body, content_type="application/json")


def check(response: Any, expected: Any, before: tuple[Any, ...]) -> None:
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    elif expected == "302=":
        assert response.status_code == 302
    else:
        assert response.status_code == expected, response.content[:300]
    refused = expected in (LOGIN, "302=") or (isinstance(expected, int) and expected >= 400)
    if refused:
        assert state() == before


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=[f"{r.method} {r.id}" for r in ROWS])
def test_the_access_matrix(world, client_for, held_jobs, row, role):
    before = state()
    response = send(client_for(user_of(world, role)), row, world)
    check(response, row.expect[role], before)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["member", "owner", "outsider", "anon"])
@pytest.mark.parametrize(("method", "path"), UNSHARED_ROWS)
def test_unsharing_the_dataset_hides_bobs_own_job_from_him(
    world,
    client_for,
    held_jobs,
    method,
    path,
    role,
):
    """Only staff (and, while it is shared, nobody else) still reach bob's job."""
    dataset_share(user=world.users.owner, dataset=world.dataset, groups=[])
    before = state()
    client = client_for(user_of(world, role))
    url = fill(path, world)
    response = client.get(url) if method == "GET" else client.post(url)
    if role == "anon":
        assert response.status_code in (401, 302)
    elif role == "owner" and "/datasets/" in path:
        assert response.status_code == 200  # alice still has her dataset
    else:
        assert response.status_code == 404, (role, url, response.status_code)
    assert state() == before
    assert (
        client_for(world.users.staff).get(fill("/api/jobs/{bobs_job}/", world)).status_code == 200
    )


def socket_as(world: SimpleNamespace, role: str, path: str) -> WebsocketCommunicator:
    """A websocket to ``path`` with an API token of ``role``'s user (none for anon)."""
    user = user_of(world, role)
    query = f"?token={token_create(user=user, name='ws')[1]}" if user else ""
    return WebsocketCommunicator(application, f"{path}{query}", headers=[ORIGIN])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "path", "expect"), WS_ROWS, ids=["job", "shared", "running", "no route"]
)
async def test_the_websocket_matrix(world, name, path, expect, role):
    ws = await database_sync_to_async(socket_as)(world, role, fill(path, world))
    code = await ws_close_code(ws)
    assert code == (None if expect[role] else 4404)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "job", "expect"), FOLLOW_ROWS, ids=["job", "shared", "running"])
async def test_the_follow_socket_matrix(world, name, job, expect, role):
    ws = await database_sync_to_async(socket_as)(world, role, "/ws/jobs/")
    assert (await ws.connect())[0]
    if role == "anon":
        assert await ws.receive_output(timeout=10) == {"type": "websocket.close", "code": 4404}
        return
    job_id = int(fill(job, world))
    await ws.send_to(text_data=json.dumps({"follow": job_id}))
    answer = json.loads(await ws.receive_from(timeout=10))
    assert (answer["type"], answer["id"]) == ("status" if expect[role] else "refused", job_id)
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_unsharing_refuses_bobs_socket_to_his_own_job(world):
    def unshare_and_connect() -> WebsocketCommunicator:
        dataset_share(user=world.users.owner, dataset=world.dataset, groups=[])
        key = token_create(user=world.users.member, name="ws")[1]
        path = f"/ws/jobs/{world.bobs_job.pk}/?token={key}"
        return WebsocketCommunicator(application, path, headers=[ORIGIN])

    ws = await database_sync_to_async(unshare_and_connect)()
    assert await ws_close_code(ws) == 4404


def _http_names(patterns: list[Any], prefix: str = "") -> list[str]:
    names = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{entry.namespace}:" if entry.namespace else prefix
            names += _http_names(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern):
            names.append(f"{prefix}{entry.name or f'<unnamed {entry.pattern}>'}")
    return names


def test_every_url_pattern_has_a_row():
    """A new URL pattern or websocket route needs a row in this table (and in security.md)."""
    names = set(_http_names(get_resolver().url_patterns))
    # The admin is one Django app behind one rule: staff only. Its index stands for it.
    names = {n for n in names if not n.startswith("admin:")} | {"admin:index"}
    assert names - {row.name for row in ROWS} == set()
    ws_names = {
        route.name or f"unnamed:{route.pattern.regex.pattern}" for route in websocket_urlpatterns
    }
    assert ws_names - {name for name, _, _ in WS_ROWS + FOLLOW_ROWS} == set()
    assert {row.name for row in ROWS} <= names  # no row for a pattern that is gone
