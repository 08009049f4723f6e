"""``parallax`` on abTEM's simulated scan of a known weak-phase object (the ``abtem_scan``
fixture): with the defocus-derived shifts equal to libertem-parallax 0.1.2's ``ParallaxUDF``
(divided by the number of bright-field pixels: ours is their mean, theirs their sum); with
measured shifts close to it; and the object's phase recovered up to the method's transfer
function."""

from __future__ import annotations

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.core.optics import electron_wavelength

PARALLAX_UDF = """
from libertem.api import Context
from libertem.executor.inline import InlineJobExecutor
from libertem_parallax import ParallaxPhaseFlipUDF, ParallaxUDF

ctx = Context(executor=InlineJobExecutor())
ds = ctx.load("memory", data=inputs["data"], sig_dims=2, num_partitions=3)
step, energy, semiangle, inv_a, c10, rotation = inputs["params"]
udf = ParallaxUDF.from_parameters(
    shape=inputs["data"].shape, scan_sampling=(step, step), energy=energy,
    semiangle_cutoff=semiangle, reciprocal_sampling=(inv_a, inv_a),
    aberration_coefs={"C10": c10}, rotation_angle=rotation,
)
outputs["reconstruction"] = ctx.run_udf(dataset=ds, udf=udf)["reconstruction"].data
outputs["pixels"] = np.array(len(udf.preprocessed_geometry.bf_flat_inds))
flip = ParallaxPhaseFlipUDF.from_parallax_udf(udf)
outputs["phase_flipped"] = ctx.run_udf(dataset=ds, udf=flip)["reconstruction"].data
"""


def disk(params):
    """The bright-field disk: libertem-parallax's, the pixels within the semi-angle."""
    cy, cx = params["zero_beam"]
    return {"cx": cx, "cy": cy, "r": params["semiangle_mrad"] / params["detector_mrad"]}


def defocus_per_px(params):
    """``D = Δf θ_px / step``: abTEM's defocus in scan pixels per detector pixel."""
    return params["defocus_nm"] * params["detector_mrad"] * 1e-3 / params["scan_step_nm"]


def known(params):
    """The simulation's defocus, scan step and detector pixel as the analysis takes them."""
    return {
        "defocus": params["defocus_nm"],
        "scan_step": params["scan_step_nm"],
        "detector_pixel": params["detector_mrad"],
        "beam_energy": params["energy_ev"] / 1e3,
    }


def parallax(scan, params):
    ds = open_dataset(str(scan.path))
    analysis = make_analysis(
        "parallax", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=3)).results


def libertem_parallax(reference, scan, *, rotation_deg=0.0):
    p = scan.params
    inputs = [
        p["scan_step_nm"] * 10,
        p["energy_ev"],
        p["semiangle_mrad"],
        p["detector_inv_nm"] / 10,
        -p["defocus_nm"] * 10,  # abTEM: C10 = -defocus
        -np.radians(rotation_deg),  # their rotation_angle turns the other way (docs)
    ]
    data = np.asarray(scan.frames)
    return reference.run(PARALLAX_UDF, data=data, params=np.array(inputs))


@pytest.mark.slow
def test_defocus_shifts_give_libertem_parallaxs_image(abtem_scan, reference) -> None:
    theirs = libertem_parallax(reference, abtem_scan)
    params = {"shifts": "defocus", **disk(abtem_scan.params)}
    ours = parallax(abtem_scan, params | known(abtem_scan.params))
    assert int(theirs["pixels"]) == 185
    want = theirs["reconstruction"] / int(theirs["pixels"])
    # float32 frames, float64 sums on both sides: equal to rounding
    np.testing.assert_allclose(ours["image"], want, rtol=0, atol=1e-9 * np.abs(want).max())


@pytest.mark.slow
def test_a_rotated_detector_gives_libertem_parallaxs_image_too(abtem_scan, reference) -> None:
    # The same data, reconstructed as if the detector were turned by 30 degrees: both sides
    # move the bright-field pixels' images alike (our scan_rotation is their -rotation_angle).
    theirs = libertem_parallax(reference, abtem_scan, rotation_deg=30.0)
    params = {"shifts": "defocus", "scan_rotation": 30.0, **disk(abtem_scan.params)}
    ours = parallax(abtem_scan, params | known(abtem_scan.params))
    want = theirs["reconstruction"] / int(theirs["pixels"])
    np.testing.assert_allclose(ours["image"], want, rtol=0, atol=1e-9 * np.abs(want).max())


