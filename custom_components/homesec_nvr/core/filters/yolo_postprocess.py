"""YOLO pre- and post-processing in numpy: letterbox geometry, box decoding, NMS.

The detector takes a 1x3xHxW float32 image (RGB, 0..1, letterboxed: resized keeping the aspect
ratio, centred, padded with grey 114) and returns 1x(4+C)xN: per anchor cx, cy, w, h in input
pixels, then C class scores (already sigmoid-ed; no objectness, no NMS in the graph).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PAD_VALUE = 114
# Cap on boxes considered by NMS and kept per frame (as the exporter's own defaults do).
MAX_NMS_CANDIDATES = 30_000
MAX_DETECTIONS_PER_FRAME = 300
# Per-class NMS: offsetting boxes by class index times this keeps classes apart.
_CLASS_OFFSET = 8192.0

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame maps into the model input: scale, then offset by the padding."""

    frame_width: int
    frame_height: int
    input_width: int
    input_height: int
    scale: float
    resized_width: int
    resized_height: int
    pad_left: int
    pad_top: int

    @classmethod
    def fit(
        cls, frame_width: int, frame_height: int, input_width: int, input_height: int
    ) -> Letterbox:
        """Largest aspect-preserving fit of the frame into the input, centred."""
        if min(frame_width, frame_height, input_width, input_height) <= 0:
            raise ValueError("frame and input sizes must be positive")
        scale = min(input_width / frame_width, input_height / frame_height)
        resized_width = min(input_width, max(1, round(frame_width * scale)))
        resized_height = min(input_height, max(1, round(frame_height * scale)))
        return cls(
            frame_width=frame_width,
            frame_height=frame_height,
            input_width=input_width,
            input_height=input_height,
            scale=scale,
            resized_width=resized_width,
            resized_height=resized_height,
            pad_left=(input_width - resized_width) // 2,
            pad_top=(input_height - resized_height) // 2,
        )

    def new_input_buffer(self) -> FloatArray:
        """A 1x3xHxW input tensor already holding the grey padding."""
        return np.full(
            (1, 3, self.input_height, self.input_width), PAD_VALUE / 255.0, dtype=np.float32
        )

    def fill(self, buffer: FloatArray, rgb: npt.NDArray[np.uint8]) -> None:
        """Write a resized HxWx3 uint8 RGB image into the buffer's letterbox area (0..1)."""
        if rgb.shape != (self.resized_height, self.resized_width, 3):
            raise ValueError(f"expected a {self.resized_width}x{self.resized_height} RGB image")
        area = buffer[
            0,
            :,
            self.pad_top : self.pad_top + self.resized_height,
            self.pad_left : self.pad_left + self.resized_width,
        ]
        np.multiply(rgb.transpose(2, 0, 1), np.float32(1.0 / 255.0), out=area, casting="unsafe")

    def to_input(self, boxes: FloatArray) -> FloatArray:
        """Map Nx4 x1, y1, x2, y2 boxes from frame pixels to input pixels."""
        out = boxes.astype(np.float32, copy=True) * np.float32(self.scale)
        out[:, (0, 2)] += self.pad_left
        out[:, (1, 3)] += self.pad_top
        return out

    def to_frame(self, boxes: FloatArray) -> FloatArray:
        """Map Nx4 x1, y1, x2, y2 boxes from input pixels to frame pixels, clipped."""
        out = boxes.astype(np.float32, copy=True)
        out[:, (0, 2)] -= self.pad_left
        out[:, (1, 3)] -= self.pad_top
        out /= np.float32(self.scale)
        out[:, (0, 2)] = np.clip(out[:, (0, 2)], 0, self.frame_width)
        out[:, (1, 3)] = np.clip(out[:, (1, 3)], 0, self.frame_height)
        return out


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first."""
    if boxes.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        inter_w = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0)
        inter_h = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0)
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


@dataclass(frozen=True, slots=True)
class RawDetections:
    """Detections of one frame: class indices, scores, and x1, y1, x2, y2 in frame pixels."""

    class_ids: IntArray
    scores: FloatArray
    boxes: FloatArray

    def __len__(self) -> int:
        return int(self.class_ids.shape[0])


def decode_output(
    output: FloatArray,
    class_rows: IntArray | None,
    min_confidence: float,
    iou_threshold: float,
    letterbox: Letterbox,
) -> RawDetections:
    """Turn one 1x(4+C)xN (or (4+C)xN) output into per-class-NMS'ed detections.

    `class_rows` are the class indices to look at (None = every class): only those score rows
    are read, which is what makes a 1- or 2-class search cheap on an 80-class model.
    """
    pred = output[0] if output.ndim == 3 else output
    num_classes = pred.shape[0] - 4
    rows: IntArray
    if class_rows is None:
        rows = np.arange(num_classes, dtype=np.intp)
        class_scores = pred[4:]
    else:
        rows = class_rows
        class_scores = pred[4 + rows]
    empty = RawDetections(
        class_ids=np.empty(0, dtype=np.intp),
        scores=np.empty(0, dtype=np.float32),
        boxes=np.empty((0, 4), dtype=np.float32),
    )
    if rows.size == 0 or pred.shape[1] == 0:
        return empty
    best_row = class_scores.argmax(axis=0)
    best_score = class_scores[best_row, np.arange(pred.shape[1])]
    candidates = np.flatnonzero(best_score >= min_confidence)
    if candidates.size == 0:
        return empty
    if candidates.size > MAX_NMS_CANDIDATES:
        top = np.argpartition(-best_score[candidates], MAX_NMS_CANDIDATES)[:MAX_NMS_CANDIDATES]
        candidates = candidates[top]
    scores = best_score[candidates].astype(np.float32)
    class_ids = rows[best_row[candidates]]
    cx, cy, w, h = (pred[i, candidates].astype(np.float32) for i in range(4))
    half_w, half_h = w / 2, h / 2
    boxes = np.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), axis=1)
    offsets = (class_ids.astype(np.float32) * _CLASS_OFFSET)[:, None]
    keep = nms(boxes + offsets, scores, iou_threshold)[:MAX_DETECTIONS_PER_FRAME]
    return RawDetections(
        class_ids=class_ids[keep],
        scores=scores[keep],
        boxes=letterbox.to_frame(boxes[keep]),
    )
