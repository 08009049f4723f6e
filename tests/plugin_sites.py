"""Installed analysis plugins for the tests, outside the shared venv: a folder that goes on
``sys.path`` or ``PYTHONPATH``, where importlib.metadata finds them as any installed package.

``pip_install_example`` installs examples/portal-plugin-example with pip, as staff would;
``write_distribution`` writes a distribution's files and ``dist-info`` directly (for plugins
made to fail).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from apps.core.analyses.plugins import ENTRY_POINT_GROUP
from tests.live_portal import Portal, running_portal
from tests.processes import manage

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "portal-plugin-example"
EXAMPLE_PACKAGE = "portal_plugin_example"
#: Why the broken test plugin of :func:`install_test_plugins` is skipped.
BROKEN_ERROR = "ModuleNotFoundError: No module named 'cupy_for_the_test'"


def pip_install_example(work: Path) -> Path:
    """The example plugin pip-installed into ``work/site`` (built from a copy: pip builds in
    the source tree)."""
    source = work / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), source],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


def write_distribution(
    site: Path, dist: str, modules: dict[str, str], points: dict[str, str], version: str = "1.2.3"
) -> None:
    """Distribution ``dist`` installed in ``site``: ``modules`` (dotted name → source; a
    package's ``__init__`` by ``pkg.__init__``) and ``points`` (entry-point name → value) of
    the analyses' group."""
    for name, source in modules.items():
        path = site / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{key} = {value}\n" for key, value in points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


def package_sha256(package: Path) -> str:
    """docs/plugins.md's code hash of ``package``, computed here from the files themselves."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        data = path.read_bytes()
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def install_test_plugins(work: Path) -> dict[str, Path]:
    """The example pip-installed (``example``) and a plugin whose import fails (``broken``:
    the analysis ``gpu_sum`` of portal-plugin-broken), each in its folder under ``work``."""
    broken = work / "broken"
    write_distribution(
        broken,
        "portal-plugin-broken",
        {"portal_plugin_broken": "import cupy_for_the_test\n"},
        {"gpu_sum": "portal_plugin_broken:GpuSumAnalysis"},
    )
    return {"example": pip_install_example(work), "broken": broken}


def plugin_env(sites: dict[str, Path]) -> dict[str, str]:
    """The environment that puts the ``sites`` of :func:`install_test_plugins` on the path."""
    return {"PYTHONPATH": f"{sites['example']}:{sites['broken']}"}


@contextmanager
def plugin_portal(tmp: Path, sites: dict[str, Path]) -> Iterator[Portal]:
    """A live portal (no demo data) with the plugins of ``sites`` installed, and a staff user
    ``root`` beside alice and bob."""
    with running_portal(tmp, demo=False, env=plugin_env(sites)) as portal:
        created = manage(
            portal.env, "createuser", "root", "--staff", "--password-stdin", stdin="root-pw-4d"
        )
        portal.tokens["root"] = created.strip().splitlines()[-1]
        portal.passwords["root"] = "root-pw-4d"
        yield portal
