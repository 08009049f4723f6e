"""A live portal for the tests that need the whole site: ``manage.py serve`` on a free port,
the embedded default.

The server runs as a subprocess with its own VAR_DIR (SQLite, secret key) and DATA_ROOTS (the
synthetic demo dataset, unless left out), so the tests see exactly what a scientist sees after
``make serve``: Daphne, websockets, background jobs on a local dask cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.processes import free_port, manage

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 90


@dataclass
class Portal:
    base: str
    data: Path
    tokens: dict[str, str]
    passwords: dict[str, str]
    env: dict[str, str]  # the server's environment, for manage.py commands beside it
    log: Path  # the server's output (mails go there: the console e-mail backend)
    pid: int  # the serve process (its children are the local dask cluster's processes)

    def manage(self, *args: str, stdin: str = "") -> str:
        return manage(self.env, *args, stdin=stdin)

    def api(self, user: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer of the API to ``user``'s token (a POST when there is a body)."""
        # base is the http://127.0.0.1 address of the test server
        request = urllib.request.Request(  # noqa: S310
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Token {self.tokens[user]}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def login(self, page: Any, user: str) -> None:
        """Sign ``user`` in on ``page`` through the login form."""
        page.goto(f"{self.base}/login/")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", self.passwords[user])
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)


def _wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the portal exited with {proc.returncode}:\n{log.read_text()}")
        try:
            # base is the http://127.0.0.1 address this fixture chose
            with urllib.request.urlopen(f"{base}/login/", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the portal did not answer within {START_SECONDS} s:\n{log.read_text()}")


def _write_demo(data: Path) -> None:
    # The demo writer is plain numpy + h5py: run it without Django settings.
    code = "import sys; from pathlib import Path; from apps.datasets.demo import write_demo; write_demo(Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(data / "demo")], cwd=ROOT, check=True)


@contextmanager
def running_portal(
    tmp: Path, *, demo: bool = True, env: dict[str, str] | None = None
) -> Iterator[Portal]:
    """The portal serving from ``tmp`` (its VAR_DIR and data folder) until the block ends;
    users alice and bob with tokens, the demo dataset's files in the data folder (``demo``),
    ``env`` added to the server's environment (PYTHONPATH for plugins, say)."""
    data = tmp / "data"
    data.mkdir()
    env = {
        **os.environ,
        "VAR_DIR": str(tmp / "var"),
        "DATA_ROOTS": str(data),
        "PYTHONUNBUFFERED": "1",
        "THUMBNAILS_ON_REGISTER": "0",  # jobs the tests did not start; a test may turn it on
        **(env or {}),
    }
    for key in ("DATABASE_URL", "REDIS_URL", "DASK_SCHEDULER_ADDRESS", "EMAIL_HOST", "OIDC_ISSUER"):
        env.pop(key, None)  # always the embedded default
    if demo:
        _write_demo(data)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "datafolder", str(data), "--groups", "")  # alice and bob may use the data
    passwords = {"alice": "alice-pw-4d-stem", "bob": "bob-pw-4d-stem"}
    tokens = {
        user: manage(env, "createuser", user, "--password-stdin", stdin=pw).strip().splitlines()[-1]
        for user, pw in passwords.items()
    }
    port = free_port()
    log = tmp / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--no-login-link"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, log)
        yield Portal(
            base=base, data=data, tokens=tokens, passwords=passwords, env=env, log=log, pid=proc.pid
        )
    finally:
        proc.send_signal(signal.SIGINT)  # lets serve stop its dask cluster
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
