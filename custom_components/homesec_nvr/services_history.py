"""Service actions over the clip history: `homesec_nvr.get_clips` (search, paginated, with
signed links) and `homesec_nvr.analyze` (run the vision model again, see analyze.py).

Wrong use raises a translated ServiceValidationError (not a HomeSec camera, end before start,
limit out of range, no vision model, unknown clip, file not allowed); a failure of the clip
database or of the vision model a translated HomeAssistantError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .analyze import analysis_response, async_analyze
from .const import ATTR_CLIP_ID, ATTR_DEVICE_ID, DOMAIN
from .core.clip_query import DEFAULT_LIMIT, MAX_LIMIT, ClipQuery
from .core.models import EVENT_KEY, ActivityType, RiskLevel
from .core.payload import clip_payload
from .core.store import StoreError
from .hub import HomeSecHub
from .schema_compat import vol
from .service_errors import device_camera, failed, hub_or_raise, invalid

SERVICE_GET_CLIPS = "get_clips"
SERVICE_ANALYZE = "analyze"
ATTR_START = "start"
ATTR_END = "end"
ATTR_MIN_RISK = "min_risk"
ATTR_ACTIVITY_TYPES = "activity_types"
ATTR_ALERTED = "alerted"
ATTR_REVIEWED = "reviewed"
ATTR_OBJECTS = "objects"
ATTR_QUERY = "query"
ATTR_INCIDENT_ID = "incident_id"
ATTR_LIMIT = "limit"
ATTR_OFFSET = "offset"
ATTR_FILE_PATH = "file_path"
ATTR_CAMERA_ENTITY = "camera_entity"
ATTR_NOTIFY = "notify"
MAX_QUERY_CHARS = 500

_strings = vol.All(cv.ensure_list, [vol.All(cv.string, vol.Length(min=1))])
GET_CLIPS_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_DEVICE_ID): _strings,
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_MIN_RISK): vol.In([r.value for r in RiskLevel]),
        vol.Optional(ATTR_ACTIVITY_TYPES): vol.All(
            cv.ensure_list, [vol.In([a.value for a in ActivityType])]
        ),
        vol.Optional(ATTR_ALERTED): cv.boolean,
        vol.Optional(ATTR_REVIEWED): cv.boolean,
        vol.Optional(ATTR_OBJECTS): _strings,
        vol.Optional(ATTR_QUERY): vol.All(cv.string, vol.Length(max=MAX_QUERY_CHARS)),
        vol.Optional(ATTR_INCIDENT_ID): vol.All(cv.string, vol.Length(min=1)),
        vol.Optional(ATTR_LIMIT, default=DEFAULT_LIMIT): vol.Coerce(int),
        vol.Optional(ATTR_OFFSET, default=0): vol.Coerce(int),
    }
)
ANALYZE_SCHEMA = vol.Schema(
    {
        vol.Exclusive(ATTR_CLIP_ID, "what"): vol.All(cv.string, vol.Length(min=1)),
        vol.Exclusive(ATTR_FILE_PATH, "what"): vol.All(cv.string, vol.Length(min=1)),
        vol.Exclusive(ATTR_CAMERA_ENTITY, "what"): cv.entity_domain("camera"),
        vol.Optional(ATTR_NOTIFY, default=False): cv.boolean,
    }
)


def _camera_ids(hass: HomeAssistant, hub: HomeSecHub, device_ids: list[str]) -> tuple[str, ...]:
    """The HomeSec cameras of these devices (a device that is none is an error)."""
    return tuple(dict.fromkeys(device_camera(hass, hub, device_id) for device_id in device_ids))


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else dt_util.as_utc(value)  # naive: HA's time zone


def build_query(hass: HomeAssistant, hub: HomeSecHub, data: dict[str, Any]) -> ClipQuery:
    """The store's query for the service's fields; translated errors for wrong ones."""
    limit, offset = int(data[ATTR_LIMIT]), int(data[ATTR_OFFSET])
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise invalid("bad_page", limit=str(limit), offset=str(offset), max=str(MAX_LIMIT))
    start, end = _utc(data.get(ATTR_START)), _utc(data.get(ATTR_END))
    if start is not None and end is not None and end < start:
        raise invalid("end_before_start", start=start.isoformat(), end=end.isoformat())
    min_risk = data.get(ATTR_MIN_RISK)
    return ClipQuery(
        camera_ids=_camera_ids(hass, hub, data.get(ATTR_DEVICE_ID, [])),
        start=start,
        end=end,
        min_risk=RiskLevel(min_risk) if min_risk else None,
        activity_types=tuple(ActivityType(a) for a in data.get(ATTR_ACTIVITY_TYPES, [])),
        alerted=data.get(ATTR_ALERTED),
        reviewed=data.get(ATTR_REVIEWED),
        objects=tuple(dict.fromkeys(o.strip().lower() for o in data.get(ATTR_OBJECTS, []))),
        text=str(data.get(ATTR_QUERY) or ""),
        incident_id=data.get(ATTR_INCIDENT_ID),
        limit=limit,
        offset=offset,
    )


def _with_incident_cameras(
    payload: dict[str, Any], incidents: dict[str, list[tuple[str, str]]]
) -> dict[str, Any]:
    """The clip's payload naming every camera of its incident (when more joined than it
    knew of when it was stored)."""
    cameras = incidents.get(payload["event_key"] or "", [])
    if len(cameras) > len(payload["camera_ids"]):
        payload["camera_ids"] = [camera_id for camera_id, _ in cameras]
        payload["cameras"] = [name for _, name in cameras]
    return payload


def async_setup_history_services(hass: HomeAssistant) -> None:
    """Register get_clips and analyze (once, at integration setup)."""

    async def get_clips(call: ServiceCall) -> ServiceResponse:
        hub = hub_or_raise(hass)
        query = build_query(hass, hub, dict(call.data))
        try:
            states, total = await hub.store.query(query)
            # An incident's cameras from all its clips: its first clip was stored before the
            # other cameras joined, and a camera filter or a page may show that clip alone.
            incidents = await hub.store.incident_cameras(
                {key for state in states if isinstance(key := state.metadata.get(EVENT_KEY), str)}
            )
        except StoreError as err:
            raise failed("history_failed", err) from err
        clips: list[JsonValueType] = [
            {
                **_with_incident_cameras(clip_payload(state, hub.links_for(state)), incidents),
                "reviewed_at": state.reviewed_at.isoformat() if state.reviewed_at else None,
            }
            for state in states
        ]
        after = query.offset + len(states)
        return {
            "clips": clips,
            "total": total,
            "offset": query.offset,
            "limit": query.limit,
            "next_offset": after if after < total else None,
        }

    async def analyze(call: ServiceCall) -> ServiceResponse:
        hub = hub_or_raise(hass)
        result = await async_analyze(
            hub,
            clip_id=call.data.get(ATTR_CLIP_ID),
            file_path=call.data.get(ATTR_FILE_PATH),
            camera_entity=call.data.get(ATTR_CAMERA_ENTITY),
            notify=bool(call.data[ATTR_NOTIFY]),
        )
        response: dict[str, Any] = analysis_response(result)
        return response

    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_CLIPS,
        get_clips,
        schema=GET_CLIPS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_ANALYZE,
        analyze,
        schema=ANALYZE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
