"""Job events for websocket consumers: ``publish(job_id, message, binary)`` from any thread.

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
in a private loop with ``async_to_sync``; with Redis, ``async_to_sync`` is the normal way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

EVENT_TYPE = "job.event"
ACCESS_TYPE = "job.access"
REVOKED_TYPE = "token.revoked"  # handled by the consumers' token_revoked()
USER_GONE_TYPE = "user.gone"  # handled by the consumers' user_gone()

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


def publish(job_id: int, message: dict[str, Any], binary: bytes | None = None) -> None:
    """Send ``message`` (and an optional binary frame) to every consumer of job ``job_id``."""
    event = {"type": EVENT_TYPE, "message": message, "binary": binary}
    _send(group_name(job_id), event, what=f"{message.get('type')} of job {job_id}")


def publish_access_changed(job_ids: list[int]) -> None:
    """Tell the consumers of these jobs to check again whether their user may still watch.

    Sent when a dataset or a job is shared with fewer people; a consumer whose user lost
    access closes its socket (4404), so a watching browser stops receiving the job's images.
    """
    for job_id in job_ids:
        _send(group_name(job_id), {"type": ACCESS_TYPE}, what=f"access change of job {job_id}")


def close_token_sockets(key_hash: str) -> None:
    """Close every websocket opened with the (just revoked) API token hashed ``key_hash``."""
    _send(token_group(key_hash), {"type": REVOKED_TYPE}, what="a revoked token's close")


def close_user_sockets(user_id: int) -> None:
    """Close every websocket of the (just deactivated or deleted) user ``user_id``."""
    _send(user_group(user_id), {"type": USER_GONE_TYPE}, what=f"user {user_id}'s close")


def _send(group: str, event: dict[str, Any], *, what: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            _send_in_memory(layer, group, event)
        else:
            async_to_sync(layer.group_send)(group, event)
    except Exception:
        logger.warning("could not send %s", what, exc_info=True)


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
