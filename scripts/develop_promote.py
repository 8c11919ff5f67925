"""Confirm Home Assistant's HTTP settings once `scripts/develop` has started it.

Home Assistant 2026.11 moves the `http:` settings of configuration.yaml (127.0.0.1, the port)
into its own store as a *pending* trial and, unless an administrator confirms them within five
minutes, reverts them and restarts, which ends a bare `hass`. scripts/develop runs this in the
background: it waits for Home Assistant to answer, logs in as the development user and sends
`http/config/promote` (nothing to do when the settings are already confirmed).

    scripts/in-python314 .venvs/develop/bin/python scripts/develop_promote.py --port 8123
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_check import Api, CheckFailed


async def _promote(port: int, timeout_s: float) -> str:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/manifest.json") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                return f"Home Assistant did not answer on {url} within {timeout_s:.0f} s"
            await asyncio.sleep(2)
        api = Api(session, url)
        await api.login()
        await api.connect()
        try:
            await api.command({"type": "http/config/promote"})
        except CheckFailed as err:
            return f"HTTP settings already confirmed ({err})"
        finally:
            await api.close()
    return "HTTP settings confirmed (no revert-and-restart after 5 minutes)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    try:
        message = asyncio.run(_promote(args.port, args.timeout))
    except (aiohttp.ClientError, CheckFailed, OSError) as err:
        message = f"HTTP settings not confirmed: {err}"
    print(f"develop: {message}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
