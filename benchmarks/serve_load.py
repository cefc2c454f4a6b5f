"""Does the web view slow the camera loop? A loop doing a fixed amount of work per frame, with and without
8 MJPEG viewers and a webhook receiver that takes 2 s to answer each event.

The loop: a 640x480 frame of scikit-image's astronaut photo (moving), a fixed CPU load standing in
for inference (one single-threaded numpy matrix product of about ``--work-ms``, which releases the
GIL for its whole length like ONNX Runtime's and TensorRT's inference calls), a box drawn, then (served rounds) ``LiveOutputs.observe`` + ``publish`` +
``status``. Two people take turns in front of the camera, so events (appear, leave) flow to the
webhook all along. The viewers (8 threads reading /stream/0.mjpg as fast as they can) and the webhook
receiver run in separate processes, as a phone and a home-automation box would. They stay up the
whole time while the loop alternates 1 s slices without and with the outputs (ABBA order; without
them nothing is sent, so they idle), so a change in the machine's load hits both sides of each pair;
the median of the per-pair ratios is reported.

    .venv/bin/python benchmarks/serve_load.py [--pairs 20] [--slice 1] [--work-ms 20] [--viewers 8]

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
    """The size n of one n x n float32 matrix product that takes ``ms`` milliseconds here: one call that
    releases the GIL for its whole length, as ONNX Runtime's or TensorRT's inference call does."""
    n = 128
    while True:
        a = np.ones((n, n), np.float32)
        t0 = time.perf_counter()
        a @ a
        took = (time.perf_counter() - t0) * 1e3
        if took >= ms / 4 or n >= 4096:
            return int(n * (ms / max(took, 1e-3)) ** (1 / 3))
        n *= 2


def regions_at(i: int) -> list:
    """Two people taking turns: alice for 30 frames, nobody for 10, bob for 30, nobody for 10."""
    k = i % 80
    if k < 30:
        return [{"track": 1 + 2 * (i // 80), "name": "alice", "score": 0.93, "box": [300, 60, 420, 200], "confirmed": True}]
    if 40 <= k < 70:
        return [{"track": 2 + 2 * (i // 80), "name": "bob", "score": 0.88, "box": [200, 80, 320, 220], "confirmed": True}]
    return []


class Loop:
    """The camera loop stand-in; ``run(seconds, outputs)`` -> (frames, wall s, process CPU s, loop thread CPU s)."""

    def __init__(self, frames: list, work: int):
        self.frames, self.n = frames, 0
        self.a = np.random.default_rng(1).random((work, work), dtype=np.float32)

    def run(self, seconds: float, outputs=None) -> tuple:
        import cv2

        n0, t0, c0, l0 = self.n, time.perf_counter(), time.process_time(), time.thread_time()
        while time.perf_counter() - t0 < seconds:
            n = self.n
            image = self.frames[n % len(self.frames)].copy()
            self.a @ self.a  # "inference"
            regions = regions_at(n)
            if outputs is not None:
                outputs.observe(0, image, regions, frame=n)
            for r in regions:
                cv2.rectangle(image, tuple(r["box"][:2]), tuple(r["box"][2:]), (0, 255, 0), 2)
            if outputs is not None:
                outputs.publish(0, image, regions, frame=n)
                outputs.status({"fps": (n - n0) / max(1e-6, time.perf_counter() - t0)})
            self.n += 1
        return self.n - n0, time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - l0


def measure(frames: list, work: int, pairs: int, slice_s: float, viewers: int, hook_port: int) -> dict:
    """``pairs`` bare/served slices in ABBA order, with the server, the viewers and the receiver up all
    along (idle during bare slices: no frame, nothing to send): per-pair FPS ratios."""
    from edgeclass.runtime.outputs.events import EventConfig
    from edgeclass.runtime.outputs.live import LiveOutputs, ServeOptions

    options = ServeOptions(serve="127.0.0.1:0", webhook=f"http://127.0.0.1:{hook_port}/hook", event_queue=1000,
                           event_config=EventConfig(stable_frames=2, leave_frames=5, leave_seconds=0))
    outputs = LiveOutputs(options, {"backend": "benchmark", "sources": ["astronaut"]}, log=lambda line: None)
    total = pairs * 2 * slice_s
    viewer_proc = subprocess.Popen([sys.executable, __file__, "--role", "viewers", "--port", str(outputs.web.port),
                                    "--viewers", str(viewers), "--seconds", str(total + 2)], stdout=subprocess.PIPE, text=True)
    loop = Loop(frames, work)
    loop.run(1.0, outputs)  # warm-up; the viewers connect
    sums = {"bare": [0, 0.0, 0.0, 0.0], "served": [0, 0.0, 0.0, 0.0]}
    ratios, encoded0 = [], outputs.web.hub.encoded
    try:
        for k in range(pairs):
            order = ("bare", "served") if k % 2 == 0 else ("served", "bare")
            fps = {}
            for kind in order:
                got = loop.run(slice_s, outputs if kind == "served" else None)
                fps[kind] = got[0] / got[1]
                for i, v in enumerate(got):
                    sums[kind][i] += v
            ratios.append(fps["served"] / fps["bare"])
        encoded = outputs.web.hub.encoded - encoded0
        hook = outputs.events.sinks[0].stats()
    finally:
        got = json.loads(viewer_proc.communicate(timeout=total + 30)[0])["frames"]
        outputs.close(timeout=0.5)
    return {"ratios": ratios, "sums": sums, "viewer_frames": got, "encoded": encoded, "webhook": hook, "served_s": sums["served"][1]}


def loop_side_ms(frames: list, n: int = 2000) -> dict:
    """CPU ms per frame the loop thread itself spends in observe / publish / status (8 viewers or not,
    the same: the loop hands over a copy and returns)."""
    from edgeclass.runtime.outputs.live import LiveOutputs, ServeOptions

    outputs = LiveOutputs(ServeOptions(serve="127.0.0.1:0", webhook=f"http://127.0.0.1:{free_port()}/"),
                          {"sources": ["astronaut"]}, log=lambda line: None)
    out = {}
    try:
        for name in ("observe", "publish", "status"):
            t0 = time.thread_time()
            for i in range(n):
                regions = regions_at(i)
                if name == "observe":
                    outputs.observe(0, frames[i % len(frames)], regions, frame=i)
                elif name == "publish":
                    outputs.publish(0, frames[i % len(frames)], regions, frame=i)
                else:
                    outputs.status({"fps": 30.0, "ms": {"inference": {"p50": 7.0}}, "dropped": 0})
            out[name] = (time.thread_time() - t0) * 1e3 / n
    finally:
        outputs.close(timeout=0.2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=20, help="bare/served slice pairs")
    ap.add_argument("--slice", type=float, default=1.0, help="seconds per slice")
    ap.add_argument("--work-ms", type=float, default=20.0, help="fixed CPU work per frame (stands for inference)")
    ap.add_argument("--viewers", type=int, default=8)
    ap.add_argument("--role", choices=("main", "viewers", "receiver"), default="main", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "viewers":
        return viewers_main(args.port, args.viewers, args.seconds)
    if args.role == "receiver":
        return receiver_main(args.port, 2.0)

    frames = frames_of_astronaut()
    work = calibrate_work(args.work_ms)
    hook_port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--role", "receiver", "--port", str(hook_port)])
    try:
        r = measure(frames, work, args.pairs, args.slice, args.viewers, hook_port)
    finally:
        receiver.kill()
        receiver.wait(5)
    (bn, bw, bc, bl), (sn, sw, sc, sl) = r["sums"]["bare"], r["sums"]["served"]
    ratios = r["ratios"]
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.pairs} pairs of {args.slice:g} s slices (ABBA); per 640x480 frame one {work}x{work} matrix product "
          f"(sized to take {args.work_ms:.0f} ms at start)\n")
    print("| loop | FPS | served / bare: median of pairs [IQR] | CPU ms/frame: loop thread | CPU ms/frame: process | viewer frames/s (each) | JPEGs encoded/s | webhook: sent / queued / dropped |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| bare | {bn / bw:.1f} | 1.000 | {bl * 1e3 / bn:.2f} | {bc * 1e3 / bn:.2f} | – | – | – |")
    hook = r["webhook"]
    print(f"| + web view, {args.viewers} viewers, webhook answering in 2 s | {sn / sw:.1f} | {med:.3f} [{q1:.3f}, {q3:.3f}] | "
          f"{sl * 1e3 / sn:.2f} | {sc * 1e3 / sn:.2f} | {np.median(r['viewer_frames']) / sw:.1f} | {r['encoded'] / sw:.1f} | "
          f"{hook['sent']} / {hook['pending']} / {hook['dropped']} |")
    side = loop_side_ms(frames)
    print(f"\nloop thread's own cost per frame: observe {side['observe']:.3f} ms, publish {side['publish']:.3f} ms, "
          f"status {side['status']:.3f} ms (CPU time)")


if __name__ == "__main__":
    main()
