"""YOLO letterbox geometry, NMS and output decoding in numpy (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.homesec_nvr.core.filters.yolo_postprocess import (
    PAD_VALUE,
    Letterbox,
    decode_output,
    nms,
)


@pytest.mark.parametrize(
    ("frame", "model"),
    [
        ((1920, 1080), (640, 384)),
        ((1920, 1080), (640, 640)),
        ((1280, 720), (640, 640)),
        ((640, 480), (640, 384)),
        ((720, 1280), (640, 640)),
        ((333, 211), (320, 320)),
    ],
)
def test_letterbox_round_trip(frame: tuple[int, int], model: tuple[int, int]) -> None:
    # Given random boxes inside a frame and the letterbox of that frame into the model input
    rng = np.random.default_rng(11)
    width, height = frame
    xy1 = rng.uniform(0, [width - 2, height - 2], size=(50, 2))
    xy2 = xy1 + rng.uniform(1, 1, size=(50, 2)) * rng.uniform(1, [width, height], size=(50, 2))
    boxes = np.hstack((xy1, np.minimum(xy2, [width, height]))).astype(np.float32)
    letterbox = Letterbox.fit(width, height, *model)

    # When they are mapped to input pixels and back
    inside = letterbox.to_input(boxes)
    back = letterbox.to_frame(inside)

    # Then they come back unchanged, and sat within the resized (unpadded) area
    assert np.allclose(back, boxes, atol=0.05)
    assert inside[:, (0, 2)].min() >= letterbox.pad_left - 1e-3
    assert inside[:, (0, 2)].max() <= letterbox.pad_left + letterbox.resized_width + 0.5
    assert inside[:, (1, 3)].min() >= letterbox.pad_top - 1e-3
    assert inside[:, (1, 3)].max() <= letterbox.pad_top + letterbox.resized_height + 0.5


def test_letterbox_centres_the_frame_and_pads_with_grey() -> None:
    # Given a 1080p frame going into a 640x640 input
    letterbox = Letterbox.fit(1920, 1080, 640, 640)
    tensor = letterbox.new_input_buffer()
    white = np.full((letterbox.resized_height, letterbox.resized_width, 3), 255, np.uint8)

    # When a white frame is written into the buffer
    letterbox.fill(tensor, white)

    # Then it is 640x360 centred (140 rows above and below), the rest is grey 114
    assert (letterbox.resized_width, letterbox.resized_height) == (640, 360)
    assert (letterbox.pad_left, letterbox.pad_top) == (0, 140)
    assert tensor.shape == (1, 3, 640, 640)
    assert np.allclose(tensor[0, :, 140:500, :], 1.0)
    assert np.allclose(tensor[0, :, :140, :], PAD_VALUE / 255)
    assert np.allclose(tensor[0, :, 500:, :], PAD_VALUE / 255)


def test_boxes_outside_the_frame_are_clipped() -> None:
    # Given a box reaching into the padding of a 16:9 frame in a square input
    letterbox = Letterbox.fit(1280, 720, 640, 640)
    box = np.array([[-10.0, 100.0, 700.0, 600.0]], dtype=np.float32)

    # When it is mapped to the frame
    (x1, y1, x2, y2) = letterbox.to_frame(box)[0]

    # Then it stays within the frame
    assert (x1, x2) == (0.0, 1280.0)
    assert (y1, y2) == (0.0, 720.0)


def test_nms_suppresses_only_above_the_iou_threshold() -> None:
    # Given a box, one overlapping it with IoU 0.6, one with IoU 1/3, and a far one
    boxes = np.array(
        [[0, 0, 10, 10], [0, 0, 10, 6], [0, 5, 10, 15], [50, 50, 60, 60]], dtype=np.float32
    )
    scores = np.array([0.9, 0.95, 0.8, 0.3], dtype=np.float32)

    # When NMS runs at 0.45 and at 0.7
    strict = nms(boxes, scores, 0.45)
    loose = nms(boxes, scores, 0.7)

    # Then the best box wins its overlaps at 0.45, and nothing overlaps enough at 0.7
    assert strict.tolist() == [1, 2, 3]
    assert loose.tolist() == [1, 0, 2, 3]
    assert nms(np.empty((0, 4), np.float32), np.empty(0, np.float32), 0.5).size == 0


def test_decode_reads_only_the_selected_rows() -> None:
    # Given a 1x(4+3)x2 output: anchor 0 scores class 0 at 0.9 and class 2 at 0.6
    output = np.zeros((1, 7, 2), dtype=np.float32)
    output[0, :4, 0] = (32, 32, 16, 16)
    output[0, 4, 0], output[0, 6, 0] = 0.9, 0.6
    output[0, :4, 1] = (8, 8, 4, 4)
    output[0, 5, 1] = 0.2
    letterbox = Letterbox.fit(64, 64, 64, 64)

    # When all rows, then only row 2, are decoded at 0.5
    everything = decode_output(output, None, 0.5, 0.45, letterbox)
    row_two = decode_output(output, np.array([2], dtype=np.intp), 0.5, 0.45, letterbox)

    # Then anchor 0 is class 0 with all rows, class 2 with row 2 only; anchor 1 is too weak
    assert everything.class_ids.tolist() == [0]
    assert everything.scores.tolist() == pytest.approx([0.9])
    assert row_two.class_ids.tolist() == [2]
    assert row_two.scores.tolist() == pytest.approx([0.6])
    assert row_two.boxes.tolist() == [[24.0, 24.0, 40.0, 40.0]]
    assert len(decode_output(output, np.array([], dtype=np.intp), 0.5, 0.45, letterbox)) == 0
