"""A fault-injecting HTTP proxy for the system tests.

It sits between barge and one S3 endpoint and forwards each request
unchanged (SigV4 signs the Host header, which names the proxy, and the
server checks the signature against the Host it receives), one request per
connection.  With probability `rate` a request gets a fault instead:

  before forwarding (the server never sees the request):
    503   503 SlowDown with an XML error body
    429   429 with Retry-After: 1
    500   500 InternalError
    reset the connection is reset without an answer
  after forwarding (the server acted; the answer is damaged):
    truncate  half of the response body, then the connection closes

Faults that lose a server-side effect (truncate) can be limited to some
methods so a test decides what it exercises.  Counters say what was done.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
from collections import Counter


class FaultProxy:
    def __init__(self, upstream_port: int, rate: float = 0.2, seed: int = 1,
                 faults=("503", "429", "500", "reset"), truncate_methods=("GET",)):
        self.upstream_port = upstream_port
        self.rate = rate
        self.faults = list(faults)
        self.truncate_methods = set(truncate_methods)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopped = True
        self.sock.close()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_head(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        return head, rest

    @staticmethod
    def _length(head: bytes) -> int:
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                return int(value.strip())
        return 0

    def _pick(self, method: str):
        with self.lock:
            self.counts["requests"] += 1
            if self.rng.random() >= self.rate:
                return None
            choices = list(self.faults)
            if method not in self.truncate_methods and "truncate" in choices:
                choices.remove("truncate")
            if not choices:
                return None
            f = self.rng.choice(choices)
            self.counts[f] += 1
            return f

    def _serve(self, conn):
        try:
            head, rest = self._read_head(conn)
            if head is None:
                return
            method = head.split(b" ", 1)[0].decode()
            need = self._length(head) - len(rest)
            body = rest
            while need > 0:
                chunk = conn.recv(min(need, 1 << 20))
                if not chunk:
                    return
                body += chunk
                need -= len(chunk)
            fault = self._pick(method)
            if fault == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if fault in ("503", "429", "500"):
                code, reason, xml_code = {"503": (503, "Slow Down", "SlowDown"),
                                          "429": (429, "Too Many Requests", "TooManyRequests"),
                                          "500": (500, "Internal Server Error", "InternalError")}[fault]
                xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{xml_code}</Code>"
                       f"<Message>injected by faultproxy</Message></Error>").encode()
                extra = b"Retry-After: 1\r\n" if fault == "429" else b""
                conn.sendall(f"HTTP/1.1 {code} {reason}\r\n".encode() + extra +
                             b"Content-Type: application/xml\r\nConnection: close\r\n" +
                             f"Content-Length: {len(xml)}\r\n\r\n".encode() +
                             (xml if method != "HEAD" else b""))
                return
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            # one request per connection, both ways
            lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
            up.sendall(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body)
            resp = b""
            while True:
                chunk = up.recv(1 << 20)
                if not chunk:
                    break
                resp += chunk
            up.close()
            if fault == "truncate":
                rhead, _, rbody = resp.partition(b"\r\n\r\n")
                if len(rbody) > 1:
                    conn.sendall(rhead + b"\r\n\r\n" + rbody[: len(rbody) // 2])
                    return
            conn.sendall(resp)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
