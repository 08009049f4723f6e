"""SSB ptychography on simulated scans: the known phase comes back, ptychography40's ``SSB_UDF``
gives the same image, and rotation and flip follow the centre of mass's convention.

The forward model here: a probe formed by a round aperture (no aberrations), a weak-phase object
``exp(i φ)`` whose ``φ`` holds spatial frequencies up to 8 of the 32 x 32 scan grid (SSB
transfers up to 2α/λ = 12 here), each frame ``|FFT(probe(r - r_p) · object(r))|²`` with the
zero beam at pixel (16, 16); the scan step is the probe's real-space pixel.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.analyses.com_corrections import orientation
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.core.optics import electron_wavelength

N = 32
BEAM = {"beam_energy": 300.0, "convergence_angle": 20.0, "detector_pixel": 20.0 / 6}


def weak_phase_scan(
    *, amplitude: float = 0.1, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Frames float32 ``(N, N, N, N)``, the object's phase ``(N, N)`` (mean 0, standard
    deviation ``amplitude`` rad) and the analysis parameters."""
    wavelength = electron_wavelength(BEAM["beam_energy"])
    per_pixel = BEAM["detector_pixel"] * 1e-3 / wavelength  # 1/nm per detector pixel
    step = 1 / (N * per_pixel)  # nm
    ky, kx = np.meshgrid(*[np.fft.fftfreq(N, step)] * 2, indexing="ij")
    probe = np.fft.ifft2(np.hypot(ky, kx) * wavelength * 1e3 <= BEAM["convergence_angle"])
    rng = np.random.default_rng(seed)
    fy, fx = np.meshgrid(*[np.fft.fftfreq(N, 1 / N)] * 2, indexing="ij")
    band = np.hypot(fy, fx) <= 8
    spectrum = np.zeros((N, N), complex)
    spectrum[band] = rng.normal(size=band.sum()) + 1j * rng.normal(size=band.sum())
    phase = np.fft.ifft2(spectrum).real
    phase = (phase - phase.mean()) * amplitude / phase.std()
    frames = np.empty((N, N, N, N), np.float32)
    for y in range(N):
        for x in range(N):
            wave = np.roll(probe, (y, x), axis=(0, 1)) * np.exp(1j * phase)
            frames[y, x] = np.abs(np.fft.fftshift(np.fft.fft2(wave))) ** 2
    frames /= frames[0, 0].sum()
    params = {**BEAM, "scan_step": step, "cy": N / 2, "cx": N / 2}
    return frames, phase, params


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, dict]:
    frames, phase, params = weak_phase_scan()
    path = tmp_path_factory.mktemp("ssb") / "scan.npy"
    np.save(path, frames)
    return path, phase, params


def ssb(path: Path, params: dict[str, Any], *, count: int = 3) -> dict[str, np.ndarray]:
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "ssb", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=count)).results


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_it_recovers_the_phase_of_a_weak_phase_object(scan) -> None:
    path, phase, params = scan
    out = ssb(path, params)
    assert out["phase"].shape == (N, N) and out["phase"].dtype == np.float64
    # all the object's frequencies lie inside SSB's band: the phase comes back, in rad, up to
    # the transfer function's weighting (correlation 0.998 measured) and its mean
    recovered = out["phase"] - out["phase"].mean()
    assert correlation(recovered, phase) > 0.99
    gain = np.sum(recovered * phase) / np.sum(phase * phase)
    assert 0.3 < gain < 1.2
    # a weak-phase object: the amplitude is flat
    assert np.std(out["amplitude"]) < 0.05 * np.mean(out["amplitude"])
    np.testing.assert_allclose(
        out["complex"], out["amplitude"] * np.exp(1j * out["phase"]), rtol=1e-5, atol=1e-7
    )


def test_a_phase_of_the_opposite_sign_comes_back_negated(tmp_path) -> None:
    frames, phase, params = weak_phase_scan(amplitude=-0.1)
    np.save(tmp_path / "scan.npy", frames)
    recovered = ssb(tmp_path / "scan.npy", params)["phase"]
    assert correlation(recovered, phase) > 0.99


def test_rotation_and_flip_follow_the_centre_of_mass(scan, tmp_path) -> None:
    path, phase, params = scan
    frames = np.load(path)
    # the detector turned by a quarter (np.rot90 over the detector axes): the zero beam at
    # (16, 16) moves to (15, 16), and scan_rotation=90 turns it back
    turned = np.ascontiguousarray(np.rot90(frames, 1, axes=(2, 3)))
    np.save(tmp_path / "turned.npy", turned)
    moved = {**params, "cy": N - 1 - params["cx"], "cx": params["cy"]}
    right = ssb(tmp_path / "turned.npy", {**moved, "scan_rotation": 90.0})["phase"]
    wrong = ssb(tmp_path / "turned.npy", {**moved, "scan_rotation": -90.0})["phase"]
    assert correlation(right - right.mean(), phase) > 0.99
    assert correlation(wrong - wrong.mean(), phase) < -0.9
    # ... as the centre of mass: a shift (3, 1) on the first detector is (-1, 3) on the turned
    # one, and the same rotation takes it back
    turned_back = orientation(flip_y=False, degrees=90.0) @ np.array([-1.0, 3.0])
    np.testing.assert_allclose(turned_back, [3.0, 1.0], atol=1e-12)
    flipped = np.ascontiguousarray(frames[:, :, ::-1, :])
    np.save(tmp_path / "flipped.npy", flipped)
    mirrored = {**params, "cy": N - 1 - params["cy"]}
    right = ssb(tmp_path / "flipped.npy", {**mirrored, "flip_y": True})["phase"]
    assert correlation(right - right.mean(), phase) > 0.99
    unflipped = ssb(tmp_path / "flipped.npy", mirrored)["phase"]
    assert abs(correlation(unflipped - unflipped.mean(), phase)) < 0.5


