"""The plugin loader: installed distributions (written here as real ``dist-info`` directories on
``sys.path``, found by importlib.metadata) become analyses, or are skipped with the reason."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from apps.core import ENGINE_VERSION
from apps.core.analyses import ANALYSES, analysis_origin
from apps.core.analyses.plugins import ENTRY_POINT_GROUP, code_sha256, discover
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from tests.plugin_sites import package_sha256, write_distribution

ROOT = Path(__file__).resolve().parents[3]

PEAK = """
import numpy as np
from apps.core.analyses.base import FrameRowsAnalysis, FrameTask
from apps.core.analyses.declaration import AnalysisDeclaration, Result


class PeakTask(FrameTask):
    def reduce(self, tile):
        return tile.max(axis=1, keepdims=True)


class PeakAnalysis(FrameRowsAnalysis):
    declaration = AnalysisDeclaration(
        name="{name}",
        title="Peak",
        summary="The largest pixel of each frame.",
        results=(Result("peak", "nav", "Largest pixel.", dtype="float64"),),
        preview="peak",
    )
    row_dtype = np.dtype(np.float64)
    row_width = 1

    def task(self):
        return PeakTask()

    def post(self, rows):
        return {{"peak": rows[..., 0]}}
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def found() -> list:
    return list(entry_points(group=ENTRY_POINT_GROUP))


def test_it_loads_a_plugin_that_computes_like_numpy(site: Path) -> None:
    write_distribution(
        site,
        "peak-plugin",
        {"peak_plugin.__init__": "", "peak_plugin.analysis": PEAK.format(name="peak")},
        {"peak": "peak_plugin.analysis:PeakAnalysis"},
    )
    discovery = discover(ANALYSES, found())
    assert discovery.failures == []
    cls = discovery.analyses["peak"]
    origin = discovery.origins["peak"]
    assert (origin.source, origin.distribution, origin.version) == (
        "plugin",
        "peak-plugin",
        "1.2.3",
    )
    assert origin.entry_point == "peak = peak_plugin.analysis:PeakAnalysis"
    assert len(origin.sha256) == 64
    data = np.random.default_rng(3).poisson(4, (3, 5, 8, 6)).astype("<u2")
    np.save(site / "d.npy", data)
    dataset = open_dataset(str(site / "d.npy"))
    analysis = cls({}, nav_shape=(3, 5), sig_shape=(8, 6), dtype="<u2")
    run = InlineExecutor().run(dataset, analysis)
    np.testing.assert_array_equal(run.results["peak"], data.max(axis=(2, 3)))


def test_its_code_hash_covers_every_module_of_the_package(site: Path) -> None:
    write_distribution(
        site,
        "hashed",
        {
            "hashed_plugin.__init__": "",
            "hashed_plugin.analysis": PEAK.format(name="hashed"),
            "hashed_plugin.helpers": "FACTOR = 1\n",
        },
        {"hashed": "hashed_plugin.analysis:PeakAnalysis"},
    )
    cls = discover(ANALYSES, found()).analyses["hashed"]
    before = code_sha256(cls)
    assert code_sha256(cls) == before  # the same code, the same hash
    (site / "hashed_plugin" / "helpers.py").write_text("FACTOR = 2\n")
    assert code_sha256(cls) != before


def test_below_a_namespace_package_it_hashes_the_plugins_own_package(site: Path) -> None:
    write_distribution(
        site,
        "acme-peak",
        {"acme.peak.__init__": "", "acme.peak.analysis": PEAK.format(name="acme_peak")},
        {"acme_peak": "acme.peak.analysis:PeakAnalysis"},
    )
    (site / "acme" / "other.py").write_text("# another distribution's module\n")
    discovery = discover(ANALYSES, found())
    assert discovery.failures == []
    assert discovery.origins["acme_peak"].sha256 == package_sha256(site / "acme" / "peak")


BROKEN = {
    "raises on import": (
        {"bad_import": "raise RuntimeError('the plugin needs a GPU')\n"},
        "bad_import:Anything",
        "RuntimeError: the plugin needs a GPU",
    ),
    "exits on import": (
        {"bad_exit": "import sys\nsys.exit(3)\n"},
        "bad_exit:Anything",
        "importing it called sys.exit(3).",
    ),
    "not an analysis": (
        {"bad_type": "class Thing:\n    pass\n"},
        "bad_type:Thing",
        "expected a subclass of apps.core.analyses.base.Analysis",
    ),
    "abstract": (
        {
            "bad_abstract": "from apps.core.analyses.base import ReduceAnalysis\n"
            "class Half(ReduceAnalysis):\n    pass\n"
        },
        "bad_abstract:Half",
        "Half does not implement combine, finish, task",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_it_skips_a_broken_plugin_with_the_reason(site: Path, case: str) -> None:
    modules, value, reason = BROKEN[case]
    write_distribution(site, "broken-plugin", modules, {"broken": value})
    discovery = discover(ANALYSES, found())
    assert discovery.analyses == {}
    [failure] = discovery.failures
    assert failure.entry_point == f"broken = {value}"
    assert (failure.distribution, failure.version) == ("broken-plugin", "1.2.3")
    assert reason in failure.error


def test_it_refuses_a_name_that_is_taken(site: Path) -> None:
    write_distribution(
        site,
        "a-first",
        {"first_plugin": PEAK.format(name="sum")},
        {"sum": "first_plugin:PeakAnalysis"},
    )
    discovery = discover(ANALYSES, found())
    [failure] = discovery.failures
    assert "the name 'sum' is taken by apps.core.analyses.sum.SumAnalysis" in failure.error
    assert ANALYSES["sum"].__module__ == "apps.core.analyses.sum"


def test_two_plugins_with_one_name_keep_the_first(site: Path) -> None:
    for dist, module in (("a-one", "one_plugin"), ("b-two", "two_plugin")):
        write_distribution(
            site, dist, {module: PEAK.format(name="twice")}, {"twice": f"{module}:PeakAnalysis"}
        )
    discovery = discover(ANALYSES, found())
    assert discovery.analyses["twice"].__module__ == "one_plugin"
    [failure] = discovery.failures
    assert failure.distribution == "b-two"
    assert "the name 'twice' is taken by one_plugin.PeakAnalysis" in failure.error


def test_the_entry_point_must_be_named_as_its_analysis(site: Path) -> None:
    write_distribution(
        site,
        "misnamed",
        {"misnamed_plugin": PEAK.format(name="peak")},
        {"other": "misnamed_plugin:PeakAnalysis"},
    )
    [failure] = discover(ANALYSES, found()).failures
    assert "named 'other' but declares the analysis 'peak'" in failure.error


def test_it_refuses_a_control_the_browser_does_not_have(site: Path) -> None:
    source = PEAK.format(name="knob").replace('preview="peak",', 'preview="peak", widget="knob",')
    write_distribution(site, "knob", {"knob_plugin": source}, {"knob": "knob_plugin:PeakAnalysis"})
    [failure] = discover(ANALYSES, found()).failures
    assert "widget 'knob' is not one of" in failure.error


def test_built_ins_record_the_engine_version() -> None:
    assert analysis_origin("sum").as_json() == {"source": "builtin", "version": ENGINE_VERSION}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'\nversion = "{ENGINE_VERSION}"\n' in pyproject
