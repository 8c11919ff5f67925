"""The `ha_notify` notifiers: Home Assistant notify services and persistent notifications.

Each notify service is its own Notifier, so the runner retries each one on its own and a
broken phone never re-sends to the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceNotFound
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .const import DOMAIN, REVIEW_ACTION_PREFIX, SNOOZE_ACTION_PREFIX
from .core.interfaces import Notifier, PermanentError, PipelineError
from .core.models import Alert, AlertStage, RiskLevel
from .core.payload import ENGLISH, AlertWords, MediaLinks, alert_message, alert_title

NOTIFY_DOMAIN = "notify"
LinksFor = Callable[[Alert], MediaLinks]
WordsFor = Callable[[], Awaitable[AlertWords]]
# AlertWords' field -> its key in the translations' `common` (e.g. title -> alert_title).
# Words the media browser's labels use too keep their own key (no `alert_` prefix).
_SHARED_KEYS = frozenset({"camera_list"})
_WORD_KEYS = {
    f.name: f.name if f.name.startswith("email_") or f.name in _SHARED_KEYS else f"alert_{f.name}"
    for f in dataclasses.fields(AlertWords)
    if isinstance(f.default, str)
}


async def async_load_alert_words(hass: HomeAssistant, language: str) -> AlertWords:
    """The alert texts in `language` (English where it has no translation)."""
    common = await async_get_translations(hass, language, "common", [DOMAIN])
    prefix = f"component.{DOMAIN}.common."
    # Only the text fields (the time zone is set by AlertWordsSource).
    words: dict[str, Any] = {
        name: common.get(f"{prefix}{key}") or getattr(ENGLISH, name)
        for name, key in _WORD_KEYS.items()
    }
    risks = {
        risk.value: text for risk in RiskLevel if (text := common.get(f"{prefix}risk_{risk.value}"))
    }
    activities: dict[str, str] = {}
    if language != "en":
        # The activity sensor's states the language translates (as it writes them); the
        # others, and English, keep the lower-case phrases of alerts ("person at door").
        entity = await async_get_translations(hass, language, "entity", [DOMAIN])
        english = await async_get_translations(hass, "en", "entity", [DOMAIN])
        state = f"component.{DOMAIN}.entity.sensor.activity_type.state."
        activities = {
            key.removeprefix(state): text
            for key, text in entity.items()
            if key.startswith(state) and text != english.get(key)
        }
    return AlertWords(**words, activities=activities, risks=risks)


class AlertWordsSource:
    """The hub's alert texts: loaded at its start, again when Home Assistant's language
    changes (checked at each alert; the translations are cached by Home Assistant). Their
    times are in Home Assistant's time zone, whatever the machine's own is."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._language: str | None = None
        self._words = ENGLISH

    async def async_get(self) -> AlertWords:
        """The texts in Home Assistant's current language and time zone."""
        language = self._hass.config.language
        if language != self._language:
            self._words = await async_load_alert_words(self._hass, language)
            self._language = language
        time_zone = dt_util.get_default_time_zone()
        if self._words.time_zone != time_zone:
            self._words = dataclasses.replace(self._words, time_zone=time_zone)
        return self._words


class NotifyServiceNotifier(Notifier):
    """Calls one `notify.*` service, with the snapshot attached as the mobile apps expect."""

    def __init__(
        self, hass: HomeAssistant, service: str, links: LinksFor, words: WordsFor | None = None
    ) -> None:
        self._hass = hass
        self._service = service.removeprefix(f"{NOTIFY_DOMAIN}.")
        self._links = links
        self._words = words or AlertWordsSource(hass).async_get
        self.name = f"{NOTIFY_DOMAIN}.{self._service}"

    supports_live = True

    async def send(self, alert: Alert) -> None:
        links = self._links(alert)
        words = await self._words()
        # One notification per event (or clip): a later alert of the event, or a repeated
        # delivery after a restart, replaces it in place.
        data: dict[str, object] = {"tag": alert.tag, "group": "homesec"}
        if links.snapshot_url:
            data["image"] = links.snapshot_url
        if links.media_url:
            data["url"] = links.media_url
            data["clickAction"] = links.media_url
        data["actions"] = [
            *(
                [{"action": "URI", "title": words.open_clip, "uri": links.media_url}]
                if links.media_url
                else []
            ),
            {"action": f"{SNOOZE_ACTION_PREFIX}{alert.camera_id}", "title": words.snooze},
            # A live alert has no clip yet to review: its clip's update brings the button.
            *(
                [
                    {
                        "action": f"{REVIEW_ACTION_PREFIX}{alert.clip_id}",
                        "title": words.mark_reviewed,
                    }
                ]
                if alert.stage is AlertStage.ANALYZED
                else []
            ),
        ]
        data.update(urgency_data(alert.risk_level, follow_up=alert.follow_up))
        try:
            await self._hass.services.async_call(
                NOTIFY_DOMAIN,
                self._service,
                {
                    "title": alert_title(alert, words),
                    "message": alert_message(alert, words),
                    "data": data,
                },
                blocking=True,
            )
        except ServiceNotFound as err:
            raise PermanentError(f"{self.name} does not exist") from err
        except HomeAssistantError as err:
            raise PipelineError(f"{self.name} failed: {err}") from err


def urgency_data(risk: RiskLevel | None, *, follow_up: bool = False) -> dict[str, object]:
    """How urgently the HA companion apps present an alert of this risk.

    High: a time-sensitive push (iOS breaks through Focus), sent at once with high priority
    (Android). Critical: a critical alert with sound even on silent (iOS) on Android's alarm
    stream. Lower risks (or none analysed) are ordinary notifications, and a follow-up of an
    event's live alert below high risk replaces it quietly (no second sound or vibration).
    """
    if risk is None or risk < RiskLevel.HIGH:
        if follow_up:
            return {"alert_once": True, "push": {"interruption-level": "passive"}}
        return {}
    if risk is RiskLevel.CRITICAL:
        return {
            "push": {
                "interruption-level": "critical",
                "sound": {"name": "default", "critical": 1, "volume": 1.0},
            },
            "priority": "high",
            "ttl": 0,
            "channel": "alarm_stream",
        }
    return {"push": {"interruption-level": "time-sensitive"}, "priority": "high", "ttl": 0}


class PersistentNotificationNotifier(Notifier):
    """Creates a persistent notification (one per clip) with the snapshot inline."""

    name = "persistent_notification"
    supports_live = True

    def __init__(self, hass: HomeAssistant, links: LinksFor, words: WordsFor | None = None) -> None:
        self._hass = hass
        self._links = links
        self._words = words or AlertWordsSource(hass).async_get

    async def send(self, alert: Alert) -> None:
        links = self._links(alert)
        words = await self._words()
        body = alert_message(alert, words)
        if links.snapshot_url:
            body += f"\n\n![{words.snapshot}]({links.snapshot_url})"
        if links.media_url:
            body += f"\n\n[{words.open_clip}]({links.media_url})"
        persistent_notification.async_create(
            self._hass, body, title=alert_title(alert, words), notification_id=alert.tag
        )


def build_ha_notifiers(
    hass: HomeAssistant,
    services: Sequence[str],
    persistent: bool,
    links: LinksFor,
    words: WordsFor | None = None,
) -> list[Notifier]:
    """The notifiers configured in the hub options (their texts in `words`' language)."""
    words = words or AlertWordsSource(hass).async_get
    notifiers: list[Notifier] = [NotifyServiceNotifier(hass, s, links, words) for s in services]
    if persistent:
        notifiers.append(PersistentNotificationNotifier(hass, links, words))
    return notifiers
