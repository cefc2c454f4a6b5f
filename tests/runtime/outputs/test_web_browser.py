"""The web view in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
frames decoded from a real video file stream into the page, the names show, a screenshot is kept
(test-artifacts/serve/web-view.png, ignored by git)."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edgeclass.runtime.outputs.events import EventConfig
from edgeclass.runtime.outputs.live import LiveOutputs, ServeOptions
from edgeclass.runtime.sources import open_source
from serve_helpers import ARTIFACTS, require_binary

TOKEN = "browser-token"
NAME = "Eileen Collins"  # the astronaut in scikit-image's photo


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory):
    """A real photo (scikit-image's astronaut, 256 px) drifting right, 24 frames, MJPG."""
    import skimage.data

    img = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), (256, 256))
    path = tmp_path_factory.mktemp("video") / "astronaut.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12, (256, 256))
    for dx in range(0, 96, 4):
        w.write(np.roll(img, dx, axis=1))
    w.release()
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = require_binary("chromium", "chromium")
    driver_path = require_binary("chromedriver", "chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--window-size=900,700", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(15)
    yield driver
    driver.quit()


def feed(outputs: LiveOutputs, video, stop: threading.Event) -> None:
    """The loop's part: each decoded frame (with a box and name drawn) and its region, ~12 FPS, looping."""
    frames = list(open_source(str(video)))
    i = 0
    while not stop.is_set():
        image = frames[i % len(frames)].copy()
        dx = (i % len(frames)) * 4
        region = {"track": 1, "name": NAME, "score": 0.93, "box": [80 + dx, 16, 140 + dx, 86], "confirmed": True}  # her face
        outputs.observe(0, image, [region], frame=i)
        x1, y1, x2, y2 = region["box"]
        cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 0), 2)
        outputs.publish(0, image, [region], frame=i)
        outputs.status({"fps": 12.0, "ms": {"inference": {"p50": 4.2}}, "dropped": 0, "reconnects": 0})
        i += 1
        stop.wait(1 / 12)


CANVAS_DIGEST = """
const img = document.getElementById('stream-0');
if (!img || !img.naturalWidth) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const g = c.getContext('2d');
g.drawImage(img, 0, 0);
const d = g.getImageData(0, 0, c.width, c.height).data;
let h = 0;
for (let i = 0; i < d.length; i += 61) h = (h * 31 + d[i]) | 0;
return [img.naturalWidth, img.naturalHeight, h];
"""


def test_browser_plays_the_stream_and_shows_the_names(browser, astronaut_video):
    from selenium.webdriver.support.ui import WebDriverWait

    info = {"backend": "onnxruntime CPUExecutionProvider", "model": {"arch": "resnet18", "classes": 2}, "sources": ["front door"]}
    outputs = LiveOutputs(ServeOptions(serve="127.0.0.1:0", serve_token=TOKEN, event_config=EventConfig(stable_frames=2)), info)
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(outputs, astronaut_video, stop), daemon=True)
    feeder.start()
    try:
        browser.get(f"http://127.0.0.1:{outputs.web.port}/?token={TOKEN}")
        wait = WebDriverWait(browser, 10, poll_frequency=0.1)
        first = wait.until(lambda d: d.execute_script(CANVAS_DIGEST))
        assert first[:2] == [256, 256]  # the MJPEG image element decoded a frame of the video
        time.sleep(0.5)
        second = browser.execute_script(CANVAS_DIGEST)
        assert second[:2] == [256, 256] and second[2] != first[2], "the stream must keep playing"
        wait.until(lambda d: NAME in d.find_element("id", "regions-0").text)
        wait.until(lambda d: "appear" in d.find_element("id", "event-rows").text)
        page = browser.find_element("tag name", "body").text
        assert "front door" in page and "FPS 12.0" in page and "inference 4.2 ms" in page and "93%" in page
        shot = ARTIFACTS / "serve" / "web-view.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        browser.get(f"http://127.0.0.1:{outputs.web.port}/")  # without the token: nothing but 401
        assert "unauthorized" in browser.find_element("tag name", "body").text and NAME not in browser.page_source
    finally:
        stop.set()
        feeder.join(5)
        outputs.close()
