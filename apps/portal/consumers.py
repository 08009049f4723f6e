"""The job websocket: ``/ws/jobs/<id>/`` streams a job's progress to those who may see it.

The messages and close codes are the protocol of ``apps.live.events`` (docs/api.md). A socket
is always accepted, then closed at once with a close code when it may not watch: browsers only
see the code of a socket that was accepted (a refused handshake looks like a network drop, and
a client would retry it forever). A user who may not see the job (or an anonymous one) gets
4404, exactly like a missing job; credentials that went void meanwhile (a revoked token, a
deactivated user) get 4401. On connect the consumer sends a ``status`` message with the job as
the API shows it, and the latest partial preview if there is one, so a late or reconnecting
browser catches up (a finished analysis's status comes with its final image, as the
``finished`` message does); after that it forwards the job group's events. When the dataset or the job
is shared with fewer people, the consumer checks again and closes with 4404 if its user lost
access. A socket opened with an API token (``?token=``) is closed with 4401 when that token is
revoked; every socket of a user is closed with 4401 when the user is deactivated or deleted.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import get_user_model
from django.http import Http404

from apps.accounts.models import ApiToken
from apps.jobs.access import get_job, visible_jobs
from apps.jobs.final_image import stored_final_image
from apps.jobs.models import Job
from apps.jobs.serializers import job_json
from apps.live.events import (
    CLOSE_NOT_FOUND,
    CLOSE_REVOKED,
    group_name,
    partial_message,
    remember_consumer_loop,
    status_message,
    token_group,
    user_group,
)
from apps.results.preview import image_bytes
from apps.results.store import partial_latest, result_array


class WatchingConsumer(AsyncWebsocketConsumer):
    """What the job sockets share: the credential groups, job events, closing."""

    async def join_credential_groups(self) -> None:
        # Joined before the state is read: a revocation from now on closes the socket, and
        # the state read afterwards finds one that came before.
        remember_consumer_loop(asyncio.get_running_loop())
        token_hash = self.scope.get("token_hash")
        if token_hash:
            self.token_group = token_group(token_hash)
            await self.channel_layer.group_add(self.token_group, self.channel_name)
        user = self.scope.get("user")
        if getattr(user, "pk", None) is not None:
            self.user_group = user_group(user.pk)
            await self.channel_layer.group_add(self.user_group, self.channel_name)

    async def send_state(self, state: State) -> None:
        for frame in state:
            if isinstance(frame, bytes):
                await self.send(bytes_data=frame)
            else:
                await self.send(text_data=json.dumps(frame))

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, a hop to a thread
        # and back. Job events (several a second) touch no database, and the handlers that do
        # use database_sync_to_async, which closes them itself in the thread it runs on.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        await self._leave_groups()

    async def _end(self, code: int) -> None:
        await self._leave_groups()
        await self.close(code=code)

    async def _leave_groups(self) -> None:
        for name in ("group", "token_group", "user_group"):
            if hasattr(self, name):
                await self.channel_layer.group_discard(getattr(self, name), self.channel_name)
                delattr(self, name)

    async def job_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event["message"]))
        if event.get("binary"):
            await self.send(bytes_data=event["binary"])

    async def socket_close(self, event: dict[str, Any]) -> None:
        """The socket's token was revoked, or its user deactivated or deleted."""
        await self._end(event["code"])


class JobConsumer(WatchingConsumer):
    async def connect(self) -> None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        # Join before reading the state, so nothing published in between is lost; events wait
        # until this handler returns (a consumer handles one message at a time). The access
        # check and the state are read in one trip to the database thread.
        self.group = group_name(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.join_credential_groups()
        state = await database_sync_to_async(visible_state)(
            self.scope.get("user"), job_id, self.scope.get("token_hash")
        )
        await self.accept()  # also to refuse: browsers see the close code of an accepted socket
        if isinstance(state, int):
            await self._end(state)
            return
        await self.send_state(state)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The browser only listens; anything it sends is ignored."""

    async def job_access(self, event: dict[str, Any]) -> None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        if not hasattr(self, "group"):
            return  # already closed by an earlier check
        if not await database_sync_to_async(may_watch)(self.scope.get("user"), job_id):
            await self._end(CLOSE_NOT_FOUND)


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Any websocket path that is not a route: closed like a missing job."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)


#: The frames a socket gets on connect: messages, each binary frame after its message.
State = list[dict[str, Any] | bytes]


def may_watch(user: Any, job_id: Any) -> bool:
    return user is not None and visible_jobs(user).filter(pk=int(job_id)).exists()


def visible_state(user: Any, job_id: Any, token_hash: str | None) -> State | int:
    """The job's ``status`` message (a finished analysis's with its final image) and latest
    partial; else the close code: 4404 if ``user`` may not see it, 4401 if the token of
    ``token_hash`` that authenticated them was revoked meanwhile, or they were deactivated or
    deleted."""
    if user is None or user.pk is None:
        return CLOSE_NOT_FOUND
    if not get_user_model().objects.filter(pk=user.pk, is_active=True).exists():
        return CLOSE_REVOKED
    if token_hash and not ApiToken.objects.filter(key_hash=token_hash).exists():
        return CLOSE_REVOKED
    try:
        job = get_job(user, job_id, related=("dataset", "owner"))
    except Http404:
        return CLOSE_NOT_FOUND
    done, total = job.frames_done, job.frames_total
    status = status_message(
        job.pk, job.kind, job.status, done=done, total=total, error=job.error, detail=job_json(job)
    )
    final = stored_final_image(job)
    if final is not None:  # a fast job often ends before the page's socket is open
        return [{**status, "image": final.name}, bytes(final.data)]
    row = partial_latest(job) if job.status == Job.Status.RUNNING else None
    if row is None:
        return [status]
    image = result_array(row)
    message = partial_message(
        job.pk, job.kind, name=row.name, shape=image.shape, done=done, total=total
    )
    return [status, message, image_bytes(image)]
