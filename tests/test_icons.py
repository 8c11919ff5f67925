"""icons.json (icon-translations): every entity HomeSec translates has its icon."""

from __future__ import annotations

import json
from pathlib import Path

COMPONENT = Path(__file__).parent.parent / "custom_components" / "homesec_nvr"
# Entities whose device class gives them their icon (and one per state).
DEVICE_CLASS_ICONS = {("binary_sensor", "motion"), ("binary_sensor", "problem")}


def test_every_translated_entity_has_an_icon() -> None:
    # Given the entities of strings.json and the icons of icons.json
    entities = json.loads((COMPONENT / "strings.json").read_text())["entity"]
    icons = json.loads((COMPONENT / "icons.json").read_text())["entity"]

    # When the entities without an icon are listed (device-class icons aside)
    missing = [
        f"{platform}.{key}"
        for platform, keys in entities.items()
        for key in keys
        if key not in icons.get(platform, {}) and (platform, key) not in DEVICE_CLASS_ICONS
    ]

    # Then there are none: the off-site backlog sensor too has its own icon
    assert missing == []
    assert icons["sensor"]["offsite_backlog"]["default"].startswith("mdi:")
