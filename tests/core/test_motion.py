"""The motion detector on numpy frames: threshold, minimum area, masks, background, lighting."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt
import pytest

from custom_components.homesec_nvr.core.sources.motion import (
    GreyScaler,
    MaskRect,
    MotionConfig,
    MotionDetector,
    box_blur,
    detect_size,
    mask_array,
)

WIDTH, HEIGHT = 160, 90


def scene(
    seed: int, box: tuple[int, int, int, int] | None = None, level: int = 0
) -> npt.NDArray[np.uint8]:
    """A textured background with sensor-like noise, optionally a bright box (x1, y1, x2, y2)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = 40 + ((xx + yy) % 32) + level
    image = image + np.random.default_rng(seed).integers(-6, 7, (HEIGHT, WIDTH))
    if box is not None:
        x1, y1, x2, y2 = box
        image[y1:y2, x1:x2] = 230
    return np.clip(image, 0, 255).astype(np.uint8)


def warm(detector: MotionDetector, frames: int = 5) -> None:
    for seed in range(frames):
        detector.process(scene(seed))


def test_still_noisy_scene_is_not_motion() -> None:
    # Given a detector that has seen the background
    detector = MotionDetector()
    warm(detector)

    # When more frames of the same scene (new noise) arrive
    results = [detector.process(scene(seed)) for seed in range(10, 30)]

    # Then none is motion and the score stays near zero
    assert not any(r.motion for r in results)
    assert max(r.score for r in results) < 0.1


def test_an_object_appearing_is_motion_with_its_area_as_score() -> None:
    # Given a warmed-up detector
    detector = MotionDetector()
    warm(detector)

    # When a 20x20 bright object appears
    result = detector.process(scene(99, box=(40, 30, 60, 50)))

    # Then it is motion, scored by the changed share of the frame (400 px of 14400 ~ 2.8 %)
    assert result.motion
    assert 2.0 < result.score < 4.0
    assert not result.lighting_change


def test_objects_smaller_than_the_minimum_area_are_ignored() -> None:
    # Given a detector that needs 5 % of the frame to change
    detector = MotionDetector(MotionConfig(min_area_percent=5.0))
    warm(detector)

    # When a small object (about 2.8 %) appears, then a large one (about 11 %)
    small = detector.process(scene(50, box=(40, 30, 60, 50)))
    detector.reset()
    warm(detector)
    large = detector.process(scene(51, box=(40, 20, 80, 60)))

    # Then only the large one counts
    assert not small.motion and small.score > 2.0
    assert large.motion


def test_threshold_sets_how_big_a_change_counts() -> None:
    # Given two detectors, sensitive and insensitive
    sensitive = MotionDetector(MotionConfig(threshold=10))
    insensitive = MotionDetector(MotionConfig(threshold=60))
    warm(sensitive)
    warm(insensitive)
    # When a dim object (30 grey levels above the background) appears
    frame = scene(7)
    frame[30:60, 40:80] += 30

    # Then only the sensitive detector sees it
    assert sensitive.process(frame).motion
    assert not insensitive.process(frame).motion


def test_masked_area_is_ignored_but_the_rest_still_detects() -> None:
    # Given a mask over the left half of the frame
    config = MotionConfig(masks=(MaskRect(0.0, 0.0, 0.5, 1.0),))
    detector = MotionDetector(config)
    warm(detector)

    # When an object appears in the masked half, then one in the unmasked half
    masked = detector.process(scene(60, box=(10, 30, 50, 70)))
    unmasked = detector.process(scene(61, box=(100, 30, 140, 70)))

    # Then only the unmasked one is motion; its score is relative to the unmasked half
    assert not masked.motion and masked.score == 0.0
    assert unmasked.motion
    assert 18.0 < unmasked.score < 30.0  # 1600 px of 7200 unmasked ~ 22 %


def test_a_frame_fully_masked_never_has_motion() -> None:
    # Given masks covering the whole frame
    detector = MotionDetector(MotionConfig(masks=(MaskRect(0, 0, 1, 1),)))
    warm(detector)

    # When the whole frame changes
    result = detector.process(scene(3, box=(0, 0, WIDTH, HEIGHT)))

    # Then nothing is reported
    assert not result.motion and result.score == 0.0


def test_lighting_change_resets_the_background_instead_of_motion() -> None:
    # Given a warmed-up detector
    detector = MotionDetector()
    warm(detector)

    # When the whole picture gets much brighter (lights on), then stays so
    flash = detector.process(scene(70, level=120))
    after = detector.process(scene(71, level=120))

    # Then the change is a lighting change, not motion, and the new scene is the background
    assert flash.lighting_change and not flash.motion
    assert flash.score >= 80.0
    assert not after.motion and after.score < 0.1


