"""Provenance: every result records how it was made; the record, submitted again, computes the
result bit for bit (in the recorded partitions), and the HDF5 download is a NeXus file that
carries it (NXentry / NXprocess / NXdata, read back with h5py and nexusformat)."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
from support import frames, submit, wait_terminal

import apps.core
from apps.jobs import executor as job_executor
from apps.jobs.models import Job
from apps.jobs.provenance import git_revision
from apps.results.models import Result

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]


def stored(job: Job) -> dict[str, bytes]:
    return {r.name: bytes(r.data) for r in Result.objects.filter(job=job, partial=False)}


@pytest.fixture
def first(users, client_for, dataset, inline_executor) -> Job:
    """alice's finished sum, computed in three partitions."""
    inline_executor.workers = 3
    job = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    inline_executor.workers = 1
    assert job.status == "finished", job.error
    return job


def test_a_result_records_everything_it_depends_on(first, dataset):
    record = first.provenance
    assert (record["record"], record["job"], record["analysis"]) == (1, first.pk, "sum")
    assert (record["source"], record["version"]) == ("builtin", apps.core.ENGINE_VERSION)
    assert record["engine_version"] == apps.core.ENGINE_VERSION
    assert record["git_revision"] == git_revision() and record["git_revision"] != ""
    assert (record["executor"], record["workers"]) == ("inline", ["inline"])
    assert record["partitions"] == [[0, 16], [16, 32], [32, 48]]
    assert (record["params"], record["roi"]) == ({}, None)
    described = record["dataset"]
    assert (described["id"], described["nav_shape"], described["dtype"]) == (
        dataset.pk,
        [6, 8],
        "<u2",
    )
    [entry] = described["identity"]["files"]
    assert entry["name"] == "scan.npy" and "path" not in entry  # no server folders
    assert entry["sha256"] == dataset.identity["files"][0]["sha256"]


def test_a_record_computes_the_result_again_bit_for_bit(users, client_for, first):
    reply = client_for(users.owner).post(
        "/api/jobs/", {"record": first.provenance, "reuse": False}, content_type="application/json"
    )
    assert reply.status_code == 202, reply.content
    again = wait_terminal(reply.json()["id"])
    assert (again.status, again.kind, again.partitioning) == (
        "finished",
        "analysis",
        [[0, 16], [16, 32], [32, 48]],
    )
    assert stored(again) == stored(first)
    assert again.provenance["partitions"] == first.provenance["partitions"]
    # its own split (one partition on this executor) was not used
    assert [p["index"] for p in again.partitions] == [0, 1, 2]


def test_a_record_may_be_answered_by_the_cache(users, client_for, first):
    reply = client_for(users.owner).post(
        "/api/jobs/", {"record": first.provenance}, content_type="application/json"
    )
    again = wait_terminal(reply.json()["id"])
    assert (again.kind, again.reused_from_id, stored(again)) == ("reused", first.pk, stored(first))


def test_a_record_of_other_data_or_another_engine_is_refused(
    users, client_for, first, dataset, monkeypatch
):
    client = client_for(users.owner)

    def post(record):
        return client.post("/api/jobs/", {"record": record}, content_type="application/json")

    for bad in ({}, {"record": 1}, {**first.provenance, "partitions": [[0, 47]]}):
        reply = post(bad)
        assert reply.status_code == 400 and "record" in reply.json()["fields"], bad
    assert post({**first.provenance, "analysis": "nope"}).status_code == 400
    monkeypatch.setattr(apps.core, "ENGINE_VERSION", "9.9.9")
    reply = post(first.provenance)
    assert reply.status_code == 400 and "engine version" in reply.json()["error"]
    monkeypatch.undo()
    np.save(dataset.path, frames(seed=3))  # the same shape, other data
    reply = post(first.provenance)
    assert reply.status_code == 400 and "holds other data" in reply.json()["error"]
    # a record of a dataset the user may not see is no dataset at all
    assert (
        client_for(users.outsider)
        .post("/api/jobs/", {"record": first.provenance}, content_type="application/json")
        .status_code
        == 404
    )
    extra = client.post(
        "/api/jobs/",
        {"record": first.provenance, "dataset": 1},
        content_type="application/json",
    )
    assert extra.status_code == 400 and "dataset" in extra.json()["fields"]


def test_the_h5_download_is_a_nexus_file_with_the_process(users, client_for, first, tmp_path):
    nexus = pytest.importorskip("nexusformat.nexus")
    body = client_for(users.owner).get(f"/api/jobs/{first.pk}/results/mean.h5").content
    mean = np.load(io.BytesIO(stored(first)["mean"]))
    with h5py.File(io.BytesIO(body), "r") as f:
        assert f.attrs["NX_class"] == "NXroot" and f.attrs["default"] == "entry"
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        process = entry["process"]
        assert process.attrs["NX_class"] == "NXprocess"
        assert process["program"][()].decode() == "LiberTEM Portal"
        assert process["version"][()].decode() == apps.core.ENGINE_VERSION
        assert process["analysis"][()].decode() == "sum"
        note = process["provenance"]
        assert note.attrs["NX_class"] == "NXnote"
        record = json.loads(note["data"][()])
        assert record == first.provenance
        data = entry["result"]
        assert data.attrs["NX_class"] == "NXdata" and data.attrs["signal"] == "mean"
        np.testing.assert_array_equal(data["mean"][()], mean)
        axes = list(data.attrs["axes"])
        assert len(axes) == 2 and all(data[a].attrs["units"] for a in axes)
    # nexusformat reads it as the same tree
    (tmp_path / "result.nxs").write_bytes(body)
    root = nexus.nxload(str(tmp_path / "result.nxs"))
    assert root.entry.process.nxclass == "NXprocess"
    assert root.entry.result.nxsignal.nxname == "mean"
    np.testing.assert_array_equal(root.entry.result.nxsignal.nxdata, mean)
    # and the record in the file computes the result again
    reply = client_for(users.owner).post(
        "/api/jobs/",
        {"record": json.loads(str(root.entry.process.provenance.data)), "reuse": False},
        content_type="application/json",
    )
    assert stored(wait_terminal(reply.json()["id"])) == stored(first)


def test_an_executor_swap_keeps_the_bits(users, client_for, first, dataset):
    """The record names the partitions, not the executor: another executor object (here a
    second inline one, as a restarted web process has) gives the same bytes."""
    from apps.core.executor import InlineExecutor

    old = job_executor.set_executor(InlineExecutor())
    try:
        reply = client_for(users.owner).post(
            "/api/jobs/",
            {"record": first.provenance, "reuse": False},
            content_type="application/json",
        )
        assert stored(wait_terminal(reply.json()["id"])) == stored(first)
    finally:
        job_executor.set_executor(old)


def test_manage_py_analyze_in_the_recorded_partitions_gives_the_jobs_bits(first, dataset, tmp_path):
    from django.core.management import call_command

    out = io.StringIO()
    npz = tmp_path / "sum.npz"
    count = str(len(first.provenance["partitions"]))
    call_command(
        "analyze", dataset.path, "--analysis", "sum", "--partitions", count,
        "--out", str(npz), "--quiet", stdout=out,
    )  # fmt: skip
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["partitions"] == first.provenance["partitions"]
    with np.load(npz) as got:
        for name, data in stored(first).items():
            assert got[name].tobytes() == np.load(io.BytesIO(data)).tobytes(), name
