"""Home Assistant lines without AI Task (before 2025.8): the vision model options offer no
backend choice, and the OpenAI-compatible page works as before."""

from __future__ import annotations

import importlib.util

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.homesec_nvr.flows.fields import ai_task_available

from .conftest import SetupHub
from .helpers import open_options

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("homeassistant.components.ai_task") is not None,
    reason="this Home Assistant line has AI Task (tests/test_ai_task_vlm.py covers it)",
)


async def test_vision_model_page_has_no_backend_choice(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub on a Home Assistant without AI Task
    entry = await setup_hub()

    # When the user opens the vision model page
    result = await open_options(hass, entry.entry_id, "vision_model")

    # Then it is the OpenAI-compatible form, without the backend or an AI Task entity
    assert result["type"] is FlowResultType.FORM
    fields = {str(key) for key in result["data_schema"].schema}
    assert "vlm_base_url" in fields
    assert "vlm_model" in fields
    assert not {"vlm_backend", "vlm_ai_task_entity"} & fields
    assert ai_task_available() is False


async def test_ai_task_options_from_a_newer_installation_do_not_break_the_hub(
    hass: HomeAssistant, setup_hub: SetupHub, caplog: pytest.LogCaptureFixture
) -> None:
    # Given options that chose AI Task (restored from a newer Home Assistant)
    # When the hub starts on a Home Assistant without AI Task
    entry = await setup_hub(
        vlm_enabled=True,
        vlm_backend="ai_task",
        vlm_ai_task_entity="ai_task.vision",
        vlm_base_url="http://127.0.0.1:9/v1",
        vlm_model="llava",
    )

    # Then it runs, on the OpenAI-compatible server settings, and says why
    assert entry.runtime_data.vision is not None
    assert entry.runtime_data.vision.analyzer.name == "openai_compatible"
    assert "does not have" in caplog.text
