"""The camera forms say once, in the step's description, what "Use the hub's setting" does,
instead of repeating it under every dropdown."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations

from custom_components.homesec_nvr.const import DOMAIN, SUBENTRY_LOCAL_FOLDER
from custom_components.homesec_nvr.settings import INHERIT

from .conftest import SetupHub
from .test_translations import _strings

NOTE = "*Use the hub's setting*"


def _inherit_fields(schema: Any) -> set[str]:
    """The form's fields whose dropdown offers "Use the hub's setting"."""
    fields = set()
    for key, value in schema.schema.items():
        config = getattr(value, "config", None)
        if isinstance(config, dict) and INHERIT in config.get("options", []):
            fields.add(str(key))
    return fields


async def test_add_camera_form_explains_inherit_once(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub
    entry = await setup_hub(subentries=[])

    # When the user opens the "add watched-folder camera" form
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_LOCAL_FOLDER), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    translations = await async_get_translations(hass, "en", "config_subentries", {DOMAIN})
    prefix = f"component.{DOMAIN}.config_subentries.{SUBENTRY_LOCAL_FOLDER}.step.user"
    inherit = _inherit_fields(result["data_schema"])

    # Then the form has dropdowns with the hub's setting, none of them with a help text about it
    assert {"min_risk_level", "notify_on_motion", "vlm_run_mode"} <= inherit
    for field in inherit:
        assert f"{prefix}.data_description.{field}" not in translations, field
    # And the step's description says it, once
    assert translations[f"{prefix}.description"].count(NOTE) == 1


def test_no_camera_step_repeats_the_inherit_help() -> None:
    # Given every camera subentry step's strings
    steps = [
        step for kind in _strings()["config_subentries"].values() for step in kind["step"].values()
    ]

    # When the help texts and descriptions are read
    helps = [text for step in steps for text in step.get("data_description", {}).values()]
    described = [step.get("description", "") for step in steps if "min_risk_level" in step["data"]]

    # Then no field's help mentions inheriting, and each step with those fields says it once
    assert not [text for text in helps if "nherit" in text or "hub's setting" in text]
    assert len(described) >= 5
    assert all(text.count(NOTE) == 1 for text in described)