def test_a_parked_object_becomes_background() -> None:
    # Given an object that appears and then stays put
    detector = MotionDetector()
    warm(detector)
    box = (40, 30, 60, 50)

    # When it has been there for a while (about 20 s at 5 fps)
    results = [detector.process(scene(100 + i, box=box)) for i in range(120)]

    # Then it was motion at first and is background in the end
    assert results[0].motion and results[10].motion
    assert not results[-1].motion


def test_a_passing_object_leaves_no_ghost() -> None:
    # Given an object crossing the frame 4 px per frame
    detector = MotionDetector()
    warm(detector)
    during = [detector.process(scene(200 + x, box=(x, 30, x + 20, 60))) for x in range(0, 140, 4)]

    # When it has left
    after = detector.process(scene(300))

    # Then every frame of its passage was motion and the frame after it is not
    assert all(r.motion for r in during)
    assert not after.motion


def test_reset_and_a_new_frame_size_restart_the_background() -> None:
    # Given a detector that has seen 160x90 frames
    detector = MotionDetector()
    warm(detector)

    # When a frame of another size arrives
    result = detector.process(np.zeros((180, 320), dtype=np.uint8))

    # Then it becomes the background (no motion, no error)
    assert not result.motion and result.score == 0.0
    assert detector.frames == 6


def test_box_blur_is_a_local_mean_with_repeated_edges() -> None:
    # Given a random image
    image = np.random.default_rng(5).integers(0, 255, (7, 9)).astype(np.uint8)

    # When it is blurred with radius 1
    blurred = box_blur(image, 1)

    # Then every pixel is the mean of its 3x3 neighbourhood (edges repeated)
    padded = np.pad(image.astype(np.float64), 1, mode="edge")
    expected = np.mean(
        [padded[dy : dy + 7, dx : dx + 9] for dy in range(3) for dx in range(3)], axis=0
    )
    np.testing.assert_allclose(blurred, expected, atol=1e-3)
    assert box_blur(image, 0).dtype == np.float32


def test_mask_array_covers_every_pixel_a_rectangle_touches() -> None:
    # Given a mask over the right quarter and one in the top-left corner
    masks = [MaskRect(0.75, 0.0, 0.25, 1.0), MaskRect(0.0, 0.0, 0.1, 0.1)]

    # When it is rasterised at 160x90
    ignored = mask_array(masks, WIDTH, HEIGHT)

    # Then exactly those pixels are ignored
    assert ignored[:, 120:].all() and not ignored[20:, :120].any()
    assert ignored[:9, :16].all() and not ignored[9:, :16].any()


def test_mask_rect_parsing_and_validation() -> None:
    # Given masks written as a mapping and as a sequence
    from_mapping = MaskRect.from_value({"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4})
    from_sequence = MaskRect.from_value([0.1, 0.2, 0.3, 0.4])

    # Then both give the same rectangle, which serialises back
    assert from_mapping == from_sequence == MaskRect.from_value(from_mapping)
    assert from_mapping.to_dict() == {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}
    # And out-of-range values are rejected
    with pytest.raises(ValueError, match="between 0 and 1"):
        MaskRect(1.2, 0, 0.1, 0.1)
    with pytest.raises(ValueError, match="greater than 0"):
        MaskRect(0, 0, 0, 0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold"),
        ({"min_area_percent": 101}, "min_area_percent"),
        ({"blur_radius": -1}, "blur_radius"),
        ({"motion_alpha": 0}, "motion_alpha"),
    ],
)
def test_motion_config_validation(kwargs: dict[str, float], message: str) -> None:
    # Given invalid settings, when the config is built, then it is refused
    with pytest.raises(ValueError, match=message):
        MotionConfig(**kwargs)  # type: ignore[arg-type]


def test_grey_scaler_shrinks_frames_with_swscale() -> None:
    # Given a 640x360 frame with a bright left half
    image = np.zeros((360, 640, 3), dtype=np.uint8)
    image[:, :320] = 255
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")

    # When it is scaled to a 160-wide grey image
    grey = GreyScaler(160)(frame)

    # Then it keeps the aspect ratio and the content
    assert grey.shape == (90, 160) and grey.dtype == np.uint8
    assert grey[:, :70].mean() > 200 and grey[:, 90:].mean() < 40


def test_detect_size_never_upscales_and_stays_even() -> None:
    # Given frames of several sizes, then the detect size keeps the aspect, is even, never larger
    assert detect_size(1920, 1080, 320) == (320, 180)
    assert detect_size(200, 150, 320) == (200, 150)
    assert detect_size(641, 479, 321) == (320, 240)
