"""``com``'s corrections and phases on scans whose shifts are known: descan, the ``"auto"``
orientation (our sign convention, fixed here), iCoM and riCOM; and LiberTEM 0.16's ``CoMUDF``
``regression`` and ``guess_corrections`` on the same frames."""

from __future__ import annotations

import random

import numpy as np
import pytest
from com_synthetic import CENTRE, SIG, phase_and_gradient, plane, spot_frames, turn

from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset

GRID = (24, 32)
DISK = {"cy": CENTRE[0], "cx": CENTRE[1], "r": 14.0}
#: A descan plane in the scan frame: offset, per scan row, per scan column (columns y, x).
DESCAN = np.array([[0.6, -0.9], [0.03, 0.01], [-0.02, 0.025]])
#: The iCoM phase's RMS error against the known phase, as a fraction of its range (measured:
#: 0.04 % on these spot frames, 0.002 % from the exact gradients).
PHASE_RMS = 0.005
#: riCOM with a kernel as large as the scan against iCoM, away from the edges (measured 0.76 %:
#: the kernel's sum over whole scan positions next to its singular centre).
RICOM_RMS = 0.01


def run_com(tmp_path, frames: np.ndarray, params: dict, count: int = 4) -> dict[str, np.ndarray]:
    path = tmp_path / f"scan{random.random():.6f}.npy"
    np.save(path, frames)
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "com", {**DISK, **params}, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=count)).results


