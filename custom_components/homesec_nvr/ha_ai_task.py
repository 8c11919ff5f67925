"""Home Assistant's AI Task as HomeSec's vision model (HA 2025.8+).

The user's own AI (OpenAI, Google, Anthropic, Ollama, OpenRouter, HA Cloud ...) analyses the
clip through an AI Task entity that takes image attachments. HomeSec keeps its own parts: the
same frames as the OpenAI-compatible backend (`core.vlm.frames`), its prompt, its schema as
the task's `structure`, and its parser (`core.vlm.schema`), so a garbage answer is rejected the
same way. The budget counts each task as a call (AI Task reports no tokens); failures are
`VLMError`s, so the runner falls back to the filter rule exactly as for the other backend.

Only imported where `homeassistant.components.ai_task` exists (see `ai_task_available`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from homeassistant.components.ai_task import AITaskEntityFeature, async_generate_data
from homeassistant.components.ai_task.const import DATA_PREFERENCES
from homeassistant.const import ATTR_SUPPORTED_FEATURES
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import selector

from .core.interfaces import IncidentClip
from .core.models import AnalysisResult, Clip, FilterResult
from .core.vlm.frames import PreparedFrames
from .core.vlm.incident import (
    build_incident_text,
    incident_camera,
    incident_duration,
    incident_frames,
    incident_start,
)
from .core.vlm.openai_compatible import (
    BudgetedAnalyzer,
    VLMError,
    VLMInvalidOutput,
    VLMPermanentError,
    VLMSettings,
    VLMUnavailable,
)
from .core.vlm.prompt import CameraContext, build_clip_text, build_system_prompt, correction_text
from .core.vlm.schema import (
    FIELD_DESCRIPTIONS,
    SCHEMA_NAME,
    AnalysisValidationError,
    analysis_json_schema,
    parse_analysis,
)
from .core.vlm.usage import UsageTracker
from .schema_compat import vol
from .vlm_frames import async_frame_attachments

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

BACKEND_NAME = "ai_task"
ENTITY_MISSING = "ai_task_entity_missing"
NO_ATTACHMENTS = "ai_task_no_attachments"


class AITaskEntityMissing(VLMPermanentError):
    """The configured AI Task entity (or HA's preferred one) does not exist."""

    reason = ENTITY_MISSING


class AITaskNoAttachments(VLMPermanentError):
    """The AI Task entity cannot take image attachments."""

    reason = NO_ATTACHMENTS


# -- the structure ----------------------------------------------------------------------------


def _selector_config(schema: dict[str, Any]) -> dict[str, Any]:
    """The selector config (`{"select": {...}}`) of one property of HomeSec's JSON schema."""
    kind = schema.get("type")
    if kind == "string" and "enum" in schema:
        return {"select": {"options": list(schema["enum"])}}
    if kind == "string":
        return {"text": {}}
    if kind == "boolean":
        return {"boolean": {}}
    if kind == "number":
        return {"number": {"mode": "box"}}
    if kind == "object":
        required = set(schema.get("required", ()))
        fields = {
            name: {"selector": _selector_config(prop), "required": name in required}
            for name, prop in schema["properties"].items()
        }
        return {"object": {"fields": fields}}
    if kind == "array":
        ((key, config),) = _selector_config(schema["items"]).items()
        return {key: {**config, "multiple": True}}
    raise TypeError(f"no selector for {schema!r}")


@functools.cache
def analysis_structure() -> vol.Schema:
    """HomeSec's answer schema as an AI Task `structure` (fields with selectors)."""
    schema = analysis_json_schema()
    required = set(schema["required"])
    fields: dict[Any, Any] = {}
    for name, prop in schema["properties"].items():
        marker = vol.Required if name in required else vol.Optional
        key = marker(name, description=FIELD_DESCRIPTIONS.get(name))
        fields[key] = selector.selector(_selector_config(prop))
    return vol.Schema(fields)


# -- the entity -------------------------------------------------------------------------------


def ai_task_entity(hass: HomeAssistant, entity_id: str | None) -> str | None:
    """The entity the task goes to: the configured one, else HA's preferred one."""
    if entity_id:
        return entity_id
    preferences = hass.data.get(DATA_PREFERENCES)
    return preferences.gen_data_entity_id if preferences is not None else None


def entity_problem(hass: HomeAssistant, entity_id: str | None) -> str | None:
    """Why the AI Task entity cannot analyse clips (ENTITY_MISSING / NO_ATTACHMENTS), or None."""
    target = ai_task_entity(hass, entity_id)
    state = hass.states.get(target) if target else None
    if state is None:
        return ENTITY_MISSING
    features = int(state.attributes.get(ATTR_SUPPORTED_FEATURES) or 0)
    if not features & AITaskEntityFeature.GENERATE_DATA:
        return ENTITY_MISSING
    if not features & AITaskEntityFeature.SUPPORT_ATTACHMENTS:
        return NO_ATTACHMENTS
    return None


def _problem_error(problem: str, entity_id: str | None) -> VLMError:
    name = entity_id or "the preferred AI Task entity"
    if problem == NO_ATTACHMENTS:
        return AITaskNoAttachments(f"AI Task entity {name} cannot take image attachments")
    return AITaskEntityMissing(f"AI Task entity {name} does not exist")


# -- the analyzer -----------------------------------------------------------------------------


class AITaskAnalyzer(BudgetedAnalyzer):
    """Analyses a clip with an AI Task entity."""

    name = BACKEND_NAME

    def __init__(
        self,
        hass: HomeAssistant,
        settings: VLMSettings,
        *,
        entity_id: str | None,
        usage: UsageTracker,
        camera_context: Callable[[str], CameraContext] | None = None,
        now: Callable[[], datetime] | None = None,
        on_outcome: Callable[[VLMError | None], None] | None = None,
    ) -> None:
        self.hass = hass
        self.settings = settings
        self.entity_id = entity_id or None
        self.usage = usage
        self._camera_context = camera_context
        self._now = now or (lambda: datetime.now().astimezone())
        self._on_outcome = on_outcome
        self.last_frames: PreparedFrames | None = None
        self.last_error: VLMError | None = None

    def learned(self) -> dict[str, Any]:
        """Nothing is learned about an AI Task entity."""
        return {}

    def restore_learned(self, data: object) -> bool:
        """Nothing to restore."""
        return False

    def diagnostics(self) -> dict[str, Any]:
        """The backend, the entity and today's usage."""
        return {
            "backend": BACKEND_NAME,
            "entity_id": self.entity_id,
            "resolved_entity_id": ai_task_entity(self.hass, self.entity_id),
            "usage": self.usage.snapshot().to_dict(),
        }

    def _check_entity(self) -> str:
        if problem := entity_problem(self.hass, self.entity_id):
            raise _problem_error(problem, self.entity_id)
        target = ai_task_entity(self.hass, self.entity_id)
        assert target is not None
        return target

    async def _analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        target = self._check_entity()
        prepared = await self._prepare_frames(clip, filter_result)
        camera = self._context_for(clip)
        local_start = clip.start_ts.astimezone(self._now().tzinfo)
        instructions = "\n\n".join(
            (
                build_system_prompt(
                    language=self.settings.response_language, include_schema=False, camera=camera
                ),
                build_clip_text(
                    camera=camera,
                    local_start=local_start,
                    duration_s=prepared.duration_s,
                    filter_result=filter_result,
                    frames=prepared.frames,
                    household_notes=self.settings.household_notes,
                ),
                "The frames are attached as images, in this order.",
            )
        )
        jpegs = [frame.jpeg for frame in prepared.frames]
        return await self._ask(target, instructions, jpegs, prepared.duration_s, clip.clip_id)

    async def _analyze_incident(self, clips: Sequence[IncidentClip]) -> AnalysisResult:
        target = self._check_entity()
        parts = await self._incident_parts(clips)
        frames = incident_frames(parts)
        local_start = incident_start(clips).astimezone(self._now().tzinfo)
        instructions = "\n\n".join(
            (
                build_system_prompt(
                    language=self.settings.response_language,
                    include_schema=False,
                    camera=incident_camera(parts),
                    incident=True,
                ),
                build_incident_text(
                    parts,
                    frames,
                    local_start=local_start,
                    household_notes=self.settings.household_notes,
                ),
                "The frames are attached as images, in this order.",
            )
        )
        jpegs = [placed.frame.jpeg for placed in frames]
        what = "incident of " + ", ".join(item.clip.clip_id for item in clips)
        return await self._ask(target, instructions, jpegs, incident_duration(parts), what)

    async def _ask(
        self,
        target: str,
        instructions: str,
        jpegs: Sequence[bytes],
        duration_s: float,
        what: str,
    ) -> AnalysisResult:
        """The task with the frames attached and, when the answer is not a valid analysis,
        one re-ask."""
        async with async_frame_attachments(self.hass, jpegs) as attachments:
            correction = ""
            while True:
                text = await self._generate(target, instructions + correction, attachments)
                try:
                    result = parse_analysis(text, duration_s)
                except AnalysisValidationError as err:
                    if correction:
                        raise VLMInvalidOutput(
                            f"the AI Task entity answered twice without a valid analysis: {err}"
                        ) from err
                    _LOGGER.debug("Invalid analysis for %s, asking again: %s", what, err)
                    correction = f"\n\nYour previous answer was:\n{text[:2000]}\n\n" + (
                        correction_text(err)
                    )
                    continue
                return dataclasses.replace(
                    result, model=target, prompt_tokens=0, completion_tokens=0
                )

    async def _generate(
        self, target: str, instructions: str, attachments: list[dict[str, str]]
    ) -> str:
        """One task; the answer as text for the parser."""
        begin = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                answer = await async_generate_data(
                    self.hass,
                    task_name=SCHEMA_NAME,
                    entity_id=target,
                    instructions=instructions,
                    structure=analysis_structure(),
                    attachments=list(attachments),
                )
        except TimeoutError as err:
            raise VLMUnavailable(
                f"the AI Task entity {target} did not answer within "
                f"{self.settings.request_timeout_s:g} s"
            ) from err
        except HomeAssistantError as err:
            if problem := entity_problem(self.hass, self.entity_id):
                raise _problem_error(problem, self.entity_id) from err
            raise VLMUnavailable(f"the AI Task entity {target} failed: {err}") from err
        # AI Task reports no tokens: the budget counts the analysis as a call.
        self.usage.record(0, 0, int((time.monotonic() - begin) * 1000))
        data = answer.data
        if isinstance(data, str):
            return data
        try:
            return json.dumps(data, default=str)
        except (TypeError, ValueError):
            return str(data)

    async def _in_executor(self, job: Callable[[], _T]) -> _T:
        return await self.hass.async_add_executor_job(job)
