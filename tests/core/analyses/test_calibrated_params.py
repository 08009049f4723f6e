"""A parameter may default from the dataset's calibration (``Param.calibration``): missing, it
is filled from the calibrated values; missing there too, the error names it and says where to
type it."""

from __future__ import annotations

import pytest

from apps.core.analyses.declaration import AnalysisDeclaration, Extent, Param, Result
from apps.core.analyses.schema import declaration_schema
from apps.core.errors import ParameterError

OPTICS = AnalysisDeclaration(
    name="optics",
    title="Optics",
    summary="A declaration for tests.",
    params=(
        Param(
            "energy", "number", "Beam energy.", unit="keV", positive=True, calibration="beam_energy"
        ),
        Param("step", "number", "Scan step.", unit="nm", positive=True, calibration="scan_step"),
        Param("n", "integer", "How many.", default=3),
    ),
    results=(Result("out", "nav", "Out."),),
    preview="out",
)
EXTENT = Extent((4, 4), (8, 8))


def test_it_fills_what_is_missing_from_the_calibration():
    filled = OPTICS.with_calibration({"step": 0.2}, {"beam_energy": 300.0, "scan_step": 0.05})
    assert filled == {"step": 0.2, "energy": 300.0}
    assert OPTICS.read(filled, EXTENT) == {"energy": 300.0, "step": 0.2, "n": 3}
    # null counts as left out
    assert OPTICS.with_calibration({"energy": None}, {"beam_energy": 80.0})["energy"] == 80.0


def test_neither_given_nor_calibrated_names_the_parameter_and_the_page():
    params = OPTICS.with_calibration({"step": 0.1}, {"scan_step": 0.05})
    with pytest.raises(ParameterError) as error:
        OPTICS.read(params, EXTENT)
    assert error.value.field == "energy"
    assert "give the beam energy in keV, or type it into the dataset's calibration" in str(
        error.value
    )


def test_the_schema_does_not_require_a_calibrated_parameter():
    schema = declaration_schema(OPTICS)
    assert "required" not in schema
    assert schema["properties"]["energy"]["type"] == ["number", "null"]
    assert "the dataset's calibrated beam energy" in schema["properties"]["energy"]["description"]
    assert OPTICS.as_json()["params"][0]["calibration"] == "beam_energy"


def test_a_calibrated_parameter_has_the_calibration_s_unit():
    with pytest.raises(ValueError, match="in keV, not 'eV'"):
        Param("e", "number", "Energy.", unit="eV", calibration="beam_energy")
    with pytest.raises(ValueError, match="calibration 'dose' not in"):
        Param("d", "number", "Dose.", calibration="dose")
