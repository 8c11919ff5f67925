"""Settings built from a camera subentry and the hub's options (pure functions, no HA)."""

from __future__ import annotations

import pytest

from custom_components.homesec_nvr.core.models import ActivityType, RiskLevel
from custom_components.homesec_nvr.flows.fields import default_options
from custom_components.homesec_nvr.settings import (
    camera_alert_settings,
    frigate_camera_config,
    hub_alert_settings,
    onnx_filter_settings,
    validate_per_camera_alert,
)


def test_a_camera_can_override_the_hubs_activity_types_and_trigger_classes() -> None:
    # Given the hub's defaults and a camera naming its own activity types and trigger classes
    hub = hub_alert_settings(default_options())
    camera = {
        "notify_on_activity_types": ["delivery", "loitering"],
        "trigger_classes": ["cat"],
    }

    # When the camera's effective settings are built
    settings = camera_alert_settings(camera, hub)

    # Then the camera's values replace the hub's, the rest is inherited
    assert settings.notify_on_activity_types == {
        ActivityType.DELIVERY,
        ActivityType.LOITERING,
    }
    assert settings.trigger_classes == frozenset({"cat"})
    assert settings.min_risk_level == hub.min_risk_level
    assert hub.trigger_classes != frozenset({"cat"})


def test_the_onnx_filter_needs_a_model_file() -> None:
    # Given a camera using the ONNX filter, with no model file on it or on the hub
    camera = {"filter": "onnx", "filter_model_path": "  "}

    # When its filter settings are built
    # Then that is refused with a message saying what is missing
    with pytest.raises(ValueError, match="no ONNX model file"):
        onnx_filter_settings(camera, {"filter_model_path": ""}, frozenset({"person"}))


def test_per_camera_alert_overrides_are_accepted_when_valid() -> None:
    # Given the seed's per-camera alert overrides for two Frigate cameras
    value = {
        "driveway": {"min_risk_level": "high", "notify_on_motion": False},
        "porch": {"notify_on_activity_types": ["delivery"]},
    }

    # When they are validated
    result = validate_per_camera_alert(value)

    # Then they are kept as given, keyed by camera name, and nothing is not a mapping
    assert result == value
    assert result["driveway"] is not value["driveway"]
    assert RiskLevel(result["driveway"]["min_risk_level"]) is RiskLevel.HIGH
    assert validate_per_camera_alert(None) == {}
    assert validate_per_camera_alert("") == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["driveway"], "expected a mapping of camera names"),
        ({"driveway": "high"}, "driveway: expected alert settings"),
        (
            {"driveway": {"volume": 3, "colour": "red"}},
            r"driveway: unknown setting\(s\) colour, vo",
        ),
        ({"driveway": {"min_risk_level": "apocalyptic"}}, "apocalyptic"),
        ({"driveway": {"notify_on_activity_types": ["dancing"]}}, "unknown activity type"),
        ({"driveway": {"notify_on_motion": "yes"}}, "driveway: notify_on_motion must be true"),
    ],
)
def test_per_camera_alert_overrides_name_what_is_wrong(value: object, message: str) -> None:
    # Given per-camera alert overrides with a mistake
    # When they are validated
    # Then they are refused, and the message names the camera and the mistake
    with pytest.raises(ValueError, match=message):
        validate_per_camera_alert(value)


def test_a_camera_can_override_the_hubs_risk_level_and_motion_notifications() -> None:
    # Given the hub's defaults and a camera with its own risk level and motion switch
    hub = hub_alert_settings(default_options())
    camera = {"min_risk_level": "critical", "notify_on_motion": "on"}

    # When the camera's effective settings are built
    settings = camera_alert_settings(camera, hub)

    # Then the camera's values win; "inherit" keeps the hub's
    assert settings.min_risk_level is RiskLevel.CRITICAL
    assert settings.notify_on_motion is True
    inherited = camera_alert_settings(
        {"min_risk_level": "inherit", "notify_on_motion": "inherit"}, hub
    )
    assert inherited.min_risk_level == hub.min_risk_level
    assert inherited.notify_on_motion == hub.notify_on_motion


def test_a_frigate_camera_gets_its_per_camera_alert_overrides() -> None:
    # Given a Frigate subentry with an override for one of its cameras
    subentry = {
        "min_risk_level": "medium",
        "per_camera_alert": {"driveway": {"min_risk_level": "high"}},
    }

    # When each camera's settings are built
    driveway = frigate_camera_config(subentry, "driveway")
    porch = frigate_camera_config(subentry, "porch")

    # Then the overridden camera gets its own value, the other the subentry's
    assert driveway["min_risk_level"] == "high"
    assert porch["min_risk_level"] == "medium"
    assert subentry["min_risk_level"] == "medium"
