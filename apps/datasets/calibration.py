"""A dataset's calibration: the physical size of a scan step and of a detector pixel, and the
beam's energy and convergence semi-angle.

The row stores one entry per data axis (scan axes, then the two detector axes), each
``{"name", "units", "scale", "offset"}``, as a file convention gave it or as the owner typed it
in. Files spell units in many ways (``nm``, ``[n_m]``, ``A^-1``, ``1/Å``); :func:`pixel_size`
reads them into the three units the pages and downloads use: nanometres for the scan, and
milliradians or inverse nanometres for the detector.

The beam energy (keV) and convergence semi-angle (mrad) are typed on the dataset page.
:func:`calibrated_values` gathers everything into the quantities an analysis parameter may
default from (``Param.calibration``, see docs/analyses.md).
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError

from apps.core.optics import electron_wavelength

#: Scan step units and their size in nanometres.
SCAN_UNITS = {"pm": 1e-3, "Å": 0.1, "nm": 1.0, "µm": 1e3, "mm": 1e6, "m": 1e9}
#: Detector pixel units: the unit they are shown in and their size in it.
DETECTOR_UNITS = {
    "µrad": ("mrad", 1e-3),
    "mrad": ("mrad", 1.0),
    "rad": ("mrad", 1e3),
    "1/pm": ("1/nm", 1e3),
    "1/Å": ("1/nm", 10.0),
    "1/nm": ("1/nm", 1.0),
    "1/µm": ("1/nm", 1e-3),
}
#: The units offered when typing a calibration in (the most used first).
SCAN_CHOICES = ("nm", "Å", "pm", "µm")
DETECTOR_CHOICES = ("mrad", "µrad", "1/nm", "1/Å")
#: Other spellings of a base unit found in files.
_ALIASES = {
    "a": "Å",
    "å": "Å",
    "\u212b": "Å",  # ANGSTROM SIGN
    "angstrom": "Å",
    "um": "µm",
    "\u03bcm": "µm",  # GREEK SMALL LETTER MU
    "micron": "µm",
    "urad": "µrad",
    "\u03bcrad": "µrad",
    "nanometer": "nm",
    "nanometre": "nm",
    "milliradian": "mrad",
}


def canonical_unit(text: Any) -> str | None:
    """``text`` as one of the keys of :data:`SCAN_UNITS` / :data:`DETECTOR_UNITS`, or None.

    ``[n_m]`` (Prismatic) is ``nm``; ``A^-1``, ``Å-1`` and ``1/A`` are ``1/Å``.
    """
    if not isinstance(text, str):
        return None
    unit = text.strip().replace("[", "").replace("]", "").replace("_", "").replace(" ", "")
    inverse = False
    for suffix in ("^-1", "^(-1)", "-1"):
        if unit.endswith(suffix) and len(unit) > len(suffix):
            unit, inverse = unit[: -len(suffix)], True
            break
    if unit.startswith("1/"):
        unit, inverse = unit[2:], True
    base = _ALIASES.get(unit.lower(), unit.lower())
    unit = f"1/{base}" if inverse else base
    return unit if unit in SCAN_UNITS or unit in DETECTOR_UNITS else None


def pixel_size(
    calibration: list[dict[str, Any]], nav_shape: list[int], sig_shape: list[int]
) -> dict[str, dict[str, Any] | None]:
    """The size of one pixel of the scan and of the detector image, where the calibration
    gives it: ``{"scan": {"y", "x", "units": "nm"} | None, "detector": {"y", "x", "units":
    "mrad" or "1/nm"} | None}``.

    A one-row scan (``nav_shape`` of length 1) has square steps; a scan of more axes has the
    step of its last two. A scan calibration is read only if the file's axes are the dataset's
    (a stack viewed as a scan has none).
    """
    axes = [a if isinstance(a, dict) else {} for a in calibration or []]
    detector = _image_size(axes[-2:], "detector") if len(axes) >= 2 else None
    scan = None
    if len(axes) == len(nav_shape) + len(sig_shape):
        scan_axes = axes[: len(nav_shape)][-2:]
        scan = _image_size(scan_axes * 2 if len(scan_axes) == 1 else scan_axes, "scan")
    return {"scan": scan, "detector": detector}


def describe_pixel_size(sizes: dict[str, dict[str, Any] | None]) -> str:
    """``"scan step 2.5 nm; detector pixel 0.25 mrad"`` for :func:`pixel_size`'s answer."""
    parts = []
    for kind, label in (("scan", "scan step"), ("detector", "detector pixel")):
        size = sizes.get(kind)
        if size is None:
            parts.append(f"{label} not calibrated")
            continue
        text = f"{size['x']:.4g} {size['units']}"
        if size["y"] != size["x"]:
            text = f"{size['y']:.4g} {size['units']} × {text}"
        parts.append(f"{label} {text}")
    return "; ".join(parts)