def least_squares_plane(field: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(field.shape[:2], dtype=np.float64)
    design = np.column_stack([np.ones(rows.size), rows.ravel(), cols.ravel()])
    return np.linalg.lstsq(design, field.reshape(-1, 2), rcond=None)[0]


@pytest.mark.parametrize(
    ("degrees", "flip_y"), [(0.0, False), (37.0, False), (-121.5, True), (164.2, True)]
)
def test_auto_recovers_a_known_rotation_flip_and_descan_plane(
    tmp_path, degrees: float, flip_y: bool
) -> None:
    _, gradient = phase_and_gradient(GRID)
    scan_frame = gradient + plane(DESCAN, GRID)
    frames = spot_frames(turn(scan_frame, flip_y=flip_y, degrees=degrees))
    params = {"scan_rotation": "auto", "flip_y": "auto", "descan": "plane"}
    results = run_com(tmp_path, frames, params)

    rotation, flipped, cy, cx = results["guess"]
    assert abs((rotation - degrees + 180) % 360 - 180) < 0.5
    assert bool(flipped) is flip_y
    # the descan plane, and the part of the field's own gradient a plane fits, both removed
    want = DESCAN + least_squares_plane(gradient)
    np.testing.assert_allclose(results["descan"], want, atol=2e-3)
    corrected = gradient - plane(least_squares_plane(gradient), GRID)
    np.testing.assert_allclose(results["y"], corrected[..., 0], atol=2e-3)
    np.testing.assert_allclose(results["x"], corrected[..., 1], atol=2e-3)
    # the centre guess is the disk's centre plus the mean raw shift
    raw = turn(scan_frame, flip_y=flip_y, degrees=degrees)
    assert cy == pytest.approx(CENTRE[0] + raw[..., 0].mean(), abs=2e-3)
    assert cx == pytest.approx(CENTRE[1] + raw[..., 1].mean(), abs=2e-3)


def test_the_guess_is_the_value_that_undoes_the_turn_with_our_sign(tmp_path) -> None:
    """LiberTEM #1775 disputes which way ``scan_rotation`` turns; ours is fixed by this: the
    detector shift (0, +1) with scan_rotation 90 becomes the scan shift (y, x) = (+1, 0)."""
    one = np.zeros((3, 3, 2))
    one[..., 1] = 1.0
    results = run_com(tmp_path, spot_frames(one), {"scan_rotation": 90.0}, count=1)
    assert results["y"][1, 1] == pytest.approx(1.0, abs=1e-3)
    assert results["x"][1, 1] == pytest.approx(0.0, abs=1e-3)
    # and a field turned the other way is guessed as +90
    _, gradient = phase_and_gradient(GRID)
    frames = spot_frames(turn(gradient, flip_y=False, degrees=90.0))
    guessed = run_com(tmp_path, frames, {"scan_rotation": "auto"})["guess"][0]
    assert guessed == pytest.approx(90.0, abs=0.5)


def test_icom_gives_back_the_known_phase(tmp_path) -> None:
    phase, gradient = phase_and_gradient(GRID)
    frames = spot_frames(turn(gradient, flip_y=True, degrees=25.0))
    results = run_com(tmp_path, frames, {"scan_rotation": 25.0, "flip_y": True})
    want = phase - phase.mean()
    rms = np.sqrt(np.mean((results["icom"] - want) ** 2))
    assert rms < PHASE_RMS * np.ptp(want)
    assert np.nanmean(results["icom"]) == pytest.approx(0.0, abs=1e-6)


def test_ricom_with_a_kernel_as_large_as_the_scan_agrees_with_icom_inside(tmp_path) -> None:
    phase, gradient = phase_and_gradient(GRID)
    results = run_com(tmp_path, spot_frames(gradient), {"ricom_radius": max(GRID)})
    inner = (slice(5, -5), slice(5, -5))
    diff = (results["ricom"] - results["icom"])[inner]
    assert np.sqrt(np.mean((diff - diff.mean()) ** 2)) < RICOM_RMS * np.ptp(phase)
    # a small kernel keeps the bumps (a high-pass) but not the far field
    small = run_com(tmp_path, spot_frames(gradient), {"ricom_radius": 3})["ricom"]
    assert np.corrcoef(small.ravel(), phase.ravel())[0, 1] > 0.8


def test_partial_results_do_not_depend_on_the_order_partitions_finish(tmp_path) -> None:
    _, gradient = phase_and_gradient(GRID)
    path = tmp_path / "scan.npy"
    np.save(path, spot_frames(turn(gradient, flip_y=False, degrees=10.0) + 0.3))
    ds = open_dataset(str(path))
    params = {**DISK, "scan_rotation": "auto", "flip_y": "auto", "descan": "plane"}
    analysis = make_analysis(
        "com", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    done = [(p, analysis.task()(p, None, None)) for p in ds.partitions(count=6)]
    seen = []
    for seed in (0, 1):
        random.Random(seed).shuffle(done)
        state = analysis.new_state()
        for partition, value in done[:3]:  # half the scan: a partial result
            state = analysis.merge(state, partition, value)
        partial = {k: v.copy() for k, v in analysis.results(state).items()}
        subset = sorted(p.index for p, _ in done[:3])
        seen.append((subset, partial))
    # the same three partitions in another order give the same partial results
    state = analysis.new_state()
    for partition, value in reversed(done[:3]):
        state = analysis.merge(state, partition, value)
    for name, value in analysis.results(state).items():
        np.testing.assert_array_equal(value, seen[-1][1][name], err_msg=name)
    icom = seen[-1][1]["icom"]
    assert np.isnan(icom).sum() == 3 * 4 * 32  # three partitions of four rows missing
    assert np.isfinite(icom).sum() == 3 * 4 * 32


def test_a_reference_plane_is_subtracted_in_the_detector_frame(tmp_path) -> None:
    _, gradient = phase_and_gradient(GRID)
    turned = {"flip_y": True, "scan_rotation": -60.0}
    vacuum = spot_frames(turn(plane(DESCAN, GRID), flip_y=True, degrees=-60.0))
    fitted = run_com(tmp_path, vacuum, {**turned, "descan": "plane"})["descan"]
    np.testing.assert_allclose(fitted, DESCAN, atol=2e-3)
    # the detector frame's coefficients: unturned (what the portal makes of a reference job)
    detector = turn(fitted, flip_y=True, degrees=-60.0)
    sample = spot_frames(turn(gradient + plane(DESCAN, GRID), flip_y=True, degrees=-60.0))
    results = run_com(tmp_path, sample, {**turned, "descan_reference": detector.tolist()})
    np.testing.assert_allclose(results["descan"], DESCAN, atol=2e-3)
    np.testing.assert_allclose(results["y"], gradient[..., 0], atol=3e-3)
    np.testing.assert_allclose(results["x"], gradient[..., 1], atol=3e-3)


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"descan": "tilted"}, "descan", "none, constant, plane"),
        ({"scan_rotation": "guess"}, "scan_rotation", 'a number or "auto"'),
        ({"flip_y": "yes"}, "flip_y", 'true or false or "auto"'),
        ({"descan_reference": [[0, 0], [0, 0]]}, "descan_reference", "3×2"),
        ({"descan_reference": 12}, "descan_reference", "job 12 was not resolved"),
        ({"descan": "plane", "descan_reference": np.zeros((3, 2))}, "descan_reference", "one"),
        ({"ricom_radius": 0}, "ricom_radius", "at least 1"),
    ],
)
def test_it_refuses_bad_corrections_naming_the_field(params: dict, field: str, text: str) -> None:
    with pytest.raises(ParameterError) as info:
        make_analysis("com", {**DISK, **params}, nav_shape=GRID, sig_shape=SIG, dtype="float32")
    assert info.value.field == field
    assert text in str(info.value)


