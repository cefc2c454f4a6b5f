"""The webhook sink against a local HTTP receiver on 127.0.0.1 that is down, failing or slow."""

from __future__ import annotations

import time

import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.runtime.outputs.sinks import Backoff
from edgeclass.runtime.outputs.webhook import WebhookSink
from serve_helpers import Receiver, free_port, wait_until

FAST = Backoff(initial=0.05, maximum=0.2)


def events(n, start=1):
    return [{"id": i, "event": "appear", "name": f"person{i}", "source": 0} for i in range(start, start + n)]


def test_receiver_down_then_back_gets_every_event_in_order():
    port = free_port()
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", maxsize=10, backoff=FAST, log=lambda line: None)
    assert all(sink.put(e) for e in events(6))
    assert wait_until(lambda: sink.retries >= 3), "the sink must keep retrying while the receiver is down"
    assert "refused" in sink.last_error.lower()
    receiver = Receiver(port)
    try:
        assert wait_until(lambda: len(receiver.ids()) == 6, timeout=10)
        assert receiver.ids() == [1, 2, 3, 4, 5, 6]
        assert sink.put(events(1, 7)[0]) and wait_until(lambda: receiver.ids()[-1:] == [7])
        sink.close(2)
        assert sink.stats()["sent"] == 7 and sink.dropped == 0 and sink.unsent == 0
    finally:
        receiver.close()


def test_past_the_queue_bound_new_events_are_dropped_and_counted():
    port = free_port()
    lines = []
    sink = WebhookSink(f"http://127.0.0.1:{port}/", maxsize=4, backoff=FAST, log=lines.append)
    accepted = [sink.put(e) for e in events(7)]
    assert accepted == [True] * 4 + [False] * 3 and sink.dropped == 3
    assert len(lines) == 1 and "queue full (4)" in lines[0]  # one warning, not one per event
    receiver = Receiver(port)
    try:
        assert wait_until(lambda: len(receiver.ids()) == 4, timeout=10)
        sink.close(2)
        assert receiver.ids() == [1, 2, 3, 4] and sink.stats()["dropped"] == 3
    finally:
        receiver.close()


def test_server_errors_are_retried_and_a_refused_event_is_skipped():
    port = free_port()
    failures = {"left": 2}

    def answer(body):
        if body["id"] == 2:
            return 400  # this one can never be delivered
        if body["id"] == 3 and failures["left"]:
            failures["left"] -= 1
            return 503
        return 200

    receiver = Receiver(port, answer)
    lines = []
    sink = WebhookSink(f"http://127.0.0.1:{port}/", backoff=FAST, log=lines.append)
    try:
        for e in events(4):
            sink.put(e)
        assert wait_until(lambda: receiver.ids() == [1, 3, 4], timeout=10), receiver.ids()
        sink.close(2)
        assert sink.rejected == 1 and sink.retries == 2 and receiver.attempts == 6
        assert any("event 2 refused" in line and "HTTP 400" in line for line in lines)
    finally:
        receiver.close()


def test_a_slow_receiver_never_blocks_put_and_close_is_bounded():
    port = free_port()
    receiver = Receiver(port, delay=2.0)
    sink = WebhookSink(f"http://127.0.0.1:{port}/", backoff=FAST, log=lambda line: None)
    try:
        put_ms = []
        for e in events(20):
            t0 = time.perf_counter()
            assert sink.put(e)
            put_ms.append((time.perf_counter() - t0) * 1e3)
        assert max(put_ms) < 50 and sum(put_ms) < 100, put_ms
        t0 = time.monotonic()
        sink.close(timeout=0.5)
        assert time.monotonic() - t0 < 3.5
        assert sink.unsent >= 18 and sink.sent + sink.unsent + sink.pending() >= 19
    finally:
        receiver.close()


def test_webhook_url_must_be_http():
    for bad in ("ftp://x/y", "127.0.0.1:8000", "http://"):
        with pytest.raises(EdgeclassError, match="--webhook"):
            WebhookSink(bad)


def test_close_cuts_a_long_backoff_short_and_flushes_to_a_receiver_that_came_back():
    port = free_port()
    sink = WebhookSink(f"http://127.0.0.1:{port}/", backoff=Backoff(initial=30.0, maximum=30.0), log=lambda line: None)
    for e in events(3):
        sink.put(e)
    assert wait_until(lambda: sink.retries == 1)  # now in a 30 s backoff
    receiver = Receiver(port)
    try:
        t0 = time.monotonic()
        sink.close(timeout=3.0)
        assert receiver.ids() == [1, 2, 3] and sink.unsent == 0 and time.monotonic() - t0 < 2.5
    finally:
        receiver.close()
