"""A TCP proxy in front of a live portal that keeps the job websockets passing through it, so
that a test can cut them as a network failure or a restarting proxy would."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to the portal on ``target_port``, byte for byte; counts the
    websocket connections (requests for ``/ws/``) that the portal answered."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.answered: list[socket.socket] = []  # the client sides of answered websockets
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every websocket connection open now, without a closing handshake."""
        with self._lock:
            for client in self.answered:
                client.shutdown(socket.SHUT_RDWR)

    def wait_for_websockets(self, count: int, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while len(self.answered) < count:
            assert time.monotonic() < deadline, f"{len(self.answered)} of {count} websockets"
            time.sleep(0.05)

    def close(self) -> None:
        """Refuse new connections (those open stay)."""
        # shutdown wakes the thread blocked in accept(); a close alone leaves it listening
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        request = client.recv(65536)
        upstream.sendall(request)
        if request.startswith(b"GET /ws/"):
            answer = upstream.recv(65536)  # the handshake's answer, then it is open
            client.sendall(answer)
            with self._lock:
                self.answered.append(client)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for end in (source, sink):
        with contextlib.suppress(OSError):  # the other pump shut it already
            end.shutdown(socket.SHUT_RDWR)
