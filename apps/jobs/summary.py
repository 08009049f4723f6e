"""A job's parameters (and scan ROI) in one short line, for lists and the history strip.

``ring · cx 31.5, cy 32, ri 10, ro 20 · ROI 16×16 at (8, 8)``: the text values first (the
mode, such as the detector shape), then the numbers with at most four significant digits,
lists by their length; false switches are left out.
"""

from __future__ import annotations

from typing import Any

from apps.jobs.models import Job


def params_summary(job: Job) -> str:
    parts = []
    params = job.params if isinstance(job.params, dict) else {}
    words = [str(v) for v in params.values() if isinstance(v, str)]
    if words:
        parts.append(" ".join(words))
    values = [_value(k, v) for k, v in params.items() if not isinstance(v, str)]
    values = [v for v in values if v]
    if values:
        parts.append(", ".join(values))
    if job.roi:
        parts.append(roi_summary(job.roi))
    return " · ".join(parts)


def _value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return name if value else ""
    if isinstance(value, int | float):
        return f"{name} {value:.4g}"
    if isinstance(value, list | tuple):
        return f"{name} ({len(value)} points)" if name == "points" else f"{name} ({len(value)})"
    if value is None:
        return ""
    return f"{name} {str(value)[:20]}"


def roi_summary(roi: Any) -> str:
    """The scan ROI in a few words (the shapes of ``apps.jobs.roi``)."""
    if not isinstance(roi, dict):
        return "ROI"
    if roi.get("shape") == "rect":
        return f"ROI {roi.get('height')}×{roi.get('width')} at ({roi.get('y')}, {roi.get('x')})"
    if roi.get("shape") == "disk":
        return f"ROI disk r {roi.get('r')} at ({roi.get('cy')}, {roi.get('cx')})"
    if "mask" in roi:
        mask = roi["mask"]
        count = sum(bool(v) for row in mask for v in row) if isinstance(mask, list) else 0
        return f"ROI of {count} positions"
    return "ROI"
