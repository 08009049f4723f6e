"""The live pages: who sees a session (owner: the operator's controls; a viewer: read-only;
anyone else: 404), and the sessions running now on /live/."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest

from apps.datasets.models import Dataset
from apps.jobs.models import Job

pytestmark = pytest.mark.django_db


def _session(owner: Any, dataset: Dataset, *, shared: bool = False, status: str = "running") -> Job:
    return Job.objects.create(
        owner=owner, dataset=dataset, kind="live", status=status, shared=shared, frames_total=64
    )


def _config(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script id="live-config" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, "the page embeds its configuration"
    return json.loads(match.group(1))


def test_it_asks_for_a_login(client_for: Any, users: SimpleNamespace, dataset: Dataset) -> None:
    job = _session(users.owner, dataset)
    for url in ("/live/", f"/live/{job.pk}/"):
        response = client_for(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_it_gives_the_operator_the_controls(
    client_for: Any, users: SimpleNamespace, dataset: Dataset
) -> None:
    job = _session(users.owner, dataset)
    response = client_for(users.owner).get(f"/live/{job.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="live-stop"' in html and 'id="live-add"' in html
    config = _config(html)
    assert config["operator"] is True
    assert config["urls"]["ws"] == f"/ws/jobs/{job.pk}/"
    assert {a["name"] for a in config["analyses"]} >= {"virtual", "com", "sum"}


def test_a_viewer_gets_no_controls(
    client_for: Any, users: SimpleNamespace, dataset: Dataset
) -> None:
    dataset.groups.add(users.lab)
    job = _session(users.owner, dataset, shared=True)
    response = client_for(users.member).get(f"/live/{job.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="live-stop"' not in html and 'id="live-add"' not in html
    assert "read-only" in html
    assert _config(html)["operator"] is False


def test_an_outsider_gets_404(client_for: Any, users: SimpleNamespace, dataset: Dataset) -> None:
    job = _session(users.owner, dataset, shared=True)
    assert client_for(users.outsider).get(f"/live/{job.pk}/").status_code == 404
    # a member of the group does not see an unshared session either
    dataset.groups.add(users.lab)
    unshared = _session(users.owner, dataset)
    assert client_for(users.member).get(f"/live/{unshared.pk}/").status_code == 404


def test_a_job_of_another_kind_is_not_a_session(
    client_for: Any, users: SimpleNamespace, dataset: Dataset
) -> None:
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", status="running")
    assert client_for(users.owner).get(f"/live/{job.pk}/").status_code == 404
    assert client_for(users.owner).get("/live/99999999999999999999/").status_code == 404


def test_the_index_lists_the_running_sessions_one_may_watch(
    client_for: Any, users: SimpleNamespace, dataset: Dataset
) -> None:
    dataset.groups.add(users.lab)
    running = _session(users.owner, dataset, shared=True)
    ended = _session(users.owner, dataset, shared=True, status="finished")
    html = client_for(users.member).get("/live/").content.decode()
    assert f'data-session="{running.pk}"' in html
    assert f'data-session="{ended.pk}"' not in html
    outsider = client_for(users.outsider).get("/live/").content.decode()
    assert "data-session=" not in outsider and 'id="sessions-none"' in outsider


def _detector(data_root: Any, group: Any) -> Any:
    from apps.acquisition.models import Detector
    from apps.datasets.folders import folder_declare

    folder, _ = folder_declare(path=str(data_root), groups=[group.name])
    detector = Detector.objects.create(
        name="merlin", kind="merlin", host="127.0.0.1", data_port=6342, control_port=6341,
        trigger_mode="soft", sig_shape=[256, 256], folder=folder,
    )  # fmt: skip
    detector.groups.add(group)
    return detector


def _has_live_link(client: Any) -> bool:
    return 'href="/live/"' in client.get("/jobs/").content.decode()


def test_the_top_bar_links_live_for_operators_and_viewers(
    client_for: Any, users: SimpleNamespace, data_root: Any, dataset: Dataset
) -> None:
    assert not _has_live_link(client_for(users.member))
    _detector(data_root, users.lab)
    assert _has_live_link(client_for(users.member))  # may operate the detector
    assert _has_live_link(client_for(users.staff))
    assert not _has_live_link(client_for(users.outsider))
    # a session shared with a group of the outsider's makes them a viewer
    dataset.groups.add(users.outsider.groups.create(name="guests"))
    _session(users.owner, dataset, shared=True)
    assert _has_live_link(client_for(users.outsider))


def test_the_catalogue_marks_and_filters_recordings(
    client_for: Any, users: SimpleNamespace, dataset: Dataset
) -> None:
    from apps.datasets.catalogue_views import ORIGINS

    assert [value for value, _ in ORIGINS] == list(Dataset.Origin.values)
    recording = Dataset.objects.get(pk=dataset.pk)
    recording.pk = None
    recording.name = "recorded"
    recording.origin = Dataset.Origin.LIVE
    recording.save()
    client = client_for(users.owner)
    html = client.get("/datasets/").content.decode()
    rows = re.findall(r'<tr data-dataset="(\d+)">(.*?)</tr>', html, re.S)
    badges = {int(pk): 'class="badge-live"' in row for pk, row in rows}
    assert badges == {dataset.pk: False, recording.pk: True}
    live_only = client.get("/datasets/?origin=live").content.decode()
    assert re.findall(r'<tr data-dataset="(\d+)">', live_only) == [str(recording.pk)]
    assert '<option value="live" selected>' in live_only
    refused = client.get("/datasets/?origin=tape")
    assert refused.status_code == 400 and "origin" in refused.content.decode()


def test_the_job_page_of_a_session_links_its_live_page(
    client_for: Any, users: SimpleNamespace, data_root: Any
) -> None:
    detector = _detector(data_root, users.lab)
    body = {
        "detector": detector.pk,
        "nav_shape": [4, 4],
        "analyses": [{"analysis": "sum"}],
        "share_with_groups": ["lab"],
    }
    owner = client_for(users.owner)
    armed = owner.post("/api/live/sessions/", body, content_type="application/json")
    assert armed.status_code == 201, armed.json()
    job = armed.json()["id"]
    for user in (users.owner, users.member):
        html = client_for(user).get(f"/jobs/{job}/").content.decode()
        assert f'href="/live/{job}/"' in html
        assert client_for(user).get(f"/live/{job}/").status_code == 200
    assert client_for(users.outsider).get(f"/live/{job}/").status_code == 404
