"""The DECTRIS SIMPLON REST API: detector and stream configuration, commands.

Every value is JSON: ``GET .../config/<name>`` answers ``{"value": ...}``, ``PUT`` takes
``{"value": ...}``; ``PUT .../command/arm`` answers the series' ``{"sequence id": ...}``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from apps.core.live.stream import StreamError


class Simplon:
    """The SIMPLON API of the detector control unit at ``http://host:port``."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.base = f"http://{host}:{port}"
        self.timeout = timeout
        self.version = str(self._call("GET", "/detector/api/version/")["value"])

    def detector_config(self, name: str) -> Any:
        return self._call("GET", f"/detector/api/{self.version}/config/{name}")["value"]

    def set_detector_config(self, name: str, value: Any) -> None:
        self._call("PUT", f"/detector/api/{self.version}/config/{name}", {"value": value})

    def set_stream_config(self, name: str, value: Any) -> None:
        self._call("PUT", f"/stream/api/{self.version}/config/{name}", {"value": value})

    def command(self, name: str) -> Any:
        return self._call("PUT", f"/detector/api/{self.version}/command/{name}")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - always http://host:port
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                text = answer.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise StreamError(
                f"DECTRIS {self.base}: {method} {path} answered {exc.code}: {detail}"
            ) from exc
        except OSError as exc:
            raise StreamError(f"DECTRIS {self.base}: {method} {path} failed ({exc}).") from exc
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return {"value": text.decode(errors="replace")}
