"""Following a job on its websocket until it ends, with a progress bar.

The portal pushes a job's events on ``/ws/jobs/<id>/`` (docs/api.md, The job websocket): a
``status`` first on every connect, then ``progress`` while it runs, then one final message. The
socket is only a notification: after the final message the caller reads the job from the API.
A temporary close (a restart, a proxy timeout) is followed by a reconnect after 0.5 s doubling
to 8 s, as the portal's own pages do; close codes 4404 and 4401 end the wait at once.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from tqdm.auto import tqdm
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from .errors import NotAuthenticated, NotFound, PortalError

FINAL = frozenset({"finished", "failed", "cancelled"})
FIRST_DELAY = 0.5
LONGEST_DELAY = 8.0
# a portal that cannot be reached for this long is gone, not restarting
GIVE_UP_SECONDS = 120.0


def follow(
    *, origin: str, token: str, job: dict[str, Any], progress: bool, timeout: float | None
) -> None:
    """Return once ``job`` (an answer of the API: ``id``, ``ws``) has ended; a bar on stderr
    shows its frames while ``progress``. ``TimeoutError`` after ``timeout`` seconds."""
    url = _ws_url(origin, job["ws"], token)
    deadline = None if timeout is None else time.monotonic() + timeout
    desc = f"job {job['id']}" + (f" {job['analysis']}" if job.get("analysis") else "")
    with tqdm(total=0, desc=desc, unit="frame", disable=not progress) as bar:
        delay, unreachable_since = FIRST_DELAY, None
        while True:
            try:
                with connect(url, origin=origin, open_timeout=30, max_size=None) as socket:
                    delay, unreachable_since = FIRST_DELAY, None
                    if _watch(socket, bar, deadline):
                        return
                    code = socket.close_code
            except InvalidStatus as err:
                status = err.response.status_code
                if status < 500:  # a refusal, not a portal that is restarting
                    raise PortalError(
                        f"The portal refused the job's websocket (HTTP {status}).", status=status
                    ) from err
                code, unreachable_since = None, _unreachable(unreachable_since, err)
            except (OSError, InvalidHandshake) as err:
                code, unreachable_since = None, _unreachable(unreachable_since, err)
            _refuse_for_good(code, job["id"])
            _sleep(delay, deadline)
            delay = min(delay * 2, LONGEST_DELAY)


def _watch(socket: Any, bar: Any, deadline: float | None) -> bool:
    """Show the events of one connection on ``bar``; whether the job ended."""
    while True:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            message = socket.recv(timeout=remaining)
        except ConnectionClosed:
            return False
        except TimeoutError:
            raise TimeoutError(
                "The job is still running; wait for it again or cancel it."
            ) from None
        if isinstance(message, bytes):
            continue  # the pixels of a partial preview: the results are read once it ends
        event = json.loads(message)
        _show(bar, event)
        kind = event.get("type")
        if kind in FINAL or (kind == "status" and event.get("status") in FINAL):
            return True


def _show(bar: Any, event: dict[str, Any]) -> None:
    counts = event.get("progress") if event.get("type") == "status" else event
    if isinstance(counts, dict) and "done" in counts:
        bar.total = counts.get("total") or bar.total
        bar.n = counts["done"]
    if event.get("type") == "status":
        bar.set_postfix_str(event.get("status", ""), refresh=False)
    elif event.get("type") in FINAL:
        bar.set_postfix_str(event["type"], refresh=False)
    bar.refresh()


def _unreachable(since: float | None, err: Exception) -> float:
    """When the portal was first found unreachable; PortalError once that is too long ago."""
    since = since or time.monotonic()
    if time.monotonic() - since > GIVE_UP_SECONDS:
        raise PortalError(f"Lost the connection to the portal: {err}") from err
    return since


def _refuse_for_good(code: int | None, job_id: int) -> None:
    if code == 4404:
        raise NotFound(f"Job {job_id} does not exist or you may no longer see it.", status=404)
    if code == 4401:
        raise NotAuthenticated("The API token was revoked or its user deactivated.", status=401)


def _sleep(delay: float, deadline: float | None) -> None:
    if deadline is not None and time.monotonic() + delay > deadline:
        raise TimeoutError("The job is still running; wait for it again or cancel it.")
    time.sleep(delay)


def _ws_url(origin: str, path: str, token: str) -> str:
    scheme = "wss" if origin.startswith("https:") else "ws"
    return f"{scheme}:{origin.split(':', 1)[1]}{path}?token={quote(token, safe='')}"
