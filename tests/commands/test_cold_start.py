"""A fresh process's start: what Django's setup loads, and the compiled fold from its disk cache.

Batch users run ``manage.py analyze`` once per file: every module Django's setup imports and
every kernel compiled again is paid per file (docs/performance.md, "The first analysis in a
fresh process").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from apps.core.io.raw import write_sidecar
from apps.jobs.management.commands.analyze import Command

ROOT = Path(__file__).resolve().parents[2]

#: Modules no offline command needs: the ASGI server (daphne's app imported it with Twisted and
#: autobahn), the job queue's client, the OIDC client (the admin imported the sign-in views),
#: scipy's submodules only some analyses use, redis (the settings named its exception for the
#: channel layer), the HDF5 readers' h5py and hdf5plugin (the catalogue's modules imported
#: them through ``apps.core.io``), and what the jobs and acquisition apps' ``ready`` imported:
#: every job kind (PIL for thumbnails), the live kind with its receiver's driver, the jobs'
#: serializers (tifffile for the results' exports) and services (the queue, the driver).
NOT_AT_SETUP = (
    "daphne",
    "twisted",
    "autobahn",
    "celery",
    "kombu",
    "requests",
    "jwt",
    "scipy.ndimage",
    "scipy.fft",
    "numba",
    "distributed",
    "redis",
    "h5py",
    "hdf5plugin",
    "PIL",
    "tifffile",
    "apps.acquisition.kind",
    "apps.acquisition.receiver",
    "apps.jobs.kinds",
    "apps.jobs.serializers",
    "apps.jobs.services",
    "apps.jobs.driver",
)
#: What ``manage.py analyze`` of an ``.npy`` or raw file does not import either.
NOT_FOR_A_PLAIN_FILE = ("numba", "h5py", "hdf5plugin", "redis", "PIL", "tifffile", "scipy")


def fresh_python(code: str, **env: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "libertem_site.settings", **env}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def loaded(modules: tuple[str, ...]) -> str:
    """Code printing which of ``modules`` the process imported, as a JSON list."""
    return f"print(json.dumps([m for m in {list(modules)!r} if m in sys.modules]))"


def test_django_setup_loads_no_server_queue_hdf5_or_job_kinds() -> None:
    code = "import json, sys, django; django.setup(); " + loaded(NOT_AT_SETUP)
    assert json.loads(fresh_python(code)) == []


def test_a_facility_setup_with_redis_does_not_import_redis_either() -> None:
    # REDIS_URL names the channel layer's Redis; the layer imports redis when it is built.
    code = (
        "import json, sys, django; django.setup(); "
        "from django.conf import settings; "
        "print(json.dumps([settings.CHANNEL_LAYERS['default'], 'redis' in sys.modules]))"
    )
    layer, imported = json.loads(fresh_python(code, REDIS_URL="redis://127.0.0.1:1/0"))
    assert layer == {
        "BACKEND": "libertem_site.channel_layer.RetryingRedisChannelLayer",
        "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0"}]},
    }
    assert imported is False


def test_the_facility_channel_layer_retries_after_a_lost_connection() -> None:
    from channels.layers import get_channel_layer
    from django.test import override_settings
    from redis.exceptions import ConnectionError as RedisConnectionError

    from libertem_site.channel_layer import RetryingRedisChannelLayer

    config = {"hosts": [{"address": "redis://127.0.0.1:1/0"}, "redis://127.0.0.1:2/0"]}
    backend = "libertem_site.channel_layer.RetryingRedisChannelLayer"
    with override_settings(CHANNEL_LAYERS={"default": {"BACKEND": backend, "CONFIG": config}}):
        layer = get_channel_layer()
    assert isinstance(layer, RetryingRedisChannelLayer)
    assert layer.hosts == [
        {"address": "redis://127.0.0.1:1/0", "retry_on_error": [RedisConnectionError]},
        {"address": "redis://127.0.0.1:2/0", "retry_on_error": [RedisConnectionError]},
    ]
    # redis-py gets the retry: a command after a dropped connection reconnects once.
    pool = layer.create_pool(0)
    assert pool.connection_kwargs["retry_on_error"] == [RedisConnectionError]


def test_the_live_kind_is_imported_when_first_looked_up() -> None:
    code = (
        "import json, sys, django; django.setup(); "
        "before = 'apps.acquisition.kind' in sys.modules; "
        "from apps.jobs.kinds import KINDS, job_kind; "
        "from apps.jobs.serializers import JOB; "
        "kind = job_kind('live'); "
        "import apps.acquisition.kind as module; "
        "print(json.dumps([before, kind is module.KIND, kind.name, sorted(KINDS), "
        "JOB['properties']['live']['description']]))"
    )
    before, same, name, names, description = json.loads(fresh_python(code))
    assert (before, same, name) == (False, True, "live")
    assert names == ["analysis", "ingest", "live", "reused", "thumbnail"]
    assert description == "Only for a job of the kind live: the session."


def test_job_fields_added_after_the_schema_was_built_reach_it(monkeypatch) -> None:
    from apps.jobs import extensions

    monkeypatch.setattr(extensions, "JOB_FIELDS", {"early": {"type": "string"}})
    monkeypatch.setattr(extensions, "_SCHEMAS", [])
    built: dict[str, object] = {"id": {"type": "integer"}}
    extensions.extend_job_schema(built)
    extensions.add_job_fields(late={"type": "boolean"})
    assert built == {
        "id": {"type": "integer"},
        "early": {"type": "string"},
        "late": {"type": "boolean"},
    }


def test_the_hdf5_readers_are_imported_when_first_looked_up() -> None:
    code = (
        "import json, sys; from apps.core.io import FORMATS; "
        "before = 'h5py' in sys.modules; names = list(FORMATS); "
        "after_names = 'h5py' in sys.modules; reader = FORMATS['hdf5']; "
        "from apps.core.io.hdf5 import H5DataSet; "
        "print(json.dumps([before, after_names, names, reader is H5DataSet]))"
    )
    before, after_names, names, same = json.loads(fresh_python(code))
    assert (before, after_names, same) == (False, False, True)
    assert names == ["raw", "hdf5", "npy", "mib", "arina", "empad", "raw_csr", "hdf5_csr"]


def test_analyze_runs_no_system_checks() -> None:
    # The checks import every URL's view (the sign-in views, the OIDC client): not offline.
    assert Command.requires_system_checks == []


@pytest.mark.parametrize("kind", ["npy", "raw"])
def test_a_fresh_process_sums_a_plain_file_without_numba_or_hdf5(tmp_path: Path, kind) -> None:
    frames = np.arange(4 * 5 * 6 * 7, dtype=np.float32).reshape(4, 5, 6, 7)
    if kind == "npy":
        path = tmp_path / "scan.npy"
        np.save(path, frames)
    else:
        frames.tofile(tmp_path / "scan.raw")
        path = tmp_path / "scan.json"
        write_sidecar(
            path,
            {"dtype": "<f4", "nav_shape": [4, 5], "sig_shape": [6, 7], "path": "scan.raw"},
        )
    code = (
        "import json, sys, django; django.setup(); "
        "from django.core.management import call_command; "
        f"call_command('analyze', {str(path)!r}, '--analysis', 'sum', "
        f"'--quiet', '--out', {str(tmp_path / 'out.npz')!r}); " + loaded(NOT_FOR_A_PLAIN_FILE)
    )
    assert json.loads(fresh_python(code)) == []
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["sum"], frames.reshape(20, 6, 7).sum(axis=0))
        np.testing.assert_array_equal(out["max"], frames.reshape(20, 6, 7).max(axis=0))


def test_a_warmed_up_process_loads_the_fold_from_the_disk_cache() -> None:
    code = (
        "import json, numpy as np; from apps.core import kernels, fold_jit; kernels.warm_up(); "
        "tile = np.arange(40, dtype=np.float32).reshape(5, 8); tile.flags.writeable = False; "
        "total = np.zeros(8); kernels.fold_frames(tile, total, None, np.zeros(8, np.float32)); "
        "s = fold_jit.fold.stats; "
        "print(json.dumps([sum(s.cache_hits.values()), sum(s.cache_misses.values()), "
        "total.tolist()]))"
    )
    fresh_python(code)  # compiles (or loads) and writes the cache
    hits, misses, total = json.loads(fresh_python(code))
    assert hits >= 1 and misses == 0  # loaded, not compiled again
    np.testing.assert_array_equal(total, np.arange(40).reshape(5, 8).sum(axis=0))


def test_a_celery_job_is_sent_through_the_app_the_settings_name(settings, monkeypatch) -> None:
    from apps.jobs import queue
    from libertem_site.celery import app

    sent: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args: sent.append((name, args)))
    settings.JOB_RUNNER = "celery"
    assert queue.enqueue(123) is None
    assert sent == [(queue.RUN_TASK, (123,))]
