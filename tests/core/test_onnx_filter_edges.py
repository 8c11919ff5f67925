"""Model validation edge cases, with tiny ONNX models built here and real onnxruntime sessions:
odd input shapes and types, imgsz forms, output layouts, a model that fails when it runs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from custom_components.homesec_nvr.core.filters.onnx import (
    ModelError,
    OnnxFilterSettings,
    OnnxObjectFilter,
    OnnxRuntimeUnavailable,
    SessionCache,
    inspect_model,
    onnxruntime_available,
)
from custom_components.homesec_nvr.core.models import Clip

from .onnx_models import (
    IR_VERSION,
    OPSET,
    constant_model,
    detection_tensor,
    dynamic_input_model,
    slow_constant_model,
)
from .video import ClipSpec, write_h264_clip


def save_graph(
    path: Path,
    nodes: list[onnx.NodeProto],
    inputs: Sequence[tuple[str, int, Sequence[int | str]]],
    output_shape: Sequence[int],
    initializers: Sequence[onnx.TensorProto] = (),
) -> Path:
    """A model with the given inputs (name, element type, shape) and one float output0."""
    graph = helper.make_graph(
        nodes,
        "edge_model",
        [helper.make_tensor_value_info(name, kind, list(shape)) for name, kind, shape in inputs],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output_shape))],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def constant_nodes(image: str = "images") -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """output0 = a 1x6x4 detection tensor + 0 * sum(image)."""
    output = detection_tensor([(8.0, 8.0, 4.0, 4.0, 0, 0.9)], 2, num_anchors=4)
    nodes = [
        helper.make_node("ReduceSum", [image], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["detections", "nothing"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(output, "detections"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    return nodes, inits


def bad_shape(path: Path) -> str:
    with pytest.raises(ModelError) as caught:
        inspect_model(path)
    assert caught.value.reason == "model_bad_shape"
    return str(caught.value)


def test_onnxruntime_is_available_here() -> None:
    # Given the test environment (onnxruntime installed)
    # When availability is asked
    available = onnxruntime_available()

    # Then it is reported available
    assert available is True


def test_without_onnxruntime_it_is_reported_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a system where onnxruntime cannot be imported (as on musl-based systems)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    path = constant_model(tmp_path / "m.onnx", detection_tensor([], 2, num_anchors=4))

    # When availability is asked and a model is inspected
    available = onnxruntime_available()
    with pytest.raises(OnnxRuntimeUnavailable) as caught:
        inspect_model(path)

    # Then it is unavailable, and the reason names the missing package
    assert available is False
    assert "onnxruntime is not installed" in str(caught.value)


def test_a_model_with_two_inputs_is_rejected(tmp_path: Path) -> None:
    # Given a model taking an image and a second tensor
    nodes, inits = constant_nodes()
    nodes[0] = helper.make_node("ReduceSum", ["images"], ["partial"], keepdims=0)
    nodes.insert(1, helper.make_node("ReduceSum", ["extra"], ["more"], keepdims=0))
    nodes.insert(2, helper.make_node("Add", ["partial", "more"], ["total"]))
    path = save_graph(
        tmp_path / "two.onnx",
        nodes,
        [("images", TensorProto.FLOAT, (1, 3, 64, 64)), ("extra", TensorProto.FLOAT, (1, 4))],
        (1, 6, 4),
        inits,
    )

    # When it is inspected / Then it is not taken for a detector
    assert "got 2 inputs and 1 outputs" in bad_shape(path)


def test_a_grey_input_is_rejected(tmp_path: Path) -> None:
    # Given a model whose image input has one channel
    nodes, inits = constant_nodes()
    path = save_graph(
        tmp_path / "grey.onnx",
        nodes,
        [("images", TensorProto.FLOAT, (1, 1, 64, 64))],
        (1, 6, 4),
        inits,
    )

    # When it is inspected / Then the shape is the reason
    assert "input must be 1x3xHxW" in bad_shape(path)


def test_a_double_input_is_rejected(tmp_path: Path) -> None:
    # Given a model whose image input is float64
    nodes, inits = constant_nodes("images32")
    nodes.insert(0, helper.make_node("Cast", ["images"], ["images32"], to=TensorProto.FLOAT))
    path = save_graph(
        tmp_path / "double.onnx",
        nodes,
        [("images", TensorProto.DOUBLE, (1, 3, 64, 64))],
        (1, 6, 4),
        inits,
    )

    # When it is inspected / Then the input type is the reason
    assert "input type tensor(double) unsupported" in bad_shape(path)


@pytest.mark.parametrize(
    ("imgsz", "expected"),
    [("640", (640, 640)), ("[320]", (320, 320)), ("[1, 384, 640]", None)],
)
def test_imgsz_metadata_forms(tmp_path: Path, imgsz: str, expected: tuple[int, int] | None) -> None:
    # Given a dynamic-size model whose imgsz is one number, or three numbers (not a size)
    output = detection_tensor([(8.0, 8.0, 4.0, 4.0, 0, 0.9)], 2, num_anchors=4)
    path = dynamic_input_model(tmp_path / "dyn.onnx", output, imgsz=imgsz)

    # When it is inspected
    if expected is None:
        # Then three numbers are no size: the input stays dynamic
        assert "dynamic" in bad_shape(path)
        return
    info = inspect_model(path)

    # Then one number is a square input
    assert (info.input_height, info.input_width) == expected


def test_a_large_transposed_output_is_recognised_without_names(tmp_path: Path) -> None:
    # Given a 1xNx(4+C) output with N=1200 anchors and C=2, without names metadata
    output = detection_tensor([(8.0, 8.0, 4.0, 4.0, 1, 0.9)], 2, num_anchors=1200)
    path = constant_model(tmp_path / "t.onnx", np.ascontiguousarray(output.transpose(0, 2, 1)))

    # When it is inspected
    info = inspect_model(path)

    # Then the anchor-sized middle dimension marks it transposed: 2 classes, not 1196
    assert info.num_classes == 2


def test_names_that_fit_neither_dimension_leave_the_usual_layout(tmp_path: Path) -> None:
    # Given a 1x7x4 output (3 classes) whose names metadata lists only 2 classes
    output = detection_tensor([(8.0, 8.0, 4.0, 4.0, 2, 0.9)], 3, num_anchors=4)
    path = constant_model(tmp_path / "n.onnx", output, names=("cat", "dog"))

    # When it is inspected
    info = inspect_model(path)

    # Then the output's rows decide: 3 classes, the missing name filled in
    assert info.num_classes == 3
    assert info.class_names[:2] == ("cat", "dog") and len(info.class_names) == 3


def test_a_model_that_fails_on_a_blank_image_is_model_load_failed(tmp_path: Path) -> None:
    # Given a model that loads but fails when run (it gathers an index out of range)
    nodes, inits = constant_nodes("images")
    nodes[-1] = helper.make_node("Add", ["detections", "nothing"], ["summed"])
    nodes.append(helper.make_node("Gather", ["summed", "index"], ["output0"], axis=0))
    inits.append(numpy_helper.from_array(np.array([5], dtype=np.int64), "index"))
    path = save_graph(
        tmp_path / "broken.onnx",
        nodes,
        [("images", TensorProto.FLOAT, (1, 3, 64, 64))],
        (1, 6, 4),
        inits,
    )

    # When a session is made for the filter (which warms it up)
    with pytest.raises(ModelError) as caught:
        SessionCache().get(path, 1)

    # Then the failure is a load failure that names the model
    assert caught.value.reason == "model_load_failed"
    assert "broken fails on a blank image" in str(caught.value)


def test_a_stop_during_the_first_inference_ends_the_scan_after_that_frame(
    tmp_path: Path,
) -> None:
    # Given a slow model (its session already warm) and a 4 s clip sampled 4x a second
    clip_path = write_h264_clip(
        tmp_path / "clip.mp4", ClipSpec(width=320, height=180, seconds=4.0, gop_seconds=2.0)
    )
    clip = Clip(
        clip_id="clip",
        camera_id="front",
        camera_name="Front",
        source_type="test",
        path=clip_path,
        start_ts=datetime(2026, 1, 1, tzinfo=UTC),
        end_ts=datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC),
    )
    output = detection_tensor([(32.0, 32.0, 20.0, 20.0, 0, 0.9)], 80, num_anchors=4)
    model = slow_constant_model(tmp_path / "slow.onnx", output, input_hw=(192, 320), channels=1024)
    settings = OnnxFilterSettings(
        model_path=model, sample_interval_s=0.25, max_frames=12, early_exit=False
    )
    cache = SessionCache()
    loaded = cache.get(model, settings.resolved_intra_op_threads)
    blank = np.zeros((1, 3, 192, 320), dtype=np.float32)
    run_started = time.perf_counter()
    loaded.session.run([loaded.output_name], {loaded.input_name: blank})
    one_inference = time.perf_counter() - run_started
    object_filter = OnnxObjectFilter(settings, session_cache=cache)
    stop = threading.Event()

    # When the caller asks to stop while the first frame is being analysed
    timer = threading.Timer(one_inference / 2, stop.set)
    timer.start()
    try:
        object_filter.detect_blocking(clip, stop)
    finally:
        timer.cancel()

    # Then the scan ended after that frame, and the decoder thread is gone
    stats = object_filter.last_scan
    assert stats is not None and stats.frames_sampled == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("homesec-onnx")]
