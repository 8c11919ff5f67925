"""A test integration with real AI Task entities, registered in the harness (HA 2025.8+ only:
import it after the test module skipped lines without AI Task)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from homeassistant.components.ai_task import (
    AITaskEntity,
    AITaskEntityFeature,
    GenDataTask,
    GenDataTaskResult,
)
from homeassistant.components.conversation import ChatLog
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

ALL_FEATURES = AITaskEntityFeature.GENERATE_DATA | AITaskEntityFeature.SUPPORT_ATTACHMENTS


class VisionTaskEntity(AITaskEntity):
    """An AI Task entity that answers with `answer` (after `delay_s`) and keeps what it was
    sent: the tasks and, for each, its attachments' MIME types and bytes."""

    def __init__(
        self, name: str, answer: Any, features: AITaskEntityFeature = ALL_FEATURES
    ) -> None:
        self._attr_name = name
        self._attr_unique_id = name.lower()
        self._attr_supported_features = features
        self.answer = answer
        self.delay_s = 0.0
        self.tasks: list[GenDataTask] = []
        self.images: list[list[tuple[str, bytes]]] = []

    async def _async_generate_data(self, task: GenDataTask, chat_log: ChatLog) -> GenDataTaskResult:
        self.tasks.append(task)
        self.images.append(
            [
                (a.mime_type, await self.hass.async_add_executor_job(a.path.read_bytes))
                for a in task.attachments or []
            ]
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return GenDataTaskResult(conversation_id=chat_log.conversation_id, data=self.answer)


class _Flow(ConfigFlow):
    """The test integration's (unused) config flow."""


@asynccontextmanager
async def ai_task_integration(
    hass: HomeAssistant, domain: str, entities: Sequence[VisionTaskEntity]
) -> AsyncGenerator[None]:
    """The test integration `domain` set up with `entities` on its AI Task platform."""
    assert await async_setup_component(hass, "homeassistant", {})

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.AI_TASK])
        return True

    async def unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        return await hass.config_entries.async_unload_platforms(entry, [Platform.AI_TASK])

    async def setup_platform(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add(list(entities))

    mock_integration(
        hass, MockModule(domain, async_setup_entry=setup_entry, async_unload_entry=unload_entry)
    )
    mock_platform(hass, f"{domain}.ai_task", MockPlatform(async_setup_entry=setup_platform))
    mock_platform(hass, f"{domain}.config_flow")
    entry = MockConfigEntry(domain=domain)
    entry.add_to_hass(hass)
    with mock_config_flow(domain, _Flow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield
