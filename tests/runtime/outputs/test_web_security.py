"""The web view's token and its answers to malformed HTTP, over raw sockets on 127.0.0.1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeclass.runtime.outputs.web import WebServer
from serve_helpers import MjpegViewer, get, raw_request

TOKEN = "s3cret-Tok3n"
ROUTES = ["/", "/status", "/events", "/healthz", "/snapshot/0.jpg", "/stream/0.mjpg", "/stream/9.mjpg", "/no/such/page"]


@pytest.fixture(scope="module")
def guarded():
    s = WebServer("127.0.0.1", 0, token=TOKEN, info={"backend": "secret-backend", "sources": ["door"]}).start()
    s.publish_frame(0, np.full((48, 64, 3), 90, np.uint8), [{"track": 1, "name": "alice", "score": 0.9, "box": None, "confirmed": True}])
    yield s
    s.close()


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_is_401_without_the_right_token_and_says_nothing_else(guarded, path):
    answers = [
        get(guarded.port, path),
        get(guarded.port, path + "?token=wrong"),
        get(guarded.port, path + f"?token={TOKEN}x"),
        get(guarded.port, path, {"Authorization": "Bearer " + TOKEN[:-1]}),
        get(guarded.port, path, {"Authorization": TOKEN}),  # not a Bearer header
    ]
    for status, head, body in answers:
        assert status == 401 and body == b"401: unauthorized\n"
        assert head["www-authenticate"].startswith("Bearer") and head["server"] == "edgeclass"
        assert b"alice" not in body and b"secret-backend" not in body


def test_the_right_token_in_a_header_or_the_query_opens_every_route(guarded):
    for headers, query in (({"Authorization": f"Bearer {TOKEN}"}, ""), ({"Authorization": f"bearer {TOKEN}"}, ""), ({}, f"?token={TOKEN}")):
        assert get(guarded.port, "/healthz" + query, headers)[0] == 200
        status, _, body = get(guarded.port, "/status" + query, headers)
        assert status == 200 and json.loads(body)["sources"][0]["regions"][0]["name"] == "alice"
        assert get(guarded.port, "/snapshot/0.jpg" + query, headers)[0] == 200
        assert get(guarded.port, "/no/such/page" + query, headers)[0] == 404
    viewer = MjpegViewer(guarded.port, 0, query=f"?token={TOKEN}")
    assert viewer.status == 200 and viewer.part()[1][:2] == b"\xff\xd8"
    viewer.close()


MALFORMED = {
    "not http": b"GARBAGE\r\n\r\n",
    "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "request line over 8 kB": b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header over 8 kB": b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 20000 + b"\r\n\r\n",
    "TLS hello on plain HTTP": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    "unknown HTTP version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "negative Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "Content-Length with chunked": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "NUL in the path": b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
}


def test_malformed_requests_get_4xx_and_the_server_keeps_serving(capfd):
    s = WebServer("127.0.0.1", 0, info={"sources": ["door"]}).start()
    try:
        for name, data in MALFORMED.items():
            status, _ = raw_request(s.port, data)
            assert 400 <= status < 500, (name, status)
            assert get(s.port, "/healthz")[0] == 200, f"not serving after: {name}"
        ok = b"Host: x\r\nConnection: close\r\n\r\n"
        assert raw_request(s.port, b"POST /status HTTP/1.1\r\nContent-Length: 5\r\n" + ok[:-2] + b"\r\nhello")[0] == 405
        assert raw_request(s.port, b"GET /stream/abc.mjpg HTTP/1.1\r\n" + ok)[0] == 404
        assert raw_request(s.port, b"GET /../../etc/passwd HTTP/1.1\r\n" + ok)[0] == 404
        assert raw_request(s.port, b"GET /events?limit=%zz HTTP/1.1\r\n" + ok)[0] == 200
        s.publish_frame(0, np.zeros((8, 8, 3), np.uint8), [])
        status, answer = raw_request(s.port, b"HEAD /stream/0.mjpg HTTP/1.1\r\n" + ok, timeout=3)
        assert status == 200 and answer.endswith(b"\r\n\r\n") and s.hub.viewers() == 0  # headers only, no stream
        assert get(s.port, "/status")[0] == 200
    finally:
        s.close()
    assert "Traceback" not in capfd.readouterr().err  # 400s, not a traceback per bad request in the log
