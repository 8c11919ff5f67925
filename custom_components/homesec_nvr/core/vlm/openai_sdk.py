"""What differs between the openai SDK lines, detected in this one place.

openai 1.x (Home Assistant 2025.4) sends through httpx and marks a parameter to leave out with
`NOT_GIVEN`; openai 3.x (Home Assistant 2026) sends through httpx2, an API-compatible fork that
Home Assistant 2026.11 also installs as `httpx`, and marks it with `omit`. Home Assistant hands
out one shared client of whichever library it runs on; the SDK takes either (it duck-types the
client), so the client is typed loosely here and checked against the newest line's SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

# The shared async HTTP client Home Assistant gives out (httpx.AsyncClient or
# httpx2.AsyncClient, depending on the line).
type HttpClient = Any

if TYPE_CHECKING:  # mypy checks against the newest line (openai 3.x)
    from openai import Omit as NotGiven
    from openai import omit as NOT_GIVEN
else:
    NOT_GIVEN = getattr(openai, "omit", openai.NOT_GIVEN)
    NotGiven = type(NOT_GIVEN)

__all__ = ["NOT_GIVEN", "HttpClient", "NotGiven"]
