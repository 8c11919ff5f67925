"""Prepare a Home Assistant config folder for HomeSec development (used by scripts/develop).

Run with the project's virtualenv while Home Assistant is NOT running:

    .venv/bin/python scripts/develop_seed.py requirements config   # print missing requirements
    .venv/bin/python scripts/develop_seed.py seed config           # seed .storage

`requirements` prints, one per line, the Python requirements of the integrations Home Assistant
will load for this config (configuration.yaml, the default integrations, custom_components and
their dependencies) that are not installed in the running interpreter.

`seed` is idempotent. It uses Home Assistant's own classes, so the files are in the exact format
of the installed release:

* auth: a local user `dev` / `homesec-dev` (Home Assistant auth provider), administrator, and the
  owner when no other user exists (`.storage/auth`, `.storage/auth_provider.homeassistant`);
  left alone when the login `dev` already exists;
* onboarding: every step marked done (`.storage/onboarding`), so the browser goes to the login;
* the HomeSec config entry with one "local_folder" subentry watching
  `<config>/homesec_demo/incoming` (`.storage/core.config_entries`), added only when there is no
  homesec entry yet; other entries are kept.

For local development only: the password is public.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import homeassistant.components as core_components
from homeassistant import bootstrap, runner
from homeassistant.auth import auth_manager_from_config
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.providers import homeassistant as hass_auth
from homeassistant.components.onboarding import STORAGE_KEY as ONBOARDING_KEY
from homeassistant.components.onboarding import STORAGE_VERSION as ONBOARDING_VERSION
from homeassistant.components.onboarding.const import STEPS as ONBOARDING_STEPS
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryStore
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store
from homeassistant.util.yaml import load_yaml_dict
from packaging.requirements import InvalidRequirement, Requirement

DEV_USERNAME = "dev"
DEV_PASSWORD = "homesec-dev"  # local development login, documented in scripts/develop
DEV_NAME = "Dev"

DOMAIN = "homesec_nvr"
# Must match HomeSecConfigFlow.VERSION / MINOR_VERSION.
ENTRY_VERSION = 1
ENTRY_MINOR_VERSION = 1

_LOGGER = logging.getLogger("develop_seed")


def _homesec_entry(config_dir: Path) -> ConfigEntry:
    incoming = str(config_dir / "homesec_demo" / "incoming")
    return ConfigEntry(
        data={"storage_path": str(config_dir / "media" / "homesec")},
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        minor_version=ENTRY_MINOR_VERSION,
        options={
            "retention_days": 30,
            "max_storage_gb": 10.0,
            "max_clips_in_flight": 2,
            "max_attempts": 3,
            "alerts_enabled": True,
            "min_risk_level": "medium",
            "notify_on_activity_types": [],
            "notify_on_motion": False,
            "trigger_classes": ["person"],
            "alert_hold_seconds": 60,
            "notify_services": [],
            "persistent_notification": True,
        },
        source=SOURCE_USER,
        subentries_data=[
            {
                "data": {
                    "name": "Demo camera",
                    "folder": incoming,
                    "poll_interval_seconds": 1.0,
                    "stable_time_seconds": 2.0,
                    "delete_after_store": False,
                },
                "subentry_type": "local_folder",
                "title": "Demo camera",
                "unique_id": incoming,
            }
        ],
        title="HomeSec",
        unique_id=DOMAIN,
        version=ENTRY_VERSION,
    )


async def _seed_auth(hass: HomeAssistant) -> None:
    hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    provider = hass.auth.auth_providers[0]
    assert isinstance(provider, hass_auth.HassAuthProvider)
    await provider.async_initialize()
    assert provider.data is not None
    if not any(user["username"] == DEV_USERNAME for user in provider.data.users):
        await provider.async_add_auth(DEV_USERNAME, DEV_PASSWORD)
        _LOGGER.warning("auth: created login %r", DEV_USERNAME)
    credentials = await provider.async_get_or_create_credentials({"username": DEV_USERNAME})
    if not credentials.is_new and await hass.auth.async_get_user_by_credentials(credentials):
        return  # The login already belongs to a user: leave both alone.
    # Same steps as the onboarding "create user" view: the first user becomes the owner.
    user = await hass.auth.async_create_user(DEV_NAME, group_ids=[GROUP_ID_ADMIN])
    await hass.auth.async_link_user(user, credentials)
    _LOGGER.warning(
        "auth: created user %r for login %r (administrator%s)",
        DEV_NAME,
        DEV_USERNAME,
        ", owner" if user.is_owner else "",
    )


async def _seed_onboarding(hass: HomeAssistant) -> None:
    store: Store[dict[str, Any]] = Store(hass, ONBOARDING_VERSION, ONBOARDING_KEY, private=True)
    data = await store.async_load() or {"done": []}
    done = list(data.get("done", []))
    missing = [step for step in ONBOARDING_STEPS if step not in done]
    if not missing:
        return
    data["done"] = done + missing
    await store.async_save(data)
    _LOGGER.warning("onboarding: marked done: %s", ", ".join(missing))


async def _seed_config_entry(hass: HomeAssistant, config_dir: Path) -> None:
    store = ConfigEntryStore(hass)
    data = await store.async_load() or {"entries": []}
    entries: list[dict[str, Any]] = list(data.get("entries", []))
    if any(entry.get("domain") == DOMAIN for entry in entries):
        return
    entries.append(_homesec_entry(config_dir).as_dict())
    await store.async_save({**data, "entries": entries})
    _LOGGER.warning("config entries: added the HomeSec entry with the 'Demo camera' subentry")


async def _seed(config_dir: Path) -> None:
    (config_dir / ".storage").mkdir(parents=True, exist_ok=True)
    hass = HomeAssistant(str(config_dir))
    await asyncio.gather(dr.async_load(hass), er.async_load(hass))
    await _seed_auth(hass)
    await _seed_onboarding(hass)
    await _seed_config_entry(hass, config_dir)
    # Stopping runs the final write, which flushes the delayed writes of the auth store
    # (force: this HomeAssistant object was never started).
    logging.getLogger("homeassistant.core").setLevel(logging.WARNING)
    await hass.async_stop(force=True)


def _manifest(domain: str, config_dir: Path) -> dict[str, Any] | None:
    for base in (config_dir / "custom_components", Path(core_components.__path__[0])):
        path = base / domain / "manifest.json"
        if path.is_file():
            manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return manifest
    return None


def _is_satisfied(requirement: str) -> bool:
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return False
    if parsed.marker is not None and not parsed.marker.evaluate():
        return True
    try:
        version = importlib.metadata.version(parsed.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return parsed.specifier.contains(version, prereleases=True)


def missing_requirements(config_dir: Path) -> list[str]:
    """Requirements of the integrations this config loads that are not installed."""
    config = load_yaml_dict(config_dir / "configuration.yaml")
    domains: set[str] = {key.split(" ")[0] for key in config}
    domains |= bootstrap.CORE_INTEGRATIONS | bootstrap.DEFAULT_INTEGRATIONS
    custom = config_dir / "custom_components"
    if custom.is_dir():
        domains |= {path.parent.name for path in custom.glob("*/manifest.json")}

    seen: set[str] = set()
    requirements: dict[str, None] = {}

    def visit(names: Iterable[str]) -> None:
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            manifest = _manifest(name, config_dir)
            if manifest is None:
                continue
            requirements.update(dict.fromkeys(manifest.get("requirements", [])))
            visit(manifest.get("dependencies", []))
            visit(manifest.get("after_dependencies", []))

    visit(sorted(domains))
    return [req for req in requirements if not _is_satisfied(req)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["requirements", "seed"])
    parser.add_argument("config_dir", type=Path)
    args = parser.parse_args()
    config_dir: Path = args.config_dir.resolve()
    if args.command == "requirements":
        for requirement in missing_requirements(config_dir):
            print(requirement)
        return
    logging.basicConfig(level=logging.WARNING, format="develop: %(message)s")
    asyncio.set_event_loop_policy(runner.HassEventLoopPolicy(False))
    asyncio.run(_seed(config_dir))


if __name__ == "__main__":
    main()
