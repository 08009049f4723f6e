"""The live sessions' API: detectors by group, arming with validation, who may stop and change
a session, who may watch it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from apps.acquisition.models import Detector, LiveSession
from apps.datasets.folders import folder_declare
from apps.datasets.models import DataFolder, Dataset
from apps.jobs.models import Job

pytestmark = pytest.mark.django_db

RING = {"shape": "ring", "cx": 32, "cy": 32, "ri": 5, "ro": 20}


@pytest.fixture
def detector(users, data_root) -> Detector:
    (data_root / "live").mkdir()
    folder, _ = folder_declare(path=str(data_root / "live"), groups=["lab"])
    detector = Detector.objects.create(
        name="Merlin 1",
        kind="merlin",
        host="127.0.0.1",
        data_port=6342,
        control_port=6341,
        trigger_mode="soft",
        sig_shape=[64, 64],
        folder=folder,
    )
    detector.groups.add(users.lab)
    return detector


def arm(client, detector: Detector, **body: Any) -> Any:
    body = {
        "detector": detector.pk,
        "nav_shape": [8, 8],
        "analyses": [{"analysis": "virtual", "params": RING}, {"analysis": "sum"}],
        **body,
    }
    return client.post("/api/live/sessions/", json.dumps(body), content_type="application/json")


def post(client, url: str, body: Any = None, method: str = "post") -> Any:
    send = getattr(client, method)
    return send(url, json.dumps(body or {}), content_type="application/json")


def test_it_lists_only_the_detectors_of_the_users_groups(client_for, users, detector):
    Detector.objects.create(
        name="Arina",
        kind="dectris",
        host="dcu",
        data_port=9999,
        control_port=80,
        trigger_mode="exte",
        sig_shape=[192, 192],
        folder=detector.folder,
    )
    names = {
        who: [d["name"] for d in client_for(user).get("/api/live/detectors/").json()["results"]]
        for who, user in vars(users).items()
        if who != "lab"
    }
    assert names == {
        "owner": ["Merlin 1"],
        "member": ["Merlin 1"],
        "outsider": [],
        "staff": ["Arina", "Merlin 1"],
    }
    assert client_for(None).get("/api/live/detectors/").status_code == 401


def test_it_arms_a_session_with_its_job_dataset_and_session(client_for, users, detector):
    response = arm(client_for(users.owner), detector, share_with_groups=["lab"], name="scan_1")
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "live" and body["status"] == "queued"
    assert body["progress"] == {"done": 0, "total": 64}
    live = body["live"]
    assert live["detector"] == detector.pk and live["nav_shape"] == [8, 8]
    assert live["sig_shape"] == list(detector.sig_shape)  # the live page's frame
    assert live["analyses"] == [
        {"analysis": "virtual", "params": RING},
        {"analysis": "sum", "params": {}},
    ]
    assert (live["state"], live["frames"], live["lost_frames"], live["dataset"]) == (
        "armed",
        0,
        0,
        None,
    )
    job = Job.objects.get(pk=body["id"])
    assert job.shared and job.kind == Job.Kind.LIVE
    dataset = job.dataset
    assert (dataset.status, dataset.origin, dataset.name) == ("recording", "live", "scan_1")
    assert dataset.path == str(detector.folder.path) + "/scan_1/acquisition.json"
    assert list(dataset.groups.values_list("name", flat=True)) == ["lab"]
    assert LiveSession.objects.get(job=job).record_path.endswith("/live/scan_1")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nav_shape": [8]}, "nav_shape"),
        ({"nav_shape": [0, 8]}, "nav_shape"),
        ({"analyses": []}, "analyses"),
        ({"analyses": [{"analysis": "nope"}]}, "analyses[0].analysis"),
        (
            {
                "analyses": [
                    {"analysis": "sum"},
                    {"analysis": "virtual", "params": {**RING, "ri": -1}},
                ]
            },
            "analyses[1].params.ri",
        ),
        (
            {"analyses": [{"analysis": "virtual", "params": {**RING, "cx": 99}}]},
            "analyses[0].params.cx",
        ),
        ({"continuous": "yes"}, "continuous"),
        ({"name": "../etc"}, "name"),
        ({"share_with_groups": ["other"]}, "share_with_groups"),
        ({"colour": 1}, "colour"),
    ],
)
def test_it_refuses_bad_input_naming_the_field(client_for, users, detector, change, field):
    response = arm(client_for(users.owner), detector, **change)
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"], response.json()
    assert not Job.objects.exists() and not Dataset.objects.exists()


def test_it_refuses_a_folder_the_user_may_not_use(client_for, users, detector, data_root):
    (data_root / "private").mkdir()
    private, _ = folder_declare(path=str(data_root / "private"), groups=["other"])
    response = arm(client_for(users.owner), detector, folder=private.pk)
    assert response.status_code == 400
    assert "folder" in response.json()["fields"]
    usable = DataFolder.objects.get(path=str(data_root))
    assert arm(client_for(users.owner), detector, folder=usable.pk).status_code == 201


def test_it_hides_detectors_from_those_not_in_their_groups(client_for, users, detector):
    assert arm(client_for(users.outsider), detector).status_code == 404
    detector.enabled = False
    detector.save()
    assert arm(client_for(users.owner), detector).status_code == 404


def test_viewers_see_operators_change_outsiders_get_404(client_for, users, detector):
    job_id = arm(client_for(users.owner), detector, share_with_groups=["lab"]).json()["id"]
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING)
    url = f"/api/live/sessions/{job_id}"
    member, outsider = client_for(users.member), client_for(users.outsider)
    assert member.get(f"/api/jobs/{job_id}/").json()["live"]["state"] == "armed"
    assert outsider.get(f"/api/jobs/{job_id}/").status_code == 404
    for client, status in ((member, 403), (outsider, 404)):
        assert post(client, f"{url}/stop/").status_code == status
        assert post(client, f"{url}/analyses/", {"analysis": "sum"}).status_code == status
        assert post(client, f"{url}/analyses/0/", {"params": RING}, "put").status_code == status
    assert not LiveSession.objects.get(job_id=job_id).stop_requested


def test_an_unshared_session_is_the_operators_alone(client_for, users, detector):
    job_id = arm(client_for(users.owner), detector).json()["id"]
    assert client_for(users.member).get(f"/api/jobs/{job_id}/").status_code == 404
    assert client_for(users.staff).get(f"/api/jobs/{job_id}/").status_code == 200


def test_the_operator_adds_and_changes_analyses_while_it_runs(client_for, users, detector):
    owner = client_for(users.owner)
    job_id = arm(owner, detector).json()["id"]
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING)
    url = f"/api/live/sessions/{job_id}/analyses/"
    added = post(owner, url, {"analysis": "com", "params": {"cx": 32, "cy": 32, "r": 10}})
    assert added.status_code == 201
    assert added.json()["index"] == 2
    moved = {**RING, "cx": 30}
    assert post(owner, f"{url}0/", {"params": moved}, "put").status_code == 200
    bad = post(owner, f"{url}0/", {"params": {**RING, "ri": -1}}, "put")
    assert bad.status_code == 400 and "params.ri" in bad.json()["fields"]
    assert post(owner, f"{url}7/", {"params": RING}, "put").status_code == 400
    session = LiveSession.objects.get(job_id=job_id)
    assert session.revision == 2
    assert [a["analysis"] for a in session.analyses] == ["virtual", "sum", "com"]
    assert session.analyses[0]["params"] == moved


def test_stop_asks_a_running_session_and_cancels_a_queued_one(client_for, users, detector):
    owner = client_for(users.owner)
    queued = arm(owner, detector).json()["id"]
    response = post(owner, f"/api/live/sessions/{queued}/stop/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Job.objects.get(pk=queued).dataset.status == Dataset.Status.ERROR
    running = arm(owner, detector).json()["id"]
    Job.objects.filter(pk=running).update(status=Job.Status.RUNNING)
    response = post(owner, f"/api/live/sessions/{running}/stop/")
    assert response.status_code == 200 and response.json()["live"]["stop_requested"] is True
    Job.objects.filter(pk=running).update(status=Job.Status.FINISHED)
    assert post(owner, f"/api/live/sessions/{running}/stop/").status_code == 409
    assert (
        post(owner, f"/api/live/sessions/{running}/analyses/", {"analysis": "sum"}).status_code
        == 409
    )


def test_another_job_is_not_a_session(client_for, users, dataset):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum")
    assert post(client_for(users.owner), f"/api/live/sessions/{job.pk}/stop/").status_code == 404


def test_detector_clean_names_the_field(detector):
    detector.trigger_mode = "exte"
    detector.sig_shape = [0, 5]
    detector.control_port = 70000
    with pytest.raises(ValidationError) as info:
        detector.clean()
    assert set(info.value.message_dict) == {"trigger_mode", "sig_shape", "control_port"}
