"""The `ha_notify` notifiers: Home Assistant notify services and persistent notifications.

Each notify service is its own Notifier, so the runner retries each one on its own and a
broken phone never re-sends to the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceNotFound

from .const import REVIEW_ACTION_PREFIX, SNOOZE_ACTION_PREFIX
from .core.interfaces import Notifier, PermanentError, PipelineError
from .core.models import Alert, AlertStage, RiskLevel
from .core.payload import MediaLinks, alert_message, alert_title

NOTIFY_DOMAIN = "notify"
LinksFor = Callable[[Alert], MediaLinks]


class NotifyServiceNotifier(Notifier):
    """Calls one `notify.*` service, with the snapshot attached as the mobile apps expect."""

    def __init__(self, hass: HomeAssistant, service: str, links: LinksFor) -> None:
        self._hass = hass
        self._service = service.removeprefix(f"{NOTIFY_DOMAIN}.")
        self._links = links
        self.name = f"{NOTIFY_DOMAIN}.{self._service}"

    supports_live = True

    async def send(self, alert: Alert) -> None:
        links = self._links(alert)
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
                [{"action": "URI", "title": "Open clip", "uri": links.media_url}]
                if links.media_url
                else []
            ),
            {"action": f"{SNOOZE_ACTION_PREFIX}{alert.camera_id}", "title": "Snooze 1 h"},
            # A live alert has no clip yet to review: its clip's update brings the button.
            *(
                [{"action": f"{REVIEW_ACTION_PREFIX}{alert.clip_id}", "title": "Mark reviewed"}]
                if alert.stage is AlertStage.ANALYZED
                else []
            ),
        ]
        data.update(urgency_data(alert.risk_level, follow_up=alert.follow_up))
        try:
            await self._hass.services.async_call(
                NOTIFY_DOMAIN,
                self._service,
                {"title": alert_title(alert), "message": alert_message(alert), "data": data},
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

    def __init__(self, hass: HomeAssistant, links: LinksFor) -> None:
        self._hass = hass
        self._links = links

    async def send(self, alert: Alert) -> None:
        links = self._links(alert)
        body = alert_message(alert)
        if links.snapshot_url:
            body += f"\n\n![snapshot]({links.snapshot_url})"
        if links.media_url:
            body += f"\n\n[Open clip]({links.media_url})"
        persistent_notification.async_create(
            self._hass, body, title=alert_title(alert), notification_id=alert.tag
        )


def build_ha_notifiers(
    hass: HomeAssistant, services: Sequence[str], persistent: bool, links: LinksFor
) -> list[Notifier]:
    """The notifiers configured in the hub options."""
    notifiers: list[Notifier] = [NotifyServiceNotifier(hass, s, links) for s in services]
    if persistent:
        notifiers.append(PersistentNotificationNotifier(hass, links))
    return notifiers
