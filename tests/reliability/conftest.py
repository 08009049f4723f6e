"""Fault injection against real processes: a private Redis, a dask cluster of worker processes,
Celery workers (and beat) started per test so a test may kill them.

Everything here talks to a Redis server the fixture starts on a free port (never the shared
one on 6379), so restarting it disturbs no other test run on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.processes import ROOT, free_port, local_cluster

# The reliability timings: short, so a lost worker is noticed within seconds.
FAST_REAPER = {
    "JOB_HEARTBEAT_SECONDS": "1",
    "JOB_HEARTBEAT_TIMEOUT": "4",
    "JOB_REAPER_INTERVAL": "2",
    "JOB_QUEUED_TIMEOUT": "6",
    "JOB_MAX_ATTEMPTS": "2",
}

# The big dataset: 8192 frames of 128 x 128 uint16 = 256 MiB.
BIG_NAV = (128, 64)
BIG_SIG = (128, 128)
DISK = {"shape": "disk", "cx": 64, "cy": 64, "r": 20}


class DaskProcesses:
    """A ``dask scheduler`` and two ``dask worker`` processes ``node-0`` and ``node-1`` on a
    fixed port, which can be killed and started again. Without nannies by default (a SIGSTOP
    of ``workers[i]`` holds the worker itself); ``production=True`` starts them as the Procfile
    does: with nannies (which restart a worker past its memory limit) and the warm-up preload."""

    def __init__(
        self, folder: Path, *, memory_limit: str = "1GiB", production: bool = False
    ) -> None:
        self.folder = folder
        self.memory_limit = memory_limit
        self.options = ["--preload", "apps.core.warmup"] if production else ["--no-nanny"]
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def start(self) -> None:
        self.scheduler = self._spawn(
            "dask_scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--dashboard-address", ":0",
        )  # fmt: skip
        self.workers = [
            self._spawn(
                "dask_worker",
                self.address,
                "--name",
                f"node-{i}",
                "--nthreads",
                "1",
                "--memory-limit",
                self.memory_limit,
                *self.options,
            )
            for i in range(2)
        ]
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=30)

    def _spawn(self, module: str, *args: str) -> subprocess.Popen:
        log = (self.folder / f"{module}-{time.monotonic_ns()}.log").open("w")
        return subprocess.Popen(
            [sys.executable, "-m", f"distributed.cli.{module}", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def worker_pids(self) -> dict[str, int]:
        """``{worker name: pid}`` of the worker processes (a nanny's child, with nannies)."""
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            pids = client.run(os.getpid)
            names = {a: str(w["name"]) for a, w in client.scheduler_info()["workers"].items()}
        return {names[a]: pid for a, pid in pids.items()}

    def kill(self) -> None:
        """A hard stop, as a crash would be (a stopped process too): the scheduler first, so
        no worker that happens to resume finishes anything; then every worker process and
        its nanny."""
        import psutil

        for process in [self.scheduler, *self.workers]:
            if process is not None and process.poll() is None:
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(process.pid).children(recursive=True):
                        child.kill()
                process.kill()
                process.wait(timeout=10)


class RedisServer:
    """A private redis-server (no persistence) that a test may restart."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.ping():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # our own server: a hard stop, as a crash would be
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_redis(redis_server: RedisServer, settings: Any) -> RedisServer:
    """This process's channel layer and broker use the private Redis."""
    settings.REDIS_URL = redis_server.url
    settings.CELERY_BROKER_URL = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "libertem_site.channel_layer.RetryingRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        **settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0],
                        "address": redis_server.url,
                    }
                ]
            },
        }
    }
    return redis_server


@pytest.fixture
def dask_processes(tmp_path: Path) -> Iterator[DaskProcesses]:
    """Two dask worker processes ``node-0`` and ``node-1`` (without nannies) and a scheduler."""
    processes = DaskProcesses(tmp_path)
    processes.start()
    yield processes
    processes.kill()


