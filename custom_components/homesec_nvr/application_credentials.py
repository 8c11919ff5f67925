"""Application credentials for the Dropbox sign-in: the user's own Dropbox app (key and
secret), used by Home Assistant's OAuth2 flow (offline access: a refresh token)."""

from __future__ import annotations

from homeassistant.components.application_credentials import AuthorizationServer
from homeassistant.core import HomeAssistant

AUTHORIZE_URL = "https://www.dropbox.com/oauth2/authorize"
TOKEN_URL = "https://api.dropboxapi.com/oauth2/token"  # noqa: S105 - a URL, not a secret


async def async_get_authorization_server(hass: HomeAssistant) -> AuthorizationServer:
    """Dropbox's OAuth2 endpoints."""
    return AuthorizationServer(authorize_url=AUTHORIZE_URL, token_url=TOKEN_URL)


async def async_get_description_placeholders(hass: HomeAssistant) -> dict[str, str]:
    """Where the user creates the Dropbox app."""
    return {
        "console_url": "https://www.dropbox.com/developers/apps",
        "redirect_url": "https://my.home-assistant.io/redirect/oauth",
    }
