"""Model validation (inspect_model) and class names, with real onnxruntime sessions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from custom_components.homesec_nvr.core.filters.coco import COCO80_NAMES, resolve_class_names
from custom_components.homesec_nvr.core.filters.onnx import ModelError, inspect_model

from .onnx_models import (
    bright_cell_model,
    constant_model,
    detection_tensor,
    dynamic_input_model,
    names_metadata,
    wrong_output_model,
)

SHARED_MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"


def test_missing_model_is_model_not_found(tmp_path: Path) -> None:
    # Given a path with no file
    path = tmp_path / "nothing.onnx"

    # When it is inspected
    with pytest.raises(ModelError) as caught:
        inspect_model(path)

    # Then the reason and message say so
    assert caught.value.reason == "model_not_found"
    assert "nothing.onnx" in str(caught.value)
    assert not caught.value.retryable


def test_a_directory_is_model_not_found(tmp_path: Path) -> None:
    # Given a directory where the model should be
    path = tmp_path

    # When it is inspected
    with pytest.raises(ModelError) as caught:
        inspect_model(path)

    # Then it is not taken for a model
    assert caught.value.reason == "model_not_found"


def test_a_file_that_is_not_onnx_is_model_load_failed(tmp_path: Path) -> None:
    # Given a file of random bytes named .onnx
    path = tmp_path / "garbage.onnx"
    path.write_bytes(np.random.default_rng(1).bytes(4096))

    # When it is inspected
    with pytest.raises(ModelError) as caught:
        inspect_model(path)

    # Then it could not be loaded
    assert caught.value.reason == "model_load_failed"
    assert "garbage.onnx" in str(caught.value)


def test_a_classifier_is_model_bad_shape(tmp_path: Path) -> None:
    # Given a model whose output is 1x3 (not 1x(4+C)xN)
    path = wrong_output_model(tmp_path / "classifier.onnx")

    # When it is inspected
    with pytest.raises(ModelError) as caught:
        inspect_model(path)

    # Then the shape is rejected with what was found
    assert caught.value.reason == "model_bad_shape"
    assert "[1, 3]" in str(caught.value)


def test_dynamic_input_size_needs_imgsz_metadata(tmp_path: Path) -> None:
    # Given two models with a dynamic HxW input, one with imgsz metadata
    output = detection_tensor([(8.0, 8.0, 4.0, 4.0, 0, 0.9)], 80, num_anchors=4)
    with_size = dynamic_input_model(tmp_path / "sized.onnx", output, imgsz="[384, 640]")
    without = dynamic_input_model(tmp_path / "unsized.onnx", output, imgsz=None)

    # When both are inspected
    info = inspect_model(with_size)
    with pytest.raises(ModelError) as caught:
        inspect_model(without)

    # Then the size comes from imgsz (height, width), and is missing otherwise
    assert (info.input_width, info.input_height) == (640, 384)
    assert caught.value.reason == "model_bad_shape"
    assert "dynamic" in str(caught.value)


def test_model_info_reads_sizes_and_names(tmp_path: Path) -> None:
    # Given a rectangular two-class model with names metadata
    path = bright_cell_model(tmp_path / "pets.onnx", input_hw=(96, 160), names=("cat", "dog"))

    # When it is inspected
    info = inspect_model(path)

    # Then everything is read from the graph and the metadata
    assert info.name == "pets"
    assert (info.input_width, info.input_height) == (160, 96)
    assert info.num_classes == 2
    assert info.class_names == ("cat", "dog")


def test_numeric_names_fall_back_to_coco(tmp_path: Path) -> None:
    # Given an 80-class model whose names are just '0'..'79' (as the benchmark models)
    output = detection_tensor([(8.0, 8.0, 4.0, 4.0, 0, 0.9)], 80, num_anchors=4)
    path = constant_model(
        tmp_path / "numbers.onnx",
        output,
        metadata={"names": names_metadata([str(i) for i in range(80)])},
    )

    # When it is inspected
    info = inspect_model(path)

    # Then the COCO-80 names are used, vehicles and animals included
    assert info.class_names == COCO80_NAMES
    assert {"car", "truck", "bus", "motorcycle", "bicycle", "dog", "cat"} <= set(info.class_names)


def test_transposed_output_is_recognised_from_the_names(tmp_path: Path) -> None:
    # Given a model laid out 1xNx(4+C) (N=16 anchors, C=2 named classes)
    output = detection_tensor([(8.0, 8.0, 4.0, 4.0, 1, 0.9)], 2, num_anchors=16)
    path = constant_model(
        tmp_path / "transposed.onnx",
        np.ascontiguousarray(output.transpose(0, 2, 1)),
        names=("cat", "dog"),
    )

    # When it is inspected
    info = inspect_model(path)

    # Then it has 2 classes, not 12
    assert info.num_classes == 2
    assert info.class_names == ("cat", "dog")


@pytest.mark.parametrize(
    ("raw", "count", "expected"),
    [
        (None, 80, COCO80_NAMES),
        ("{0: '0', 1: '1'}", 2, ("class_0", "class_1")),
        ("{0: 'person', 1: 'car'}", 2, ("person", "car")),
        ("['person', 'car']", 2, ("person", "car")),
        ("{0: 'person', 2: 'car'}", 3, ("person", "class_1", "car")),
        ("not a literal {", 80, COCO80_NAMES),
        ("42", 2, ("class_0", "class_1")),
    ],
)
def test_resolve_class_names(raw: str | None, count: int, expected: tuple[str, ...]) -> None:
    # Given names metadata as it may be found in exports (parametrized)
    # When it is resolved for a model with `count` classes
    names = resolve_class_names(raw, count)

    # Then usable names are kept, and numbers or nothing give COCO-80 (80 classes) or class_i
    assert names == expected


@pytest.mark.skipif(
    not (SHARED_MODELS / "yolo11n-384x640-random.onnx").exists(), reason="no shared models"
)
def test_real_yolo11n_export_is_accepted() -> None:
    # Given the benchmark's YOLO11n 384x640 export (numeric names)
    path = SHARED_MODELS / "yolo11n-384x640-random.onnx"

    # When it is inspected
    info = inspect_model(path)

    # Then it is a rectangular 80-class COCO detector
    assert (info.input_width, info.input_height, info.num_classes) == (640, 384, 80)
    assert info.class_names[:3] == ("person", "bicycle", "car")