@pytest.fixture
def dask_cluster() -> Iterator[Any]:
    """Two single-threaded dask worker processes (with nannies that restart a killed one)."""
    cluster = local_cluster(memory_limit="2GiB")
    yield cluster
    cluster.close()


def worker_pids(cluster: Any) -> dict[str, int]:
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as client:
        return client.run(os.getpid)


@pytest.fixture
def celery_processes(
    private_redis: RedisServer,
    dask_cluster: Any,
    tmp_path: Path,
    data_root: Path,
) -> Iterator[Callable[..., subprocess.Popen]]:
    """``start(*args)`` starts a Celery process on the test database and data root; all stopped
    at the end."""
    from django.db import connection

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {
        **os.environ,
        **FAST_REAPER,
        "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}",
        "REDIS_URL": private_redis.url,
        "DASK_SCHEDULER_ADDRESS": dask_cluster.scheduler_address,
        "JOB_RUNNER": "celery",
        # jobs check their files against the data folders, inside the worker's DATA_ROOTS
        "DATA_ROOTS": str(data_root),
        # as the Procfile's worker: its connection kept from one job to the next
        "DB_CONN_MAX_AGE": "600",
    }
    started: list[subprocess.Popen] = []

    def start(*args: str, ready: str = "ready", own_group: bool = False) -> subprocess.Popen:
        """``own_group``: the process leads a process group of its own, as a systemd service's
        processes are alone in their control group (a test may signal the whole group)."""
        from django.conf import settings

        log = tmp_path / f"celery-{len(started)}.log"
        # The data folders as the test set them (jobs check every file against them).
        roots = os.pathsep.join(str(p) for p in settings.DATA_ROOTS)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "libertem_site", *args, "-l", "info"],
            cwd=ROOT,
            env={**env, "DATA_ROOTS": roots},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )
        process.log = log  # type: ignore[attr-defined]
        started.append(process)
        deadline = time.monotonic() + 60
        while ready not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery {args} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def job_worker(start: Callable[..., subprocess.Popen], name: str) -> subprocess.Popen:
    """A job worker: the ``celery`` queue, one job at a time, in the main process."""
    return start(
        "worker", "-Q", "celery", "-n", f"{name}@%h", "-P", "solo",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    )  # fmt: skip


def reaper_worker(start: Callable[..., subprocess.Popen], tmp_path: Path) -> subprocess.Popen:
    """The ``maintenance`` queue with beat embedded: the reaper every 2 s."""
    return start(
        "worker", "-Q", "maintenance", "-n", "maintenance@%h", "-P", "solo", "-B",
        "-s", str(tmp_path / "beat-schedule"),
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    )  # fmt: skip


def write_big_raw(path: Path) -> np.ndarray:
    """256 MiB of uint16 frames, zero but for a small pattern in each; returns the reference
    virtual-detector intensity (float64) for :data:`DISK`."""
    n = int(np.prod(BIG_NAV))
    sy, sx = BIG_SIG
    with path.open("wb") as f:
        f.truncate(n * sy * sx * 2)  # zeros, written in no time
    frames = np.memmap(path, dtype="<u2", mode="r+", shape=(n, sy, sx))
    i = np.arange(n, dtype=np.int64)
    # a 16 x 16 block near the disk centre whose values vary with the frame and the pixel
    yy, xx = np.mgrid[56:72, 56:72]
    block = (i[:, None, None] * 7 + yy * 3 + xx) % 1000
    frames[:, 56:72, 56:72] = block.astype(np.uint16)
    # and a few frames hit the disk's rim, outside the block
    frames[::97, 64, 84] = 500
    frames.flush()
    yy, xx = np.mgrid[:sy, :sx]
    disk = ((yy - 64) ** 2 + (xx - 64) ** 2 <= 400).astype(np.float64)
    expected = np.empty(n)
    for start in range(0, n, 1024):
        chunk = np.asarray(frames[start : start + 1024], dtype=np.float64)
        expected[start : start + 1024] = np.einsum("nyx,yx->n", chunk, disk)
    del frames
    return expected.reshape(BIG_NAV)


@pytest.fixture
def big_dataset(db: None, users: SimpleNamespace, data_root: Path) -> SimpleNamespace:
    from apps.datasets.services import dataset_register

    path = data_root / "big.raw"
    expected = write_big_raw(path)
    params = {"nav_shape": list(BIG_NAV), "sig_shape": list(BIG_SIG), "dtype": "<u2"}
    registered = dataset_register(
        owner=users.owner, name="big", path=str(path), format="raw", params=params
    )
    return SimpleNamespace(dataset=registered, expected=expected, path=path)


def send_run_job(url: str, job_id: int, task_id: str | None = None) -> None:
    """Deliver ``run_job`` through the private broker (as ``queue.enqueue`` would)."""
    from apps.jobs.tasks import run_job
    from libertem_site.celery import app

    with app.connection_for_write(url) as connection:
        run_job.apply_async((job_id,), connection=connection, task_id=task_id)


def pause(pids: Iterator[int] | list[int], sig: int = signal.SIGSTOP) -> None:
    for pid in pids:
        os.kill(pid, sig)


def portal_env(database_url: str, redis_url: str, scheduler: str, **extra: str) -> dict[str, str]:
    """The environment of a portal process (web or Celery) on these services."""
    return {
        **os.environ,
        **FAST_REAPER,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DASK_SCHEDULER_ADDRESS": scheduler,
        "JOB_RUNNER": "celery",
        "HTTPS": "0",
        "PYTHONUNBUFFERED": "1",
        "THUMBNAILS_ON_REGISTER": "0",  # only the jobs a test starts
        **extra,
    }


class WebProcess:
    """``manage.py serve`` (Daphne) as the Procfile runs it, with a bounded connection pool.

    Started, it waits until ``/healthz`` answers 200; with ``healthy=False`` (a test of an
    unhealthy portal) the test waits with ``wait_for`` instead.
    """

    def __init__(self, env: dict[str, str], log: Path, *, healthy: bool = True) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable, "manage.py", "serve", "--no-login-link",
                "--host", "127.0.0.1", "--port", str(self.port),
            ],
            cwd=ROOT,
            env={"DB_POOL_SIZE": "4", **env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        if healthy:
            self.wait_for("/healthz", 200)

    def wait_for(self, path: str, status: int | None = None, timeout: float = 60) -> None:
        """Until ``path`` answers, with ``status`` when one is given."""
        deadline = time.monotonic() + timeout
        while (answer := self.get(path, timeout=2)[0]) == 0 or status not in (None, answer):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def request(
        self, method: str, path: str, token: str = "", body: Any = None, *, timeout: float = 60
    ) -> tuple[int, bytes]:
        import urllib.error
        import urllib.request

        payload = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=payload, method=method)  # noqa: S310
        if token:
            request.add_header("Authorization", f"Token {token}")
        if payload is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""  # not listening (yet), or no answer within the timeout

    def get(self, path: str, token: str = "", *, timeout: float = 60) -> tuple[int, bytes]:
        return self.request("GET", path, token, timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Poller(threading.Thread):
    """GETs ``paths`` in turn until stopped; counts the answers by status."""

    def __init__(self, web: WebProcess, token: str, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.web, self.token, self.paths = web, token, paths
        self.statuses: dict[int, int] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stopped.is_set():
            status, _ = self.web.get(self.paths[i % len(self.paths)], self.token)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            i += 1

    def stop(self) -> dict[int, int]:
        self.stopped.set()
        self.join(timeout=90)
        return self.statuses


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A PostgreSQL server of its own (``initdb`` + ``pg_ctl`` from the machine's binaries) in a
    temporary folder on a free port, which a test may restart. As root, the server runs as the
    ``postgres`` OS user (it refuses to run as root)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}"
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        else:
            self.as_owner = []
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_owner, str(PG_BIN / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.folder,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "start")  # fmt: skip

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is ended, as a service restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"{self.url}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return f"{self.url}/{name}"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL's server binaries are not in {PG_BIN}")
    server = PrivatePostgres()
    server.start()
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)
