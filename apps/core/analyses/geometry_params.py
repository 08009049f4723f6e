"""Parameters that several analyses declare alike: the centre and radii of a round detector
region, and how the scan's axes lie on the detector (centre of mass, strain)."""

from __future__ import annotations

from apps.core.analyses.declaration import Param

CX = Param("cx", "number", "Centre column on the detector.", unit="px", bound="reach")
CY = Param("cy", "number", "Centre row on the detector.", unit="px", bound="reach")
RI = Param(
    "ri", "number", "Inner radius (excluded).", unit="px", default=0.0, minimum=0, bound="reach"
)
RO = Param(
    "ro", "number", "Outer radius (> ri, included).", unit="px", positive=True, bound="reach"
)
SCAN_ROTATION = Param(
    "scan_rotation", "number", "Rotation from detector to scan axes.", unit="deg", default=0.0
)
FLIP_Y = Param("flip_y", "boolean", "Flip the detector y axis first.", default=False)
