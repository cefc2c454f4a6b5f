"""The aiohttp application behind ``WebServer``: routes, the token check and the MJPEG streams.

Runs only on the server thread. Each stream viewer holds nothing but the sequence number of the last
frame it sent: it waits for the next encoded frame, writes it (a slow client waits in the write while
newer frames replace the one it would get next, so it skips frames) and repeats until it leaves.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
from importlib import resources
from typing import Any, Dict, Optional

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .frames import BOUNDARY
from .web_state import ServerState

SECURITY_HEADERS = {
    "Server": "edgeclass",  # not the Python and aiohttp versions
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token may be in the page's URL
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
}


class QuietBadRequests(logging.LoggerAdapter):
    """aiohttp's server log without a traceback per malformed request (anyone on the network can
    send those; each is answered 400). Everything else is logged as aiohttp logs it."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if isinstance(kwargs.get("exc_info"), HttpProcessingError):
            return
        super().log(level, msg, *args, **kwargs)


def page_html() -> str:
    return resources.files(__package__).joinpath("static", "index.html").read_text(encoding="utf-8")


def presented_token(request: web.Request) -> Optional[str]:
    """The token a request carries: ``Authorization: Bearer T`` or ``?token=T``."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.query.get("token")


def token_matches(given: Optional[str], token: str) -> bool:
    """Constant-time comparison (the time does not tell how much of the token was right)."""
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def unauthorized() -> web.Response:
    return web.Response(status=401, text="401: unauthorized\n",
                        headers={"WWW-Authenticate": 'Bearer realm="edgeclass"', **SECURITY_HEADERS})


class StreamApp:
    """The routes over one ``ServerState``; ``frame_ready`` is called on this loop by the encoder."""

    def __init__(self, state: ServerState, write_timeout: float = 30.0):
        self.state = state
        self.write_timeout = write_timeout
        self._events: Dict[int, asyncio.Event] = {}
        self._page = page_html()
        self._runner: Optional[web.AppRunner] = None
        self.app = web.Application(middlewares=[self._guard])
        self.app.add_routes([
            web.get("/", self.index),
            web.get("/status", self.status),
            web.get("/events", self.events),
            web.get("/healthz", self.healthz),
            web.get(r"/stream/{n:\d+}.mjpg", self.stream),
            web.get(r"/snapshot/{n:\d+}.jpg", self.snapshot),
        ])

    async def start(self, sock: socket.socket) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0,
                                     handler_cancellation=True, logger=QuietBadRequests(logging.getLogger("aiohttp.server"), {}))
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        for ev in self._events.values():
            ev.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def frame_ready(self, source: int) -> None:
        """Wake the viewers of ``source``: a new JPEG is there."""
        ev = self._events.pop(source, None)
        if ev is not None:
            ev.set()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        token = self.state.token
        if token is not None and not token_matches(presented_token(request), token):
            return unauthorized()
        response = await handler(request)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    # -- routes ---------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", charset="utf-8")

    async def status(self, request: web.Request) -> web.Response:
        return self._json(self.state.status())

    async def events(self, request: web.Request) -> web.Response:
        limit = request.query.get("limit", "")
        events = self.state.events(int(limit) if limit.isdigit() else None)
        return self._json({"events": events, "total": self.state.events_total})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def snapshot(self, request: web.Request) -> web.Response:
        n = self._source(request)
        loop = asyncio.get_running_loop()
        jpeg = await loop.run_in_executor(None, self.state.hub.snapshot, n)
        if jpeg is None:
            raise web.HTTPServiceUnavailable(text=f"no frame from source {n} yet\n", headers={"Retry-After": "1"})
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        n = self._source(request)
        hub = self.state.hub
        response = web.StreamResponse(headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", **SECURITY_HEADERS})
        if request.method == "HEAD":  # the headers only: a HEAD request is no viewer
            await response.prepare(request)
            return response
        hub.watch(n, +1)
        try:
            await response.prepare(request)
            sent = -1
            while not self.state.closing:
                ev = self._events.setdefault(n, asyncio.Event())
                item = hub.encoded_frame(n)
                if item is None or item.seq == sent:
                    await self._wait(ev, request)
                    continue
                await asyncio.wait_for(response.write(item.part), self.write_timeout)
                sent = item.seq
        except (ConnectionError, asyncio.TimeoutError):
            pass  # the viewer left (or stopped reading for write_timeout): its state goes with it
        finally:
            hub.watch(n, -1)
        return response

    async def _wait(self, ev: asyncio.Event, request: web.Request) -> None:
        try:
            await asyncio.wait_for(ev.wait(), 1.0)
        except asyncio.TimeoutError:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("viewer left") from None

    # -- helpers --------------------------------------------------------------------------------
    def _source(self, request: web.Request) -> int:
        n = int(request.match_info["n"])
        if not self.state.knows_source(n):
            raise web.HTTPNotFound(text=f"no source {n}\n")
        return n

    @staticmethod
    def _json(obj: Any) -> web.Response:
        return web.Response(text=json.dumps(obj, separators=(",", ":"), default=str), content_type="application/json")
