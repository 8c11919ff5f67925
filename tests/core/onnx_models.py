"""Tiny ONNX models with known outputs, built with onnx.helper for the filter tests.

Every model takes `images` 1x3xHxW float32 and returns `output0` laid out like a YOLOv8/YOLO11
detection export: 1x(4+C)xN, per anchor cx, cy, w, h (input pixels) then C class scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8


def names_metadata(names: Sequence[str]) -> str:
    """The `names` property as the exporter writes it: a Python dict literal."""
    return repr(dict(enumerate(names)))


def _save(
    path: Path,
    nodes: list[onnx.NodeProto],
    input_hw: tuple[int, int],
    output_shape: Sequence[int | str],
    initializers: Sequence[onnx.TensorProto] = (),
    metadata: Mapping[str, str] | None = None,
    input_shape: Sequence[int | str] | None = None,
    input_type: int = TensorProto.FLOAT,
) -> Path:
    height, width = input_hw
    graph = helper.make_graph(
        nodes,
        "test_detector",
        [
            helper.make_tensor_value_info(
                "images", input_type, list(input_shape or (1, 3, height, width))
            )
        ],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output_shape))],
        initializer=list(initializers),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="homesec-tests"
    )
    model.ir_version = IR_VERSION
    if metadata:
        helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def detection_tensor(
    anchors: Sequence[tuple[float, float, float, float, int, float]],
    num_classes: int,
    num_anchors: int | None = None,
) -> npt.NDArray[np.float32]:
    """A 1x(4+C)xN output: one anchor per (cx, cy, w, h, class_id, score), rest zero."""
    n = num_anchors or max(1, len(anchors))
    out = np.zeros((1, 4 + num_classes, n), dtype=np.float32)
    for i, (cx, cy, w, h, class_id, score) in enumerate(anchors):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + class_id, i] = score
    return out


def constant_model(
    path: Path,
    output: npt.NDArray[np.float32],
    *,
    input_hw: tuple[int, int] = (64, 64),
    names: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
    float16_input: bool = False,
) -> Path:
    """A model that ignores the image and always returns `output`.

    The output still depends on the input in form (output + 0 * sum(images)), so onnxruntime
    really reads every input tensor. With `float16_input` the image is a float16 tensor.
    """
    props = dict(metadata or {})
    if names is not None:
        props["names"] = names_metadata(names)
    image = "images"
    nodes = []
    if float16_input:
        nodes.append(helper.make_node("Cast", ["images"], ["images32"], to=TensorProto.FLOAT))
        image = "images32"
    nodes += [
        helper.make_node("ReduceSum", [image], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["detections", "nothing"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(output.astype(np.float32), "detections"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    return _save(
        path,
        nodes,
        input_hw,
        output.shape,
        inits,
        props,
        input_type=TensorProto.FLOAT16 if float16_input else TensorProto.FLOAT,
    )


def bright_cell_model(
    path: Path,
    *,
    input_hw: tuple[int, int] = (96, 160),
    cell: int = 8,
    names: Sequence[str] = ("person",),
) -> Path:
    """A one-class model that finds bright pixels.

    The image is cut into cell x cell squares (one anchor each); an anchor's box is its square
    and its score the brightest pixel in it (mean over R, G, B; 0..1). The letterbox padding
    (114/255 = 0.45) and a dark background stay low, a white object scores about 1.0.
    """
    height, width = input_hw
    rows, cols = height // cell, width // cell
    n = rows * cols
    ys, xs = np.mgrid[0:rows, 0:cols]
    boxes = np.stack(
        (
            (xs.ravel() + 0.5) * cell,
            (ys.ravel() + 0.5) * cell,
            np.full(n, cell),
            np.full(n, cell),
        )
    ).astype(np.float32)[None]
    extra_classes = len(names) - 1
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["gray"], axes=[1], keepdims=1),
        helper.make_node(
            "MaxPool", ["gray"], ["cells"], kernel_shape=[cell, cell], strides=[cell, cell]
        ),
        helper.make_node("Reshape", ["cells", "score_shape"], ["scores"]),
        helper.make_node(
            "Concat",
            ["boxes", "scores"] + (["other_scores"] if extra_classes else []),
            ["output0"],
            axis=1,
        ),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 1, n], dtype=np.int64), "score_shape"),
        numpy_helper.from_array(boxes, "boxes"),
    ]
    if extra_classes:
        inits.append(
            numpy_helper.from_array(
                np.zeros((1, extra_classes, n), dtype=np.float32), "other_scores"
            )
        )
    return _save(
        path,
        nodes,
        input_hw,
        (1, 4 + len(names), n),
        inits,
        {"names": names_metadata(names)},
    )


def slow_constant_model(
    path: Path,
    output: npt.NDArray[np.float32],
    *,
    input_hw: tuple[int, int] = (192, 320),
    channels: int = 48,
) -> Path:
    """Like constant_model, but each run costs a real convolution (tens of milliseconds)."""
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((channels, 3, 5, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["images", "weight"], ["features"], pads=[2, 2, 2, 2]),
        helper.make_node("ReduceSum", ["features"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["detections", "nothing"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(output.astype(np.float32), "detections"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    return _save(path, nodes, input_hw, output.shape, inits)


def wrong_output_model(path: Path, *, input_hw: tuple[int, int] = (64, 64)) -> Path:
    """A classifier-like model (output 1x3): not a detection export."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["output0"], axes=[2, 3], keepdims=0),
    ]
    return _save(path, nodes, input_hw, (1, 3))


def dynamic_input_model(path: Path, output: npt.NDArray[np.float32], *, imgsz: str | None) -> Path:
    """A constant model whose input size is dynamic (H and W only in `imgsz` metadata)."""
    props = {"imgsz": imgsz} if imgsz is not None else {}
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["detections", "nothing"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(output.astype(np.float32), "detections"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    return _save(
        path, nodes, (0, 0), output.shape, inits, props, input_shape=(1, 3, "height", "width")
    )
