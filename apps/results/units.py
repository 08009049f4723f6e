"""The units of a result array and of its axes, from the analysis's declaration and the
dataset's calibration, for the files that carry them (the HDF5 download).

A result's values are in the unit its declaration gives (``Result.unit``: ``px`` detector
pixels, ``data`` the unit of the data, ...). Where the dataset is calibrated, values in detector
pixels also get their physical size (``mrad`` or ``1/nm`` per pixel), and every axis of the
array gets coordinates: scan positions in nm, detector pixels and radii in mrad or 1/nm,
counted from the first pixel. Uncalibrated axes count pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.core.analyses import ANALYSES
from apps.core.analyses.declaration import Result
from apps.core.optics import electron_wavelength
from apps.datasets.calibration import pixel_size
from apps.datasets.serializers import dataset_calibrated


@dataclass(frozen=True)
class Axis:
    """One axis of a result array: its name, a coordinate per index, and their unit."""

    name: str
    values: np.ndarray
    units: str


def declared_result(analysis: str, name: str) -> Result | None:
    """The declaration of result ``name`` of ``analysis`` (None for one not declared)."""
    cls = ANALYSES.get(analysis)
    results = cls.declaration.results if cls is not None else ()
    return next((r for r in results if r.name == name), None)


def value_units(job: Any, name: str) -> dict[str, Any]:
    """Attributes for the values of result ``name``: ``units`` (as declared), and where the
    dataset is calibrated and the values are detector or scan pixels (or a ratio of them),
    ``physical_units`` and ``physical_scale`` (multiply a value by it to get
    ``physical_units``)."""
    result = declared_result(job.analysis, name)
    if result is None:
        return {}
    attrs: dict[str, Any] = {"units": result.unit, "long_name": result.help}
    sizes = _sizes(job.dataset)
    detector, scan = sizes["detector"], sizes["scan"]
    square = detector is not None and detector["x"] == detector["y"]
    if result.unit == "px" and square:
        attrs.update(physical_units=detector["units"], physical_scale=detector["x"])
    elif result.unit == "px per scan px" and square and scan and scan["x"] == scan["y"]:
        attrs.update(
            physical_units=f"{detector['units']} per nm",
            physical_scale=detector["x"] / scan["x"],
        )
    elif result.unit == "scan px" and scan and scan["x"] == scan["y"]:
        attrs.update(physical_units=scan["units"], physical_scale=scan["x"])
    elif result.unit == "scan px per px" and _mrad_pixels(detector) and _square(scan):
        # parallax's defocus: Δf = D step / θ_px, θ_px in rad
        attrs.update(physical_units="nm", physical_scale=scan["x"] / (detector["x"] * 1e-3))
    elif result.unit == "px × scan px":
        attrs.update(_phase_units(job.dataset, detector, scan))
    return attrs


def _square(size: dict[str, Any] | None) -> bool:
    return size is not None and size["x"] == size["y"]


def _mrad_pixels(size: dict[str, Any] | None) -> bool:
    return _square(size) and size["units"] == "mrad"  # type: ignore[index]


def _phase_units(dataset: Any, detector: Any, scan: Any) -> dict[str, Any]:
    """An integrated shift (com's phases) in rad, ``2π/λ · angle · length``, where the beam
    energy, pixel and step are known; else in mrad × nm (or 1/nm × nm) where pixel and step are."""
    known = dataset_calibrated(dataset)
    if {"beam_energy", "detector_pixel", "scan_step"} <= set(known):
        per_radian = 2 * math.pi / electron_wavelength(known["beam_energy"])
        scale = per_radian * known["detector_pixel"] * 1e-3 * known["scan_step"]
        return {"physical_units": "rad", "physical_scale": scale}
    if _square(detector) and _square(scan):
        units = f"{detector['units']} × nm"
        return {"physical_units": units, "physical_scale": detector["x"] * scan["x"]}
    return {}


def result_axes(job: Any, name: str, shape: tuple[int, ...]) -> list[Axis]:
    """One :class:`Axis` per dimension of the ``shape``-d result ``name`` of ``job``, or []
    where the declaration does not say what the axes are."""
    result = declared_result(job.analysis, name)
    if result is None:
        return []
    sizes = _sizes(job.dataset)
    nav = [int(n) for n in job.dataset.nav_shape]
    if result.shape == "values":  # a few numbers (coefficients, a guess): no axes to name
        return []
    if result.shape == "bins":  # a profile over the whole scan (fem's V(k)): radii, if rings
        if "ro" in job.params and len(shape) == 1:
            return [_radius_axis(job.params, sizes["detector"], shape[0])]
        return [Axis("bin", np.arange(shape[0], dtype=np.float64), "")] if len(shape) == 1 else []
    if result.shape.startswith("sig"):
        axes = _image_axes("detector", sizes["detector"], shape[:2], 2)
    else:
        axes = _scan_axes(sizes["scan"], shape[: len(nav)])
    if result.shape in ("nav+bins", "nav+bins+orders"):
        axes.append(_radius_axis(job.params, sizes["detector"], shape[len(nav)]))
    if result.shape == "nav+bins+orders":
        axes.append(Axis("order", np.arange(shape[-1], dtype=np.float64), ""))
    elif result.shape == "nav+m":
        axes.append(Axis("mask", np.arange(shape[-1], dtype=np.float64), ""))
    elif result.shape == "sig+clusters":
        axes.append(Axis("cluster", np.arange(shape[-1], dtype=np.float64), ""))
    return axes if len(axes) == len(shape) else []


def _sizes(dataset: Any) -> dict[str, dict[str, Any] | None]:
    return pixel_size(dataset.calibration, list(dataset.nav_shape), list(dataset.sig_shape))


def _scan_axes(size: dict[str, Any] | None, shape: tuple[int, ...]) -> list[Axis]:
    """The scan axes: ``scan_y``, ``scan_x`` (calibrated) for the last two, and ``scan_0``,
    ``scan_1``, ... (indices) for the leading axes of a scan of more than two."""
    lead = max(0, len(shape) - 2)
    axes = [
        Axis(f"scan_{k}", np.arange(n, dtype=np.float64), "") for k, n in enumerate(shape[:lead])
    ]
    return axes + _image_axes("scan", size, shape[lead:], len(shape) - lead)


def _image_axes(
    kind: str, size: dict[str, Any] | None, shape: tuple[int, ...], ndim: int
) -> list[Axis]:
    names = ("y", "x")[-ndim:]
    axes = []
    for axis_name, n in zip(names, shape, strict=False):
        index = np.arange(n, dtype=np.float64)
        if size is None:
            axes.append(Axis(f"{kind}_{axis_name}", index, "px"))
        else:
            axes.append(Axis(f"{kind}_{axis_name}", index * size[axis_name], size["units"]))
    return axes


def _radius_axis(params: dict[str, Any], detector: dict[str, Any] | None, bins: int) -> Axis:
    """The centre radius of each ring of a radial profile (or of fem's bins)."""
    ri, ro = float(params.get("ri", 0.0)), float(params.get("ro", bins))
    centres = ri + (np.arange(bins, dtype=np.float64) + 0.5) * (ro - ri) / bins
    if detector is None or detector["x"] != detector["y"]:
        return Axis("radius", centres, "px")
    return Axis("radius", centres * detector["x"], detector["units"])
