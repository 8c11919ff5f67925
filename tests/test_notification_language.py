"""Notifications, persistent notifications and emails speak Home Assistant's language: their
words come from the integration's translations (translations/de.json has German ones), English
where a language has none, and a change of language reaches the next alert. Their times, and the
day folders clips are stored in, are in Home Assistant's time zone, not the machine's."""

from __future__ import annotations

import json
import string
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from custom_components.homesec_nvr import ha_notifier
from custom_components.homesec_nvr.const import CONF_SMTP_PASSWORD, DOMAIN
from custom_components.homesec_nvr.core.models import RiskLevel
from custom_components.homesec_nvr.ha_notifier import async_load_alert_words

from .conftest import SetupHub
from .core.openai_server import DEFAULT_MODEL, OpenAIServer, analysis_json
from .core.smtp_server import SmtpServer
from .helpers import process_clip
from .test_email_delivery import smtp_options
from .test_translations import ROOT, _strings

pytest_plugins = ["tests.email_servers"]

SUSPICIOUS = analysis_json(
    risk_level="high",
    activity_type="suspicious_behavior",
    summary="Jemand rüttelt an der Haustür.",
    observations=["Ein Mann zieht zweimal am Türgriff"],
)


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """A local OpenAI-compatible server that sees a threat in every clip."""
    async with OpenAIServer() as running:
        running.default_content = SUSPICIOUS
        yield running


