"""The follow socket: ``/ws/jobs/`` streams one job after another on one connection.

A page that starts job after job (the analysis page, a drag at a time) keeps this socket open
and sends ``{"follow": <job id>}`` for each new job, instead of opening ``/ws/jobs/<id>/`` per
job and waiting for its handshake. Every follow is checked like the per-job socket's connect
(``visible_state``: owner, the groups the job or its dataset is shared with, staff); the job's
``status`` (and latest partial, or final image) comes first, then the job's events, the same
messages the per-job socket sends. Following a job stops following the one before. A job the
user may not see gets a ``refused`` message (4404, as for a missing job) and the socket stays
open; so does a job the user loses while following it (unshared). Void credentials (a revoked
token, a deactivated user) close the socket with 4401, anonymous users get 4404 on connect.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async

from apps.live.events import (
    CLOSE_NOT_FOUND,
    CLOSE_REVOKED,
    follow_error_message,
    group_name,
    refused_message,
)
from apps.portal.consumers import WatchingConsumer, may_watch, visible_state

FOLLOW_FORM = '{"follow": <job id>}'


class FollowConsumer(WatchingConsumer):
    following: int | None = None

    async def connect(self) -> None:
        await self.join_credential_groups()
        user = self.scope.get("user")
        await self.accept()  # also to refuse: browsers see the close code of an accepted socket
        if user is None or user.pk is None:
            await self._end(CLOSE_NOT_FOUND)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        target = follow_target(text_data)
        if isinstance(target, str):
            await self.send(text_data=json.dumps(follow_error_message(target)))
            return
        await self._follow(target)

    async def _follow(self, job_id: int) -> None:
        await self._unfollow()
        # Join before reading the state, as the per-job socket's connect does: events wait
        # until this handler returns, and none published in between is lost.
        self.following = job_id
        self.group = group_name(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        state = await database_sync_to_async(visible_state)(
            self.scope.get("user"), job_id, self.scope.get("token_hash")
        )
        if state == CLOSE_REVOKED:
            await self._end(CLOSE_REVOKED)
        elif isinstance(state, int):
            await self._refuse(job_id)
        else:
            await self.send_state(state)

    async def _unfollow(self) -> None:
        self.following = None
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            del self.group

    async def _refuse(self, job_id: int) -> None:
        await self._unfollow()
        await self.send(text_data=json.dumps(refused_message(job_id)))

    async def job_event(self, event: dict[str, Any]) -> None:
        # An event of the job followed before may already wait in this consumer's queue.
        if event["message"].get("id") == self.following:
            await super().job_event(event)

    async def job_access(self, event: dict[str, Any]) -> None:
        job_id = self.following
        if job_id is None:
            return
        if not await database_sync_to_async(may_watch)(self.scope.get("user"), job_id):
            await self._refuse(job_id)


def follow_target(text: str | None) -> int | str:
    """The job id a follow message names, or a sentence saying what is wrong with it."""
    if text is None:
        return f"Send text frames of the form {FOLLOW_FORM}, not binary ones."
    try:
        message = json.loads(text)
    except ValueError:
        return f"The message is no JSON; send {FOLLOW_FORM}."
    if not isinstance(message, dict) or set(message) != {"follow"}:
        return f"The message must be exactly {FOLLOW_FORM}."
    job_id = message["follow"]
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 0 < job_id < 2**63:
        shown = json.dumps(job_id)
        return f"The job id must be a positive whole number, not {shown}: send {FOLLOW_FORM}."
    return job_id
