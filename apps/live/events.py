"""The job event protocol: one builder per websocket message, and ``publish`` from any thread.

Every message is a JSON object with ``type``, the job's ``id`` and its ``kind`` (``analysis``,
``ingest``; the job kinds of ``apps.jobs``), plus the fields its type always has:

* ``status``    ``status``, ``progress`` {``done``, ``total``}, ``error`` ("" when none); sent
                when a job starts running or is queued again, and on connect (then with the whole
                job as the API shows it).
* ``progress``  ``done``, ``total`` frames.
* ``partial``   ``name``, ``shape``, ``dtype`` (float32), ``done``, ``total``; its pixels follow
                as one binary frame. A live session's also has ``analysis`` (the index of the
                analysis in the session) and ``scan``.
* ``live``      a live session's ``state``, ``scan``, ``frames``, ``total``, ``lost_frames``,
                ``analyses`` and ``revision``: sent when reception starts, when a scan ends,
                and when the analyses change.
* ``finished``  ``done``, ``total``, ``results`` (as the API lists them); with ``image`` (the
                preview result's name) that result's .npy bytes follow as one binary frame.
* ``failed``    ``error``, a sentence for the user.
* ``cancelled`` ``error`` ("cancelled").
* ``queue``     ``place`` (1: the owner's next job to start), ``running``, ``limit``: a queued
                job's place among its owner's queued jobs, sent when it changes (a job ahead
                started or was cancelled, one of the owner's jobs ended).

The socket that follows one job after another (``/ws/jobs/``, the client sends
``{"follow": <id>}``) carries the same messages, and two of its own:

* ``refused``   ``id``, ``code`` (4404), ``error``: the job followed does not exist or is not
                (any longer) the user's to see; the socket stays open for the next follow.
* ``error``     ``error``: what the client sent was no follow message (no ``id``).

``docs/api.md`` documents them for clients. Only the builders below make these messages.

Each job has a channel group ``job-<id>``; consumers join it, the job driver sends to it. A
websocket opened with an API token also joins ``token-<hash>``: revoking the token closes it
(``close_token_sockets``). Every websocket joins ``user-<id>`` of its user: deactivating or
deleting the user closes it (``close_user_sockets``).
A message with ``binary`` reaches the browser as the JSON text frame immediately followed by one
binary frame (both travel in one group message, so no other event can come in between).

Publishing is best effort: the database is the truth, the websocket only a notification.

The in-memory channel layer (embedded default) keeps asyncio queues that belong to the event
loop serving the websockets, and asyncio queues are not thread-safe. So for that layer the
driver thread hands the send to that loop (remembered by the consumers) instead of running it
in a private loop with ``async_to_sync``. With Redis, the sends of synchronous code (the job
driver, views) go through :mod:`apps.live.sender`: one event loop per process and one queue,
so they keep their order; a job's events are not waited for, the closing of sockets is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from apps.live.sender import sender

logger = logging.getLogger(__name__)

EVENT_TYPE = "job.event"
ACCESS_TYPE = "job.access"
CLOSE_TYPE = "socket.close"  # handled by the consumers' socket_close()

_consumer_loop: asyncio.AbstractEventLoop | None = None


def group_name(job_id: int) -> str:
    return f"job-{int(job_id)}"


def remember_consumer_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by consumers: the loop the in-memory layer's queues belong to."""
    global _consumer_loop
    _consumer_loop = loop


def token_group(key_hash: str) -> str:
    """The group of the websockets opened with the API token whose SHA-256 is ``key_hash``."""
    return f"token-{key_hash}"


def user_group(user_id: int) -> str:
    """The group of the websockets of user ``user_id``, by session or API token."""
    return f"user-{int(user_id)}"


Message = dict[str, Any]

# The close codes the server ends a job socket with, always after accepting the handshake (a
# socket refused during the handshake shows as 1006 in browsers, like a dropped network). A
# client does not reconnect after these; static/js/jobclient.js has the same table.
CLOSE_NOT_FOUND = 4404  # no such job, or the user may not (any longer) see it
CLOSE_REVOKED = 4401  # the credentials are void: token revoked, user deactivated or deleted

FAILED = "failed"
CANCELLED = "cancelled"


def _message(kind_of_message: str, job_id: int, kind: str, **fields: Any) -> Message:
    return {"type": kind_of_message, "id": int(job_id), "kind": kind, **fields}


def status_message(
    job_id: int,
    kind: str,
    status: str,
    *,
    done: int,
    total: int,
    error: str = "",
    detail: Message | None = None,
) -> Message:
    """The job is now ``status`` (running, or queued again) with ``done`` of ``total`` frames.

    ``detail`` is the job as the API shows it (sent on connect): its fields come along, the
    protocol's fields win.
    """
    fields = {"status": status, "progress": {"done": done, "total": total}, "error": error}
    return {**(detail or {}), **_message("status", job_id, kind, **fields)}


def progress_message(job_id: int, kind: str, *, done: int, total: int) -> Message:
    return _message("progress", job_id, kind, done=done, total=total)


def partial_message(
    job_id: int,
    kind: str,
    *,
    name: str,
    shape: tuple[int, ...],
    done: int,
    total: int,
    analysis: int | None = None,
    scan: int | None = None,
) -> Message:
    """The JSON half of a preview: result ``name``'s float32 pixels of ``shape`` follow it.

    A live session's partials also say which of its analyses (``analysis``, the index in the
    session's list) and which ``scan`` (0, 1, ... in continuous mode) they belong to.
    """
    live = {} if analysis is None else {"analysis": int(analysis), "scan": int(scan or 0)}
    return _message(
        "partial",
        job_id,
        kind,
        name=name,
        shape=list(shape),
        dtype="float32",
        done=done,
        total=total,
        **live,
    )