@pytest.mark.slow
def test_measured_shifts_find_the_simulated_defocus(abtem_scan, reference) -> None:
    theirs = libertem_parallax(reference, abtem_scan)
    ours = parallax(abtem_scan, {"shifts": "measured", **disk(abtem_scan.params)})
    # Fitted on the inner 80 % of the disk: within 6 % of the simulated 8 nm, rotation 0.
    assert ours["defocus"][0] == pytest.approx(defocus_per_px(abtem_scan.params), rel=0.06)
    assert abs(ours["rotation"][0]) < 1.0
    correlation = np.corrcoef(ours["image"].ravel(), theirs["reconstruction"].ravel())[0, 1]
    assert correlation > 0.98


def transfer_function(params, shape):
    """tcBF's transfer of a weak phase ``φ`` (docs/analyses.md): at scan frequency ``q``,
    ``N(q) sin(π λ Δf q²)``, ``N(q)`` the overlap of the aperture with itself moved by ``q``."""
    step, wavelength = params["scan_step_nm"], params["wavelength_nm"]
    qy, qx = np.meshgrid(*(np.fft.fftfreq(n, step) for n in shape), indexing="ij")
    q2 = qy**2 + qx**2
    cutoff = params["semiangle_mrad"] * 1e-3 / wavelength
    half = np.clip(np.sqrt(q2) / (2 * cutoff), 0, 1)
    overlap = 2 * cutoff**2 * (np.arccos(half) - half * np.sqrt(1 - half**2))
    return overlap * np.sin(np.pi * wavelength * params["defocus_nm"] * q2)


@pytest.mark.slow
def test_the_image_is_the_known_phase_through_the_transfer_function(abtem_scan) -> None:
    params = abtem_scan.params
    ours = parallax(abtem_scan, {"shifts": "defocus", **disk(params), **known(params)})
    phase = abtem_scan.phase
    expected = np.fft.ifft2(np.fft.fft2(phase) * transfer_function(params, phase.shape)).real
    correlation = np.corrcoef(ours["image"].ravel(), expected.ravel())[0, 1]
    # abTEM's positive defocus (C10 < 0): the image is the filtered phase's negative
    assert correlation < -0.99
    # while the phase itself, unfiltered, is only loosely like it
    assert abs(np.corrcoef(ours["image"].ravel(), phase.ravel())[0, 1]) < 0.8


@pytest.mark.slow
def test_the_phase_flipped_image_is_libertem_parallaxs_and_like_the_phase(
    abtem_scan, reference
) -> None:
    theirs = libertem_parallax(reference, abtem_scan)
    params = abtem_scan.params
    ours = parallax(abtem_scan, {"shifts": "defocus", **disk(params), **known(params)})
    # ParallaxPhaseFlipUDF adds its kernel at flat indices modulo the scan's size: past the
    # end of a row it carries into the next row instead of wrapping to the row's start (an
    # emulation of that equals it to 2e-15). Ours is periodic along both axes, so the two agree
    # in correlation, not exactly; exactly, ours is their parallax image with its Fourier
    # coefficients multiplied by the sign of the transfer.
    flipped = theirs["phase_flipped"].ravel()
    assert np.corrcoef(ours["phase_flipped"].ravel(), flipped)[0, 1] > 0.95
    # the sign at the analysis's wavelength (CODATA's; abTEM's differs in the 5th digit)
    wavelength = electron_wavelength(params["energy_ev"] / 1e3)
    q = np.fft.fftfreq(32, params["scan_step_nm"])
    q2 = q[:, None] ** 2 + q[None, :] ** 2
    sign = np.sign(np.sin(-np.pi * wavelength * params["defocus_nm"] * q2))
    sign[16, :] = sign[:, 16] = 0  # the Nyquist frequencies, suppressed by both
    image = theirs["reconstruction"] / int(theirs["pixels"])
    want = np.fft.ifft2(np.fft.fft2(image) * sign).real
    np.testing.assert_allclose(ours["phase_flipped"], want, rtol=0, atol=1e-9 * np.abs(want).max())
    # the flip turns the reversed contrast back: the phase, through N(q) |sin(π λ Δf q²)|
    phase = abtem_scan.phase
    transfer = np.abs(transfer_function(params, phase.shape))
    expected = np.fft.ifft2(np.fft.fft2(phase) * transfer).real
    assert np.corrcoef(ours["phase_flipped"].ravel(), expected.ravel())[0, 1] > 0.99  # 0.9993
    assert np.corrcoef(ours["phase_flipped"].ravel(), phase.ravel())[0, 1] > 0.8  # 0.84
