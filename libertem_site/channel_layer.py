"""The Redis channel layer of a facility (``REDIS_URL`` set), reconnecting after a Redis restart.

After a restart a pooled connection is dead: each host's connection retries once on a
connection error instead of failing the next websocket join or event. The retry is added here,
when the layer is built, not in the settings: naming redis-py's exception there imported redis
(0.1 s of CPU) in every process that sets Django up, ``manage.py analyze`` included.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer
from channels_redis.utils import decode_hosts
from redis.exceptions import ConnectionError as RedisConnectionError


class RetryingRedisChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """channels_redis's layer whose hosts retry a command once after a lost connection."""

    def __init__(self, hosts: Any = None, **kwargs: Any) -> None:
        hosts = [{**host, "retry_on_error": [RedisConnectionError]} for host in decode_hosts(hosts)]
        super().__init__(hosts=hosts, **kwargs)
