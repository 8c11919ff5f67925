"""Publishing metadata: the quality scale record and hacs.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parent.parent
QUALITY_SCALE = ROOT / "custom_components" / "homesec_nvr" / "quality_scale.yaml"
# hassfest's script/hassfest/quality_scale.py (ALL_RULES), tier by tier.
BRONZE = (
    "action-setup",
    "appropriate-polling",
    "brands",
    "common-modules",
    "config-flow",
    "config-flow-test-coverage",
    "dependency-transparency",
    "docs-actions",
    "docs-high-level-description",
    "docs-installation-instructions",
    "docs-removal-instructions",
    "entity-event-setup",
    "entity-unique-id",
    "has-entity-name",
    "runtime-data",
    "test-before-configure",
    "test-before-setup",
    "unique-config-entry",
)
SILVER = (
    "action-exceptions",
    "config-entry-unloading",
    "docs-configuration-parameters",
    "docs-installation-parameters",
    "entity-unavailable",
    "integration-owner",
    "log-when-unavailable",
    "parallel-updates",
    "reauthentication-flow",
    "test-coverage",
)
GOLD = (
    "devices",
    "diagnostics",
    "discovery",
    "discovery-update-info",
    "docs-data-update",
    "docs-examples",
    "docs-known-limitations",
    "docs-supported-devices",
    "docs-supported-functions",
    "docs-troubleshooting",
    "docs-use-cases",
    "dynamic-devices",
    "entity-category",
    "entity-device-class",
    "entity-disabled-by-default",
    "entity-translations",
    "exception-translations",
    "icon-translations",
    "reconfiguration-flow",
    "repair-issues",
    "stale-devices",
)
PLATINUM = ("async-dependency", "inject-websession", "strict-typing")
ALL_RULES = BRONZE + SILVER + GOLD + PLATINUM
STATUSES = {"done", "todo", "exempt"}
# Keys HACS documents for hacs.json (hacs.xyz/docs/publish/start).
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "render_readme",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
}


def _rules() -> dict[str, Any]:
    data = yaml.safe_load(QUALITY_SCALE.read_text())
    assert set(data) == {"rules"}
    rules: dict[str, Any] = data["rules"]
    return rules


def _status_and_comment(value: Any) -> tuple[str, str | None]:
    # A rule is `name: status` or `name: {status: ..., comment: ...}`.
    if isinstance(value, str):
        return value, None
    assert isinstance(value, dict)
    assert set(value) <= {"status", "comment"}
    return value["status"], value.get("comment")


def test_the_hard_coded_list_has_hassfests_52_rules() -> None:
    # Given the rule names taken from hassfest
    # When they are counted per tier
    counts = (len(BRONZE), len(SILVER), len(GOLD), len(PLATINUM))

    # Then there are 18 bronze, 10 silver, 21 gold and 3 platinum rules, none twice
    assert counts == (18, 10, 21, 3)
    assert len(set(ALL_RULES)) == 52


def test_quality_scale_lists_exactly_the_52_rules_in_order() -> None:
    # Given the quality scale record
    # When its rules are read
    names = list(_rules())

    # Then it has every rule once, no other, in hassfest's order
    assert names == list(ALL_RULES)


def test_every_rule_has_a_valid_status() -> None:
    # Given the quality scale record
    rules = _rules()

    # When each rule's status is read
    statuses = {name: _status_and_comment(value)[0] for name, value in rules.items()}

    # Then each is done, todo or exempt
    assert {name: s for name, s in statuses.items() if s not in STATUSES} == {}


def test_every_exempt_and_todo_rule_says_why() -> None:
    # Given the quality scale record
    rules = _rules()

    # When the exempt and todo rules are collected with their comments
    explained = {
        name: comment
        for name, (status, comment) in ((n, _status_and_comment(v)) for n, v in rules.items())
        if status in ("exempt", "todo")
    }

    # Then every one of them has a non-empty comment
    assert explained
    assert {name for name, comment in explained.items() if not (comment or "").strip()} == set()


def test_hacs_json_uses_documented_keys_and_the_oldest_supported_release() -> None:
    # Given hacs.json
    # When it is read
    hacs = json.loads((ROOT / "hacs.json").read_text())

    # Then it names HomeSec, keeps the minimum Home Assistant version and only documented keys
    assert hacs["name"] == "HomeSec"
    assert hacs["homeassistant"] == "2025.4.0"
    assert set(hacs) <= HACS_KEYS
