"""Identity events (appear / change / leave, debounced, per track), the event hub with its JSON lines
file and face snapshots on a bounded disk budget."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.runtime.outputs.events import EventConfig, EventHub, IdentityTracker
from edgeclass.runtime.outputs.sinks import JsonLinesSink
from edgeclass.runtime.outputs.snapshots import SnapshotStore
from serve_helpers import wait_until


def region(track, name, confirmed=True, score=0.9, box=(10, 10, 50, 50)):
    return {"track": track, "name": name, "score": score, "box": list(box) if box else None, "confirmed": confirmed}


def run(tracker, frames, dt=0.1):
    """Feed a list of per-frame region lists; return (frame index, event, name, track) of every event."""
    out = []
    for i, regions in enumerate(frames):
        out += [(i, e["event"], e["name"], e["track"]) for e in tracker.update(regions, 100.0 + i * dt, frame=i)]
    return out


def test_appear_needs_a_stable_confirmed_name_then_leave_after_frames_and_seconds():
    t = IdentityTracker(0, EventConfig(stable_frames=2, leave_frames=3, leave_seconds=0.25))
    frames = [[region(1, "alice", confirmed=False)]] * 2 + [[region(1, "alice")]] * 3 + [[]] * 5
    assert run(t, frames) == [(3, "appear", "alice", 1), (7, "leave", "alice", 1)]


def test_leave_waits_for_both_the_frames_and_the_seconds():
    t = IdentityTracker(0, EventConfig(stable_frames=1, leave_frames=2, leave_seconds=1.0))
    frames = [[region(1, "bob")]] + [[]] * 12
    assert run(t, frames) == [(0, "appear", "bob", 1), (10, "leave", "bob", 1)]  # 10 frames of 0.1 s


def test_change_is_debounced_and_a_flicker_makes_no_event():
    t = IdentityTracker(2, EventConfig(stable_frames=3, leave_frames=5, leave_seconds=0))
    frames = ([[region(7, "alice")]] * 3 + [[region(7, "bob")]] * 2 + [[region(7, "alice")]] * 2  # flicker
              + [[region(7, "bob")]] * 3)
    assert run(t, frames) == [(2, "appear", "alice", 7), (9, "change", "bob", 7)]
    last = t.update([region(7, "carol")] , 200.0)
    assert last == []


def test_change_event_names_the_previous_identity_and_carries_the_region():
    t = IdentityTracker(1, EventConfig(stable_frames=1))
    t.update([region(4, "alice")], 1.0, frame=0)
    [e] = t.update([region(4, "bob", score=np.float32(0.8), box=(5, 6, 70, 80))], 1.1, frame=1)
    assert e == {"event": "change", "time": 1.1, "source": 1, "track": 4, "name": "bob", "previous": "alice",
                 "score": 0.8, "box": [5, 6, 70, 80], "snapshot": None, "frame": 1}


def test_two_people_on_two_tracks_and_strangers():
    t = IdentityTracker(0, EventConfig(stable_frames=1, leave_frames=2, leave_seconds=0))
    frames = [[region(1, "alice"), region(2, "unknown")], [region(1, "alice"), region(2, "unknown"), region(3, "bob")],
              [region(3, "bob")], [region(3, "bob")], [], []]
    assert run(t, frames) == [(0, "appear", "alice", 1), (0, "appear", "unknown", 2), (1, "appear", "bob", 3),
                              (3, "leave", "alice", 1), (3, "leave", "unknown", 2), (5, "leave", "bob", 3)]
    quiet = IdentityTracker(0, EventConfig(stable_frames=1, unknown=False))
    assert run(quiet, [[region(2, "unknown")]] * 3) == []


def test_whole_frame_classification_is_one_pseudo_track_that_appears_and_changes():
    t = IdentityTracker(0, EventConfig(stable_frames=2, leave_frames=1, leave_seconds=0))
    frames = [[region(None, "cat", box=None)]] * 3 + [[region(None, "dog", box=None)]] * 2
    assert run(t, frames) == [(1, "appear", "cat", None), (4, "change", "dog", None)]


def test_bad_event_settings_are_one_line_errors():
    with pytest.raises(EdgeclassError, match="stable_frames"):
        EventConfig(stable_frames=0).validate()


def face_frame(i: int) -> np.ndarray:
    img = np.full((120, 160, 3), 40, np.uint8)
    cv2.circle(img, (40 + i, 60), 20, (200, 180, 160), -1)
    return img


def test_hub_writes_snapshots_before_anyone_hears_of_the_event(tmp_path):
    seen, missing = [], []

    def listener(event):  # called on the dispatcher thread, after the snapshot was written
        seen.append(event)
        if event["snapshot"] is None or not (tmp_path / "snaps" / event["snapshot"].split("/")[-1]).is_file():
            missing.append(event)

    lines = tmp_path / "events.jsonl"
    hub = EventHub([JsonLinesSink(str(lines))], SnapshotStore(str(tmp_path / "snaps")),
                   EventConfig(stable_frames=1, leave_frames=2, leave_seconds=0), source_names=["door"], listeners=[listener])
    emitted = []
    for i in range(8):
        regions = [region(1, "alice", box=(20 + i, 40, 60 + i, 80))] if i < 4 else []
        emitted += hub.update(0, face_frame(i), regions, frame=i, time=50.0 + i)
    hub.close(3.0)
    assert [e["event"] for e in emitted] == ["appear", "leave"] and [e["id"] for e in emitted] == [1, 2]
    assert not missing and [e["id"] for e in seen] == [1, 2]
    written = [json.loads(line) for line in lines.read_text().splitlines()]
    assert written == emitted and written[0]["source_name"] == "door"
    snap = cv2.imread(written[0]["snapshot"])
    assert snap.shape == (60, 60, 3)  # the face box (40 px) padded by a quarter on each side
    assert written[1]["snapshot"] == written[0]["snapshot"]  # a leave shows the face as last saved
    assert hub.stats()["sinks"]["events"]["sent"] == 2


def test_snapshot_budget_keeps_the_newest_files_and_counts_existing_ones(tmp_path):
    store = SnapshotStore(str(tmp_path), max_files=3)
    (tmp_path / "notes.txt").write_text("not ours")
    paths = []
    for i in range(5):
        event = {"id": i + 1, "event": "appear", "time": 1000.0 + i, "source": 0, "track": i, "name": "a/b c"}
        paths.append(store.path_for(event))
        assert store.write(paths[-1], face_frame(i)[:50, :50])
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == sorted(p.name for p in paths[2:])
    assert (tmp_path / "notes.txt").exists() and not list(tmp_path.glob(".*"))  # no temporary file left
    assert "a-b-c" in paths[0].name and store.usage()[0] == 3
    size = paths[-1].stat().st_size
    again = SnapshotStore(str(tmp_path), max_bytes=size * 2 + 1)  # a restart: the budget counts what is there
    again.write(tmp_path / paths[-1].name.replace("_5_", "_6_"), face_frame(9)[:50, :50])
    assert again.usage()[0] == 2 and again.removed == 2


def test_json_lines_from_two_writers_never_mix(tmp_path):
    path = str(tmp_path / "events.jsonl")
    sinks = [JsonLinesSink(path, maxsize=500) for _ in range(2)]

    def put(sink, k):
        for i in range(300):
            assert sink.put({"id": i, "writer": k, "name": "x" * (i % 50)})

    threads = [threading.Thread(target=put, args=(s, k)) for k, s in enumerate(sinks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wait_until(lambda: all(s.pending() == 0 for s in sinks), timeout=10)
    for s in sinks:
        s.close(2)
    records = [json.loads(line) for line in open(path)]
    assert len(records) == 600 and sorted(r["id"] for r in records if r["writer"] == 1) == list(range(300))


def test_unwritable_events_file_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(EdgeclassError, match="--events .*cannot open"):
        JsonLinesSink(str(tmp_path / "file" / "events.jsonl"))