LIBERTEM = """
from libertem.api import Context
from libertem.executor.inline import InlineJobExecutor
from libertem.udf.com import CoMUDF, guess_corrections

ctx = Context(executor=InlineJobExecutor())
ds = ctx.load("memory", data=inputs["data"], sig_dims=2, num_partitions=3)
p = inputs["params"]
for regression in (0, 1):
    udf = CoMUDF.with_params(
        cy=p[0], cx=p[1], r=p[2], flip_y=bool(p[3]), scan_rotation=p[4], regression=regression
    )
    result = ctx.run_udf(dataset=ds, udf=udf)
    outputs[f"regression{regression}"] = result["regression"].data
    outputs[f"y{regression}"] = result["field_y"].data
    outputs[f"x{regression}"] = result["field_x"].data
raw = result["raw_shifts"].data
guess = guess_corrections(raw[..., 0], raw[..., 1], roi=np.ones(raw.shape[:2], dtype=bool))
outputs["guess"] = np.array([guess.scan_rotation, guess.flip_y, guess.cy, guess.cx], dtype=float)
"""


@pytest.mark.parametrize(("degrees", "flip_y"), [(23.0, False), (-140.0, True)])
def test_descan_and_the_guess_match_libertem(
    tmp_path, reference, degrees: float, flip_y: bool
) -> None:
    _, gradient = phase_and_gradient(GRID)
    frames = spot_frames(turn(gradient + plane(DESCAN, GRID), flip_y=flip_y, degrees=degrees))
    params = np.array([DISK["cy"], DISK["cx"], DISK["r"], float(flip_y), degrees])
    theirs = reference.run(LIBERTEM, data=frames, params=params)
    turned = {"flip_y": flip_y, "scan_rotation": degrees}
    # both compute the moments in float32: the numerical contract's 1e-5 of the detector size
    atol = 1e-5 * max(SIG)
    for regression, fit in ((0, "constant"), (1, "plane")):
        ours = run_com(tmp_path, frames, {**turned, "descan": fit})
        np.testing.assert_allclose(ours["descan"], theirs[f"regression{regression}"], atol=atol)
        np.testing.assert_allclose(ours["y"], theirs[f"y{regression}"], atol=atol)
        np.testing.assert_allclose(ours["x"], theirs[f"x{regression}"], atol=atol)
    guess = run_com(tmp_path, frames, {})["guess"]
    # LiberTEM searches whole degrees and truncates to int; ours is the exact minimum
    assert abs((guess[0] - theirs["guess"][0] + 180) % 360 - 180) <= 1.0
    # the descan plane's own curl misleads both; ours guesses after the descan it is asked for
    fitted_first = run_com(tmp_path, frames, {"descan": "plane"})["guess"][0]
    assert fitted_first == pytest.approx(degrees, abs=0.5)
    assert guess[1] == theirs["guess"][1] == float(flip_y)
    # LiberTEM's centre is the mean raw shift, relative to the disk's centre
    np.testing.assert_allclose(guess[2:] - (DISK["cy"], DISK["cx"]), theirs["guess"][2:], atol=atol)
