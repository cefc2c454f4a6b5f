"""``--serve [HOST:]PORT``: the live web view beside the camera loop.

``WebServer`` runs aiohttp in its own thread with its own event loop, so the loop never waits on a
viewer::

    server = WebServer("127.0.0.1", 8080, token=None, info={"backend": ..., "model": ..., "sources": [...]})
    server.start()                                   # binds now: a port in use is an EdgeclassError
    server.publish_frame(0, annotated_bgr, regions)  # per source frame (a copy is kept, nothing else)
    server.publish_status({"fps": 24.8, "ms": {...}, "dropped": 0, "reconnects": 0})
    server.publish_event(event)                      # for /events
    server.close()

Routes (``web_app``): ``/`` page, ``/stream/N.mjpg``, ``/snapshot/N.jpg``, ``/status``, ``/events``,
``/healthz``. With a token every request needs it (``Authorization: Bearer T`` or ``?token=T``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import socket
import threading
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...errors import EdgeclassError
from .frames import FrameHub
from .web_state import ServerState
from .records import stderr_line

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
TOKEN_ENV = "EDGECLASS_SERVE_TOKEN"  # where --serve-token may come from instead of the command line


def parse_address(text: str, default_host: str = DEFAULT_HOST) -> Tuple[str, int]:
    """``--serve`` value -> (host, port): ``8080``, ``0.0.0.0:8080``, ``myhost:8080``, ``[::1]:8080``."""
    text = str(text).strip()
    usage = f"--serve {text!r}: give PORT or HOST:PORT, e.g. 8080, 0.0.0.0:8080 or [::1]:8080"
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    elif text.count(":") > 1:
        raise EdgeclassError(usage + " (an IPv6 address goes in brackets)")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, sep, port = default_host, ":", text
    if not host or not sep:
        raise EdgeclassError(usage)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise EdgeclassError(f"--serve {text!r}: the port must be a number in 0..65535 (e.g. 8080)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True when ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, token: Optional[str]) -> Optional[str]:
    """The one-line warning for a server other machines can reach without a token (None: fine)."""
    if token or is_loopback(host):
        return None
    return (f"warning: the web view on {host} is open to the network without a token; "
            f"add --serve-token (or {TOKEN_ENV}) or serve on 127.0.0.1")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or an EdgeclassError that says why and what to do."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise EdgeclassError(f"cannot serve on {where}: unknown host ({e.strerror}); give an address of this machine, "
                             f"e.g. 127.0.0.1 or 0.0.0.0") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        reason = "the port is in use (another edgeclass or server?); choose another port" \
            if e.errno in (98, 48, 10048) else f"{e.strerror}; give an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
        raise EdgeclassError(f"cannot serve on {where}: {reason}") from None
    sock.setblocking(False)
    return sock


class WebServer:
    """The web view (see the module docstring). ``port=0`` picks a free port (``.port`` after start)."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: Optional[str] = None,
                 info: Optional[Mapping[str, Any]] = None, quality: int = 80, recent_events: int = 100,
                 write_timeout: float = 30.0, log: Callable[[str], None] = stderr_line):
        self.host, self.port = host, int(port)
        self.write_timeout = float(write_timeout)
        self.log = log
        self.hub = FrameHub(quality, on_encoded=self._frame_ready)
        self.state = ServerState(self.hub, token, info or {}, recent_events)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._app: Any = None  # web_app.StreamApp, lives on the server thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> "WebServer":
        """Bind now (an EdgeclassError for a port in use or an address that is not this machine's),
        then serve from a background thread. Call it before opening the camera."""
        try:
            from . import web_app
        except ImportError as e:
            raise EdgeclassError(f"--serve needs aiohttp ({e.name} is missing): pip install 'edgeclass[serve]'") from None
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        warning = exposure_warning(self.host, self.state.token)
        if warning:
            self.log(warning)
        ready: "concurrent.futures.Future[None]" = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(web_app, sock, ready), name="edgeclass-web", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=15)
        except Exception as e:
            sock.close()
            raise EdgeclassError(f"cannot serve on {self.host}:{self.port}: {e}") from None
        self.hub.start()
        return self

    def _serve(self, web_app: Any, sock: socket.socket, ready: "concurrent.futures.Future[None]") -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._app = web_app.StreamApp(self.state, self.write_timeout)
            loop.run_until_complete(self._app.start(sock))
        except BaseException as e:
            ready.set_exception(e)
            loop.close()
            return
        self._loop = loop
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    # -- the loop's side: never blocks on a viewer ------------------------------------------------
    def publish_frame(self, source: int, image: np.ndarray, regions: Sequence[Mapping[str, Any]] = (),
                      frame: Optional[int] = None, time: Optional[float] = None) -> None:
        self.hub.publish(source, image, regions, frame, time)

    def publish_status(self, status: Mapping[str, Any]) -> None:
        self.state.set_status(status)

    def publish_event(self, event: Mapping[str, Any]) -> None:
        self.state.add_event(event)

    def set_info(self, info: Mapping[str, Any]) -> None:
        self.state.set_info(info)

    def _frame_ready(self, source: int) -> None:  # encoder thread
        loop, app = self._loop, self._app
        if loop is not None and app is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(app.frame_ready, source)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def close(self, timeout: float = 3.0) -> None:
        """Stop serving: streams end, sockets close, threads end (each within ``timeout``)."""
        self.state.closing = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._app.stop(), loop).result(timeout)
            except Exception:
                pass
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        self._loop = self._thread = None
        self.hub.close(timeout)

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
