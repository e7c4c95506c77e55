"""A fault-injecting HTTP proxy for the system tests.

It sits between barge and one S3 endpoint and forwards each request
unchanged (SigV4 signs the Host header, which names the proxy, and the
server checks the signature against the Host it receives), one request per
connection.  Faults are chosen per request, by rate or by request pattern.

Fault classes
  before forwarding (the server never sees the request):
    503           503 SlowDown with an XML error body
    429           429 TooManyRequests with Retry-After: `retry_after` (1 s)
    429-no-retry-after  429 TooManyRequests without Retry-After
    500           500 InternalError
    403           403 AccessDenied (a permanent refusal: keys or policy)
    404-bucket    404 NoSuchBucket (the bucket is gone)
    reset         the connection is reset without an answer
    reset-upload  half of the request body is read, then the connection is
                  reset (an upload cut mid-body; only requests with a body)
    delay         the request waits `delay_s` seconds, then goes through
    complete-error  CompleteMultipartUpload answered 200 OK with an
                  <Error>InternalError</Error> body (only POST ?uploadId=)
  after forwarding (the server acted; the answer is damaged):
    truncate      half of the response body, then the connection closes
    reset-body    the head and half of the body, then a reset (RST)
    stall         the head and half of the body (or half of the head when
                  there is no body), then nothing for `stall_s` seconds,
                  then the connection closes
    complete-error-after  the server completed the upload; the answer is
                  replaced by 200 OK with an <Error>InternalError</Error>
                  body (only POST ?uploadId=)
    corrupt-body  the whole answer, with one byte in the middle of its body
                  inverted (same length: only a checksum can tell)
  not a fault (the answer is whole and right):
    slow-body     the answer is sent at `slow_rate` bytes per second

Who gets a fault
  FaultProxy(port, rate=0.2, seed=1, faults=(...), truncate_methods=("GET",))
      each request gets, with probability `rate`, one of `faults` picked at
      random (the interface test_faults.py uses).  Faults that lose a
      server-side effect (truncate, reset-body, stall, complete-error-after)
      go only to requests whose method is in `truncate_methods`.
  FaultProxy(port, rules=[Rule(...), ...], seed=...)
      the first rule that matches a request and wins its `rate` decides;
      a Rule names a fault and may restrict it to methods, operations
      (see `operation`), a key regex (searched in the decoded key) and a
      maximum count.  `rules` replaces rate/faults.

Answers of a test's own
  FaultProxy(port, ..., answer=fn, rewrite=fn, request=fn)
      answer(method, target) -> bytes or None: a whole HTTP response sent
      instead of forwarding the request (None: forward it); rewrite(method,
      target, response) -> bytes: the upstream's whole response as the
      client will get it; request(method, target, head) -> head: the
      request head as the upstream will get it.  They run before any fault
      of the request; the request is counted in `counts`/`ops` either way.

Counters: `counts` has "requests" and one entry per fault class injected
(so the sum of the others is the number of faults); `ops` counts requests
per operation; `log` lists (fault, method, operation, key) per injection;
`requests` lists (time.monotonic(), method, operation, key, fault or None)
per request, in arrival order; `answered` lists, per request whose whole
answer was sent, (arrival time, time the answer's last byte was sent,
operation, key, request target, Range header or None).
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

from proxybase import Listener, content_length, header

BEFORE = {"503", "429", "429-no-retry-after", "500", "403", "404-bucket", "reset",
          "reset-upload", "delay", "complete-error"}
AFTER = {"truncate", "reset-body", "stall", "complete-error-after", "corrupt-body"}
PACED = {"slow-body"}
ALL_FAULTS = BEFORE | AFTER | PACED
# Faults after which the server has acted although the client saw a failure.
LOSSY = AFTER

_ERRORS = {
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "429": (429, "Too Many Requests", "TooManyRequests", "Rate limit exceeded."),
    "429-no-retry-after": (429, "Too Many Requests", "TooManyRequests", "Rate limit exceeded."),
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "403": (403, "Forbidden", "AccessDenied", "Access Denied"),
    "404-bucket": (404, "Not Found", "NoSuchBucket", "The specified bucket does not exist"),
}


def operation(method: str, target: str) -> str:
    """The S3 operation of a request line's method and target:
    list, list-uploads, list-parts, get, head, head-bucket, put,
    upload-part, create, complete, abort, delete, other."""
    path, _, query = target.partition("?")
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    has_key = path.strip("/").count("/") >= 1
    if method == "GET":
        if "list-type" in q or not has_key:
            return "list-uploads" if "uploads" in q else "list"
        return "list-parts" if "uploadId" in q else "get"
    if method == "HEAD":
        return "head" if has_key else "head-bucket"
    if method == "PUT":
        return "upload-part" if "partNumber" in q else "put"
    if method == "POST":
        if "uploads" in q:
            return "create"
        if "uploadId" in q:
            return "complete"
    if method == "DELETE":
        return "abort" if "uploadId" in q else "delete"
    return "other"


def request_key(target: str) -> str:
    """The object key of a path-style request target ("" for a bucket)."""
    path = target.partition("?")[0]
    parts = path.lstrip("/").split("/", 1)
    return urllib.parse.unquote(parts[1]) if len(parts) == 2 else ""


@dataclass
class Rule:
    fault: str
    rate: float = 1.0
    methods: Optional[Sequence[str]] = None   # e.g. ("GET",)
    ops: Optional[Sequence[str]] = None       # e.g. ("upload-part", "put")
    key: Optional[str] = None                 # regex, searched in the decoded key
    limit: Optional[int] = None               # at most this many injections

    def __post_init__(self):
        if self.fault not in ALL_FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; known: {sorted(ALL_FAULTS)}")
        self._key_re = re.compile(self.key) if self.key is not None else None
        self.hits = 0

    def matches(self, method: str, op: str, key: str, has_body: bool) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.ops is not None and op not in self.ops:
            return False
        if self._key_re is not None and not self._key_re.search(key):
            return False
        if self.limit is not None and self.hits >= self.limit:
            return False
        if self.fault == "reset-upload" and not has_body:
            return False
        if self.fault.startswith("complete-error") and op != "complete":
            return False
        return True


class FaultProxy(Listener):
    def __init__(self, upstream_port: int, rate: float = 0.2, seed: int = 1,
                 faults=("503", "429", "500", "reset"), truncate_methods=("GET",),
                 rules: Optional[Sequence[Rule]] = None, delay_s: float = 1.0,
                 stall_s: float = 40.0, retry_after: int = 1, slow_rate: int = 16 << 20,
                 answer=None, rewrite=None, request=None):
        self.upstream_port = upstream_port
        self.answer = answer
        self.rewrite = rewrite
        self.request_hook = request
        self.rate = rate
        self.faults = list(faults)
        for f in self.faults:
            if f not in ALL_FAULTS:
                raise ValueError(f"unknown fault {f!r}; known: {sorted(ALL_FAULTS)}")
        self.truncate_methods = set(truncate_methods)
        self.rules = list(rules) if rules is not None else None
        self.delay_s = delay_s
        self.stall_s = stall_s
        self.retry_after = retry_after
        self.slow_rate = slow_rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.ops: Counter = Counter()  # requests seen per operation
        self.log: list = []          # (fault, method, op, key) per injection
        self.requests: list = []     # (monotonic time, method, op, key, fault or None)
        self.answered: list = []     # (arrival, last byte sent, op, key, target, range)
        self._tl = threading.local()  # the request being served, per thread
        self._stop = threading.Event()
        self._listen(backlog=128)

    def close(self):
        self._stop.set()
        super().close()

    @property
    def injected(self) -> int:
        return sum(v for k, v in self.counts.items() if k in BEFORE | AFTER)

    def _pick(self, method: str):
        """The fault for the current request (self._tl.op/.key/.has_body
        describe it), or None.  Subclasses may override it."""
        op = getattr(self._tl, "op", "other")
        key = getattr(self._tl, "key", "")
        has_body = getattr(self._tl, "has_body", False)
        with self.lock:
            self.counts["requests"] += 1
            self.ops[op] += 1
            if self.rules is not None:
                for rule in self.rules:
                    if rule.matches(method, op, key, has_body) and self.rng.random() < rule.rate:
                        rule.hits += 1
                        self.counts[rule.fault] += 1
                        self.log.append((rule.fault, method, op, key))
                        return rule.fault
                return None
            if self.rng.random() >= self.rate:
                return None
            choices = []
            for f in self.faults:
                if f in LOSSY and method not in self.truncate_methods:
                    continue
                if f == "reset-upload" and not has_body:
                    continue
                if f.startswith("complete-error") and op != "complete":
                    continue
                choices.append(f)
            if not choices:
                return None
            f = self.rng.choice(choices)
            self.counts[f] += 1
            self.log.append((f, method, op, key))
            return f

    @staticmethod
    def _reset(conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    @staticmethod
    def _error_xml(code: str, message: str) -> bytes:
        return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
                f"<Message>{message} (injected by faultproxy)</Message>"
                f"<RequestId>faultproxy</RequestId></Error>").encode()

    def _complete_error(self, conn):
        # What S3 documents: 200 OK, then (after whitespace it may send to
        # keep the connection alive) an <Error> in the body.
        xml = b"\n\n" + self._error_xml("InternalError", "We encountered an internal error. "
                                        "Please try again.")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                     b"Connection: close\r\n" +
                     f"Content-Length: {len(xml)}\r\n\r\n".encode() + xml)

    def _serve(self, conn):
        try:
            head, rest = self._read_head(conn)
            if head is None:
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            method = parts[0]
            target = parts[1] if len(parts) > 1 else "/"
            length = content_length(head)
            self._tl.op = operation(method, target)
            self._tl.key = request_key(target)
            self._tl.has_body = length > 0
            fault = self._pick(method)
            t_arrival = time.monotonic()
            with self.lock:
                self.requests.append((t_arrival, method, self._tl.op, self._tl.key, fault))
            need = length - len(rest)
            body = rest
            if fault == "reset-upload":
                # Take about half of the body, then cut the connection.
                want = length // 2
                while len(body) < want:
                    chunk = conn.recv(min(want - len(body), 1 << 20))
                    if not chunk:
                        return
                    body += chunk
                self._reset(conn)
                return
            while need > 0:
                chunk = conn.recv(min(need, 1 << 20))
                if not chunk:
                    return
                body += chunk
                need -= len(chunk)
            canned = self.answer(method, target) if self.answer else None
            if canned is not None:
                conn.sendall(canned)
                return
            if fault == "reset":
                self._reset(conn)
                return
            if fault in _ERRORS:
                code, reason, xml_code, message = _ERRORS[fault]
                xml = self._error_xml(xml_code, message)
                extra = (f"Retry-After: {self.retry_after}\r\n".encode()
                         if fault == "429" else b"")
                conn.sendall(f"HTTP/1.1 {code} {reason}\r\n".encode() + extra +
                             b"Content-Type: application/xml\r\nConnection: close\r\n" +
                             f"Content-Length: {len(xml)}\r\n\r\n".encode() +
                             (xml if method != "HEAD" else b""))
                return
            if fault == "complete-error":
                self._complete_error(conn)
                return
            if fault == "delay":
                if self._stop.wait(self.delay_s):
                    return
            if self.request_hook:
                head = self.request_hook(method, target, head)
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
            if self.rewrite:
                resp = self.rewrite(method, target, resp)
            rhead, _, rbody = resp.partition(b"\r\n\r\n")
            if fault == "truncate":
                if len(rbody) > 1:
                    conn.sendall(rhead + b"\r\n\r\n" + rbody[: len(rbody) // 2])
                    return
            elif fault == "reset-body":
                if rbody:
                    conn.sendall(rhead + b"\r\n\r\n" + rbody[: len(rbody) // 2])
                self._reset(conn)
                return
            elif fault == "stall":
                if rbody:
                    conn.sendall(rhead + b"\r\n\r\n" + rbody[: len(rbody) // 2])
                else:
                    conn.sendall(rhead[: len(rhead) // 2])
                self._stop.wait(self.stall_s)
                return
            elif fault == "complete-error-after":
                self._complete_error(conn)
                return
            elif fault == "corrupt-body" and rbody:
                at = len(rbody) // 2
                rbody = rbody[:at] + bytes([rbody[at] ^ 0xFF]) + rbody[at + 1:]
                resp = rhead + b"\r\n\r\n" + rbody
            if fault == "slow-body":
                step = max(1, self.slow_rate // 50)
                for i in range(0, len(resp), step):
                    if i and self._stop.wait(step / self.slow_rate):
                        return
                    conn.sendall(resp[i:i + step])
            else:
                conn.sendall(resp)
            with self.lock:
                self.answered.append((t_arrival, time.monotonic(), self._tl.op, self._tl.key,
                                      target, header(head, b"range")))
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
