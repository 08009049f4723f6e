"""docs/plugins.md's examples are plugins that load and compute what they say: each ``python``
block that defines an analysis is run, checked as the plugin loader checks, and computed over
several partitions against numpy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core.analyses import ANALYSES
from apps.core.analyses.base import Analysis
from apps.core.analyses.plugins import check_plugin
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"
NAV, SIG = (4, 5), (12, 14)


def documented_analyses() -> dict[str, type[Analysis]]:
    found: dict[str, type[Analysis]] = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S):
        if "declaration = AnalysisDeclaration(" not in block:
            continue
        namespace: dict[str, Any] = {"__name__": "plugins_md"}
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 (our own docs)
        for value in namespace.values():
            if (
                isinstance(value, type)
                and issubclass(value, Analysis)
                and "declaration" in vars(value)
            ):
                found[value.declaration.name] = value
    return found


ANALYSES_IN_DOC = documented_analyses()


@pytest.fixture
def data(tmp_path: Path) -> tuple[Any, np.ndarray]:
    frames = np.random.default_rng(4).poisson(6, size=NAV + SIG).astype("<u2")
    frames[1, 2, 3, 9] = 500  # one frame's brightest pixel is known
    np.save(tmp_path / "scan.npy", frames)
    return open_dataset(str(tmp_path / "scan.npy")), frames


def run(name: str, params: dict[str, Any], dataset: Any) -> dict[str, np.ndarray]:
    cls = ANALYSES_IN_DOC[name]
    check_plugin(cls, name, ANALYSES)
    analysis = cls(params, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    partitions = dataset.partitions(count=3)  # merged in the order they are given: reversed
    return InlineExecutor().run(dataset, analysis, partitions=partitions[::-1]).results


def test_the_doc_defines_one_analysis_per_base() -> None:
    assert set(ANALYSES_IN_DOC) == {"brightest_pixel", "df_bf_ratio", "intensity_histogram"}


def test_brightest_pixel(data) -> None:
    dataset, frames = data
    got = run("brightest_pixel", {}, dataset)
    y, x = np.divmod(frames.reshape(*NAV, -1).argmax(axis=2), SIG[1])
    np.testing.assert_array_equal(got["y"], y)
    np.testing.assert_array_equal(got["x"], x)
    assert (got["y"][1, 2], got["x"][1, 2]) == (3, 9)


def test_dark_bright_ratio(data) -> None:
    dataset, frames = data
    got = run("df_bf_ratio", {"cx": 7, "cy": 6, "ri": 3, "ro": 5.5}, dataset)
    yy, xx = np.indices(SIG)
    d2 = (yy - 6) ** 2 + (xx - 7) ** 2
    f = frames.astype(np.float64)
    ratio = f[..., (d2 > 9) & (d2 <= 30.25)].sum(-1) / f[..., d2 <= 9].sum(-1)
    np.testing.assert_allclose(got["ratio"], ratio, rtol=1e-6)
    with pytest.raises(ParameterError, match="ro: must be greater than ri"):
        run("df_bf_ratio", {"cx": 7, "cy": 6, "ri": 3, "ro": 2}, dataset)


def test_intensity_histogram(data) -> None:
    dataset, frames = data
    got = run("intensity_histogram", {"top": 2000, "bins": 40}, dataset)
    totals = frames.astype(np.float64).sum(axis=(2, 3)).ravel()
    expected = np.histogram(totals, bins=np.linspace(0, 2000, 41))[0]
    np.testing.assert_array_equal(got["frames"], expected)
    assert got["frames"].sum() == np.prod(NAV)  # every frame is in a bin
