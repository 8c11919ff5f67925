"""Live detection on detect frames: the real ONNX filter on one frame, pacing, one report each."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import numpy as np

from custom_components.homesec_nvr.core.filters.onnx import (
    FrameDetections,
    OnnxFilterSettings,
    OnnxObjectFilter,
)
from custom_components.homesec_nvr.core.models import LiveDetection
from custom_components.homesec_nvr.core.sources.rtsp.live_detect import LiveDetector

from .onnx_models import bright_cell_model


def frame(bright: bool) -> av.VideoFrame:
    """A dark 320x180 frame, with a white square when `bright`."""
    rgb = np.full((180, 320, 3), 20, dtype=np.uint8)
    if bright:
        rgb[60:120, 100:160] = 250
    return av.VideoFrame.from_ndarray(rgb, format="rgb24")


class Reports:
    def __init__(self) -> None:
        self.items: list[LiveDetection] = []
        self.event = threading.Event()

    def __call__(self, detection: LiveDetection) -> None:
        self.items.append(detection)
        self.event.set()


def wait_idle(detector: LiveDetector, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while detector._busy and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_real_filter_finds_the_object_on_one_frame_and_it_is_reported_once(
    tmp_path: Path,
) -> None:
    # Given the camera's ONNX filter (a tiny model that calls bright things a person)
    model = bright_cell_model(tmp_path / "bright.onnx")
    object_filter = OnnxObjectFilter(OnnxFilterSettings(model_path=model))
    reports = Reports()
    detector = LiveDetector(
        camera_id="cam",
        camera_name="Driveway",
        detect=object_filter.detect_frame_blocking,
        trigger_classes=frozenset({"person"}),
        on_detection=reports,
        interval_s=0.0,
    )

    # When a dark frame, then two frames with the object, are offered for one event
    assert detector.offer(frame(bright=False), "evt-1")
    wait_idle(detector)
    assert reports.items == []
    assert detector.offer(frame(bright=True), "evt-1")
    assert reports.event.wait(5)
    wait_idle(detector)
    taken_again = detector.offer(frame(bright=True), "evt-1")
    detector.close()

    # Then the event is reported once, with the frame as JPEG and the label
    (report,) = reports.items
    assert report.event_key == "evt-1" and report.label == "person"
    assert report.confidence > 0.9
    assert report.snapshot_jpeg is not None and report.snapshot_jpeg.startswith(b"\xff\xd8")
    assert not taken_again  # a reported event is not looked at again
    assert detector.frames_checked == 2


def test_frames_are_paced_and_slow_down_when_an_event_shows_nothing() -> None:
    # Given a detector whose model takes no time and finds nothing
    looked = []

    def detect(_frame: av.VideoFrame) -> FrameDetections:
        looked.append(time.monotonic())
        return FrameDetections((), None, 0.1)

    detector = LiveDetector(
        camera_id="cam",
        camera_name="Driveway",
        detect=detect,
        trigger_classes=frozenset({"person"}),
        on_detection=lambda _d: None,
        interval_s=0.0,
        slow_interval_s=60.0,
        fast_frames=3,
    )

    # When frames keep coming for one event
    taken = []
    for _ in range(6):
        taken.append(detector.offer(frame(bright=False), "evt-2"))
        wait_idle(detector)
    # And a new event starts
    new_event = detector.offer(frame(bright=False), "evt-3")
    detector.close()

    # Then the first frames are looked at, then the event slows down; a new event is fast again
    assert taken == [True, True, True, False, False, False]
    assert new_event
    assert len(looked) == 4


def test_a_failing_model_is_logged_once_and_live_detection_goes_on(caplog: object) -> None:
    # Given a model that fails on every frame
    def detect(_frame: av.VideoFrame) -> FrameDetections:
        raise RuntimeError("model file vanished")

    reports = Reports()
    detector = LiveDetector(
        camera_id="cam",
        camera_name="Driveway",
        detect=detect,
        trigger_classes=frozenset({"person"}),
        on_detection=reports,
        interval_s=0.0,
    )

    # When frames are offered
    for key in ("evt-4", "evt-5"):
        assert detector.offer(frame(bright=True), key)
        wait_idle(detector)
    detector.close()

    # Then nothing is reported, the errors are counted and the detector still takes frames
    assert reports.items == []
    assert detector.errors == 2
    assert detector.diagnostics()["last_error"] == "RuntimeError: model file vanished"
    assert "live detection failed" in caplog.text  # type: ignore[attr-defined]
    assert caplog.text.count("model file vanished") == 1  # type: ignore[attr-defined]


def test_an_offer_after_close_is_refused_quietly() -> None:
    # Given a detector that was closed
    detector = LiveDetector(
        camera_id="cam",
        camera_name="Driveway",
        detect=lambda _f: FrameDetections((), None, 0.0),
        trigger_classes=frozenset({"person"}),
        on_detection=lambda _d: None,
        interval_s=0.0,
    )
    assert detector.offer(frame(bright=False), "evt-6")
    wait_idle(detector)
    detector.close()

    # When a frame comes in afterwards (the worker restarts with the next session)
    taken = detector.offer(frame(bright=False), "evt-7")
    wait_idle(detector)
    detector.close()

    # Then it is looked at on a fresh thread (close only ends the current one)
    assert taken
    assert detector.frames_checked == 2