def _phone(hass: HomeAssistant) -> list[ServiceCall]:
    """A phone's notify service; the calls it got."""
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    return calls


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def _flat(tree: dict[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def test_every_other_language_translates_only_keys_english_has_with_its_placeholders() -> None:
    # Given strings.json and every other language's translation file
    english = _flat(_strings())
    others = sorted(p for p in (ROOT / "translations").glob("*.json") if p.stem != "en")

    # When their keys and placeholders are compared with English
    # Then each file (German at least) only translates existing keys, keeping the placeholders
    assert "de" in [p.stem for p in others]
    for path in others:
        translated = _flat(json.loads(path.read_text(encoding="utf-8")))
        assert translated, path
        assert set(translated) - set(english) == set(), path
        for key, text in translated.items():
            assert _placeholders(text) == _placeholders(english[key]), (path.name, key)


async def test_a_german_home_assistant_gets_german_notifications_and_emails(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,
    smtp: SmtpServer,
    incoming: Path,
) -> None:
    # Given Home Assistant in German, HomeSec with a vision model, a phone, the persistent
    # notification and alert emails
    await hass.config.async_update(language="de")
    calls = _phone(hass)
    await setup_hub(
        entry_data={CONF_SMTP_PASSWORD: "correct horse"},
        vlm_enabled=True,
        vlm_base_url=server.url,
        vlm_model=DEFAULT_MODEL,
        vlm_run_mode="always",
        vlm_request_timeout_s=5,
        notify_services=["notify.phone"],
        **smtp_options(smtp),
    )

    # When a clip of the front door is analysed as a high risk
    payload = await process_clip(hass, incoming / "door.mp4")

    # Then the phone's notification has a German title, message and buttons
    assert payload["risk_level"] == "high"
    [call] = calls
    assert call.data["title"] == "RISIKO HOCH: Front door"
    message = call.data["message"]
    assert message.startswith("RISIKO HOCH. Front door um ")
    # ... with the activity in the German words of the activity sensor
    assert message.endswith(
        ": Verdächtiges Verhalten (Risiko hoch). Jemand rüttelt an der Haustür."
    )
    assert [a["title"] for a in call.data["data"]["actions"]] == [
        "Clip öffnen",
        "1 h stumm",
        "Als geprüft markieren",
    ]
    # ... the persistent notification too
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    [shown] = [n for n in notifications.values() if n["title"] == "RISIKO HOCH: Front door"]
    assert shown["message"].startswith(message)
    assert "[Clip öffnen](/api/homesec_nvr/clips/" in shown["message"]
    # ... and the email's subject and labels
    [received] = smtp.messages
    assert received.message["Subject"] == "RISIKO HOCH: Front door"
    text = received.message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "Kamera: Front door" in body and "Risikostufe: hoch" in body
    assert "Erkannte Objekte: keine" in body


async def test_a_change_of_language_reaches_the_next_alert(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given Home Assistant in English and a phone told of every clip
    calls = _phone(hass)
    await setup_hub(notify_on_motion=True, notify_services=["notify.phone"])
    await process_clip(hass, incoming / "a.mp4")

    # When the language becomes German and the next clip alerts
    await hass.config.async_update(language="de")
    await process_clip(hass, incoming / "b.mp4")

    # Then the first notification was English as always, the second German
    english, german = calls
    assert english.data["title"] == german.data["title"] == "HomeSec: Front door"
    assert english.data["message"].endswith(": new clip.")
    assert german.data["message"].startswith("Front door um ")
    assert german.data["message"].endswith(": neuer Clip.")
    assert [a["title"] for a in english.data["data"]["actions"]] == [
        "Open clip",
        "Snooze 1 h",
        "Mark reviewed",
    ]
    assert [a["title"] for a in german.data["data"]["actions"]] == [
        "Clip öffnen",
        "1 h stumm",
        "Als geprüft markieren",
    ]


async def test_a_language_without_homesec_words_is_english(hass: HomeAssistant) -> None:
    # Given a language HomeSec has no translation for, and German (a complete translation)
    # When the alert words of each are loaded
    french = await async_load_alert_words(hass, "fr")
    german = await async_load_alert_words(hass, "de")
    common = await async_get_translations(hass, "de", "common", [DOMAIN])

    # Then French is English throughout; German has its own words, activities included
    assert (french.title_risk, french.snooze, french.risks["high"]) == (
        "{risk_upper} RISK at {camera}",
        "Snooze 1 h",
        "high",
    )
    assert french.activities == {}
    assert (german.snooze, german.risks["high"]) == ("1 h stumm", "hoch")
    assert german.activities["suspicious_behavior"] == "Verdächtiges Verhalten"
    assert german.activity("person_at_door") == "Person an der Tür"
    assert common[f"component.{DOMAIN}.common.incident"] == "Vorfall"


async def test_a_word_german_lacks_falls_back_to_english(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given German translations from which the snooze button and the high risk are missing
    real = ha_notifier.async_get_translations
    dropped = {f"component.{DOMAIN}.common.alert_snooze", f"component.{DOMAIN}.common.risk_high"}

    async def without_two_words(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {k: v for k, v in (await real(*args, **kwargs)).items() if k not in dropped}

    monkeypatch.setattr(ha_notifier, "async_get_translations", without_two_words)

    # When the German alert words are loaded
    german = await async_load_alert_words(hass, "de")

    # Then those two are English, the others German
    assert german.snooze == "Snooze 1 h"
    assert german.risk(RiskLevel.HIGH) == "high"
    assert (german.open_clip, german.risk(RiskLevel.LOW)) == ("Clip öffnen", "niedrig")


async def test_times_are_in_home_assistants_time_zone_not_the_machines(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given Home Assistant set to a time zone hours away from the machine's own clock
    machine_offset_h = -time.timezone / 3600
    zone = "Pacific/Kiritimati" if machine_offset_h < 7 else "America/Los_Angeles"
    await hass.config.async_update(time_zone=zone)
    calls = _phone(hass)
    entry = await setup_hub(notify_on_motion=True, notify_services=["notify.phone"])

    # When a clip alerts
    payload = await process_clip(hass, incoming / "a.mp4")

    # Then the notification says when in Home Assistant's time zone, not the machine's
    start = dt_util.parse_datetime(payload["start_time"])
    assert start is not None
    [call] = calls
    home_time = dt_util.as_local(start).strftime("%H:%M:%S")
    machine_time = start.astimezone().strftime("%H:%M:%S")
    assert home_time != machine_time
    assert call.data["message"] == f"Front door at {home_time}: new clip."
    # ... and the clip is stored in the folder of Home Assistant's day
    state = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert state is not None and state.clip_uri is not None
    assert f"/{dt_util.as_local(start).date().isoformat()}/" in state.clip_uri


async def test_an_incidents_cameras_are_listed_as_the_media_browser_lists_them(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given German translations whose media-browser camera list reads "A / B"
    real = ha_notifier.async_get_translations
    key = f"component.{DOMAIN}.common.camera_list"

    async def slashed(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {**(await real(*args, **kwargs)), key: "{cameras} / {camera}"}

    monkeypatch.setattr(ha_notifier, "async_get_translations", slashed)

    # When the German alert words are loaded
    german = await async_load_alert_words(hass, "de")

    # Then an incident's alert lists its cameras with that same template (one translation)
    assert german.camera_list == "{cameras} / {camera}"
