"""proxybase.py - what the test proxies share: a loopback listening socket
whose connections are each served on a thread of their own, and the reading
of a request head.

A proxy subclasses Listener, sets up its own state, then calls
`self._listen(...)`; it implements `_serve(conn)` and may implement
`_accepted()` (run in the accepting thread before the connection's thread
starts).  `close()` stops accepting.
"""

from __future__ import annotations

import socket
import threading
from typing import Optional, Tuple


class Listener:
    sock: socket.socket
    port: int
    url: str
    stopped: bool

    def _listen(self, backlog: int = 128, rcvbuf: Optional[int] = None,
                start: bool = True) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf is not None:  # inherited by the accepted sockets
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopped = False
        if start:
            self._start_accepting()

    def _start_accepting(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._accepted()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _accepted(self) -> None:
        pass

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    @staticmethod
    def _read_head(conn: socket.socket) -> Tuple[Optional[bytes], bytes]:
        """The request head (without its blank line) and the bytes after it,
        or (None, b"") if the client closed first."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        return head, rest


def header(head: bytes, name: bytes) -> Optional[str]:
    """The value of header `name` (lower case) in a request head, or None."""
    for line in head.split(b"\r\n")[1:]:
        n, _, value = line.partition(b":")
        if n.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def content_length(head: bytes) -> int:
    value = header(head, b"content-length")
    return int(value) if value else 0
