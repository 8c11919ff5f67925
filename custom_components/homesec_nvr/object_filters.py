"""Each camera's object filter, with onnxruntime installed on demand and repair issues.

onnxruntime has no wheels for musl (Home Assistant OS and the official container), so it is not
a manifest requirement: it is installed through Home Assistant's requirements mechanism when a
camera uses the ONNX filter. When that fails, the camera's clips end with a clear filter error,
a repair issue explains the alternatives, and everything else keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.requirements import RequirementsNotFound, async_process_requirements

from .const import (
    DOMAIN,
    ISSUE_MODEL_MISSING,
    ISSUE_ONNXRUNTIME_UNAVAILABLE,
    ONNXRUNTIME_REQUIREMENT,
)
from .core.filters.onnx import (
    ModelError,
    ModelInfo,
    OnnxFilterSettings,
    OnnxObjectFilter,
    OnnxRuntimeUnavailable,
    inspect_model,
    onnxruntime_available,
)
from .core.interfaces import ObjectFilter, PermanentError
from .core.models import Clip, FilterResult

_LOGGER = logging.getLogger(__name__)

REQUIREMENTS_NAME = f"{DOMAIN}.onnx"


async def async_ensure_onnxruntime(hass: HomeAssistant) -> bool:
    """Install onnxruntime if needed; True when it can be imported."""
    try:
        await async_process_requirements(hass, REQUIREMENTS_NAME, [ONNXRUNTIME_REQUIREMENT])
    except RequirementsNotFound as err:
        _LOGGER.warning("onnxruntime could not be installed: %s", err)
        return False
    return await hass.async_add_executor_job(onnxruntime_available)


async def async_validate_model(
    hass: HomeAssistant, path: str
) -> tuple[str | None, ModelInfo | None]:
    """Form validation: (error key, model info). Installs onnxruntime when needed."""
    if not Path(path).is_absolute():
        return "path_not_absolute", None
    if not await async_ensure_onnxruntime(hass):
        return ISSUE_ONNXRUNTIME_UNAVAILABLE, None
    try:
        info = await hass.async_add_executor_job(inspect_model, Path(path))
    except ModelError as err:
        return err.reason, None
    except OnnxRuntimeUnavailable:
        return ISSUE_ONNXRUNTIME_UNAVAILABLE, None
    return None, info


def create_onnxruntime_issue(hass: HomeAssistant) -> None:
    """Explain that the ONNX filter cannot run here, and what to do instead."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_ONNXRUNTIME_UNAVAILABLE,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_ONNXRUNTIME_UNAVAILABLE,
        translation_placeholders={"requirement": ONNXRUNTIME_REQUIREMENT},
    )


class UnavailableFilter(ObjectFilter):
    """Stands in for the ONNX filter when onnxruntime cannot be installed."""

    name = "onnx"

    async def detect(self, clip: Clip) -> FilterResult:
        raise OnnxRuntimeUnavailable(
            "onnxruntime is not available on this system: choose the `none` filter for "
            f"{clip.camera_name} or run Home Assistant where onnxruntime can be installed"
        )


class ReportingFilter(ObjectFilter):
    """Wraps a camera's filter: a missing model raises a repair issue, a success clears it."""

    def __init__(
        self,
        hass: HomeAssistant,
        inner: ObjectFilter,
        camera_id: str,
        camera_name: str,
        model_path: Path | None,
    ) -> None:
        self._hass = hass
        self.inner = inner
        self._camera_name = camera_name
        self._model_path = model_path
        self._issue_id = f"{ISSUE_MODEL_MISSING}_{camera_id}"
        self.name = inner.name

    async def detect(self, clip: Clip) -> FilterResult:
        try:
            result = await self.inner.detect(clip)
        except ModelError as err:
            if err.reason == "model_not_found":
                ir.async_create_issue(
                    self._hass,
                    DOMAIN,
                    self._issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.ERROR,
                    translation_key=ISSUE_MODEL_MISSING,
                    translation_placeholders={
                        "camera": self._camera_name,
                        "path": str(self._model_path),
                    },
                )
            raise
        ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
        return result

    async def close(self) -> None:
        await self.inner.close()


async def async_build_onnx_filter(
    hass: HomeAssistant,
    *,
    camera_id: str,
    camera_name: str,
    settings: Callable[[], OnnxFilterSettings],
    executor: ThreadPoolExecutor,
    onnxruntime_ok: bool,
) -> ObjectFilter:
    """The ONNX filter of one camera (or a stand-in that explains why it cannot run)."""
    if not onnxruntime_ok:
        create_onnxruntime_issue(hass)
        return UnavailableFilter()
    try:
        resolved = settings()
    except ValueError as err:
        _LOGGER.warning("Camera %s: ONNX filter not usable: %s", camera_name, err)
        return _MisconfiguredFilter(f"ONNX filter of {camera_name} is misconfigured: {err}")
    ir.async_delete_issue(hass, DOMAIN, ISSUE_ONNXRUNTIME_UNAVAILABLE)
    return ReportingFilter(
        hass,
        OnnxObjectFilter(resolved, executor=executor),
        camera_id,
        camera_name,
        resolved.model_path,
    )


class _MisconfiguredFilter(ObjectFilter):
    """A camera whose filter settings cannot work: each clip fails with the reason."""

    name = "onnx"

    def __init__(self, message: str) -> None:
        self._message = message

    async def detect(self, clip: Clip) -> FilterResult:
        raise PermanentError(self._message)
