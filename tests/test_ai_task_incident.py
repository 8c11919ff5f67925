"""Home Assistant's AI Task as the vision model of an incident across grouped cameras: one AI
Task call with the frames of both cameras attached (HA 2025.8+ only)."""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("homeassistant.components.ai_task") is None:
    pytest.skip(
        "this Home Assistant line has no AI Task (added in 2025.8)", allow_module_level=True
    )

from homeassistant.core import HomeAssistant
from PIL import Image

from .ai_task_rig import VisionTaskEntity, ai_task_integration
from .conftest import SetupHub, camera_subentry
from .helpers import EventWaiter
from .video import write_clip

TEST_DOMAIN = "homesec_test_ai_incident"
WALK: dict[str, Any] = {
    "observations": ["A person walks up the driveway", "They ring at the front door"],
    "entities": [
        {
            "type": "person",
            "first_seen_s": 0.0,
            "last_seen_s": 2.0,
            "description": "adult in a grey coat",
            "movement": "from the driveway camera to the front door camera",
            "location": "driveway, then porch",
            "interaction": "rings",
        }
    ],
    "summary": "A person walked up the driveway to the front door and rang.",
    "activity_type": "person_at_door",
    "risk_level": "low",
    "requires_review": False,
}
# The two cameras' clips have different sizes, so an attached frame tells its camera.
DRIVEWAY_SIZE = (160, 96)
FRONT_DOOR_SIZE = (128, 72)


@pytest.fixture
async def vision(hass: HomeAssistant) -> AsyncGenerator[VisionTaskEntity]:
    """A test integration with the AI Task entity `ai_task.vision` (it takes images)."""
    entity = VisionTaskEntity("Vision", WALK)
    async with ai_task_integration(hass, TEST_DOMAIN, [entity]):
        assert hass.states.get("ai_task.vision") is not None
        yield entity


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def test_two_grouped_cameras_are_one_ai_task_call_with_frames_of_both(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    tmp_path: Path,
    vision: VisionTaskEntity,
) -> None:
    # Given the driveway and the front door grouped, with AI Task as the vision model
    door = tmp_path / "door"
    door.mkdir()
    entry = await setup_hub(
        [camera_subentry("Driveway", incoming), camera_subentry("Front door", door)],
        vlm_enabled=True,
        vlm_backend="ai_task",
        vlm_ai_task_entity="ai_task.vision",
        vlm_run_mode="always",
        vlm_max_frames=6,
        vlm_request_timeout_s=5,
        persistent_notification=False,
        camera_groups="Front: Driveway, Front door",
        incident_gap_seconds=60,
    )
    processed = EventWaiter(hass)

    # When the driveway records a clip and the front door one right after
    width, height = DRIVEWAY_SIZE
    await hass.async_add_executor_job(
        lambda: write_clip(incoming / "drive.mp4", width=width, height=height)
    )
    width, height = FRONT_DOOR_SIZE
    await hass.async_add_executor_job(
        lambda: write_clip(door / "door.mp4", width=width, height=height)
    )
    events = await processed.wait(2, timeout=30)
    await hass.async_block_till_done()
    payloads = {event.data["camera"]: event.data for event in events}

    # Then the AI Task entity was called ONCE, for the incident
    assert len(vision.tasks) == 1
    (task,) = vision.tasks
    (images,) = vision.images
    # and its attachments are JPEG frames of both cameras, within the frame budget
    assert 2 <= len(images) <= 6
    assert {mime for mime, _ in images} == {"image/jpeg"}
    sizes = [jpeg_size(data) for _, data in images]
    assert DRIVEWAY_SIZE in sizes
    assert FRONT_DOOR_SIZE in sizes
    assert set(sizes) == {DRIVEWAY_SIZE, FRONT_DOOR_SIZE}
    # and its instructions are the incident's: the system prompt, the incident text naming
    # both cameras and one label per attached frame, in the attachments' order
    instructions = task.instructions
    assert "one incident seen by several cameras of one area" in instructions
    assert "Incident seen by 2 cameras of one area: Driveway, Front door." in instructions
    assert "Clip of Driveway, from t=" in instructions
    assert "Clip of Front door, from t=" in instructions
    assert instructions.endswith("The frames are attached as images, in this order.")
    listed = re.search(r"start of the incident: (.+?)\. Use only these times", instructions)
    assert listed is not None
    labels = listed.group(1).split(", ")
    assert len(labels) == len(images)
    cameras = ["Driveway" if label.startswith("Driveway t=") else "Front door" for label in labels]
    by_size = {DRIVEWAY_SIZE: "Driveway", FRONT_DOOR_SIZE: "Front door"}
    assert cameras == [by_size[size] for size in sizes]
    # and the frames were removed once the analysis was over
    assert not any(a.path.exists() for a in task.attachments or [])
    # and both clips carry the incident's analysis and id
    drive, front = payloads["Driveway"], payloads["Front door"]
    assert drive["summary"] == front["summary"] == WALK["summary"]
    assert drive["incident_id"] == front["incident_id"]
    assert sorted(drive["cameras"]) == ["Driveway", "Front door"]
    # and the budget counted one call
    assert hass.states.get("sensor.homesec_vision_model_calls_today").state == "1"
    assert entry.runtime_data.pipeline.clips_queued == 0
    processed.close()