def live_message(
    job_id: int,
    kind: str,
    *,
    state: str,
    scan: int,
    frames: int,
    total: int,
    lost_frames: int,
    analyses: list[Message],
    revision: int,
) -> Message:
    """A live session's state: ``state`` (armed, receiving, complete, incomplete, stopped,
    failed), the ``scan`` building up, its ``frames`` received of ``total`` and
    ``lost_frames``, and its ``analyses`` as they are now (``revision`` counts changes)."""
    return _message(
        "live",
        job_id,
        kind,
        state=state,
        scan=scan,
        frames=frames,
        total=total,
        lost_frames=lost_frames,
        analyses=analyses,
        revision=revision,
    )


def finished_message(
    job_id: int, kind: str, *, done: int, total: int, results: list[Message], **figures: Any
) -> Message:
    """``figures``: the run's ``seconds`` and ``throughput_gbs``, as the job's API gives them."""
    return _message("finished", job_id, kind, done=done, total=total, results=results, **figures)


def failed_message(job_id: int, kind: str, *, error: str) -> Message:
    return _message(FAILED, job_id, kind, error=error)


def cancelled_message(job_id: int, kind: str) -> Message:
    return _message(CANCELLED, job_id, kind, error="cancelled")


def ended_message(job_id: int, kind: str, *, status: str, error: str) -> Message:
    """The ``failed`` or ``cancelled`` message, by the job's end ``status``."""
    if status == FAILED:
        return failed_message(job_id, kind, error=error)
    if status == CANCELLED:
        return cancelled_message(job_id, kind)
    raise ValueError(f"status must be {FAILED!r} or {CANCELLED!r} for an ended job, not {status!r}")


def queue_message(job_id: int, kind: str, *, place: int, running: int, limit: int) -> Message:
    """Queued job ``job_id`` is now ``place`` among its owner's queued jobs; the owner runs
    ``running`` of at most ``limit`` jobs at a time."""
    return _message("queue", job_id, kind, place=place, running=running, limit=limit)


def refused_message(job_id: int) -> Message:
    """The followed job ``job_id`` is missing or not the user's to see (no ``kind``: a job
    one may not see says nothing about itself)."""
    return {
        "type": "refused",
        "id": int(job_id),
        "code": CLOSE_NOT_FOUND,
        "error": f"Job {int(job_id)} does not exist or is not shown to you.",
    }


def follow_error_message(error: str) -> Message:
    """The answer to a message on the follow socket that is no ``{"follow": <job id>}``."""
    return {"type": "error", "error": error}


def job_event(message: Message, binary: bytes | None = None) -> Message:
    """The channel-layer event that carries ``message`` (and its binary frame) to consumers."""
    return {"type": EVENT_TYPE, "message": message, "binary": binary}


def access_event() -> Message:
    """The channel-layer event asking consumers to check their user's access again."""
    return {"type": ACCESS_TYPE}


def close_event(code: int) -> Message:
    """The channel-layer event closing the sockets of a group with close ``code``."""
    return {"type": CLOSE_TYPE, "code": code}


def publish(message: Message, binary: bytes | None = None) -> None:
    """Send ``message`` (made by a builder above, and an optional binary frame) to every
    consumer of its job."""
    job_id = message["id"]
    what = f"{message['type']} of job {job_id}"
    _send(group_name(job_id), job_event(message, binary), what=what, wait=False)


def publish_access_changed(job_ids: list[int]) -> None:
    """Tell the consumers of these jobs to check again whether their user may still watch.

    Sent when a dataset or a job is shared with fewer people; a consumer whose user lost
    access closes its socket (4404), so a watching browser stops receiving the job's images.
    """
    for job_id in job_ids:
        _send(group_name(job_id), access_event(), what=f"access change of job {job_id}", wait=True)


def close_token_sockets(key_hash: str) -> None:
    """Close every websocket opened with the (just revoked) API token hashed ``key_hash``."""
    _send(
        token_group(key_hash), close_event(CLOSE_REVOKED), what="a revoked token's close", wait=True
    )


def close_user_sockets(user_id: int) -> None:
    """Close every websocket of the (just deactivated or deleted) user ``user_id``."""
    _send(
        user_group(user_id), close_event(CLOSE_REVOKED), what=f"user {user_id}'s close", wait=True
    )


def _send(group: str, event: dict[str, Any], *, what: str, wait: bool) -> None:
    """Send ``event`` to ``group``; ``wait``: over the network, return once it is sent."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            _send_in_memory(layer, group, event)
        elif _in_event_loop():
            async_to_sync(layer.group_send)(group, event)
        else:
            sender().send(layer, group, event, what, wait=wait)
    except Exception:
        logger.warning("could not send %s", what, exc_info=True)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _send_in_memory(layer: InMemoryChannelLayer, group: str, event: dict[str, Any]) -> None:
    loop = _consumer_loop
    if loop is None or loop.is_closed():
        return  # no websocket was ever opened in this process: nobody listens
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(layer.group_send(group, event))
    else:
        # Fire and forget: tasks run in submission order, so events keep their order, and a
        # busy or blocked websocket loop never stalls the job driver.
        asyncio.run_coroutine_threadsafe(layer.group_send(group, event), loop)
