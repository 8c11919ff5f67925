"""What the service actions share: the loaded hub, the HomeSec camera of a device, and their
translated errors (ServiceValidationError for wrong use, HomeAssistantError for a failure)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .hub import HomeSecHub, loaded_hub


def invalid(key: str, **placeholders: str) -> ServiceValidationError:
    """Wrong use of a service action, in the user's language."""
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def failed(key: str, err: Exception) -> HomeAssistantError:
    """A service action that failed (the clip database, the storage folder, the model)."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"error": str(err) or type(err).__name__},
    )


def hub_or_raise(hass: HomeAssistant) -> HomeSecHub:
    """The loaded hub; a translated error while HomeSec is not loaded."""
    if (hub := loaded_hub(hass)) is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    return hub


def device_camera(hass: HomeAssistant, hub: HomeSecHub, device_id: str) -> str:
    """The HomeSec camera of a device; a translated error for any other device."""
    device = dr.async_get(hass).async_get(device_id)
    ids = [i for d, i in (device.identifiers if device else ()) if d == DOMAIN]
    camera = next((c for c in ids if c in hub.cameras), None)
    if camera is None:
        raise invalid("not_a_camera", device_id=device_id)
    return camera
