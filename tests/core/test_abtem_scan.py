"""The simulated scan the phase-contrast tests use (tests/abtem_simulation.py) is what it says:
abTEM 1.0.11's frames of a 20 mrad probe, the zero beam where stated, a weak-phase object."""

from __future__ import annotations

import numpy as np

from tests.abtem_simulation import band_limited


def test_the_simulated_frames_have_the_stated_geometry(abtem_scan):
    frames = np.asarray(abtem_scan.frames, dtype=np.float64)
    params = abtem_scan.params
    assert params["abtem_version"] == "1.0.11"
    assert frames.shape == (32, 32, 48, 48)
    np.testing.assert_allclose(frames.sum(axis=(2, 3)), 1.0, atol=0.02)
    mean = frames.mean(axis=(0, 1))
    rows, cols = np.indices(mean.shape)
    centre = (np.sum(rows * mean) / mean.sum(), np.sum(cols * mean) / mean.sum())
    np.testing.assert_allclose(centre, params["zero_beam"], atol=0.2)
    # The bright-field disk: pixels at more than half the disk's level, as many as its area.
    radius = params["semiangle_mrad"] / params["detector_mrad"]
    bright = np.count_nonzero(mean > 0.5 * mean[24, 24])
    assert abs(bright - np.pi * radius**2) < 2 * np.pi * radius
    np.testing.assert_allclose(params["detector_mrad"], 2.612, rtol=1e-3)


def test_the_object_is_a_weak_phase_object_that_the_frames_see(abtem_scan):
    phase = abtem_scan.phase
    assert phase.shape == (32, 32)
    assert 0.05 < np.ptp(phase) < 1.0
    # Each frame's centre of mass moves with the phase's gradient (blurred by the defocused
    # probe), along the same axes: scan and detector are not rotated against each other.
    frames = np.asarray(abtem_scan.frames, dtype=np.float64)
    total = frames.sum(axis=(2, 3))
    index = np.arange(48, dtype=np.float64)
    com_y = np.einsum("abij,i->ab", frames, index) / total
    com_x = np.einsum("abij,j->ab", frames, index) / total
    grad_y = np.roll(phase, -1, axis=0) - np.roll(phase, 1, axis=0)
    grad_x = np.roll(phase, -1, axis=1) - np.roll(phase, 1, axis=1)
    assert np.corrcoef(com_y.ravel(), grad_y.ravel())[0, 1] > 0.4
    assert np.corrcoef(com_x.ravel(), grad_x.ravel())[0, 1] > 0.4


def test_band_limiting_keeps_what_the_coarse_grid_can_hold():
    y, x = np.indices((60, 60)) / 60
    fine = np.cos(2 * np.pi * 3 * y) + 0.5 * np.sin(2 * np.pi * 2 * x) + 7
    coarse = band_limited(fine, (12, 12))
    yc, xc = np.indices((12, 12)) / 12
    expected = np.cos(2 * np.pi * 3 * yc) + 0.5 * np.sin(2 * np.pi * 2 * xc)
    np.testing.assert_allclose(coarse, expected, atol=1e-12)
