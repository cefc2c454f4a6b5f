"""Shared by tests/test_serve_*.py and tests/test_events_*.py (not a test module): free ports, raw HTTP
on 127.0.0.1, an MJPEG part reader, a local webhook receiver, and the Debian binaries the tests need."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"  # ignored by git; the browser test's screenshot goes here


def require_binary(name: str, package: str) -> str:
    """The path of a Debian binary the test drives; outside CI a skip that says how to install it,
    in CI (CI=true, where `make test-deps` installed it) a failure."""
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if path:
        return path
    reason = f"{name} is missing: apt-get install -y {package} (make test-deps does it as root)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def raw_request(port: int, data: bytes, timeout: float = 5.0) -> Tuple[int, bytes]:
    """Send raw bytes, return (status code, whole answer); the server closes or answers within timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except socket.timeout:
            pass
    answer = b"".join(chunks)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def get(port: int, path: str, headers: Optional[Dict[str, str]] = None, timeout: float = 5.0) -> Tuple[int, Dict[str, str], bytes]:
    """A plain HTTP/1.0 GET (no keep-alive, no chunking): (status, headers, body)."""
    lines = [f"GET {path} HTTP/1.0", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        f = s.makefile("rb")
        status = int(f.readline().split()[1])
        head = _headers(f)
        body = f.read()
    return status, head, body


def _headers(f) -> Dict[str, str]:
    out = {}
    while True:
        line = f.readline().strip()
        if not line:
            return out
        k, v = line.decode("latin-1").split(":", 1)
        out[k.strip().lower()] = v.strip()


class MjpegViewer:
    """A viewer of /stream/N.mjpg over a raw socket (``rcvbuf`` shrinks its receive buffer: a slow phone)."""

    def __init__(self, port: int, n: int = 0, query: str = "", rcvbuf: Optional[int] = None, timeout: float = 5.0):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET /stream/{n}.mjpg{query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        self.f = self.sock.makefile("rb")
        self.status = int(self.f.readline().split()[1])
        self.headers = _headers(self.f)

    def part(self) -> Tuple[Dict[str, str], bytes]:
        """The next JPEG of the stream and its part headers (x-frame: the loop's frame index)."""
        line = self.f.readline()
        while line in (b"\r\n", b"\n"):
            line = self.f.readline()
        assert line.strip() == b"--edgeclass-frame", line[:80]
        head = _headers(self.f)
        return head, self.f.read(int(head["content-length"]))

    def close(self) -> None:
        self.f.close()
        self.sock.close()


class Receiver:
    """A local webhook receiver on 127.0.0.1:port: records each POSTed JSON body; ``answer(body) -> status``
    and ``delay`` (seconds before answering) make it fail or slow."""

    def __init__(self, port: int, answer: Optional[Callable[[dict], int]] = None, delay: float = 0.0):
        self.port, self.delay = port, delay
        self.answer = answer or (lambda body: 200)
        self.bodies: List[dict] = []
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(receiver.delay)
                status = receiver.answer(body)
                with receiver._lock:
                    receiver.attempts += 1
                    if status < 300:
                        receiver.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def ids(self) -> List[int]:
        with self._lock:
            return [b["id"] for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
