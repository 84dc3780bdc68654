"""A TCP proxy on 127.0.0.1 that a test switches between passing, black-holing and refusing.

- ``pass``: bytes flow both ways;
- ``black_hole``: connections are accepted (new and old alike) but nothing is forwarded either
  way, as when a firewall drops packets or the server's host froze;
- ``refuse``: the listening socket is closed (new connections are refused) and open ones are
  reset, as when the server is down but its host answers.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from enum import StrEnum


class Mode(StrEnum):
    PASS = "pass"
    BLACK_HOLE = "black_hole"
    REFUSE = "refuse"


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``mode`` decides what happens to the bytes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = Mode.PASS
        self._selector = selectors.DefaultSelector()
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._holes: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._selector.register(self._wakeup_r, selectors.EVENT_READ)
        self._listener: socket.socket | None = None
        self.port = self._listen(0)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()

    # -- control ------------------------------------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        """Switch at once; ``refuse`` resets every open connection too."""
        with self._lock:
            self.mode = mode
        self._call_in_loop(mode)

    def close(self) -> None:
        self._stopping = True
        self._wake()
        self._thread.join(timeout=5)
        for sock in [*self._pairs, *self._holes]:
            sock.close()
        if self._listener is not None:
            self._listener.close()
        self._wakeup_r.close()
        self._wakeup_w.close()
        self._selector.close()

    # -- the loop -------------------------------------------------------------------------------

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ)
        return int(listener.getsockname()[1])

    def _call_in_loop(self, mode: Mode) -> None:
        self._pending_mode = mode
        self._applied = threading.Event()
        self._wake()
        self._applied.wait(timeout=5)

    def _wake(self) -> None:
        self._wakeup_w.send(b"x")

    def _apply_mode(self) -> None:
        mode = self._pending_mode
        if mode is Mode.REFUSE:
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for sock in [*self._pairs, *self._holes]:
                self._drop(sock, reset=True)
            self._holes.clear()
        elif self._listener is None:
            self._listen(self.port)
        self._applied.set()

    def _run(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(timeout=1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._wakeup_r:
                    sock.recv(4096)
                    if hasattr(self, "_applied") and not self._applied.is_set():
                        self._apply_mode()
                elif sock is self._listener:
                    self._accept()
                elif sock in self._pairs:
                    self._forward(sock)
                elif sock in self._holes:
                    self._swallow(sock)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        client.setblocking(False)
        if self.mode is Mode.BLACK_HOLE:
            # Accepted, never connected on: what the client sends disappears for good.
            self._holes.add(client)
            self._selector.register(client, selectors.EVENT_READ)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
        self._pairs[client] = upstream
        self._pairs[upstream] = client
        self._selector.register(client, selectors.EVENT_READ)
        self._selector.register(upstream, selectors.EVENT_READ)

    def _swallow(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._holes.discard(sock)
            self._selector.unregister(sock)
            sock.close()

    def _forward(self, sock: socket.socket) -> None:
        if self.mode is Mode.BLACK_HOLE:
            # Read and drop: the sender's bytes are acknowledged and never arrive, as on a
            # network that swallows them.
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:  # a side that gives up closes; the other side hears of it
                self._drop(sock, reset=False)
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(sock, reset=False)
            return
        peer = self._pairs[sock]
        try:
            peer.setblocking(True)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._drop(sock, reset=False)

    def _drop(self, sock: socket.socket, *, reset: bool) -> None:
        peer = self._pairs.pop(sock, None)
        for one in (sock, peer):
            if one is None:
                continue
            self._pairs.pop(one, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(one)
            if reset:
                # SO_LINGER 0: close sends RST, as a host whose server died would.
                with contextlib.suppress(OSError):
                    one.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
            one.close()
