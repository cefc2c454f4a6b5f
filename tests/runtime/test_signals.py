"""SIGTERM ends a served run cleanly and in bounded time: the loop stops after its step, the events
still queued reach the JSON lines file, a webhook that is down cannot hold the exit past its timeout,
the web view's port is free again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

from serve_helpers import REPO, free_port, wait_until

LOOP = """
import sys, time
import numpy as np
from edgeclass.runtime.outputs.events import EventConfig
from edgeclass.runtime.outputs.live import LiveOutputs, ServeOptions
from edgeclass.runtime.signals import StopRequest

events, hook, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
image = np.zeros((96, 128, 3), np.uint8)
with StopRequest() as stop:
    outputs = LiveOutputs(ServeOptions(serve=f"127.0.0.1:{port}", events=events, webhook=hook,
                                       event_config=EventConfig(stable_frames=1, leave_frames=2, leave_seconds=0)),
                          {"sources": ["cam"]}, log=lambda line: print(line, file=sys.stderr, flush=True))
    print("ready", flush=True)
    frame = 0
    while not stop.requested:
        # a new person every 3 frames: appear, leave, appear, ...
        regions = [{"track": frame // 3, "name": f"p{frame // 6}", "score": 0.9, "box": [1, 1, 20, 20],
                    "confirmed": True}] if frame % 6 < 3 else []
        outputs.observe(0, image, regions, frame=frame)
        outputs.publish(0, image, regions, frame=frame)
        frame += 1
        time.sleep(0.01)
    emitted = outputs.events.emitted
    outputs.close(timeout=1.0)
print("stopped", frame, emitted, flush=True)
"""


def test_sigterm_flushes_the_events_and_exits_in_bounded_time(tmp_path):
    events, port = tmp_path / "events.jsonl", free_port()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LOOP), str(events), f"http://127.0.0.1:{free_port()}/", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert wait_until(lambda: events.exists() and events.stat().st_size > 0, timeout=10)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert elapsed < 4.0  # the webhook is down: its events are counted, the exit is not held
    _, _frames, emitted = out.split()
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(lines) == int(emitted) > 0 and [e["id"] for e in lines] == list(range(1, int(emitted) + 1))
    assert "webhook:" in err and "not delivered at exit" in err and "Traceback" not in err
    with socket.socket() as s:  # the web view let go of its port
        s.bind(("127.0.0.1", port))