def test_partial_sums_give_a_partial_image_and_any_order_the_same(scan) -> None:
    path, _, params = scan
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "ssb", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    assert np.isnan(analysis.results(analysis.new_state())["phase"]).all()
    parts = list(ds.partitions(count=5))
    values = [analysis.task()(p, None, None) for p in parts]
    forward = analysis.new_state()
    for p, v in zip(parts, values, strict=True):
        forward = analysis.merge(forward, p, v)
    backward = analysis.new_state()
    for p, v in reversed(list(zip(parts, values, strict=True))):
        backward = analysis.merge(backward, p, v)
    np.testing.assert_allclose(forward, backward, rtol=0, atol=1e-9 * np.abs(forward).max())
    partial = analysis.results(analysis.merge(analysis.new_state(), parts[0], values[0]))
    assert np.isfinite(partial["phase"]).all()
    assert not np.allclose(partial["phase"], analysis.results(forward)["phase"])


SSB_SNIPPET = """
from libertem.api import Context
from ptychography40.reconstruction.common import wavelength
from ptychography40.reconstruction.ssb import SSB_UDF

energy, alpha, pixel, step, cy, cx = (float(v) for v in inputs["params"])
ctx = Context.make_with("inline")
ds = ctx.load("memory", data=inputs["frames"], sig_dims=2)
udf = SSB_UDF(
    lamb=wavelength(energy), dpix=step * 1e-9, semiconv=alpha * 1e-3,
    semiconv_pix=alpha / pixel, dtype=np.float64, cy=cy, cx=cx,
)
result = ctx.run_udf(dataset=ds, udf=udf)
for name in ("phase", "amplitude", "complex", "fourier"):
    outputs[name] = result[name].data
"""


def ptychography40_ssb(reference: Any, frames: np.ndarray, params: dict) -> dict[str, np.ndarray]:
    keys = ("beam_energy", "convergence_angle", "detector_pixel", "scan_step", "cy", "cx")
    return reference.run(
        SSB_SNIPPET, frames=frames, params=np.array([params[k] for k in keys], dtype=np.float64)
    )


def test_it_agrees_with_ptychography40(scan, reference) -> None:
    path, phase, params = scan
    theirs = ptychography40_ssb(reference, np.load(path), params)
    ours = ssb(path, params)
    # float32 data computed in float32: 1e-5 of the largest value
    scale = np.abs(theirs["complex"]).max()
    np.testing.assert_allclose(ours["complex"], theirs["complex"], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(ours["phase"], theirs["phase"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours["amplitude"], theirs["amplitude"], rtol=1e-5)
    assert correlation(theirs["phase"] - theirs["phase"].mean(), phase) > 0.99


def test_it_agrees_with_ptychography40_on_the_abtem_scan(abtem_scan, reference, tmp_path) -> None:
    known = abtem_scan.params
    frames = np.ascontiguousarray(abtem_scan.frames)
    np.save(tmp_path / "abtem.npy", frames)
    cy, cx = known["zero_beam"]
    params = {
        "beam_energy": known["energy_ev"] / 1e3,
        "convergence_angle": known["semiangle_mrad"],
        "detector_pixel": known["detector_mrad"],
        "scan_step": known["scan_step_nm"],
        "cy": float(cy),
        "cx": float(cx),
    }
    # abTEM's wavelength is the portal's (both relativistic, CODATA constants)
    assert math.isclose(known["wavelength_nm"], electron_wavelength(200.0), rel_tol=1e-6)
    theirs = ptychography40_ssb(reference, frames, params)
    ours = ssb(tmp_path / "abtem.npy", params)
    scale = np.abs(theirs["complex"]).max()
    np.testing.assert_allclose(ours["complex"], theirs["complex"], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(ours["phase"], theirs["phase"], rtol=0, atol=1e-5)
    # 8 nm of defocus: SSB (no aberration correction) sees the object through a transfer
    # function that the defocus bends, so less of the phase comes back (0.78 measured)
    assert correlation(ours["phase"] - ours["phase"].mean(), abtem_scan.phase) > 0.7


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"convergence_angle": 0.5}, "convergence_angle", "radius 0.15 px"),
        ({"cx": -200.0}, "convergence_angle", "lie on the detector"),
        ({"beam_energy": -1}, "beam_energy", "must be greater than 0"),
        ({"scan_step": None}, "scan_step", "give the scan step in nm, or type it into"),
    ],
)
def test_bad_parameters_name_the_field(change: dict, field: str, words: str) -> None:
    params = {**BEAM, "scan_step": 0.02, "cy": 16.0, "cx": 16.0, **change}
    with pytest.raises(Exception) as error:
        make_analysis("ssb", params, nav_shape=(8, 8), sig_shape=(32, 32), dtype="float32")
    assert error.value.field == field and words in str(error.value)


def test_a_one_row_scan_is_refused() -> None:
    params = {**BEAM, "scan_step": 0.02, "cy": 16.0, "cx": 16.0}
    with pytest.raises(Exception, match="ssb needs a 2-d scan"):
        make_analysis("ssb", params, nav_shape=(64,), sig_shape=(32, 32), dtype="float32")
