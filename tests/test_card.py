"""The timeline card ships with the integration: served as a static file and added to the
frontend's extra modules once per Home Assistant run (not again on a reload)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homesec_nvr.card import CARD_FILE, CARD_FOLDER

from .conftest import SetupHub

MANIFEST = Path(CARD_FOLDER).parent / "manifest.json"
CARD_PATH = "/homesec_nvr/frontend/homesec-timeline-card.js"
# The card's modules: the card imports the shared module and, when a dashboard is edited, the
# editor.
MODULES = {
    "homesec-timeline-card.js": 'customElements.define("homesec-timeline-card"',
    "homesec-timeline-card-editor.js": 'customElements.define("homesec-timeline-card-editor"',
    "homesec-timeline-common.js": "export const STRINGS",
}


async def _setup_frontend(hass: HomeAssistant, tmp_path: Path) -> None:
    """The real frontend component, from an empty development folder (the test venvs have no
    built frontend package; the card needs only its extra module URLs)."""
    (tmp_path / "frontend_repo" / "hass_frontend").mkdir(parents=True)
    assert await async_setup_component(
        hass, "frontend", {"frontend": {"development_repo": str(tmp_path / "frontend_repo")}}
    )


def _version() -> str:
    return str(json.loads(MANIFEST.read_text(encoding="utf-8"))["version"])


async def test_the_card_is_served_as_javascript(
    hass: HomeAssistant, setup_hub: SetupHub, hass_client_no_auth: ClientSessionGenerator
) -> None:
    # Given a loaded hub
    await setup_hub()
    client = await hass_client_no_auth()

    # When a browser fetches the card's modules (no login: dashboards load them before auth)
    responses = {
        name: await client.get(f"/homesec_nvr/frontend/{name}?v={_version()}") for name in MODULES
    }

    # Then each is the card's script, as JavaScript
    for name, marker in MODULES.items():
        response = responses[name]
        assert response.status == 200, name
        assert "javascript" in response.headers["Content-Type"]
        assert marker in await response.text()
    # And nothing else of the integration's folder is reachable through it
    outside = await client.get("/homesec_nvr/frontend/../manifest.json")
    assert outside.status == 404


async def test_the_card_is_added_to_the_frontend_once_across_reloads(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given the frontend, and a hub set up after it
    await _setup_frontend(hass, tmp_path)
    entry = await setup_hub()
    expected = f"{CARD_PATH}?v={_version()}"

    # When the entry is reloaded twice
    for _ in range(2):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()

    # Then the frontend loads the card's module exactly once, versioned with the integration
    urls = hass.data[DATA_EXTRA_MODULE_URL].urls
    assert [url for url in urls if "homesec" in url] == [expected]


async def test_without_the_frontend_the_card_is_served_but_not_added(
    hass: HomeAssistant, setup_hub: SetupHub, hass_client_no_auth: ClientSessionGenerator
) -> None:
    # Given a hub with no frontend component loaded (a headless installation)
    await setup_hub()

    # When the card's URL is fetched
    response = await (await hass_client_no_auth()).get(CARD_PATH)

    # Then it is still served, and no frontend data was created for it
    assert response.status == 200
    assert DATA_EXTRA_MODULE_URL not in hass.data


def test_the_card_says_the_integrations_version() -> None:
    # Given the card's modules and the manifest
    scripts = {name: (Path(CARD_FOLDER) / name).read_text(encoding="utf-8") for name in MODULES}
    assert CARD_FILE in scripts

    # When reading the version the card logs and the versions its imports ask for
    match = re.search(r'const CARD_VERSION = "([^"]+)";', scripts["homesec-timeline-common.js"])
    imported = [v for text in scripts.values() for v in re.findall(r'\.js\?v=([^"`$]+)"', text)]

    # Then both are the integration's version (the ?v= of each URL busts browser caches)
    assert match is not None
    assert match[1] == _version()
    assert len(imported) == 2
    assert set(imported) == {_version()}
