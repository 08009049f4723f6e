"""Electron optics the phase-contrast analyses share: the wavelength of a beam of given energy."""

from __future__ import annotations

import math

#: CODATA 2018: Planck constant (J s), electron rest mass (kg), elementary charge (C), c (m/s).
PLANCK = 6.62607015e-34
ELECTRON_MASS = 9.1093837015e-31
ELEMENTARY_CHARGE = 1.602176634e-19
LIGHT_SPEED = 299792458.0


def electron_wavelength(energy_kev: float) -> float:
    """The relativistic de Broglie wavelength in nm of electrons accelerated through
    ``energy_kev`` kilovolts: ``h / sqrt(2 m e U (1 + e U / (2 m c²)))``.

    200 keV gives 0.002508 nm, 300 keV 0.001969 nm.
    """
    if not math.isfinite(energy_kev) or energy_kev <= 0:
        raise ValueError(f"the beam energy must be a positive number of keV, got {energy_kev!r}")
    work = ELEMENTARY_CHARGE * energy_kev * 1e3  # J
    rest = ELECTRON_MASS * LIGHT_SPEED**2
    momentum = math.sqrt(2 * ELECTRON_MASS * work * (1 + work / (2 * rest)))
    return PLANCK / momentum * 1e9
