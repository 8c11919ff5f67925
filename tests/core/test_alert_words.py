"""The words of alerts (notification title and message, MQTT payload, email): English by
default, word for word as before; another language's words through `AlertWords`; a template a
translation breaks falls back to English instead of breaking the alert."""

from __future__ import annotations

import dataclasses
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.homesec_nvr.core.models import ActivityType, Alert, RiskLevel
from custom_components.homesec_nvr.core.notifiers.email_message import build_email
from custom_components.homesec_nvr.core.payload import (
    ENGLISH,
    AlertWords,
    MediaLinks,
    alert_message,
    alert_payload,
    alert_title,
    describe_activity,
)

from .email_samples import CLIP_URL, JPEG, sample_alert

GERMAN = AlertWords(
    title="HomeSec: {camera}",
    title_risk="RISIKO {risk_upper}: {camera}",
    message="{camera} um {time}: {activity}.",
    message_analyzed="{camera} um {time}: {activity} (Risiko {risk}). {summary}",
    message_urgent="RISIKO {risk_upper}. {camera} um {time}: {activity} (Risiko {risk}). {summary}",
    activity_detected="{objects} erkannt",
    activity_new_clip="neuer Clip",
    email_camera="Kamera",
    email_time="Zeit",
    email_risk_level="Risikostufe",
    email_not_analysed="nicht analysiert",
    email_activity="Aktivität",
    email_detected_objects="Erkannte Objekte",
    email_no_objects="keine",
    email_open_clip="Clip öffnen: {url}",
    email_no_clip_link="Kein Link zum Clip.",
    email_clip_link="Clip öffnen",
    email_snapshot_alt="Schnappschuss von {camera}",
    activities={"loitering": "Herumlungern"},
    risks={"high": "hoch", "low": "niedrig"},
)


def _with(alert: Alert, **changes: Any) -> Alert:
    return dataclasses.replace(alert, **changes)


def _time(alert: Alert) -> str:
    return alert.start_ts.astimezone().strftime("%H:%M:%S")


def test_english_is_the_default_and_says_what_it_always_said() -> None:
    # Given a high-risk alert, a low-risk one and one without analysis
    high = sample_alert()
    assert high.analysis is not None
    low = _with(high, analysis=dataclasses.replace(high.analysis, risk_level=RiskLevel.LOW))
    unanalysed = _with(high, analysis=None)

    # When their texts are made without words and with the English ones
    # Then both are the English texts of before
    for words in ((), (ENGLISH,)):
        assert alert_title(high, *words) == "HIGH RISK at Porch"
        assert alert_title(low, *words) == "HomeSec: Porch"
        assert alert_message(high, *words) == (
            f"HIGH RISK. Porch at {_time(high)}: loitering (high risk). A person rings the bell."
        )
        assert alert_message(low, *words) == (
            f"Porch at {_time(high)}: loitering (low risk). A person rings the bell."
        )
        assert alert_message(unanalysed, *words) == f"Porch at {_time(high)}: person, dog detected."
    assert describe_activity(None, ()) == "new clip"


def test_another_languages_words_make_the_notification_and_the_mqtt_payload() -> None:
    # Given a high-risk alert and German words
    high = sample_alert()
    unanalysed = _with(high, analysis=None, detected_classes=())

    # When its texts and its MQTT payload are made in German
    payload = alert_payload(high, MediaLinks(), GERMAN)

    # Then the title, the message and the payload's copies of them are German
    assert alert_title(high, GERMAN) == "RISIKO HOCH: Porch"
    expected = (
        f"RISIKO HOCH. Porch um {_time(high)}: Herumlungern (Risiko hoch). A person rings the bell."
    )
    assert alert_message(high, GERMAN) == expected
    assert (payload["title"], payload["message"]) == ("RISIKO HOCH: Porch", expected)
    # ... the payload's data stays as it is (values, not words)
    assert (payload["risk_level"], payload["activity_type"]) == ("high", "loitering")
    # ... and an alert without analysis or objects says "new clip" in German
    assert alert_message(unanalysed, GERMAN) == f"Porch um {_time(high)}: neuer Clip."
    # ... an activity or risk without a German word keeps its own words
    assert GERMAN.activity(ActivityType.PERSON_AT_DOOR.value) == "person at door"
    assert GERMAN.risk(RiskLevel.CRITICAL) == "critical"


