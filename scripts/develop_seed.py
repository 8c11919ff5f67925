"""Prepare a Home Assistant config folder for HomeSec development (scripts/develop, e2e_check.py).

Run with the develop virtualenv (a bare Home Assistant 2026.11.0) while Home Assistant is NOT
running:

    scripts/in-python314 .venvs/develop/bin/python scripts/develop_seed.py CONFIG_DIR

Nothing is installed here: Home Assistant installs the requirements of every integration it
loads (its own, with its package constraints, and HomeSec's manifest requirements) when it
starts, so a requirement missing from HomeSec's manifest fails in the develop instance, as it
would on a user's machine.

The seed is idempotent and uses Home Assistant's own classes, so the files are in the exact
format of the installed release:

* layout: `configuration.yaml` (copied from this repository's `config/` when the folder has
  none), `custom_components/homesec_nvr` (a symlink to the integration in this work tree),
  `automations.yaml`, `scripts.yaml`, `homesec_demo/incoming` and `media/homesec`;
* network: Home Assistant's adapters restricted to loopback (`.storage/core.network`,
  `configured_adapters`), so nothing (mDNS included) binds the machine's other addresses; set
  again whenever it says otherwise;
* auth: a local user `dev` / `homesec-dev` (Home Assistant auth provider), administrator, and the
  owner when no other user exists (`.storage/auth`, `.storage/auth_provider.homeassistant`);
  left alone when the login `dev` already exists;
* onboarding: every step marked done (`.storage/onboarding`), so the browser goes to the login;
* the HomeSec config entry with one "local_folder" subentry watching
  `<config>/homesec_demo/incoming` (`.storage/core.config_entries`), added only when there is no
  homesec_nvr entry yet; other entries are kept.

For local development only: the password is public.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
from ipaddress import ip_address
from pathlib import Path
from types import MappingProxyType
from typing import Any

from homeassistant import bootstrap, loader, runner
from homeassistant.auth import auth_manager_from_config
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.providers import homeassistant as hass_auth
from homeassistant.components.network import async_get_network
from homeassistant.components.network.const import ATTR_CONFIGURED_ADAPTERS
from homeassistant.components.network.models import Adapter
from homeassistant.components.onboarding import STORAGE_KEY as ONBOARDING_KEY
from homeassistant.components.onboarding import STORAGE_VERSION as ONBOARDING_VERSION
from homeassistant.components.onboarding.const import STEPS as ONBOARDING_STEPS
from homeassistant.config_entries import SOURCE_USER, ConfigEntries, ConfigEntry, ConfigEntryStore
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

REPO_ROOT = Path(__file__).resolve().parent.parent
INTEGRATION_DIR = REPO_ROOT / "custom_components" / "homesec_nvr"
CONFIGURATION_YAML = REPO_ROOT / "config" / "configuration.yaml"

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
                    # The demo camera has neither object filter nor vision model: without
                    # "Alert on every clip" it would never alert.
                    "notify_on_motion": "on",
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


def _seed_layout(config_dir: Path) -> None:
    for folder in ("custom_components", "homesec_demo/incoming", "media/homesec", ".storage"):
        (config_dir / folder).mkdir(parents=True, exist_ok=True)
    configuration = config_dir / "configuration.yaml"
    if not configuration.exists():
        shutil.copyfile(CONFIGURATION_YAML, configuration)
    link = config_dir / "custom_components" / DOMAIN
    target = os.path.relpath(INTEGRATION_DIR, link.parent)
    if not link.is_symlink() or os.readlink(link) != target:
        if link.exists() and not link.is_symlink():
            raise SystemExit(f"develop: error: {link} exists and is not a symlink")
        link.unlink(missing_ok=True)
        link.symlink_to(target, target_is_directory=True)
    for name, empty in (("automations.yaml", "[]\n"), ("scripts.yaml", "{}\n")):
        if not (config_dir / name).exists():
            (config_dir / name).write_text(empty, encoding="utf-8")


def _is_loopback(adapter: Adapter) -> bool:
    addresses = [a["address"] for a in adapter["ipv4"]] + [a["address"] for a in adapter["ipv6"]]
    return bool(addresses) and all(ip_address(a).is_loopback for a in addresses)


async def _seed_network(hass: HomeAssistant) -> None:
    network = await async_get_network(hass)
    loopback = sorted(adapter["name"] for adapter in network.adapters if _is_loopback(adapter))
    if not loopback:
        raise SystemExit("develop: error: no loopback network adapter found")
    if network.configured_adapters == loopback:
        return
    await network.async_reconfig({ATTR_CONFIGURED_ADAPTERS: loopback})
    _LOGGER.warning("network: adapters restricted to loopback (%s)", ", ".join(loopback))


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
    _seed_layout(config_dir)
    hass = HomeAssistant(str(config_dir))
    # The config entry first, with its own store: the config entry manager below loads it.
    await _seed_config_entry(hass, config_dir)
    # What Home Assistant's bootstrap does before any integration: the registries and the
    # config entries, which the auth store needs since 2026.
    loader.async_setup(hass)
    hass.config_entries = ConfigEntries(hass, {})
    if not await bootstrap.async_load_base_functionality(hass):
        raise SystemExit("develop: error: Home Assistant could not load its registries")
    await _seed_network(hass)
    await _seed_auth(hass)
    await _seed_onboarding(hass)
    # Stopping runs the final write, which flushes the delayed writes of the auth store
    # (force: this HomeAssistant object was never started).
    logging.getLogger("homeassistant.core").setLevel(logging.WARNING)
    await hass.async_stop(force=True)


def _event_loop() -> asyncio.AbstractEventLoop:
    """Home Assistant's own event loop (its executor, exception handler and clock)."""
    create = getattr(runner, "create_event_loop", None)
    if create is not None:  # HA 2026.x (Python 3.14 has no event loop policies to speak of)
        loop: asyncio.AbstractEventLoop = create()
        return loop
    return runner.HassEventLoopPolicy(False).new_event_loop()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config_dir", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="develop: %(message)s")
    asyncio.run(_seed(args.config_dir.resolve()), loop_factory=_event_loop)


if __name__ == "__main__":
    main()
