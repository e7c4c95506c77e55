"""A metering HTTP proxy for the system tests: counts what barge sends.

It sits between barge and one S3 endpoint (like faultproxy.FaultProxy: one
request per connection, forwarded unchanged, so SigV4 signatures still
match) and records every request: method, path, query, Content-Length,
how many body bytes actually arrived from the client (counted as they
arrive, so a body cut short by kill -9 counts what was sent), and the
status the server answered.  Requests are grouped into runs
(`new_run()`), so a test can ask what one barge process sent.

Options
  rate      cap on request-body bytes per second, shared by all connections
            (a slow link: makes a copy last long enough to be killed at
            many different moments); None for no cap.
  answer    callable(method, path, query) -> None to forward, or
            (status, code) to answer that error instead (the server never
            sees the request); a realistic permanent refusal such as 403
            AccessDenied for one key.
  hold      callable(method, path, query) -> True to forward the request
            and then hold the server's answer (`Request.held` is set) until
            `release()`: the server has acted, the client does not know yet
            (a client killed in that window, e.g. during
            CompleteMultipartUpload).

Bodies are read fully before they are forwarded: a body that does not
arrive complete is never forwarded (like a server seeing a reset).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from proxybase import Listener, content_length, header


@dataclass
class Request:
    run: int
    method: str
    path: str                   # percent-decoded path (/bucket/key)
    query: dict                 # first value of each query parameter
    length: int                 # Content-Length the client announced
    received: int = 0           # body bytes that arrived
    status: Optional[int] = None  # the answer (None: never answered)
    held: bool = False          # the answer is being held (see `hold`)
    t: float = field(default_factory=time.monotonic)

    @property
    def complete(self) -> bool:
        return self.received >= self.length

    def key(self, bucket: str) -> Optional[str]:
        """The object key when the path is /bucket/key."""
        pre = f"/{bucket}/"
        return self.path[len(pre):] if self.path.startswith(pre) else None


class MeterProxy(Listener):
    CHUNK = 64 << 10

    def __init__(self, upstream_port: int, rate: Optional[float] = None,
                 answer: Optional[Callable[[str, str, dict], Optional[Tuple[int, str]]]] = None,
                 hold: Optional[Callable[[str, str, dict], bool]] = None):
        self.upstream_port = upstream_port
        self.rate = rate
        self.answer = answer
        self.hold = hold
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.requests: List[Request] = []
        self.run = 0
        self.active = 0
        self._next_slot = 0.0     # the paced clock of the bandwidth cap
        # Small receive buffers (inherited by accepted sockets): the cap then
        # paces the sender, instead of the kernel swallowing megabytes.
        self._listen(backlog=256, rcvbuf=128 << 10)

    # ---- for the tests --------------------------------------------------

    def close(self) -> None:
        self.released.set()
        super().close()

    def release(self) -> None:
        """Lets held answers go (to whoever is still there)."""
        self.released.set()

    def new_run(self) -> int:
        with self.lock:
            self.run += 1
            return self.run

    def of_run(self, run: Optional[int] = None) -> List[Request]:
        with self.lock:
            return [r for r in self.requests if run is None or r.run == run]

    def put_bytes(self, run: Optional[int] = None) -> int:
        """Body bytes of PUT requests (objects and parts) that arrived."""
        return sum(r.received for r in self.of_run(run) if r.method == "PUT")

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Waits until no connection is being served (after a kill, the
        proxy may still be reading what the dead client had sent)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.active == 0:
                    return True
            time.sleep(0.02)
        return False

    # ---- the proxy ------------------------------------------------------

    def _accepted(self) -> None:
        with self.lock:
            self.active += 1

    def _pace(self, n: int) -> None:
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self._next_slot)
            self._next_slot = start + n / self.rate
            wait = self._next_slot - now
        if wait > 0:
            time.sleep(wait)

    def _serve(self, conn: socket.socket) -> None:
        try:
            head, rest = self._read_head(conn)
            if head is None:
                return
            lines = head.split(b"\r\n")
            method, target, _ = lines[0].decode("latin-1").split(" ", 2)
            length = content_length(head)
            if header(head, b"transfer-encoding") is not None:
                raise AssertionError("meterproxy: chunked request bodies are not supported")
            u = urllib.parse.urlsplit(target)
            query = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
            req = Request(self.run, method, urllib.parse.unquote(u.path), query, length)
            with self.lock:
                req.run = self.run
                self.requests.append(req)
            body = bytearray(rest[:length])
            self._pace(len(body))
            with self.lock:
                req.received = len(body)
            while len(body) < length:
                chunk = conn.recv(min(self.CHUNK, length - len(body)))
                if not chunk:
                    return                       # the client went away mid-body
                self._pace(len(chunk))
                body += chunk
                with self.lock:
                    req.received = len(body)
            ans = self.answer(method, req.path, query) if self.answer else None
            if ans is not None:
                status, code = ans
                xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                       f"<Message>answered by meterproxy</Message></Error>").encode()
                conn.sendall(f"HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\n"
                             f"Connection: close\r\nContent-Length: {len(xml)}\r\n\r\n".encode()
                             + (xml if method != "HEAD" else b""))
                req.status = status
                return
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            fwd = [l for l in lines if not l.lower().startswith(b"connection:")]
            up.sendall(b"\r\n".join(fwd) + b"\r\nConnection: close\r\n\r\n" + bytes(body))
            resp = b""
            while True:
                chunk = up.recv(1 << 20)
                if not chunk:
                    break
                resp += chunk
            up.close()
            try:
                req.status = int(resp.split(b" ", 2)[1])
            except (IndexError, ValueError):
                req.status = -1
            if self.hold and self.hold(method, req.path, query):
                req.held = True
                self.released.wait(120)
            conn.sendall(resp)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1