def test_an_email_in_another_language_has_its_subject_labels_and_link_texts() -> None:
    # Given a high-risk alert, and the same alert without analysis
    high = sample_alert()
    unanalysed = _with(high, analysis=None)

    # When their emails are built with German words (one with snapshot and link, one without)
    full = build_email(high, CLIP_URL, JPEG, UTC, GERMAN)
    bare = build_email(unanalysed, None, None, UTC, GERMAN)

    # Then the subject, every label and the link's text are German, in both bodies
    assert full.subject == "RISIKO HOCH: Porch"
    assert "Kamera: Porch" in full.text and "Risikostufe: hoch" in full.text
    assert "Aktivität: Herumlungern" in full.text
    assert "Erkannte Objekte: person, dog" in full.text
    assert f"Clip öffnen: {CLIP_URL}" in full.text
    assert '<th align="left">Zeit</th>' in full.html
    assert 'alt="Schnappschuss von Porch"' in full.html
    assert ">Clip öffnen</a>" in full.html
    assert "Open" not in full.text + full.html
    assert bare.subject == "HomeSec: Porch"
    assert "Risikostufe: nicht analysiert" in bare.text
    assert "Aktivität: person, dog erkannt" in bare.text
    assert "Kein Link zum Clip." in bare.text
    no_objects = build_email(_with(unanalysed, detected_classes=()), None, None, UTC, GERMAN)
    assert "Erkannte Objekte: keine" in no_objects.text


@pytest.mark.parametrize(
    "broken",
    [
        "RISIKO {risk_upper}: {kamera}",  # a placeholder the alert does not have
        "RISIKO {risk_upper}: {camera",  # not a template at all
        "RISIKO {}: {camera}",  # a positional placeholder
    ],
)
def test_a_template_a_translation_broke_falls_back_to_english(broken: str) -> None:
    # Given German words whose high-risk title is broken
    words = dataclasses.replace(GERMAN, title_risk=broken)

    # When a high-risk alert's title is made
    title = alert_title(sample_alert(), words)

    # Then it is the English template, filled with the German risk word
    assert title == "HOCH RISK at Porch"


def test_the_time_of_a_message_is_in_the_words_time_zone() -> None:
    # Given an alert at 03:04:05 UTC, and words for a reader 14 hours ahead of UTC
    alert = _with(sample_alert(), analysis=None)
    words = dataclasses.replace(ENGLISH, time_zone=ZoneInfo("Pacific/Kiritimati"))

    # When its message and its email are made with those words
    message = alert_message(alert, words)
    email = build_email(alert, CLIP_URL, JPEG, words=words)

    # Then both say the reader's time, 17:04:05
    assert message == "Porch at 17:04:05: person, dog detected."
    assert "17:04:05" in email.text


def test_an_incidents_alert_names_its_cameras_in_the_order_they_joined() -> None:
    # Given an incident's alert of three cameras, and German-like words with their own list
    alert = _with(sample_alert(), cameras=("Porch", "Driveway", "Garden"))
    words = dataclasses.replace(ENGLISH, camera_list="{cameras} · {camera}")
    broken = dataclasses.replace(ENGLISH, camera_list="{cameras} and {place}")

    # When its title, message, email and payload are made
    title = alert_title(alert)
    message = alert_message(alert)
    email = build_email(alert, CLIP_URL, JPEG, UTC)

    # Then they name every camera of the incident, in their order
    assert title == "HIGH RISK at Porch, Driveway, Garden"
    assert message.startswith(f"HIGH RISK. Porch, Driveway, Garden at {_time(alert)}: ")
    assert "Camera: Porch, Driveway, Garden" in email.text
    assert alert_payload(alert, MediaLinks())["cameras"] == ["Porch", "Driveway", "Garden"]
    # ... in the translation's list, or the English one where the translation is broken
    assert words.where(alert) == "Porch · Driveway · Garden"
    assert broken.where(alert) == "Porch, Driveway, Garden"
    # ... and a clip's alert outside an incident names its own camera
    assert ENGLISH.where(sample_alert()) == "Porch"
    assert alert_payload(sample_alert(), MediaLinks())["cameras"] == ["Porch"]
