"""The analysis table in docs/analyses.md is the one the declarations generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.core.analyses import declarations
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.analyses.doctable import BEGIN, DOC, END, analysis_table, main, with_table


def test_the_table_in_the_docs_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert with_table(text, analysis_table()) == text, (
        "docs/analyses.md is stale: run python -m apps.core.analyses.doctable"
    )


def test_every_analysis_and_mode_has_a_row() -> None:
    table = analysis_table()
    for declaration in declarations():
        for mode in declaration.all_modes():
            fixed = "".join(f" `{k}={v}`" for k, v in mode.fixed.items())
            assert f"| `{declaration.name}`{fixed} |" in table
            for param in mode.params:
                assert f"`{param.name}` (" in table


def test_a_row_says_units_bounds_and_defaults() -> None:
    toy = AnalysisDeclaration(
        name="toy",
        title="Toy",
        summary="A toy.",
        params=(Param("w", "number", "Width.", unit="px", minimum=1, default=2.5),),
        results=(Result("out", "nav+bins", "Out.", unit="data", dtype="float64"),),
        preview="out",
    )
    row = analysis_table([toy]).splitlines()[2]
    assert row == (
        "| `toy` | A toy. | `w` (number, px, ≥ 1, default 2.5) "
        "| `out` (scan × bins, float64, data) |"
    )


def test_the_generator_rewrites_a_stale_table_and_check_fails_on_it(tmp_path: Path) -> None:
    doc = tmp_path / "analyses.md"
    doc.write_text(f"# A\n\n{BEGIN}\n| old |\n{END}\n\nafter\n", encoding="utf-8")
    assert main(["--check", "--doc", str(doc)]) == 1
    assert main(["--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "| old |" not in text and text.endswith(f"{END}\n\nafter\n")
    assert main(["--check", "--doc", str(doc)]) == 0
    with pytest.raises(ValueError, match="markers"):
        with_table("no markers", analysis_table())
