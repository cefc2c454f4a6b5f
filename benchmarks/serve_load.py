"""Does the web view slow the camera loop? A loop doing a fixed amount of work per frame, with and without
8 MJPEG viewers and a webhook receiver that takes 2 s to answer each event.

The loop: a 640x480 frame of scikit-image's astronaut photo (moving), a fixed CPU load standing in
for inference (``--work-ms`` of numpy matrix products, single-threaded, releasing the GIL like
ONNX Runtime does), a box drawn, then (served rounds) ``LiveOutputs.observe`` + ``publish`` +
``status``. Two people take turns in front of the camera, so events (appear, leave) flow to the
webhook all along. The viewers (8 threads reading /stream/0.mjpg as fast as they can) and the webhook
receiver run in separate processes, as a phone and a home-automation box would. Rounds alternate
bare / served so a change in the machine's load hits both; medians are reported.

    .venv/bin/python benchmarks/serve_load.py [--seconds 10] [--rounds 3] [--work-ms 20] [--viewers 8]

Target: the served FPS at least 95% of the bare FPS. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- helper processes ---------------------------------------------------------------------------------
def viewers_main(port: int, count: int, seconds: float) -> None:
    """``count`` MJPEG viewers reading as fast as they can; prints the frames they got (JSON)."""
    got = [0] * count
    stop = time.monotonic() + seconds

    def view(i: int) -> None:
        while time.monotonic() < stop:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(b"GET /stream/0.mjpg HTTP/1.0\r\nHost: x\r\n\r\n")
                    f = s.makefile("rb")
                    while f.readline() not in (b"\r\n", b""):
                        pass
                    while time.monotonic() < stop:
                        line = f.readline()
                        if not line:
                            break
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                            f.readline()
                            f.read(length)
                            got[i] += 1
            except OSError:
                time.sleep(0.1)

    threads = [threading.Thread(target=view, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 5)
    print(json.dumps({"frames": got}), flush=True)


def receiver_main(port: int, delay: float) -> None:
    """A webhook receiver that answers every POST after ``delay`` s (until killed)."""

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Slow)
    server.daemon_threads = True
    server.serve_forever()


# -- the loop -----------------------------------------------------------------------------------------
def frames_of_astronaut(width: int = 640, height: int = 480, count: int = 60) -> list:
    import cv2
    import skimage.data

    big = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), (width * 2, height * 2))
    return [np.ascontiguousarray(big[(i * 2) % height:(i * 2) % height + height, (i * 3) % width:(i * 3) % width + width])
            for i in range(count)]


def calibrate_work(ms: float) -> int:
    """How many 192x192 matrix products take ``ms`` milliseconds here."""
    a = np.random.default_rng(0).random((192, 192), dtype=np.float32)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.5:
        a @ a
        n += 1
    return max(1, int(n * ms / 500))


def regions_at(i: int) -> list:
    """Two people taking turns: alice for 30 frames, nobody for 10, bob for 30, nobody for 10."""
    k = i % 80
    if k < 30:
        return [{"track": 1 + 2 * (i // 80), "name": "alice", "score": 0.93, "box": [300, 60, 420, 200], "confirmed": True}]
    if 40 <= k < 70:
        return [{"track": 2 + 2 * (i // 80), "name": "bob", "score": 0.88, "box": [200, 80, 320, 220], "confirmed": True}]
    return []


def loop(frames: list, work: int, seconds: float, outputs=None) -> dict:
    import cv2

    a = np.random.default_rng(1).random((192, 192), dtype=np.float32)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        image = frames[n % len(frames)].copy()
        for _ in range(work):
            a @ a
        regions = regions_at(n)
        if outputs is not None:
            outputs.observe(0, image, regions, frame=n)
        for r in regions:
            cv2.rectangle(image, tuple(r["box"][:2]), tuple(r["box"][2:]), (0, 255, 0), 2)
        if outputs is not None:
            outputs.publish(0, image, regions, frame=n)
            outputs.status({"fps": n / max(1e-6, time.perf_counter() - t0)})
        n += 1
    return {"fps": n / (time.perf_counter() - t0), "frames": n}


def served_round(frames: list, work: int, seconds: float, viewers: int, hook_port: int) -> dict:
    from edgeclass.runtime.outputs.events import EventConfig
    from edgeclass.runtime.outputs.live import LiveOutputs, ServeOptions

    options = ServeOptions(serve="127.0.0.1:0", webhook=f"http://127.0.0.1:{hook_port}/hook", event_queue=1000,
                           event_config=EventConfig(stable_frames=2, leave_frames=5, leave_seconds=0))
    outputs = LiveOutputs(options, {"backend": "benchmark", "sources": ["astronaut"]}, log=lambda line: None)
    viewer_proc = subprocess.Popen([sys.executable, __file__, "--role", "viewers", "--port", str(outputs.web.port),
                                    "--viewers", str(viewers), "--seconds", str(seconds + 1.5)], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # viewers connected and streaming before the clock starts
    try:
        result = loop(frames, work, seconds, outputs)
    finally:
        got = json.loads(viewer_proc.communicate(timeout=seconds + 30)[0])["frames"]
        hook = outputs.events.sinks[0].stats()
        encoded = outputs.web.hub.encoded
        outputs.close(timeout=0.5)
    return {**result, "viewer_frames": got, "encoded": encoded, "webhook": hook}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0, help="per round")
    ap.add_argument("--rounds", type=int, default=3, help="bare/served pairs")
    ap.add_argument("--work-ms", type=float, default=20.0, help="fixed CPU work per frame (stands for inference)")
    ap.add_argument("--viewers", type=int, default=8)
    ap.add_argument("--role", choices=("main", "viewers", "receiver"), default="main", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "viewers":
        return viewers_main(args.port, args.viewers, args.seconds)
    if args.role == "receiver":
        return receiver_main(args.port, 2.0)

    frames = frames_of_astronaut()
    work = calibrate_work(args.work_ms)
    hook_port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--role", "receiver", "--port", str(hook_port)])
    bare, served = [], []
    try:
        loop(frames, work, 1.0)  # warm-up
        for _ in range(args.rounds):
            bare.append(loop(frames, work, args.seconds))
            served.append(served_round(frames, work, args.seconds, args.viewers, hook_port))
    finally:
        receiver.kill()
        receiver.wait(5)
    ratios = [s["fps"] / b["fps"] for b, s in zip(bare, served)]
    med = lambda xs: float(np.median(xs))  # noqa: E731
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.rounds} rounds x {args.seconds:.0f} s, {args.work_ms:.0f} ms of work per 640x480 frame\n")
    print("| loop | FPS (median) | served / bare | viewer frames/s (each) | JPEGs encoded/s | webhook: sent / queued / dropped |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| bare | {med([b['fps'] for b in bare]):.1f} | 1.000 | – | – | – |")
    each = med([med(s["viewer_frames"]) / (args.seconds + 1.5) for s in served])
    hook = served[-1]["webhook"]
    print(f"| + web view, {args.viewers} viewers, webhook answering in 2 s | {med([s['fps'] for s in served]):.1f} | "
          f"{med(ratios):.3f} (rounds: {', '.join(f'{r:.3f}' for r in ratios)}) | {each:.1f} | "
          f"{med([s['encoded'] / args.seconds for s in served]):.1f} | {hook['sent']} / {hook['pending']} / {hook['dropped']} |")


if __name__ == "__main__":
    main()