def describe_beam(beam_energy: float | None, convergence_angle: float | None) -> str:
    """``"300 keV; convergence semi-angle 21.5 mrad"`` (``"energy not known"`` where None)."""
    energy = "energy not known" if beam_energy is None else f"{beam_energy:.6g} keV"
    angle = "not known" if convergence_angle is None else f"{convergence_angle:.6g} mrad"
    return f"{energy}; convergence semi-angle {angle}"


def _image_size(axes: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    sizes = [_axis_size(a, kind) for a in axes]
    if len(sizes) != 2 or None in sizes or sizes[0][1] != sizes[1][1]:  # type: ignore[index]
        return None
    (y, units), (x, _) = sizes  # type: ignore[misc]
    return {"y": y, "x": x, "units": units}


def _axis_size(axis: dict[str, Any], kind: str) -> tuple[float, str] | None:
    unit = canonical_unit(axis.get("units"))
    scale = axis.get("scale")
    if unit is None or isinstance(scale, bool) or not isinstance(scale, int | float):
        return None
    if not math.isfinite(scale) or scale == 0:
        return None
    if kind == "scan":
        return (abs(scale) * SCAN_UNITS[unit], "nm") if unit in SCAN_UNITS else None
    if unit not in DETECTOR_UNITS:
        return None
    shown, factor = DETECTOR_UNITS[unit]
    return abs(scale) * factor, shown


def calibration_axes(
    *,
    previous: list[dict[str, Any]],
    nav_shape: list[int],
    sig_shape: list[int],
    scan_step: Any,
    scan_units: Any,
    detector_step: Any,
    detector_units: Any,
) -> list[dict[str, Any]]:
    """The per-axis calibration for a scan step and a detector pixel size typed in (square
    pixels; a step of None leaves that image uncalibrated).

    Raises ValidationError keyed by ``scan_step``, ``scan_units``, ``detector_step`` or
    ``detector_units``. Axis names, and offsets where the unit is unchanged, are kept from
    ``previous`` when it describes the same axes.
    """
    errors: dict[str, str] = {}
    scan = _typed(scan_step, scan_units, "scan", SCAN_UNITS, errors)
    detector = _typed(detector_step, detector_units, "detector", DETECTOR_UNITS, errors)
    if errors:
        raise ValidationError(errors)
    names = [*scan_axis_names(len(nav_shape)), "detector y", "detector x"]
    same_axes = len(previous or []) == len(names)
    axes = []
    for k, name in enumerate(names):
        step, units = scan if k < len(nav_shape) else detector
        old = previous[k] if same_axes and isinstance(previous[k], dict) else {}
        axes.append(
            {
                "name": old.get("name") or name,
                "units": units,
                "scale": step,
                "offset": old.get("offset") if old.get("units") == units else None,
            }
        )
    return axes


def _typed(
    step: Any, units: Any, kind: str, known: dict[str, Any], errors: dict[str, str]
) -> tuple[float | None, str | None]:
    field = f"{kind}_step"
    if units is not None and not isinstance(units, str):
        errors[f"{kind}_units"] = (
            f"The {kind} {_what(kind)}'s unit must be a string, got {type(units).__name__}."
        )
        return None, None
    if step is None or step == "":
        return None, None
    if isinstance(step, bool) or not isinstance(step, int | float):
        errors[field] = f"The {kind} {_what(kind)} must be a number, got {step!r}."
        return None, None
    if not math.isfinite(step) or step <= 0:
        errors[field] = f"The {kind} {_what(kind)} must be a positive number, got {step!r}."
        return None, None
    unit = canonical_unit(units)
    if unit not in known:
        choices = SCAN_CHOICES if kind == "scan" else DETECTOR_CHOICES
        errors[f"{kind}_units"] = (
            f"Unknown unit {units!r} for the {kind} {_what(kind)}; expected one of "
            f"{', '.join(choices)}."
        )
        return None, None
    return float(step), unit


#: The beam's quantities: field, what it is, its unit and the largest value accepted.
BEAM_FIELDS = {
    "beam_energy": ("beam energy", "keV", 10_000.0),
    "convergence_angle": ("convergence semi-angle", "mrad", 1_000.0),
}


def beam_values(*, beam_energy: Any, convergence_angle: Any) -> dict[str, float | None]:
    """The beam energy (keV) and convergence semi-angle (mrad) typed in, checked (None or "":
    not known).

    Raises ValidationError keyed by ``beam_energy`` or ``convergence_angle``.
    """
    errors: dict[str, str] = {}
    values: dict[str, float | None] = {}
    for field, value in (("beam_energy", beam_energy), ("convergence_angle", convergence_angle)):
        what, unit, largest = BEAM_FIELDS[field]
        if value is None or value == "":
            values[field] = None
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors[field] = f"The {what} must be a number of {unit}, got {value!r}."
        elif not math.isfinite(value) or not 0 < value <= largest:
            errors[field] = (
                f"The {what} must be a positive number of {unit} up to {largest:g}, got {value!r}."
            )
        else:
            values[field] = float(value)
    if errors:
        raise ValidationError(errors)
    return values


def calibrated_values(
    *,
    calibration: list[dict[str, Any]],
    nav_shape: list[int],
    sig_shape: list[int],
    beam_energy: float | None,
    convergence_angle: float | None,
) -> dict[str, float]:
    """The calibrated quantities analysis parameters default from, where known:
    ``beam_energy`` (keV), ``convergence_angle`` (mrad), ``scan_step`` (nm) and
    ``detector_pixel`` (mrad; a pixel in 1/nm is converted with the beam's wavelength).

    Steps that differ in y and x give none (the parameters are square steps).
    """
    values: dict[str, float] = {}
    if beam_energy is not None:
        values["beam_energy"] = beam_energy
    if convergence_angle is not None:
        values["convergence_angle"] = convergence_angle
    sizes = pixel_size(calibration, nav_shape, sig_shape)
    scan, detector = sizes["scan"], sizes["detector"]
    if scan is not None and math.isclose(scan["y"], scan["x"]):
        values["scan_step"] = scan["x"]
    if detector is not None and math.isclose(detector["y"], detector["x"]):
        if detector["units"] == "mrad":
            values["detector_pixel"] = detector["x"]
        elif beam_energy is not None:  # an angle is the wavelength times the spatial frequency
            values["detector_pixel"] = detector["x"] * electron_wavelength(beam_energy) * 1e3
    return values


def _what(kind: str) -> str:
    return "step" if kind == "scan" else "pixel size"


def scan_axis_names(ndim: int) -> list[str]:
    """``scan y``, ``scan x`` for the last two scan axes (``scan x`` alone for one), and
    ``scan 0``, ``scan 1``, ... for the leading axes of a longer scan."""
    return [f"scan {k}" for k in range(ndim - 2)] + [f"scan {a}" for a in "yx"[-min(ndim, 2) :]]
