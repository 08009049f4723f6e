"""A small simulated 4D-STEM scan of a known weak-phase object, by abTEM (PyPI) in the reference
environment (``.venv-reference``), for the phase-contrast analyses (issue 22: parallax, SSB).

Six carbon atoms at fixed random positions in a periodic 9.6 Å x 9.6 Å cell, one slice (the
potential projected over the cell's 2 Å thickness), 200 keV, a 20 mrad probe at 8 nm defocus
(abTEM's ``defocus``, ``C10 = -defocus``), scanned on 32 x 32 positions covering the cell
exactly (step 0.3 Å, periodic); frames 48 x 48, 0.104 1/Å (2.61 mrad) per detector pixel with
the zero beam at pixel (24, 24). abTEM calls its first axis ``x``; here, as in the portal, it is
the first (row, "y") axis of both the scan and the detector, so scan and detector are not rotated
against each other.

The object's phase is ``sigma(E) * V_projected`` on abTEM's 0.05 Å grid (position ``i * 0.05 Å``,
as the scan's ``i * 0.3 Å``); ``phase`` is it band-limited to the scan grid (the Fourier
coefficients the scan grid can hold), its mean 0.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SNIPPET = """
import abtem
import ase
from abtem.core.energy import energy2sigma, energy2wavelength

abtem.config.set({"device": "cpu", "fft": "numpy"})
p = {k: float(v) for k, v in zip(inputs["names"], inputs["values"])}
rng = np.random.default_rng(22)
side = p["cell_a"]
positions = np.c_[rng.uniform(0, side, (6, 2)), np.full(6, 1.0)]
atoms = ase.Atoms("C6", positions=positions, cell=[side, side, 2.0], pbc=True)
potential = abtem.Potential(
    atoms, sampling=p["potential_sampling_a"], projection="infinite", slice_thickness=2.0
)
probe = abtem.Probe(
    energy=p["energy_ev"], semiangle_cutoff=p["semiangle_mrad"], defocus=p["defocus_a"]
)
n = int(p["scan"])
scan = abtem.GridScan(start=(0, 0), end=(side, side), gpts=(n, n), endpoint=False)
detector = abtem.PixelatedDetector(max_angle=p["max_angle_mrad"])
measured = probe.scan(potential, scan=scan, detectors=detector)
measured.compute(scheduler="synchronous", progress_bar=False)
outputs["frames"] = np.asarray(measured.array, dtype=np.float32)
outputs["reciprocal_sampling"] = np.asarray(measured.sampling, dtype=np.float64)
outputs["wavelength_a"] = np.array(energy2wavelength(p["energy_ev"]))
sigma = energy2sigma(p["energy_ev"])
outputs["phase_fine"] = sigma * np.asarray(potential.build().project().array, dtype=np.float64)
outputs["version"] = np.array(abtem.__version__)
"""

#: The simulation's inputs (lengths in Å as abTEM takes them).
SETTINGS = {
    "cell_a": 9.6,
    "potential_sampling_a": 0.05,
    "energy_ev": 200e3,
    "semiangle_mrad": 20.0,
    "defocus_a": 80.0,
    "scan": 32,
    "max_angle_mrad": 60.0,
}


@dataclass(frozen=True)
class SimulatedScan:
    """The simulated scan on disk and what is known about it.

    ``path``: the frames, an ``.npy`` of float32 ``(32, 32, 48, 48)`` (scan y, scan x, detector
    y, detector x), each frame's sum about 1. ``params``: energy (eV), wavelength (nm),
    convergence semi-angle (mrad), defocus (nm, abTEM's sign: ``C10 = -defocus``), scan step
    (nm), detector pixel (mrad and 1/nm), the zero beam's pixel. ``phase``: the object's phase
    (rad) at the scan positions, band-limited, mean 0, float64 ``(32, 32)``.
    """

    path: Path
    params: dict[str, Any]
    phase: np.ndarray

    @property
    def frames(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")


def simulate(reference: Any, folder: Path) -> SimulatedScan:
    """Run abTEM through ``reference`` (tests/conftest.py's :class:`Reference`) once per
    ``folder`` and these settings; later calls read the files back."""
    key = hashlib.sha256((SNIPPET + json.dumps(SETTINGS, sort_keys=True)).encode()).hexdigest()
    folder = folder / f"abtem-{key[:12]}"
    frames, known = folder / "frames.npy", folder / "known.npz"
    if not known.exists():
        names = np.array(list(SETTINGS))
        values = np.array([SETTINGS[k] for k in SETTINGS], dtype=np.float64)
        out = reference.run(SNIPPET, names=names, values=values)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(frames, out["frames"])
        np.savez(known, **{k: v for k, v in out.items() if k != "frames"})
    with np.load(known) as stored:
        out = {name: stored[name] for name in stored.files}
    n = int(SETTINGS["scan"])
    return SimulatedScan(frames, _params(out, n), band_limited(out["phase_fine"], (n, n)))


def _params(out: dict[str, np.ndarray], n: int) -> dict[str, Any]:
    wavelength_nm = float(out["wavelength_a"]) / 10
    per_px_inv_nm = float(out["reciprocal_sampling"][0]) * 10
    return {
        "abtem_version": str(out["version"]),
        "energy_ev": SETTINGS["energy_ev"],
        "wavelength_nm": wavelength_nm,
        "semiangle_mrad": SETTINGS["semiangle_mrad"],
        "defocus_nm": SETTINGS["defocus_a"] / 10,
        "scan_step_nm": SETTINGS["cell_a"] / n / 10,
        "detector_inv_nm": per_px_inv_nm,
        "detector_mrad": per_px_inv_nm * wavelength_nm * 1e3,
        "zero_beam": (24, 24),
    }


def band_limited(fine: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The periodic image ``fine`` sampled on the coarser grid ``shape`` (which divides its
    shape) through its Fourier coefficients below the coarse grid's Nyquist frequency; mean 0."""
    spectrum = np.fft.fft2(fine)
    rows = np.fft.fftfreq(shape[0], 1 / shape[0]).astype(int)
    cols = np.fft.fftfreq(shape[1], 1 / shape[1]).astype(int)
    kept = spectrum[np.ix_(rows, cols)] * (shape[0] * shape[1] / fine.size)
    kept[0, 0] = 0
    return np.fft.ifft2(kept).real
