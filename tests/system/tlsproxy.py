"""tlsproxy.py - a TLS front for a plain-HTTP test server.

    proxy = TLSProxy(("127.0.0.1", backend_port), certfile, keyfile)
    proxy.start()        # proxy.port: HTTPS on 127.0.0.1
    ...
    proxy.stop()

Each accepted connection is wrapped in TLS (the given certificate) and its
bytes are relayed both ways to the backend. `make_ca(dir)` writes a
self-signed CA and a server certificate for 127.0.0.1 / localhost signed by
it, with the openssl command line tool.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

from proxybase import Listener


def make_ca(d: Path) -> dict:
    """ca.pem (the CA), server.pem + server.key (for 127.0.0.1), and
    other-ca.pem (an unrelated CA) under d."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=barge test CA", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=another CA", "-keyout", str(d / "other-ca.key"), "-out", str(d / "other-ca.pem"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(d / "ext.cnf"), "-out", str(d / "server.pem"))
    return {"ca": d / "ca.pem", "other_ca": d / "other-ca.pem",
            "cert": d / "server.pem", "key": d / "server.key"}


class TLSProxy(Listener):
    def __init__(self, backend: tuple, certfile: Path, keyfile: Path):
        self.backend = backend
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(certfile), str(keyfile))
        self.handshake_failures = 0
        self._listen(backlog=64, start=False)
        self.url = f"https://127.0.0.1:{self.port}"

    def start(self) -> "TLSProxy":
        self._start_accepting()
        return self

    def stop(self) -> None:
        self.close()

    def _serve(self, c: socket.socket) -> None:
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshake_failures += 1
            c.close()
            return
        try:
            b = socket.create_connection(self.backend)
        except OSError:
            t.close()
            return

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(1 << 16)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(b, t), daemon=True).start()
        pump(t, b)
