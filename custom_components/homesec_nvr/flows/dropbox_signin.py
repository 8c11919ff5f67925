"""The Dropbox sign-in: Home Assistant's OAuth2 flow (application credentials) run as a
reauthentication of the hub entry (HomeSec is a single config entry: a second entry or a
subentry cannot take the OAuth2 redirect). The token is checked with a real call
(users/get_current_account) before it is saved in the entry data."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.helpers import config_entry_oauth2_flow

from ..const import DOMAIN
from ..core.offsite import OffsiteAuthError, OffsiteError
from ..ha_offsite import async_target_for

_LOGGER = logging.getLogger(__name__)


class DropboxSignInFlow(config_entry_oauth2_flow.AbstractOAuth2FlowHandler):
    """The OAuth2 steps (pick_implementation, auth, creation) of the hub's config flow."""

    DOMAIN = DOMAIN

    @property
    def logger(self) -> logging.Logger:
        """Where the OAuth2 steps log."""
        return _LOGGER

    @property
    def extra_authorize_data(self) -> dict[str, Any]:
        """Offline access: Dropbox hands out a refresh token."""
        return {"token_access_type": "offline"}

    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Check the new token with a real call, then keep it in the hub entry's data."""
        entry = self._get_reauth_entry()
        token = data["token"]
        target = await async_target_for(self.hass, token, self.flow_impl)
        try:
            account = await target.account()
        except OffsiteAuthError as err:
            _LOGGER.warning("Dropbox refused the new sign-in: %s", err)
            return self.async_abort(reason="dropbox_invalid_auth")
        except OffsiteError as err:
            _LOGGER.warning("Dropbox sign-in not checked: %s", err)
            return self.async_abort(reason="dropbox_cannot_connect")
        finally:
            await target.close()
        # The entry's update listener reloads the hub, which starts copying.
        self.hass.config_entries.async_update_entry(
            entry,
            data={
                **entry.data,
                "auth_implementation": data["auth_implementation"],
                "token": token,
            },
        )
        return self.async_abort(
            reason="dropbox_signed_in", description_placeholders={"account": account}
        )
