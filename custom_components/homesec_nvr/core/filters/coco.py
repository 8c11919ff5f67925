"""COCO-80 class names and the parsing of a YOLO export's `names` metadata.

YOLOv8 / YOLO11 ONNX exports carry their class names as a metadata property holding a Python
dict literal (`{0: 'person', 1: 'bicycle', ...}`). Exports built without trained weights, and
many third-party exports, carry no names or just the numbers ('0'..'79'): for an 80-class model
those fall back to the COCO-80 names, which every such detector is trained on.
"""

from __future__ import annotations

import ast
from typing import Final

COCO80_NAMES: Final[tuple[str, ...]] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)


# Handy groups for configuration forms (all are COCO-80 names).
def parse_names_metadata(raw: str) -> dict[int, str] | None:
    """Parse the `names` metadata (dict literal, or list literal) into index -> name."""
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, dict):
        parsed: dict[int, str] = {}
        for key, name in value.items():
            try:
                parsed[int(key)] = str(name).strip()
            except (TypeError, ValueError):
                return None
        return parsed
    if isinstance(value, (list, tuple)):
        return {index: str(name).strip() for index, name in enumerate(value)}
    return None


def resolve_class_names(raw_names: str | None, num_classes: int) -> tuple[str, ...]:
    """The model's class names, index by index.

    - usable names in the metadata (not just numbers) are used as they are; a missing index
      is named `class_<i>`;
    - no names, unparsable names, or names that are just numbers: the COCO-80 names when the
      model has 80 classes, else `class_<i>`.
    """
    parsed = parse_names_metadata(raw_names) if raw_names else None
    if parsed and not all(name.isdigit() or not name for name in parsed.values()):
        return tuple(parsed.get(i) or f"class_{i}" for i in range(num_classes))
    if num_classes == len(COCO80_NAMES):
        return COCO80_NAMES
    return tuple(f"class_{i}" for i in range(num_classes))
