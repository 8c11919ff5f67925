"""YOLO post-processing edge cases: bad sizes, a wrong-sized image, NMS that suppresses the rest,
more candidates than NMS takes."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homesec_nvr.core.filters.yolo_postprocess import (
    MAX_NMS_CANDIDATES,
    Letterbox,
    decode_output,
    nms,
)


@pytest.mark.parametrize("sizes", [(0, 480, 640, 640), (640, 480, 640, -1)])
def test_letterbox_refuses_empty_sizes(sizes: tuple[int, int, int, int]) -> None:
    # Given a frame or input size that is not positive
    # When a letterbox is fitted / Then it is refused
    with pytest.raises(ValueError, match="must be positive"):
        Letterbox.fit(*sizes)


def test_fill_refuses_an_image_of_the_wrong_size() -> None:
    # Given a 640x480 frame into a 320x320 input (resized to 320x240)
    box = Letterbox.fit(640, 480, 320, 320)
    buffer = box.new_input_buffer()
    before = buffer.copy()

    # When a 320x320 image is written into it
    with pytest.raises(ValueError, match="expected a 320x240 RGB image"):
        box.fill(buffer, np.zeros((320, 320, 3), dtype=np.uint8))

    # Then the buffer is untouched
    assert np.array_equal(buffer, before)


def test_nms_ends_when_the_best_box_suppresses_all_others() -> None:
    # Given three nearly identical boxes
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 9.5], [0, 0, 9.5, 10]], dtype=np.float32)
    scores = np.array([0.5, 0.9, 0.7], dtype=np.float32)

    # When NMS runs
    kept = nms(boxes, scores, 0.5)

    # Then only the best one is left
    assert kept.tolist() == [1]


def test_more_candidates_than_nms_takes_keeps_the_best() -> None:
    # Given more confident anchors than NMS considers, all the same box, the best one last
    count = MAX_NMS_CANDIDATES + 50
    output = np.zeros((1, 5, count), dtype=np.float32)
    output[0, :4, :] = np.array([[50.0], [50.0], [20.0], [20.0]], dtype=np.float32)
    output[0, 4, :] = np.linspace(0.5, 0.8, count, dtype=np.float32)
    output[0, 4, -1] = 0.99

    # When the output is decoded
    result = decode_output(output, None, 0.25, 0.45, Letterbox.fit(100, 100, 100, 100))

    # Then one detection is left: the best anchor's, at its box
    assert len(result) == 1
    assert result.scores.tolist() == pytest.approx([0.99])
    assert result.boxes.tolist() == [pytest.approx([40.0, 40.0, 60.0, 60.0])]
