"""The timeline card: HomeSec serves its Lovelace card and adds it to the frontend.

`frontend/homesec-timeline-card.js` (a plain web component, no build step) is served under
`/homesec_nvr/frontend/` and added to every dashboard with the frontend's extra module URLs,
versioned with the integration's version so a browser fetches an updated card after an
upgrade. Done once per Home Assistant run (from `async_setup`, guarded in `hass.data`): the
frontend offers no way to unregister a static path, so the card stays registered when the
config entry is unloaded or reloaded (a dashboard then shows the card's error state).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig  # type: ignore[attr-defined]
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

CARD_FOLDER: Final = Path(__file__).parent / "frontend"
CARD_FILE: Final = "homesec-timeline-card.js"
CARD_BASE_URL: Final = f"/{DOMAIN}/frontend"
DATA_CARD_URL: HassKey[str] = HassKey(f"{DOMAIN}_card_url")


async def async_register_card(hass: HomeAssistant) -> str:
    """Serve the card and add it to the frontend's modules (once per run); returns its URL."""
    if (url := hass.data.get(DATA_CARD_URL)) is not None:
        return url
    integration = await async_get_integration(hass, DOMAIN)
    url = f"{CARD_BASE_URL}/{CARD_FILE}?v={integration.version}"
    hass.data[DATA_CARD_URL] = url
    # StaticPathConfig: HA 2026 defines it in http.server and imports it into http, where
    # HA 2025 defines it. Cache headers on: the URL changes with the version.
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_BASE_URL, str(CARD_FOLDER), True)]
    )
    # The frontend is an after-dependency: set up before HomeSec when it is configured.
    if "frontend" in hass.config.components:
        add_extra_js_url(hass, url)
    else:
        _LOGGER.debug("No frontend loaded: the timeline card is served at %s only", url)
    return url
