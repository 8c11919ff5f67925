"""What the vision model is told about a camera, from its stored settings (the analyzer and the
options' prompt preview both build it here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .const import CONF_CAMERA_CONTEXT, CONF_VISIBLE_ACTIVITY_TYPES, CONF_VLM_RESPONSE_LANGUAGE
from .core.vlm.prompt import CameraContext, parse_activity_types


def camera_prompt_context(name: str, config: Mapping[str, Any]) -> CameraContext:
    """A camera's name, notes, summary language override and visible activity types."""
    return CameraContext(
        name,
        str(config.get(CONF_CAMERA_CONTEXT) or ""),
        language=str(config.get(CONF_VLM_RESPONSE_LANGUAGE) or ""),
        activity_types=parse_activity_types(config.get(CONF_VISIBLE_ACTIVITY_TYPES)),
    )
