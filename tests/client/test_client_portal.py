"""The client's reading and running methods against a live portal: datasets, analyses, runs
whose arrays equal numpy's and ``manage.py analyze``'s, results, jobs and the progress bar."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from libertem_portal_client import BadRequest, NotFound, Portal, PortalError, Result

from tests.client.conftest import demo_path
from tests.live_portal import Portal as LivePortal

pytestmark = pytest.mark.slow

DISK = {"shape": "disk", "cx": 60.0, "cy": 66.0, "r": 12.0}


def disk_image(frames: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:128, :128]
    inside = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2).ravel()
    return (frames @ inside).reshape(64, 64)


def test_datasets_are_those_the_user_may_see_and_filter_by_name(
    alice: Portal, bob: Portal, dataset: dict[str, Any]
) -> None:
    listed = alice.datasets()
    assert dataset["id"] in [d["id"] for d in listed]
    assert {d["owner"] for d in listed} == {"alice"}
    assert [d["name"] for d in alice.datasets("DEMO")] == ["demo scan"]
    assert alice.datasets("no such scan") == []
    assert bob.datasets() == []


def test_search_finds_datasets_by_tag_annotation_shape_and_date_on_every_page(
    live: LivePortal, alice: Portal, bob: Portal, dataset: dict[str, Any]
) -> None:
    annotated = alice.annotate(
        dataset,
        notes="first light",
        tags=["gold", "beamtime-12"],
        annotations={"sample": "Au nanoparticles", "voltage": 300},
    )
    assert sorted(annotated["tags"]) == ["beamtime-12", "gold"]
    assert annotated["notes"] == "first light"
    assert ids(alice.datasets(tag="gold")) == [dataset["id"]]
    assert ids(alice.datasets(tag=["gold", "beamtime-12"], annotation="sample:au")) == [
        dataset["id"]
    ]
    assert alice.datasets(tag="silver") == [] and bob.datasets(tag="gold") == []
    shaped = alice.datasets(format="raw", nav_shape=(64, 64), sig_shape=(128, 128), owner="alice")
    assert dataset["id"] in ids(shaped)
    assert alice.datasets(nav_shape=(32, 32)) == []
    assert dataset["id"] in ids(alice.datasets(created_after=date.today() - timedelta(days=2)))
    assert alice.datasets(created_before=date(2000, 1, 1)) == []
    with pytest.raises(BadRequest) as refused:
        alice.datasets(created_after="last week")
    assert set(refused.value.fields) == {"created_after"}
    for name in ("second copy", "third copy"):
        live.api("alice", "/api/datasets/", {"name": name, "path": str(demo_path(live))})
    everything = alice.datasets()
    assert len(everything) >= 3
    assert ids(alice.datasets(page_size=1)) == ids(everything)  # all pages, one at a time


def ids(datasets: list[dict[str, Any]]) -> list[int]:
    return [d["id"] for d in datasets]


def test_dataset_has_its_shape_and_status(alice: Portal, dataset: dict[str, Any]) -> None:
    shown = alice.dataset(dataset["id"])
    assert (shown["nav_shape"], shown["sig_shape"], shown["dtype"]) == ([64, 64], [128, 128], "<u2")
    assert shown["status"] == "ready"
    assert alice.dataset(shown) == shown  # the object itself may stand for its id


def test_analyses_are_the_declarations_with_units(alice: Portal) -> None:
    names = [a["name"] for a in alice.analyses()]
    assert names[:6] == ["sum", "pick", "virtual", "com", "radial", "masks"]
    com = alice.analysis("com")
    assert {p["name"]: p["unit"] for p in com["params"]}["scan_rotation"] == "deg"
    results = {r["name"]: r["unit"] for r in com["results"]}
    assert {"x": "px", "magnitude": "px", "curl": "px per scan px"}.items() <= results.items()
    with pytest.raises(PortalError, match="analysis: expected one of sum, pick"):
        alice.analysis("nope")


def test_run_gives_the_virtual_image_as_numpy_computes_it(
    alice: Portal, dataset: dict[str, Any], frames: np.ndarray
) -> None:
    result = alice.run(dataset["id"], "virtual", **DISK)
    assert isinstance(result, Result) and list(result) == ["intensity"]
    np.testing.assert_allclose(result["intensity"], disk_image(frames, 66, 60, 12), rtol=1e-5)
    assert result.units == {"intensity": "data"}
    record = result.provenance
    assert (record["source"], record["analysis"], record["params"]) == ("builtin", "virtual", DISK)
    assert record["dataset"]["id"] == dataset["id"] and record["roi"] is None
    assert record["partitions"][0][0] == 0 and record["partitions"][-1][1] == 64 * 64
    assert (result.analysis, result.params, result.roi) == ("virtual", DISK, None)
    assert result.job["status"] == "finished"
    assert f"job {result.id} (virtual)" in repr(result)


def test_run_with_a_rectangle_or_an_array_as_roi_reads_only_it(
    alice: Portal, dataset: dict[str, Any], frames: np.ndarray
) -> None:
    expected = disk_image(frames, 66, 60, 12)
    rect = {"shape": "rect", "y": 8, "x": 16, "height": 10, "width": 20}
    inside = np.zeros((64, 64), bool)
    inside[8:18, 16:36] = True
    for roi in (rect, inside):
        result = alice.run(dataset, "virtual", roi=roi, **DISK)
        image = result["intensity"]
        np.testing.assert_allclose(image[inside], expected[inside], rtol=1e-5)
        assert np.isnan(image[~inside]).all()
        assert result.job["progress"] == {"done": 200, "total": 200}
    assert result.roi == {"mask": inside.tolist()}


def test_run_uploads_a_mask_array_and_applies_it(
    alice: Portal, dataset: dict[str, Any], frames: np.ndarray
) -> None:
    masks = np.zeros((2, 128, 128), np.float32)
    masks[0, 50:80, 40:70] = 1.0
    masks[1] = np.linspace(0, 1, 128 * 128, dtype=np.float32).reshape(128, 128)
    result = alice.run(dataset, "masks", masks=masks)
    expected = (frames @ masks.reshape(2, -1).T.astype(np.float64)).reshape(64, 64, 2)
    np.testing.assert_allclose(result["masks"], expected, rtol=1e-5)
    uploaded = alice.upload_mask(dataset, masks[0] > 0, name="one box")
    assert (uploaded["shape"], uploaded["name"]) == ([1, 128, 128], "one box")
    by_id = alice.run(dataset, "masks", masks=uploaded["id"])
    np.testing.assert_allclose(by_id["masks"][..., 0], expected[..., 0], rtol=1e-5)


def test_run_gives_what_manage_py_analyze_gives(
    live: LivePortal, alice: Portal, dataset: dict[str, Any], tmp_path: Any
) -> None:
    params = {"cx": 64.0, "cy": 64.0, "r": 20.0, "scan_rotation": 30.0, "flip_y": True}
    result = alice.run(dataset, "com", **params)
    out = tmp_path / "com.npz"
    args = [
        f"--param={k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items()
    ]
    live.manage("analyze", str(demo_path(live)), "--analysis=com", *args, f"--out={out}", "--quiet")
    with np.load(out) as analyzed:
        assert sorted(analyzed.files) == sorted(result)
        for name in result:
            np.testing.assert_allclose(result[name], analyzed[name], rtol=1e-6, atol=1e-9)
    assert result.units["x"] == "px" and result.units["divergence"] == "px per scan px"


def test_results_of_an_earlier_job_are_read_again(alice: Portal, dataset: dict[str, Any]) -> None:
    first = alice.run(dataset, "sum")
    for job in (first.id, first.job, first):
        again = alice.results(job)
        assert again.id == first.id and list(again) == ["sum", "mean", "max"]
        for name in first:
            np.testing.assert_array_equal(again[name], first[name])
    assert again.units == {"sum": "data", "mean": "data", "max": "data"}


def test_job_and_jobs_show_what_was_run(
    alice: Portal, bob: Portal, dataset: dict[str, Any]
) -> None:
    result = alice.run(dataset, "pick", y=3, x=5)
    job = alice.job(result.id)
    assert (job["analysis"], job["params"], job["status"]) == ("pick", {"y": 3, "x": 5}, "finished")
    picks = alice.jobs(dataset=dataset, analysis="pick", status="finished", superseded=False)
    assert picks[0]["id"] == result.id
    assert all(j["analysis"] == "pick" for j in picks)
    assert bob.jobs() == []


def test_frame_is_the_detector_frame_at_a_scan_position(
    alice: Portal, dataset: dict[str, Any], frames: np.ndarray
) -> None:
    frame = alice.frame(dataset, y=10, x=20)
    assert frame.dtype == np.float32
    np.testing.assert_array_equal(frame, frames[10 * 64 + 20].reshape(128, 128))


def test_the_progress_bar_counts_the_frames_to_the_end(
    live: LivePortal, dataset: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    portal = Portal(live.base, live.tokens["alice"])  # progress bars by default
    result = portal.run(dataset, "virtual", shape="ring", cx=64, cy=64, ri=10, ro=30)
    bar = capsys.readouterr().err
    assert f"job {result.id} virtual" in bar
    assert "4096/4096" in bar and "finished" in bar
    portal.run(dataset, "sum", progress=False)
    assert capsys.readouterr().err == ""


def test_an_equal_job_is_answered_from_the_cache_with_the_same_bytes(
    alice: Portal, dataset: dict[str, Any]
) -> None:
    params = {"shape": "ring", "cx": 63.5, "cy": 64.0, "ri": 5.0, "ro": 25.0}
    first = alice.run(dataset, "virtual", reuse=False, **params)
    again = alice.run(dataset, "virtual", **params)
    assert (first.reused, again.reused) == (False, True)
    assert again.id != first.id
    assert again["intensity"].tobytes() == first["intensity"].tobytes()
    anew = alice.run(dataset, "virtual", reuse=False, **params)
    assert not anew.reused and anew["intensity"].tobytes() == first["intensity"].tobytes()
    moved = alice.run(dataset, "virtual", **{**params, "cx": 63.50001})
    assert not moved.reused  # any change of a parameter is a miss


def test_reproduce_computes_a_record_again_to_the_same_bytes(
    alice: Portal, bob: Portal, dataset: dict[str, Any]
) -> None:
    result = alice.run(
        dataset, "com", cx=64.0, cy=64.0, r=18.0, roi={"shape": "disk", "cy": 30, "cx": 30, "r": 12}
    )
    again = alice.reproduce(json.loads(json.dumps(result.provenance)))  # as saved to a file
    assert not again.reused and again.id != result.id
    assert again.roi == result.roi and list(again) == list(result)
    for name in result:
        assert again[name].tobytes() == result[name].tobytes()
    assert alice.reproduce(result, reuse=True).reused
    with pytest.raises(BadRequest) as refused:
        alice.reproduce({"record": "not one"})
    assert set(refused.value.fields) == {"record"}
    with pytest.raises(NotFound):
        bob.reproduce(result)
