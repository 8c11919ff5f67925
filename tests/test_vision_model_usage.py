"""The vision model's usage record across restarts: older and unreadable records."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.homesec_nvr.const import VLM_USAGE_STORAGE_KEY

from .conftest import SetupHub
from .core.openai_server import OpenAIServer
from .test_vision_model_setup import server, vlm_options  # noqa: F401  (fixture)

CALLS_TODAY = "sensor.homesec_vision_model_calls_today"


async def test_a_usage_record_without_learned_formats_still_restores_todays_calls(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    setup_hub: SetupHub,
    server: OpenAIServer,  # noqa: F811
) -> None:
    # Given today's usage saved by a version that did not remember the accepted formats
    hass_storage[VLM_USAGE_STORAGE_KEY] = {
        "version": 1,
        "key": VLM_USAGE_STORAGE_KEY,
        "data": {
            "day": dt_util.now().date().isoformat(),
            "calls": 3,
            "prompt_tokens": 1200,
            "completion_tokens": 300,
        },
    }

    # When HomeSec starts with the vision model enabled
    await setup_hub(**vlm_options(server))

    # Then today's calls are restored (the daily budget holds)
    assert hass.states.get(CALLS_TODAY).state == "3"
    assert server.chat_bodies == []


async def test_an_unreadable_usage_record_is_ignored_with_a_warning(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    setup_hub: SetupHub,
    server: OpenAIServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a usage record that cannot be read (a bad day, a missing count)
    hass_storage[VLM_USAGE_STORAGE_KEY] = {
        "version": 1,
        "key": VLM_USAGE_STORAGE_KEY,
        "data": {"day": "someday", "calls": "many"},
    }

    # When HomeSec starts with the vision model enabled
    await setup_hub(**vlm_options(server))

    # Then it starts from zero and says why, without a traceback
    assert hass.states.get(CALLS_TODAY).state == "0"
    assert "Ignoring unreadable vision model usage record" in caplog.text
    assert "Traceback" not in caplog.text
